/* Shard planner and argument parsing of flashcore-scale. Plain C with no CUDA, NCCL or MPI so
 * that CI unit-tests it on a machine without a GPU. */
#ifndef FC_SCALE_PLAN_H
#define FC_SCALE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "flashcore.h"

#define FC_SCALE_MAX_RANKS 64
#define FC_SCALE_MAX_SHAPES 32
#define FC_SCALE_MAX_SEGMENTS 3

/* One forward call of a rank: query heads [q0, q0 + q_heads) of the rank's shard read KV
 * heads [kv0, kv0 + kv_heads) of its shard (local indices), q_heads a multiple of kv_heads. */
typedef struct fc_segment {
  int q0, q_heads, kv0, kv_heads;
} fc_segment;

/* What one rank holds: global query heads [q_head0, q_head0 + q_heads) and the KV heads they
 * read, [kv_head0, kv_head0 + kv_heads). With Hk >= ranks whole KV groups go to a rank; with
 * Hk < ranks query heads are split evenly and a KV head is duplicated on every rank whose
 * queries read it (as Megatron-LM does). Uneven counts differ by at most one group/head. */
typedef struct fc_shard {
  int q_head0, q_heads, kv_head0, kv_heads;
  int num_segments;
  fc_segment seg[FC_SCALE_MAX_SEGMENTS];
} fc_shard;

/* Plan `ranks` shards of H query and Hk KV heads. Returns 0, or -1 with a sentence in err. */
int fc_plan_shards(int H, int Hk, int ranks, fc_shard *shards, char *err, size_t err_len);

typedef struct fc_scale_shape {
  int64_t B, H, Hk, S, D;
  int causal;
} fc_scale_shape;

typedef enum fc_sweep { FC_SWEEP_STRONG = 0, FC_SWEEP_WEAK = 1 } fc_sweep;
typedef enum fc_collective { FC_COLL_ALLGATHER = 0, FC_COLL_NONE = 1 } fc_collective;
/* Who moves the all-gather's bytes: the GPUs' copy engines (NCCL's zero-CTA policy on
 * buffers registered as symmetric windows, NCCL >= 2.28, one node with P2P), which leaves
 * every SM to attention; or NCCL's kernels, which take SMs that attention then waits for; or
 * the attention kernel itself (store), which writes each output tile into every rank's copy
 * of a symmetric window (fc_attn_options.out_copies, addresses from NCCL's load/store team:
 * one NVLink domain, at most 8 ranks, sm90 family) while it computes, and a flag barrier
 * after it, or, where every rank's storing launch runs persistent, a wait for the peers'
 * counted stores (out_signals). No chunks: nothing is left to overlap. Or both (ce-store):
 * the copy engines gather every chunk but the last, whose launch stores its output into
 * every rank's window itself, so that what is left after the attention is that barrier or
 * wait instead of a last all-gather (copy engines alone where a rank's family cannot store
 * copies). */
typedef enum fc_gather_engine {
  FC_GATHER_CE = 0,
  FC_GATHER_SM = 1,
  FC_GATHER_STORE = 2,
  FC_GATHER_CE_STORE = 3
} fc_gather_engine;
/* The --gather name of an engine ("ce", "sm", "store", "ce-store"). */
const char *fc_gather_name(fc_gather_engine e);

typedef struct fc_scale_args {
  int max_gpus;               /* 0 = every visible GPU (threads) or every MPI rank        */
  fc_sweep sweep;
  fc_collective collective;
  fc_gather_engine engine;    /* who moves the bytes (default ce-store)                   */
  int engine_set;             /* --gather was given (else an old NCCL falls back to sm)    */
  int chunks;                 /* overlap chunks (1 = off; 0 = auto, fc_auto_chunks)        */
  int reps, warmup;
  int check;                  /* check every rank's shard against the float64 reference   */
  int num_families;
  fc_family families[8];      /* assigned to ranks round-robin; FC_FAMILY_AUTO by default  */
  int num_shapes;
  fc_scale_shape shapes[FC_SCALE_MAX_SHAPES];
  const char *json, *csv;
  int bind;                   /* hwloc binding (1 by default where built with hwloc)      */
} fc_scale_args;

/* Query-row boundaries of the overlap chunks of one sequence of S rows: bounds[0] = 0 <
 * bounds[1] < ... < bounds[n] = S, every inner bound a multiple of align. The chunks run in
 * order and the all-gather of each overlaps the attention of the later ones, so only the
 * last chunk's gather is exposed. The last chunk holds S/8 rows: few enough that its gather
 * is short, enough that its causal row blocks (the heaviest) fill the GPU. The rows before
 * it are cut into chunks - 1 chunks of equal attention work (causal work up to row r grows
 * as r^2). scripts/chunk-model.py compares this plan with others on a calibrated model.
 * Returns n (fewer than `chunks` when S is too short for them), or -1 on bad arguments.
 * bounds must hold chunks + 1 values. */
int fc_plan_chunks(int64_t S, int causal, int chunks, int64_t align, int64_t *bounds);

/* Under a causal mask, two chunks split the heads instead of the rows where they can: rows cut
 * the causal staircase, so the last chunk (the last rows, the heaviest) starts its heavy row
 * blocks after the first chunk's light ones, against the heaviest-first order a single
 * launch keeps (about 3% of the attention on 2 x H100 at S=16384, 8 heads a rank; the
 * list-scheduling model in scripts/chunk-model.py gives 2.2%, and 0 for head chunks). Head
 * chunks keep the whole
 * staircase in each launch. The last chunk takes hmax / 4 heads (rounded down to whole KV
 * groups of every segment it cuts), enough that its attention hides the first chunk's gather
 * and few enough that its own, exposed, gather stays short; at least 2 heads, since one
 * head's staircase alone leaves most SMs idle at its end. Returns the padded head index
 * where the last chunk starts (0 < split < hmax), or 0 where the plan keeps row chunks
 * (not causal, other than 2 chunks, too few heads, or a KV group the split would cut on
 * this rank; every rank must agree). */
int fc_plan_head_split(const fc_shard *sh, int hmax, int causal, int chunks);

/* --chunks auto, from a rank's launch of `ctas` CTAs on `sms` SMs (one CTA per SM), the average
 * number of keys a query row attends (`keys_per_row`: about S/2 under a causal mask, S
 * without), the mask and the number of ranks.
 * Two ranks: 2 chunks where the launch holds at least 4 waves and the earlier chunks' gather
 * fits under the last chunk's attention, else 1. A short launch has no room to hide a gather;
 * chunking only adds the tails of more launches (2 x H200: weak S=4096, 256 CTAs, 56%
 * unchunked against 48-51% chunked; results/history/scale-chunks-h200x2-cb4471b). The gather
 * of the first chunk carries (1 - f) of the output (f: the last chunk's share, a quarter of
 * the heads under a causal mask, an eighth of the rows otherwise), 2 D bytes a row at the
 * 378 GB/s the copy engines reached on 2 x H100; the last chunk's attention is f of the
 * FLOPs, 4 D keys a row at 600 TFLOP/s. So a row must attend at least
 * (1 - f) / f x 600e12 / (2 x 378e9) keys: 2381 causal, 5556 not. Below it one launch storing
 * its output as it goes keeps the link less busy (B=4 causal S=4096, 1024 CTAs a rank: 2
 * chunks left 0.061 ms exposed; results/history/scale-chunk-rule-h100x2).
 * More ranks: 1 chunk below 3 waves, else 4. A rank gathers (n-1)/n of the output against
 * 1/n of the compute, three times the two-rank ratio at four, so the last chunk must be
 * smaller (4 x H200, 512 CTAs a rank: strong S=16384 causal 75.6% with 1 chunk, 78.3% with
 * 2, 84.0% with 4; results/history/scale-chunks-h200x4-*). sms < 1 counts as 132. */
int fc_auto_chunks(int64_t ctas, int64_t sms, double keys_per_row, int causal, int ranks);

/* Parse argv into *a (defaults first). Returns 0, 1 for --help (usage in err), or -1 with a
 * sentence naming the bad argument in err. */
int fc_scale_parse_args(int argc, char **argv, fc_scale_args *a, char *err, size_t err_len);

/* How many of the n bf16 values at x are NaN (exponent all ones, mantissa not zero). The
 * gathered buffer's real elements are NaN until a launch or the collective writes them, and
 * the harness's outputs are finite (inputs in [-1, 1), no softcap), so a NaN left after the
 * timed rounds is a slot nobody wrote. */
size_t fc_bf16_count_nan(const uint16_t *x, size_t n);

/* FC_SCALE_SKIP_CHUNK (a self-test of #wrong): the chunk whose launches every rank leaves
 * out, from the variable's value `env` (NULL or empty: none), the plan's `chunks` and
 * `gathered`, the chunks the all-gather assembles (the others' launches store into the other
 * ranks' windows, which would wait for those stores for ever). Returns the chunk, -1 for
 * none, or -2 with a sentence in err. */
int fc_scale_skip_chunk(const char *env, int chunks, int gathered, char *err, size_t err_len);

/* The rank counts of a sweep up to max: 1, 2, 4, ... and max itself. Returns how many. */
int fc_scale_rank_counts(int max, int *counts, int cap);

#endif
