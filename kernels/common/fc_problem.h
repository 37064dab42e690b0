/* fc_problem: one validated forward problem, as the host library hands it to a family.
 * Plain C so that the C host code and the CUDA families share it. Every field has been
 * checked by c/src/validate.c before a family sees it. */
#ifndef FC_PROBLEM_H
#define FC_PROBLEM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fc_problem {
  int dtype;                  /* fc_dtype of q, k, v and out                               */
  const void *q, *k, *v;
  void *out;
  float *lse;                 /* NULL when not asked for                                   */
  /* Element strides of [batch, seq, head]; head_dim is unit stride. For varlen batch
   * strides are 0 and rows are addressed through the cumulative offsets. */
  int64_t q_stride[3], k_stride[3], v_stride[3], o_stride[3], lse_stride[3];
  int64_t batch;              /* sequences (num_seqs for varlen)                            */
  int64_t seqlen_q, seqlen_k; /* per-sequence lengths; for varlen: max_seqlen_q and
                                 max_seqlen_k, else the total key rows (the kernels read each
                                 sequence's keys from the offsets: only the plan uses it)   */
  int64_t total_q, total_k;   /* rows of the q/k tensors' seq dimension (bounds for varlen) */
  int64_t heads, heads_k, head_dim;
  float scale;                /* resolved softmax scale                                    */
  float softcap;              /* 0 = off                                                   */
  int64_t window_left;        /* -1 = unbounded                                            */
  int64_t window_right;       /* -1 = unbounded; 0 when causal                             */
  int causal;
  const int32_t *cu_seqlens_q, *cu_seqlens_k; /* NULL for fixed-length batches             */
  /* With cu_seqlens: sequence b's first query row is cu_seqlens_q[b] * offset_stride[i]
   * elements into q, out and lse (i = 0, 1, 2), and each row the offsets count stands for
   * `fold` rows: a sequence runs min(its counted rows, seqlen_q / fold) * fold rows
   * (fc_seq_rows(); seqlen_q is a multiple of fold). Folded into rows under GQA (select.c),
   * fold = G with the unfolded seq strides here: a decode (fold_decode(), its G rows the seq
   * stride apart; a sequence with more than one counted row still runs one) and the views
   * by position below (the counted rows are positions). Otherwise fold = 1 and these are
   * the seq strides. */
  int64_t offset_stride[3];
  int64_t fold;
  /* A GQA launch of a few query rows a sequence folded into rows (fold_rows() in select.c;
   * a variable-length decode with a left window has its rows all position 0 and pos_stride
   * 0): row r of a (sequence, KV head) is query position r / G of query head r % G of that
   * KV head's G = pos_group, and lies where fc_row_offset() puts it, pos_stride[i] the
   * positions' stride in q, out and lse (i = 0, 1, 2). Masks go by the position; seqlen_q
   * counts rows (G x the positions). pos_group 0 or 1: every row is its own position
   * (pos_stride then holds the seq strides). */
  int64_t pos_group;
  int64_t pos_stride[3];
  /* Extra destinations of the output (fc_attn_options.out_copies), out's strides.          */
  void *out_copies[7];
  int num_out_copies;
  /* Their counters (fc_attn_options.out_signals): NULL entries for none.                    */
  uint32_t *out_signals[7];
  /* The caller's memory for split pieces (fc_attn_options.workspace), NULL for the pool.    */
  void *workspace;
  size_t workspace_bytes;
} fc_problem;

#if defined(__CUDACC__)
#define FC_HOST_DEVICE __host__ __device__
#else
#define FC_HOST_DEVICE
#endif

/* A row's position r / G by a multiply and a shift (G = fc_problem.pos_group): with
 * mul = fc_pos_mul(G), (r * mul) >> 16 is r / G for 0 <= r <= 1024 and G <= 64 (the folded
 * launches' rows), and for -1024 <= r < 0 (padding rows of a tile that starts before the
 * sequence) r / G rounded down, or one below that: masks that stay on the safe side. G = 1
 * gives r itself for |r| < 2^15. */
static inline FC_HOST_DEVICE int64_t fc_pos_mul(int64_t group) {
  return group > 1 ? (65536 + group - 1) / group : 65536;
}

/* The one definition of where row r >= 0 of a (sequence, head) lies, in elements from the
 * sequence's first row, in a tensor of seq stride `stride`: rows folded by position
 * (group = fc_problem.pos_group > 1, mul = fc_pos_mul(group)) are position r / G,
 * `pos_stride` apart, of query head r % G, `stride` apart; otherwise rows are `stride`
 * apart. The CPU backend, the families' kernels and the merge of split pieces all address
 * rows through it. */
static inline FC_HOST_DEVICE int64_t fc_row_offset(int64_t r, int64_t group, int64_t mul, int64_t pos_stride,
                                                   int64_t stride) {
  if (group <= 1) return r * stride;
  const int64_t at = ((int32_t)r * (int32_t)mul) >> 16; /* |r| <= 1024: 32 bits hold it */
  return at * pos_stride + (r - at * group) * stride;
}

/* How many rows a sequence of `counted` rows by its offsets runs (fc_problem.fold): at most
 * `units` = seqlen_q / fold counted rows (the longest sequence, which the host cannot check
 * against the offsets in device memory: what a split piece's record holds), fold rows each. */
static inline FC_HOST_DEVICE int64_t fc_seq_rows(int64_t counted, int64_t units, int64_t fold) {
  return (counted < units ? counted : units) * fold;
}

/* Query positions a sequence: seqlen_q counts rows, G of them a position where query heads
 * are folded into rows by position (pos_group). */
static inline int64_t fc_problem_positions(const fc_problem *p) {
  return p->pos_group > 1 ? p->seqlen_q / p->pos_group : p->seqlen_q;
}

/* What a family's planner knows of the device. */
typedef struct fc_device_caps {
  int cc_major, cc_minor; /* compute capability                                  */
  int num_sms;
  int smem_optin;         /* dynamic shared memory per block after opt-in, bytes */
} fc_device_caps;

/* The GPU families read rows with 16-byte accesses (cp.async, TMA) and write them with
 * 16-byte stores: data pointers must be 16-byte aligned, and so must the strides of every
 * dimension with more than one element (varlen batch strides are 0). Returns the name of the
 * first tensor that is not ("an out_copies entry", "q", "k", "v", "out"), or NULL. */
static inline const char *fc_problem_misaligned(const fc_problem *p) {
  const int64_t *st[4] = {p->q_stride, p->k_stride, p->v_stride, p->o_stride};
  const char *names[4] = {"q", "k", "v", "out"};
  const void *ptr[4] = {p->q, p->k, p->v, p->out};
  const int64_t heads[4] = {p->heads, p->heads_k, p->heads_k, p->heads};
  const int64_t rows[4] = {p->total_q, p->total_k, p->total_k, p->total_q};
  for (int i = 0; i < p->num_out_copies; i++)
    if (((uintptr_t)p->out_copies[i] & 15u) != 0) return "an out_copies entry";
  if (p->cu_seqlens_q && p->total_q > 1 && (p->offset_stride[0] % 8 || p->offset_stride[1] % 8))
    return p->offset_stride[0] % 8 ? "q" : "out";
  if (p->pos_group > 1 && (p->pos_stride[0] % 8 || p->pos_stride[1] % 8)) return p->pos_stride[0] % 8 ? "q" : "out";
  for (int i = 0; i < 4; i++) {
    if (((uintptr_t)ptr[i] & 15u) != 0) return names[i];
    if ((p->batch > 1 && st[i][0] % 8) || (rows[i] > 1 && st[i][1] % 8) ||
        (heads[i] > 1 && st[i][2] % 8))
      return names[i];
  }
  return 0;
}

#ifdef __cplusplus
}
#endif
#endif
