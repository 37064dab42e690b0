/* Test and benchmark support: random problems, the float64 reference, the same-precision
 * naive pipeline, and the correctness rule of VALIDATION.md. Shared by tests/ and scaling/. */
#ifndef FC_HARNESS_H
#define FC_HARNESS_H

#include "flashcore.h"

#include <stdint.h>

typedef enum fc_layout {
  FC_LAYOUT_BSHD = 0,   /* dense [B, S, H, D]                                         */
  FC_LAYOUT_BHSD = 1,   /* dense [B, H, S, D] seen through strides                    */
  FC_LAYOUT_PADDED = 2, /* BSHD with each token row padded by 8 elements (a slice)     */
} fc_layout;

typedef struct fc_case {
  fc_dtype dtype;
  int64_t B, Sq, Sk, H, Hk, D;
  int causal;
  int64_t window_left, window_right;
  float softcap, scale;
  int with_lse;
  fc_layout layout;
  /* Variable length: when num_seqs > 0, lens_q/lens_k give each sequence's lengths and B,
   * Sq, Sk are ignored. */
  int64_t num_seqs;
  const int32_t *lens_q, *lens_k;
  uint64_t seed;
  /* Rows of the reference to compute (0 = all). Large benchmark shapes sample rows. */
  int64_t sample_rows;
  /* Scores that change scale along the keys (0 = off): key row j of a sequence of Sk keys is
   * multiplied by 1 + key_ramp * j (key_ramp > 0) or 1 - key_ramp * (Sk - 1 - j) (< 0), so a
   * row's maximum rises from one key tile to the next in either direction a kernel walks
   * them, by several units per tile (the online softmax's rescale path). */
  float key_ramp;
  /* Self-test of the rule: damage the result before checking (0 = off, 1 = un-write one
   * element, 2 = add 0.02 to one element, 3 = add 0.01 to one LSE value). */
  int tamper;
  /* When set, receives the output as float, in the view's element order (extent of the
   * view's backing buffer, see fc_case_out_extent), e.g. to compare two families. */
  float *keep_out;
  /* GPU contexts (ignored on the CPU): capture the call into a CUDA graph on a stream of its
   * own (global capture mode) while the inputs hold NaN, then upload the inputs and run the
   * graph twice, the output and LSE poisoned again before each run: what is checked is the
   * second run's output, from the inputs as they are when the graph runs. */
  int graph;
  /* GPU contexts: every buffer the call reads or writes (tensors, LSE, offsets) in managed
   * memory (cudaMallocManaged) instead of device memory, filled from the host. */
  int managed;
} fc_case;

/* Elements of the output buffer fc_case_run allocates for c (the size keep_out needs). */
int64_t fc_case_out_extent(const fc_case *c);

typedef struct fc_check {
  double max_err;   /* max |out - ref| over checked elements                          */
  double naive_err; /* max |naive - ref|                                              */
  double rel_l2;    /* ||out - ref|| / ||ref||                                         */
  double lse_err;   /* max |lse - ref_lse| (0 when not asked)                          */
  int64_t unwritten, nonfinite, checked;
  int64_t worst[4];  /* where max_err is: sequence (batch), row in it, head, column        */
  int pass;
  char msg[640];    /* which condition failed, with the seed                          */
} fc_check;

/* A case with the usual defaults (no mask, no softcap, default scale, BSHD). */
fc_case fc_case_make(fc_dtype dt, int64_t B, int64_t Sq, int64_t Sk, int64_t H, int64_t Hk,
                     int64_t D, uint64_t seed);

/* Draw inputs, run fc_attention_forward on ctx (copying to and from the device for a GPU
 * context), compute the reference and apply the rule. Returns the forward call's status;
 * *chk is filled when it is FC_SUCCESS. */
fc_status fc_case_run(fc_context *ctx, const fc_case *c, fc_check *chk);

/* A seed for fresh inputs: FC_TEST_SEED from the environment, else clock-based. */
uint64_t fc_test_seed(void);

/* Number of CUDA devices usable (0 without CUDA or without a GPU). */
int fc_test_gpu_count(void);

/* Timing data, the same in flashcore-bench and flashcore-scale: n values uniform in [-1, 1)
 * of type dt into buf, from a cheap generator that *state (nonzero) carries on, so that
 * consecutive calls draw independent tensors. */
void fc_fill_timing(void *buf, fc_dtype dt, size_t n, uint64_t *state);
/* The same generator, values of mean 0 and variance 1 (the sum of four uniform 16-bit parts
 * of each draw, scaled), the spread of torch.randn: scores of a spikier softmax. */
void fc_fill_timing_normal(void *buf, fc_dtype dt, size_t n, uint64_t *state);

#endif
