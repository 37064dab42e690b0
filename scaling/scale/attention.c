/* The experiment: tensor-parallel attention on one rank. Heads are sharded (plan.c); the
 * work is cut into chunks and the all-gather of chunk c overlaps the attention of the later
 * chunks: chunks of query rows (fc_plan_chunks: the last, whose gather is left exposed, the
 * smallest), or under a causal mask two chunks of heads (fc_plan_head_split).
 *
 * Layout: the gathered buffer is, chunk after chunk, [rank][head of the chunk (of the
 * largest shard's, padded)][B][rows of the chunk][D]. The kernels write this rank's slot in
 * place through strided views (no copies), so the all-gather is in place (send = this rank's
 * slot) and one rank calls none. With --gather ce it is NCCL's copy-engine path (zero-CTA policy, buffer in a
 * symmetric window), which takes no SMs from attention. With --gather store there is no
 * all-gather: the kernel stores each output tile into this rank's slot of every rank's window
 * (fc_attn_options.out_copies). Where every rank's storing launch runs on the persistent grid,
 * it also counts the rows whose stores have landed into a counter in each window
 * (out_signals) and each rank waits for the others' counts (peers.cu), so nothing but that
 * wait follows the kernel; elsewhere a barrier after the kernel (rank_barrier: cross-GPU
 * events, or the flags in each window) tells each rank that the others' stores have landed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "harness.h"
#include "peers.h"
#include "scale.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t checksum(const uint16_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Check this rank's shard against the float64 reference with its family, then run the
 * same shard with every other family of --families and compare the outputs. */
static int check_shard(const fc_scale_args *args, const fc_point *pt, const fc_shard *sh,
                       fc_context *ctx, int device, fc_family fam, fc_rank_result *res) {
  const fc_scale_shape *s = &pt->shape;
  res->checked = 1;
  res->check_pass = 1;
  size_t used = 0;
  for (int g = 0; g < sh->num_segments; g++) {
    const fc_segment *seg = &sh->seg[g];
    /* The seed depends on the global heads only: any rank and family that computes this
     * shard sees the same inputs. */
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(sh->q_head0 + seg->q0 + 1) ^
                    (uint64_t)(s->S * 131 + s->D * 7 + s->causal + s->B * 1000003);
    fc_case c = fc_case_make(FC_DTYPE_BF16, s->B, s->S, s->S, seg->q_heads, seg->kv_heads, s->D, seed);
    c.causal = s->causal;
    c.with_lse = 1;
    c.sample_rows = 256;
    const int64_t n = fc_case_out_extent(&c);
    float *mine = malloc(sizeof(float) * (size_t)n), *other = malloc(sizeof(float) * (size_t)n);
    if (!mine || !other) {
      free(mine), free(other);
      FC_FAIL(res, "out of host memory for the check (%lld elements)", (long long)n);
    }
    c.keep_out = mine;
    fc_check chk;
    fc_status st = fc_case_run(ctx, &c, &chk);
    if (st != FC_SUCCESS) {
      snprintf(res->error, sizeof res->error, "check: %s: %s", fc_status_string(st), fc_last_error(ctx));
      free(mine), free(other);
      return -1;
    }
    if (!chk.pass) res->check_pass = 0, res->wrong++;
    if (chk.max_err > res->max_err) res->max_err = chk.max_err;
    if (chk.naive_err > res->naive_err) res->naive_err = chk.naive_err;
    for (int f = 0; f < args->num_families; f++) {
      fc_family other_fam = args->families[f];
      if (other_fam == fam || other_fam == FC_FAMILY_AUTO) continue;
      fc_context *c2 = NULL;
      if (fc_context_create(device, &c2) != FC_SUCCESS) continue;
      fc_context_set_family(c2, other_fam);
      c.keep_out = other;
      fc_check chk2;
      st = fc_case_run(c2, &c, &chk2);
      if (st == FC_SUCCESS) {
        double diff = 0;
        for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)mine[i] - other[i]));
        if (!chk2.pass) res->wrong++;
        if (used < sizeof res->cross)
          used += (size_t)snprintf(res->cross + used, sizeof res->cross - used,
                                   "%s%s: %s, max |%s-%s| %.2g", used ? "; " : "",
                                   fc_family_name(other_fam), chk2.pass ? "pass" : "FAIL",
                                   fc_family_name(fam), fc_family_name(other_fam), diff);
      } else if (used < sizeof res->cross) {
        used += (size_t)snprintf(res->cross + used, sizeof res->cross - used, "%s%s: %s",
                                 used ? "; " : "", fc_family_name(other_fam), fc_status_string(st));
      }
      fc_context_destroy(c2);
    }
    free(mine), free(other);
  }
  return 0;
}

/* One chunk: query rows [r0, r1) of padded local heads [h0, h1). */
typedef struct chunk_t {
  int64_t r0, r1;
  int h0, h1;
} chunk_t;

/* Everything one rank's timed loop needs. Chunk c's part of the gathered buffer follows the
 * earlier chunks' and holds the ranks' slots one after another, each [head][B][rows][D]. */
typedef struct run_state {
  fc_context *ctx;
  const fc_scale_shape *s;
  const fc_shard *sh;
  int n, rank, hmax, chunks, gather, store;
  int store_last; /* --gather ce-store: the last chunk's launch stores into every window */
  int skip;       /* FC_SCALE_SKIP_CHUNK: the chunk left out, or -1 */
  chunk_t chunk[64];
  const uint16_t *q, *k, *v;
  uint16_t *gathered;
  ncclComm_t comm;
  cudaStream_t comp[2], comm_stream;
  cudaEvent_t fork, join, chunk_done[64];
  fc_rank_result *res;
  /* --gather store: every rank's window and flag slots in this process, and the barriers
   * enqueued so far (every rank enqueues the same ones) */
  char *window[FC_SCALE_STORE_MAX_RANKS];
  unsigned int *flags[FC_SCALE_STORE_MAX_RANKS];
  unsigned int *epoch;
  /* The stores' counters (fc_attn_options.out_signals), after the flag slots of each window:
   * counts[p] is this rank's count of the rows rank p has stored into it, sent[p] this rank's
   * counter in rank p's window; per_round[p] the rows rank p stores in one phase 3, expect[p]
   * the count this rank waits for after the phase 3 enqueued last. */
  unsigned int *counts[FC_SCALE_STORE_MAX_RANKS], *sent[FC_SCALE_STORE_MAX_RANKS];
  unsigned int per_round[FC_SCALE_STORE_MAX_RANKS], *expect;
  /* The storing launches count their rows (out_signals) and each rank waits for the others'
   * counts after them, instead of the barrier: where they run on the persistent grid on
   * every rank (fc_kernel_info.persistent), which waits for its stores once a CTA. */
  int signals;
  /* The barrier after the storing launch and in phase 2: cross-GPU event waits (evb->on), else
   * the flags' stream writes and waits (fc_scale_signal). */
  struct ev_barrier *evb;
  const fc_host_team *team;
} run_state;

/* The ranks' barrier as event waits (scaling/probes/barrier-cost.cu: 2.2-2.7 us a barrier on
 * 2 x H100 against 4.5-7.5 us for the flags' stream write and wait,
 * results/history/session-dada976/call3b/). An event carries no round number, so a rank's
 * wait must be enqueued after the other ranks' record of the same barrier: every rank records
 * its event, the host team meets (outside the GPUs' timeline: each measured round waits at
 * its gate until the host has enqueued it whole), then each waits for the others'. Two events
 * a rank in turn: a rank records one again only after the next barrier's host meeting, which
 * every rank reaches after enqueuing its waits on it. The team is the point's ranks (driver.c
 * makes one for each point); under MPI the events are opened by IPC handle. */
typedef struct ev_barrier {
  int on;
  unsigned int uses;
  cudaEvent_t mine[2], all[FC_SCALE_MAX_RANKS][2]; /* all[p]: rank p's (own or opened) */
  int opened;                                       /* all[p] != mine were opened by IPC */
} ev_barrier;

/* The ranks' barrier on stream st: every rank's work enqueued on its stream before this
 * completes before any rank's work after it. Returns 0 or a cudaError_t. */
static int rank_barrier(const run_state *r, cudaStream_t st) {
  ev_barrier *b = r->evb;
  if (!b || !b->on) return fc_scale_signal(r->flags, r->rank, r->n, ++*r->epoch, st);
  const int k = (int)(b->uses++ & 1u);
  cudaError_t e = cudaEventRecord(b->mine[k], st);
  if (e != cudaSuccess) return (int)e;
  r->team->barrier(r->team);
  for (int p = 0; p < r->n; p++)
    if (p != r->rank && (e = cudaStreamWaitEvent(st, b->all[p][k], 0)) != cudaSuccess) return (int)e;
  return 0;
}

/* Set up b for every rank of the team (all must call it): 0 with b->on where every rank
 * could, else 0 with b->on clear on every rank (they then use the flags), or -1 where the
 * ranks could not agree. */
static int agree_max(const run_state *r, int *v);
static int ev_barrier_setup(const run_state *r, ev_barrier *b) {
  memset(b, 0, sizeof *b);
  const unsigned flags = cudaEventDisableTiming | (r->team->same_process ? 0u : cudaEventInterprocess);
  int failed = cudaEventCreateWithFlags(&b->mine[0], flags) != cudaSuccess ||
               cudaEventCreateWithFlags(&b->mine[1], flags) != cudaSuccess;
  if (r->team->same_process) {
    cudaEvent_t all[FC_SCALE_MAX_RANKS][2];
    r->team->allgather(r->team, r->rank, b->mine, all, sizeof b->mine);
    memcpy(b->all, all, sizeof(all[0]) * (size_t)r->n);
  } else {
    cudaIpcEventHandle_t mine[2], all[FC_SCALE_MAX_RANKS][2];
    memset(mine, 0, sizeof mine);
    failed = failed || cudaIpcGetEventHandle(&mine[0], b->mine[0]) != cudaSuccess ||
             cudaIpcGetEventHandle(&mine[1], b->mine[1]) != cudaSuccess;
    r->team->allgather(r->team, r->rank, mine, all, sizeof mine);
    for (int p = 0; p < r->n; p++)
      for (int k = 0; k < 2; k++) {
        if (p == r->rank) b->all[p][k] = b->mine[k];
        else if (!failed) failed = cudaIpcOpenEventHandle(&b->all[p][k], all[p][k]) != cudaSuccess;
      }
    b->opened = 1;
  }
  cudaGetLastError(); /* a refusal above leaves nothing behind */
  if (agree_max(r, &failed)) return -1;
  b->on = !failed;
  return 0;
}

static void ev_barrier_free(const run_state *r, ev_barrier *b) {
  for (int p = 0; b->opened && p < r->n; p++)
    for (int k = 0; k < 2; k++)
      if (p != r->rank && b->all[p][k]) cudaEventDestroy(b->all[p][k]);
  for (int k = 0; k < 2; k++)
    if (b->mine[k]) cudaEventDestroy(b->mine[k]);
}

static size_t slot_elems(const run_state *r, int c) {
  const chunk_t *k = &r->chunk[c];
  return (size_t)((k->h1 - k->h0) * r->s->B * r->s->D * (k->r1 - k->r0));
}
static size_t chunk_offset(const run_state *r, int c) {
  size_t off = 0;
  for (int i = 0; i < c; i++) off += (size_t)r->n * slot_elems(r, i);
  return off;
}
static uint16_t *slot(const run_state *r, int c) {
  return r->gathered + chunk_offset(r, c) + (size_t)r->rank * slot_elems(r, c);
}

#define RS_CUDA(r, call) FC_CUDA((r)->res, call)
#define RS_NCCL(r, call) FC_NCCL((r)->res, call)

/* The elements of a slot of chunk c that a rank with q_heads real heads writes: its first
 * heads (the padding heads after them stay zero). */
static size_t real_elems(const run_state *r, int c, int q_heads) {
  const chunk_t *k = &r->chunk[c];
  const int h1 = k->h1 < q_heads ? k->h1 : q_heads;
  return h1 <= k->h0 ? 0 : (size_t)((h1 - k->h0) * r->s->B * r->s->D * (k->r1 - k->r0));
}

/* NaN (bf16 0xffff) in the real heads of every rank's slot of every chunk, so that after the
 * timed rounds a slot that no launch or collective wrote is seen (fc_bf16_count_nan), not
 * read as the zeros that every rank's copy of it would hold alike. Finished here, before
 * anything else writes the buffer: the other ranks reach it only through collectives this
 * rank joins later, or (store, ce-store) through their kernels' stores, which come after the
 * agreements that follow the caller's call and hold every rank until all have poisoned. */
static int poison_slots(const run_state *r, const fc_shard *shards) {
  for (int c = 0; c < r->chunks; c++)
    for (int p = 0; p < r->n; p++) {
      const size_t off = chunk_offset(r, c) + (size_t)p * slot_elems(r, c), len = real_elems(r, c, shards[p].q_heads);
      if (len) RS_CUDA(r, cudaMemset(r->gathered + off, 0xff, 2 * len));
    }
  RS_CUDA(r, cudaDeviceSynchronize());
  return 0;
}

/* Query rows [ch->r0, ch->r1) of padded local heads [ch->h0, ch->h1), one forward call per
 * segment (its heads within the chunk's), on stream st, into `out` ([head][B][rows][D], the
 * chunk's first head first); with `copies`, also into the same place of every other rank's
 * window. A causal chunk reads keys [0, r1). A head chunk starts and ends on whole KV groups
 * of each segment (fc_plan_head_split). With `persistent` non-NULL nothing runs: the library
 * only selects each call's kernel, and *persistent says whether all would run persistent. */
static int launch_rows(const run_state *r, const chunk_t *ch, uint16_t *out, cudaStream_t st, int copies,
                       int *persistent) {
  if (persistent) *persistent = 1;
  const fc_scale_shape *s = r->s;
  const fc_shard *sh = r->sh;
  const int64_t B = s->B, S = s->S, D = s->D, hq = sh->q_heads, hk = sh->kv_heads;
  const int64_t r0 = ch->r0, rows = ch->r1 - r0, keys = s->causal ? r0 + rows : S;
  for (int g = 0; g < sh->num_segments; g++) {
    const fc_segment *seg = &sh->seg[g];
    const int a = seg->q0 > ch->h0 ? seg->q0 : ch->h0;
    const int e = seg->q0 + seg->q_heads < ch->h1 ? seg->q0 + seg->q_heads : ch->h1;
    if (a >= e) continue;
    const int group = seg->q_heads / seg->kv_heads, kv0 = seg->kv0 + (a - seg->q0) / group;
    fc_tensor tq = {(void *)(r->q + r0 * hq * D + a * D), FC_DTYPE_BF16, {B, rows, e - a, D}, {S * hq * D, hq * D, D, 1}};
    fc_tensor tk = {(void *)(r->k + kv0 * D), FC_DTYPE_BF16, {B, keys, (e - a) / group, D}, {S * hk * D, hk * D, D, 1}};
    fc_tensor tv = tk;
    tv.data = (void *)(r->v + kv0 * D);
    fc_tensor to = {(void *)(out + (int64_t)(a - ch->h0) * B * rows * D), FC_DTYPE_BF16,
                    {B, rows, e - a, D}, {rows * D, D, B * rows * D, 1}};
    fc_attn_options o = FC_ATTN_OPTIONS_INIT;
    o.causal = s->causal;
    void *peers[FC_MAX_OUT_COPIES];
    uint32_t *sig[FC_MAX_OUT_COPIES];
    if (copies) {
      const size_t off = (size_t)((char *)to.data - (char *)r->gathered);
      for (int p = 0; p < r->n; p++)
        if (p != r->rank) sig[o.num_out_copies] = r->sent[p], peers[o.num_out_copies++] = r->window[p] + off;
      o.out_copies = peers;
      if (r->signals || persistent) o.out_signals = sig;
    }
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    fc_status stt = persistent ? fc_select_kernel(r->ctx, &tq, &tk, &tv, &to, NULL, &o, &info)
                               : fc_attention_forward(r->ctx, &tq, &tk, &tv, &to, NULL, &o, (struct CUstream_st *)st);
    if (persistent) *persistent &= info.persistent;
    if (stt != FC_SUCCESS)
      FC_FAIL(r->res, "forward, rows %lld..%lld heads %d..%d, segment %d: %s: %s", (long long)r0, (long long)ch->r1,
              ch->h0, ch->h1, g, fc_status_string(stt), fc_last_error(r->ctx));
  }
  return 0;
}

/* Chunk c into this rank's slot (nothing for the chunk FC_SCALE_SKIP_CHUNK leaves out). */
static int run_chunk(const run_state *r, int c, cudaStream_t st, int copies) {
  if (c == r->skip) return 0;
  return launch_rows(r, &r->chunk[c], slot(r, c), st, copies, NULL);
}

static float bf16_value(uint16_t x) {
  const uint32_t u = (uint32_t)x << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* The timed chunks against one launch of the whole shard: the check of check_shard runs the
 * shard unchunked, so this is what ties the chunked launches (rows or heads, their KV heads
 * and offsets) to it. Each chunk of this rank's slots whose values differ from that launch's
 * by more than 2^-6 (a few bf16 ulps: a chunk's row blocks can visit key tiles in another
 * grouping, which changes the online softmax's rescaling, not the result) counts as wrong.
 * Returns 0, or -1 with res->error set. */
static int verify_chunks(const run_state *r) {
  const fc_scale_shape *s = r->s;
  const fc_shard *sh = r->sh;
  const int64_t B = s->B, S = s->S, D = s->D, hq = sh->q_heads;
  const size_t n_ref = (size_t)(hq * B * S * D), n_all = chunk_offset(r, r->chunks);
  uint16_t *dev = NULL, *ref = malloc(2 * n_ref), *got = malloc(2 * n_all);
  int ret = -1;
  if (!ref || !got) {
    snprintf(r->res->error, sizeof r->res->error, "%s:%d: out of host memory", __FILE__, __LINE__);
    goto out;
  }
  /* Poisoned with NaN (bf16 0xffff): an element the launch leaves unwritten fails below
   * instead of matching whatever the allocation held. */
  if (cudaMalloc((void **)&dev, 2 * n_ref) != cudaSuccess ||
      cudaMemsetAsync(dev, 0xff, 2 * n_ref, r->comp[0]) != cudaSuccess)
    goto cuda_fail;
  const chunk_t whole = {0, S, 0, (int)hq};
  if (launch_rows(r, &whole, dev, r->comp[0], 0, NULL)) goto out;
  if (cudaStreamSynchronize(r->comp[0]) != cudaSuccess || cudaMemcpy(ref, dev, 2 * n_ref, cudaMemcpyDeviceToHost) != cudaSuccess ||
      cudaMemcpy(got, r->gathered, 2 * n_all, cudaMemcpyDeviceToHost) != cudaSuccess)
    goto cuda_fail;
  for (int c = 0; c < r->chunks; c++) {
    const chunk_t *ch = &r->chunk[c];
    const int64_t rows = ch->r1 - ch->r0, h1 = ch->h1 < hq ? ch->h1 : hq;
    const uint16_t *mine = got + chunk_offset(r, c) + (size_t)r->rank * slot_elems(r, c);
    int bad = 0;
    for (int64_t h = ch->h0; h < h1 && !bad; h++)
      for (int64_t b = 0; b < B && !bad; b++)
        for (int64_t i = 0; i < rows * D && !bad; i++) {
          const float x = bf16_value(mine[((h - ch->h0) * B + b) * rows * D + i]);
          const float y = bf16_value(ref[((h * B + b) * S + ch->r0) * D + i]);
          bad = !(fabsf(x - y) <= 0x1p-6f);
        }
    r->res->wrong += bad;
  }
  ret = 0;
  goto out;
cuda_fail:
  snprintf(r->res->error, sizeof r->res->error, "%s:%d: %s", __FILE__, __LINE__, cudaGetErrorString(cudaGetLastError()));
out:
  cudaFree(dev);
  free(ref), free(got);
  return ret;
}

/* After phase 3's storing launch, on its stream: wait until every other rank's count of the
 * rows it stored here has reached this round's (their kernels add to it as their CTAs'
 * stores land, so no barrier follows the kernels). */
static int wait_stores(const run_state *r, cudaStream_t st) {
  for (int p = 0; p < r->n; p++) r->expect[p] += r->per_round[p];
  RS_CUDA(r, (cudaError_t)fc_scale_wait_counts(r->counts, r->expect, r->rank, r->n, st));
  return 0;
}

static int gather_chunk(const run_state *r, int c) {
  RS_NCCL(r, ncclAllGather(slot(r, c), r->gathered + chunk_offset(r, c), slot_elems(r, c), ncclBfloat16, r->comm,
                           r->comm_stream));
  return 0;
}

/* Whether the timed phases call the collective. One rank has nothing to gather (its slot is
 * the whole buffer, written in place), so it calls none: its gather phase is empty. */
static int calls_collective(const run_state *r) { return r->gather && r->n > 1; }

/* Enqueue one run of a phase between events e0 and e1 on comp[0]. Phase 1: attention alone;
 * 2: the gathers alone; 3: both, the gather of chunk c waiting only for chunk c. e_last (or
 * NULL) is recorded on the last chunk's stream once its launch is enqueued: how much of
 * phase 3 the stores and the barrier or gathers leave after the attention's last launch. Chunks
 * alternate between the two compute streams, so the next chunk's blocks fill the SMs that a
 * chunk's last wave leaves idle. The run ends when every stream it used is done, so no run
 * writes a slot that an earlier one still sends. */
static int enqueue_phase(const run_state *r, int phase, cudaEvent_t e0, cudaEvent_t e1, cudaEvent_t e_last) {
  const int attn = phase != 2, coll = phase != 1 && calls_collective(r);
  RS_CUDA(r, cudaEventRecord(e0, r->comp[0]));
  if (r->store) { /* 1: attention alone; 2: the ranks' barrier alone (it also lines up the ranks'
                   * phase 3 starts); 3: attention storing everywhere, then the wait for the others' stores */
    if (attn && run_chunk(r, 0, r->comp[0], phase == 3)) return -1;
    if (e_last) RS_CUDA(r, cudaEventRecord(e_last, r->comp[0]));
    if (coll && (phase == 2 || !r->signals))
      RS_CUDA(r, (cudaError_t)rank_barrier(r, r->comp[0]));
    else if (coll && wait_stores(r, r->comp[0])) return -1;
    RS_CUDA(r, cudaEventRecord(e1, r->comp[0]));
    return 0;
  }
  RS_CUDA(r, cudaEventRecord(r->fork, r->comp[0]));
  if (attn) RS_CUDA(r, cudaStreamWaitEvent(r->comp[1], r->fork, 0));
  if (coll) RS_CUDA(r, cudaStreamWaitEvent(r->comm_stream, r->fork, 0));
  /* --gather ce-store: the last chunk is not gathered; its launch stores into every rank's
   * window (phase 3), and the wait for the others' stores after it, on its stream, stands for
   * its gather. In phase 2 the ranks' barrier stands for it, and lines up the ranks' phase 3. */
  const int gathered = r->chunks - (r->store_last ? 1 : 0);
  if (phase == 2 && coll) {
    RS_NCCL(r, ncclGroupStart());
    for (int c = 0; c < gathered; c++)
      if (gather_chunk(r, c)) {
        ncclGroupEnd();
        return -1;
      }
    RS_NCCL(r, ncclGroupEnd());
    if (r->store_last) RS_CUDA(r, (cudaError_t)rank_barrier(r, r->comm_stream));
  }
  for (int c = 0; c < r->chunks && attn; c++) {
    cudaStream_t st = r->comp[c % 2];
    if (run_chunk(r, c, st, phase == 3 && c >= gathered)) return -1;
    if (e_last && c == r->chunks - 1) RS_CUDA(r, cudaEventRecord(e_last, st));
    if (!coll) continue;
    if (c >= gathered) {
      if (!r->signals) RS_CUDA(r, (cudaError_t)rank_barrier(r, st));
      else if (wait_stores(r, st)) return -1;
      continue;
    }
    RS_CUDA(r, cudaEventRecord(r->chunk_done[c], st));
    RS_CUDA(r, cudaStreamWaitEvent(r->comm_stream, r->chunk_done[c], 0));
    if (gather_chunk(r, c)) return -1;
  }
  if (attn) {
    RS_CUDA(r, cudaEventRecord(r->join, r->comp[1]));
    RS_CUDA(r, cudaStreamWaitEvent(r->comp[0], r->join, 0));
  }
  if (coll) {
    RS_CUDA(r, cudaEventRecord(r->join, r->comm_stream));
    RS_CUDA(r, cudaStreamWaitEvent(r->comp[0], r->join, 0));
  }
  RS_CUDA(r, cudaEventRecord(e1, r->comp[0]));
  return 0;
}

/* A measured round is enqueued behind a gate, so the GPU never waits for the host inside a
 * round: the stream first waits (cuStreamWaitValue32, polled by the GPU, no host thread
 * involved) until a mapped host word reaches the round's number, which the host writes once
 * the whole round is enqueued. No host thread waits, unlike a host-function gate, where a
 * spinning callback could hold up the callbacks of the other GPUs in the process while its
 * own rank's gather waits for theirs (a risk reasoned out, not observed: the hang once
 * blamed on it came from ranks running different warm-up counts). Without the driver entry
 * point, or with FC_SCALE_GATE=0 in the environment, rounds go ungated. */
typedef CUresult (*wait_value_fn)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
static wait_value_fn wait_value32(void) {
  void *fn = NULL;
  enum cudaDriverEntryPointQueryResult q;
  if (cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
      q != cudaDriverEntryPointSuccess)
    return NULL;
  return (wait_value_fn)fn;
}

/* The largest of every rank's *v, on every rank (ncclAllReduce(max) on comp[0]). Choices that
 * set how many collectives a rank runs must agree, or the ranks wait for each other forever. */
static int agree_max(const run_state *r, int *v) {
  if (r->n == 1) return 0;
  int *dv = NULL;
  int ok = cudaMalloc((void **)&dv, sizeof *v) == cudaSuccess &&
           cudaMemcpy(dv, v, sizeof *v, cudaMemcpyHostToDevice) == cudaSuccess &&
           ncclAllReduce(dv, dv, 1, ncclInt32, ncclMax, r->comm, r->comp[0]) == ncclSuccess &&
           cudaMemcpyAsync(v, dv, sizeof *v, cudaMemcpyDeviceToHost, r->comp[0]) == cudaSuccess &&
           cudaStreamSynchronize(r->comp[0]) == cudaSuccess;
  cudaFree(dv);
  return ok ? 0 : -1;
}

/* Time the three phases. They are interleaved round by round (1, 2, 3, 1, 2, 3, ...) so that
 * each sees the same clocks: run one after the other, a later phase ran on a hotter,
 * lower-clocked GPU than the first. Each phase runs twice in a row and the second run is
 * timed, so every timed launch follows a launch of its own kernel, as in T1 (one rank times
 * the same launch back to back): a launch right after a different kernel ran 2-10 us slower
 * on H100 (history/kernel-switch-h100-cfc9383/), which the interleave had charged to the
 * multi-GPU phases alone (their plain and storing kernels alternated). Phase 3 then runs a
 * third time, which records when its last launch ends (last_launch_ms). Warm-up rounds come
 * first, at least args->warmup of them and about 200 ms of GPU time (judged from the first
 * round), so the clocks have settled. */
static int time_phases(const run_state *r, const fc_scale_args *args) {
  const int reps = args->reps;
  cudaEvent_t *ev = calloc((size_t)8 * (size_t)(reps + 1), sizeof(cudaEvent_t));
  double *t = calloc((size_t)reps, sizeof(double));
  uint32_t *gate = NULL; /* mapped host word */
  const char *gate_env = getenv("FC_SCALE_GATE"); /* "0": ungated rounds */
  const wait_value_fn wait = gate_env && !strcmp(gate_env, "0") ? NULL : wait_value32();
  int ret = -1;
  if (wait && cudaHostAlloc((void **)&gate, sizeof *gate, cudaHostAllocMapped) != cudaSuccess) goto cuda_fail;
  if (gate) __atomic_store_n(gate, 0u, __ATOMIC_SEQ_CST);
  if (!ev || !t) {
    snprintf(r->res->error, sizeof r->res->error, "%s:%d: out of host memory", __FILE__, __LINE__);
    goto done;
  }
  for (int i = 0; i < 8 * (reps + 1); i++)
    if (cudaEventCreate(&ev[i]) != cudaSuccess) {
      snprintf(r->res->error, sizeof r->res->error, "%s:%d: cudaEventCreate failed", __FILE__, __LINE__);
      goto done;
    }
  /* round i: ev[8i .. 8i+5] the timed runs' starts and ends; ev[8i+7] and ev[8i+6] the start
   * and the last launch's end of a third run of phase 3, which alone records the last launch:
   * recorded in the timed run, that event added about 0.003 ms to the phase, on one rank and on
   * two alike (history/session-cbe1508/, call 3b), so T1 was not the plain launch */
  cudaEvent_t *w = ev + 8 * reps; /* warm-up rounds reuse these */
  /* Every rank must run the same number of rounds (each holds collectives), so the count
   * comes from the slowest rank's first round: ncclAllReduce(max) of the rounds it asks for. */
  int rounds = args->warmup > 1 ? args->warmup : 1;
  for (int round = 0; round < rounds; round++) {
    for (int ph = 1; ph <= 3; ph++)
      for (int twice = 0; twice < 2; twice++)
        if (enqueue_phase(r, ph, w[2 * (ph - 1)], w[2 * (ph - 1) + 1], ph == 3 ? w[6] : NULL)) goto done;
    if (round > 0) continue;
    if (cudaStreamSynchronize(r->comp[0]) != cudaSuccess) goto cuda_fail;
    float a, b, c;
    if (cudaEventElapsedTime(&a, w[0], w[1]) || cudaEventElapsedTime(&b, w[2], w[3]) || cudaEventElapsedTime(&c, w[4], w[5]))
      goto cuda_fail;
    int want = (int)ceil(200.0 / fmax(2 * (a + b + c), 1e-3));
    want = want < rounds ? rounds : want > 20000 ? 20000 : want;
    if (agree_max(r, &want)) goto cuda_fail;
    rounds = want;
  }
  if (cudaStreamSynchronize(r->comp[0]) != cudaSuccess) goto cuda_fail;
  for (int i = 0; i < reps; i++) {
    if (gate) {
      void *dptr = NULL;
      CUresult cr = cudaHostGetDevicePointer(&dptr, gate, 0) == cudaSuccess
                        ? wait((CUstream)r->comp[0], (CUdeviceptr)(uintptr_t)dptr, (cuuint32_t)(i + 1), CU_STREAM_WAIT_VALUE_GEQ)
                        : CUDA_ERROR_INVALID_VALUE;
      if (cr != CUDA_SUCCESS) {
        snprintf(r->res->error, sizeof r->res->error, "%s:%d: cuStreamWaitValue32 failed (%d)", __FILE__, __LINE__, (int)cr);
        __atomic_store_n(gate, (uint32_t)reps, __ATOMIC_SEQ_CST);
        cudaStreamSynchronize(r->comp[0]);
        goto done;
      }
    }
    for (int ph = 1; ph <= 3; ph++)
      if (enqueue_phase(r, ph, w[2 * (ph - 1)], w[2 * (ph - 1) + 1], NULL) || /* untimed: the timed run follows its own kernels */
          enqueue_phase(r, ph, ev[8 * i + 2 * (ph - 1)], ev[8 * i + 2 * (ph - 1) + 1], NULL) ||
          (ph == 3 && enqueue_phase(r, ph, ev[8 * i + 7], w[5], ev[8 * i + 6]))) {
        if (gate) __atomic_store_n(gate, (uint32_t)reps, __ATOMIC_SEQ_CST); /* open every gate, drain */
        cudaStreamSynchronize(r->comp[0]);
        goto done;
      }
    if (gate) __atomic_store_n(gate, (uint32_t)(i + 1), __ATOMIC_SEQ_CST);
  }
  if (cudaStreamSynchronize(r->comp[0]) != cudaSuccess) goto cuda_fail;
  double *dst[4] = {&r->res->t_attn, &r->res->t_coll, &r->res->t_total, &r->res->t_last};
  for (int ph = 0; ph < 4; ph++) {
    for (int i = 0; i < reps; i++) {
      float ms;
      cudaEvent_t a = ev[8 * i + (ph < 3 ? 2 * ph : 7)], b = ev[8 * i + (ph < 3 ? 2 * ph + 1 : 6)];
      if (cudaEventElapsedTime(&ms, a, b) != cudaSuccess) goto cuda_fail;
      t[i] = ms;
    }
    *dst[ph] = median(t, reps);
  }
  if (!calls_collective(r)) r->res->t_coll = 0;
  ret = 0;
  goto done;
cuda_fail:
  snprintf(r->res->error, sizeof r->res->error, "%s:%d: %s", __FILE__, __LINE__, cudaGetErrorString(cudaGetLastError()));
done:
  if (ev)
    for (int i = 0; i < 8 * (reps + 1); i++)
      if (ev[i]) cudaEventDestroy(ev[i]);
  if (gate) cudaFreeHost(gate);
  free(ev), free(t);
  return ret;
}

int fc_run_attention_point(const fc_scale_args *args, const fc_point *pt, int rank, int device,
                           ncclComm_t comm, const fc_host_team *team, fc_rank_result *res) {
  const fc_scale_shape *s = &pt->shape;
  const int n = pt->ranks;
  fc_shard shards[FC_SCALE_MAX_RANKS];
  char err[256];
  if (fc_plan_shards((int)s->H, (int)s->Hk, n, shards, err, sizeof err)) FC_FAIL(res, "%s", err);
  const fc_shard *sh = &shards[rank];
  run_state r;
  memset(&r, 0, sizeof r);
  r.skip = -1;
  r.s = s, r.sh = sh, r.n = n, r.rank = rank, r.comm = comm, r.res = res, r.team = team;
  ev_barrier evb;
  memset(&evb, 0, sizeof evb);
  int want_chunks = 1;
  int no_store = 0; /* --gather store: this rank's family cannot store copies */
  char no_store_why[160] = "";
  for (int i = 0; i < n; i++) r.hmax = shards[i].q_heads > r.hmax ? shards[i].q_heads : r.hmax;
  r.gather = args->collective == FC_COLL_ALLGATHER;
  r.store = r.gather && args->engine == FC_GATHER_STORE && n > 1;
  r.store_last = r.gather && args->engine == FC_GATHER_CE_STORE && n > 1;
  unsigned int epoch = 0, expect[FC_SCALE_STORE_MAX_RANKS] = {0};
  r.epoch = &epoch;
  r.expect = expect;
  if (r.store && n > FC_SCALE_STORE_MAX_RANKS)
    FC_FAIL(res, "--gather store: %d ranks; a kernel stores into at most %d other ranks' windows", n,
            FC_SCALE_STORE_MAX_RANKS - 1);
  res->q_head0 = sh->q_head0, res->q_heads = sh->q_heads, res->kv_heads = sh->kv_heads;

  FC_CUDA(res, cudaSetDevice(device));
  if (fc_context_create(device, &r.ctx) != FC_SUCCESS) FC_FAIL(res, "%s", fc_last_error(NULL));
  const fc_family fam = args->families[rank % args->num_families];
  fc_context_set_family(r.ctx, fam);
  {
    /* Which family actually runs (auto resolves through the selector). */
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    void *probe = NULL;
    if (cudaMalloc(&probe, 2048) != cudaSuccess) { /* two rows of up to 256 bf16, 512 bytes apart */
      fc_context_destroy(r.ctx);
      FC_FAIL(res, "cudaMalloc of 2 KiB failed");
    }
    fc_tensor t = fc_tensor_bshd(probe, FC_DTYPE_BF16, 1, 1, 1, s->D);
    fc_tensor o = t;
    o.data = (char *)probe + 2 * 256;
    fc_status st = fc_select_kernel(r.ctx, &t, &t, &t, &o, NULL, NULL, &info);
    if (r.store || r.store_last) { /* can this rank's family store copies? (sm80 cannot) */
      fc_kernel_info with = FC_KERNEL_INFO_INIT;
      fc_attn_options po = FC_ATTN_OPTIONS_INIT;
      void *copy[1] = {(char *)probe + 2 * 512};
      po.out_copies = copy, po.num_out_copies = 1;
      if (fc_select_kernel(r.ctx, &t, &t, &t, &o, NULL, &po, &with) != FC_SUCCESS) {
        no_store = 1;
        snprintf(no_store_why, sizeof no_store_why, "%s", fc_last_error(r.ctx));
      }
    }
    cudaFree(probe);
    snprintf(res->family, sizeof res->family, "%s", st == FC_SUCCESS ? fc_family_name(info.family) : "none");
    /* One rank has nothing to gather, so it runs unchunked: T1 is plain single-GPU attention,
     * and the cost of chunking is charged to the multi-GPU runs, where it buys the overlap.
     * --chunks auto: from the CTAs of the largest shard's launch (fc_auto_chunks). */
    want_chunks = args->chunks;
    if (n == 1 || r.store) want_chunks = 1;
    else if (want_chunks == 0) {
      int sms = 0;
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
      const int64_t bm = info.block_m > 0 ? info.block_m : 128;
      const double keys = s->causal ? 0.5 * (double)(s->S + 1) : (double)s->S;
      want_chunks = fc_auto_chunks(s->B * r.hmax * ((s->S + bm - 1) / bm), sms, keys, s->causal, n);
    }
  }
  if (args->check && check_shard(args, pt, sh, r.ctx, device, fam, res)) {
    fc_context_destroy(r.ctx);
    return -1;
  }

  const int64_t B = s->B, S = s->S, D = s->D;
  const size_t nq = (size_t)(B * S * sh->q_heads * D), nk = (size_t)(B * S * sh->kv_heads * D);
  const size_t gathered_elems = (size_t)n * (size_t)(r.hmax * B * S * D);
  /* copy engines and the kernel's stores need the buffer in a symmetric window (the stores'
   * flag slots after it); one rank gathers nothing */
  const int windowed = r.gather && (args->engine == FC_GATHER_CE || r.store || r.store_last) && n > 1;
  const size_t gathered_bytes = (2 * gathered_elems + 4095) / 4096 * 4096;
  const size_t window_bytes = gathered_bytes + (r.store || r.store_last ? 4096 : 0);
  uint16_t *q = NULL, *k = NULL, *v = NULL;
  ncclWindow_t win = NULL;
  uint16_t *host = malloc(2 * (nq > gathered_elems ? nq : gathered_elems));
  if (!host) {
    fc_context_destroy(r.ctx);
    FC_FAIL(res, "out of host memory");
  }
  int ret = -1;
#define STEP(call) do { if ((call) != cudaSuccess) { snprintf(res->error, sizeof res->error, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(cudaGetLastError())); goto done; } } while (0)
#define NSTEP(call) do { ncclResult_t r_ = (call); if (r_ != ncclSuccess) { snprintf(res->error, sizeof res->error, "%s:%d: %s: %s", __FILE__, __LINE__, #call, ncclGetErrorString(r_)); goto done; } } while (0)
  STEP(cudaMalloc((void **)&q, 2 * nq));
  STEP(cudaMalloc((void **)&k, 2 * nk));
  STEP(cudaMalloc((void **)&v, 2 * nk));
  if (windowed) {
    NSTEP(ncclMemAlloc((void **)&r.gathered, window_bytes));
    NSTEP(ncclCommWindowRegister(comm, r.gathered, window_bytes, &win, NCCL_WIN_COLL_SYMMETRIC));
  } else {
    STEP(cudaMalloc((void **)&r.gathered, window_bytes));
  }
  /* Padding heads of small shards stay zero, and so do the flags until the first barrier:
   * agree_max below holds every rank until all have cleared theirs. */
  STEP(cudaMemset(r.gathered, 0, window_bytes));
  if (r.store_last && n > FC_SCALE_STORE_MAX_RANKS) {
    no_store = 1;
    snprintf(no_store_why, sizeof no_store_why, "%d ranks; a kernel stores into at most %d other ranks' windows", n,
             FC_SCALE_STORE_MAX_RANKS - 1);
  }
  if (r.store || (r.store_last && !no_store)) {
    void *bases[FC_SCALE_STORE_MAX_RANKS];
    if (fc_scale_window_peers(comm, win, n, bases, err, sizeof err)) {
      if (r.store) {
        snprintf(res->error, sizeof res->error, "%s:%d: %s", __FILE__, __LINE__, err);
        goto done;
      }
      no_store = 1; /* ce-store: copy engines alone (below) */
      snprintf(no_store_why, sizeof no_store_why, "%s", err);
    }
    for (int p = 0; p < n && !no_store; p++) {
      r.window[p] = bases[p];
      r.flags[p] = (unsigned int *)(r.window[p] + gathered_bytes);
      r.sent[p] = r.flags[p] + FC_SCALE_STORE_MAX_RANKS + rank;
    }
    for (int p = 0; p < n && !no_store; p++) r.counts[p] = r.flags[rank] + FC_SCALE_STORE_MAX_RANKS + p;
  }
  {
    /* Timing data (the check draws its own): Q, K and V independent, uniform in [-1, 1), as
     * flashcore-bench draws them. Before 772738f Q, K and V held the same values, so each
     * causal row met its largest score in its first key tile and the online softmax never
     * rescaled: 5-6% faster than independent inputs under the same power cap
     * (results/history/t1-bench-vs-scale-h100x2/). */
    uint64_t x = 88172645463325252ull ^ (uint64_t)(rank + 1);
    uint16_t *dst[3] = {q, k, v};
    const size_t count[3] = {nq, nk, nk};
    for (int t = 0; t < 3; t++) {
      fc_fill_timing(host, FC_DTYPE_BF16, count[t], &x);
      STEP(cudaMemcpy(dst[t], host, 2 * count[t], cudaMemcpyHostToDevice));
    }
  }
  r.q = q, r.k = k, r.v = v;
  STEP(cudaStreamCreateWithFlags(&r.comp[0], cudaStreamNonBlocking));
  STEP(cudaStreamCreateWithFlags(&r.comp[1], cudaStreamNonBlocking));
  STEP(cudaStreamCreateWithFlags(&r.comm_stream, cudaStreamNonBlocking));
  STEP(cudaEventCreateWithFlags(&r.fork, cudaEventDisableTiming));
  STEP(cudaEventCreateWithFlags(&r.join, cudaEventDisableTiming));
  /* Ranks with different GPUs (or --chunks auto on uneven shards) must run one plan. */
  if (agree_max(&r, &want_chunks)) {
    snprintf(res->error, sizeof res->error, "%s:%d: agreeing on the chunk count failed", __FILE__, __LINE__);
    goto done;
  }
  /* --gather store and ce-store: every rank's kernel must store the copies, or the others'
   * barriers would wait for it for ever, so all ranks agree first. When one cannot, store
   * stops every rank here; ce-store gathers the last chunk by the copy engines instead. */
  if (r.store || r.store_last) {
    int any = no_store;
    if (agree_max(&r, &any)) {
      snprintf(res->error, sizeof res->error, "%s:%d: agreeing on --gather %s failed", __FILE__, __LINE__,
               r.store ? "store" : "ce-store");
      goto done;
    }
    const char *why = no_store ? no_store_why : "another rank's family cannot store the output copies";
    if (any && r.store) {
      snprintf(res->error, sizeof res->error, "--gather store: %s%s", why, no_store ? "" : "; use --gather ce");
      goto done;
    }
    if (any) {
      r.store_last = 0;
      fprintf(stderr, "flashcore-scale: rank %d: --gather ce-store: %s; the last chunk is gathered by the copy engines\n",
              rank, why);
    }
  }
  {
    /* Head chunks where every rank cuts its heads at the same place (fc_plan_head_split; the
     * layout of the gathered buffer is common to all), else rows. */
    const int split = fc_plan_head_split(sh, r.hmax, s->causal, want_chunks);
    int hi = split, neg_lo = -split;
    if (agree_max(&r, &hi) || agree_max(&r, &neg_lo)) {
      snprintf(res->error, sizeof res->error, "%s:%d: agreeing on the chunk plan failed", __FILE__, __LINE__);
      goto done;
    }
    if (split > 0 && hi == -neg_lo) {
      r.chunks = 2;
      r.chunk[0] = (chunk_t){0, s->S, 0, split};
      r.chunk[1] = (chunk_t){0, s->S, split, r.hmax};
    } else {
      int64_t bounds[65];
      r.chunks = fc_plan_chunks(s->S, s->causal, want_chunks, 128, bounds);
      if (r.chunks < 1) {
        snprintf(res->error, sizeof res->error, "no chunk plan for S = %lld", (long long)s->S);
        goto done;
      }
      for (int c = 0; c < r.chunks; c++) r.chunk[c] = (chunk_t){bounds[c], bounds[c + 1], 0, r.hmax};
    }
  }
  res->chunks = r.chunks;
  {
    /* Every rank takes one skip; a chunk whose launch stores into the others' windows cannot
     * be skipped, nor anything where no collective is checked. A rank that stops here (a
     * refused skip, a failed poison) stops every rank: the others would wait for it in the
     * next collective for ever (MPI ranks can be given different environments). */
    const char *skip_env = getenv("FC_SCALE_SKIP_CHUNK");
    const int gathered = r.chunks - (r.store ? r.chunks : r.store_last ? 1 : 0);
    r.skip = fc_scale_skip_chunk(skip_env, r.chunks, gathered, err, sizeof err);
    if (r.skip >= 0 && !r.gather)
      snprintf(err, sizeof err, "FC_SCALE_SKIP_CHUNK=%s: --collective none checks nothing", skip_env), r.skip = -2;
    int stop = r.skip == -2;
    if (stop) snprintf(res->error, sizeof res->error, "%s", err);
    else if (r.gather && poison_slots(&r, shards)) stop = 1;
    int any = stop;
    if (agree_max(&r, &any)) {
      snprintf(res->error, sizeof res->error, "%s:%d: agreeing on FC_SCALE_SKIP_CHUNK failed", __FILE__, __LINE__);
      goto done;
    }
    if (any) {
      if (!stop) snprintf(res->error, sizeof res->error, "another rank stopped (FC_SCALE_SKIP_CHUNK or the poison)");
      goto done;
    }
  }
  if (r.store || r.store_last) {
    /* Counted stores where every rank's storing launch runs persistent, else the barrier. */
    int persistent = 0;
    /* A refusal here is the launch's too, which reports it; every rank must still reach the
     * agreement below, so this rank only votes for the barrier. */
    if (launch_rows(&r, &r.chunk[r.chunks - 1], slot(&r, r.chunks - 1), r.comp[0], 1, &persistent))
      persistent = 0, res->error[0] = 0;
    int not_all = !persistent;
    if (agree_max(&r, &not_all)) {
      snprintf(res->error, sizeof res->error, "%s:%d: agreeing on counted stores failed", __FILE__, __LINE__);
      goto done;
    }
    r.signals = !not_all;
    res->counted = r.signals;
  }
  {
    /* What each rank stores in one phase 3: its real heads of the storing chunk (the last;
     * every chunk with store), (query row, head) pairs, as the kernels count them. */
    const chunk_t *ch = &r.chunk[r.chunks - 1];
    for (int p = 0; p < n; p++) {
      const int h1 = ch->h1 < shards[p].q_heads ? ch->h1 : shards[p].q_heads;
      r.per_round[p] = p == rank || h1 <= ch->h0 ? 0u : (unsigned int)(B * (ch->r1 - ch->r0) * (h1 - ch->h0));
    }
  }
  if (r.store || r.store_last) {
    /* The barrier by events, unless a rank's FC_SCALE_BARRIER says "memops" (or there is
     * no team of the point's ranks) */
    const char *want = getenv("FC_SCALE_BARRIER");
    int bad = want && *want && strcmp(want, "events") && strcmp(want, "memops");
    int memops = !team || team->size != n || (want && !strcmp(want, "memops"));
    /* every rank must take the same path (setting up meets the team), and stop together */
    if (agree_max(&r, &bad) || agree_max(&r, &memops)) {
      snprintf(res->error, sizeof res->error, "%s:%d: agreeing on the barrier failed", __FILE__, __LINE__);
      goto done;
    }
    if (bad) {
      snprintf(res->error, sizeof res->error, "FC_SCALE_BARRIER=%s%s: use events or memops", want ? want : "",
               want && *want && strcmp(want, "events") && strcmp(want, "memops") ? "" : " on another rank");
      goto done;
    }
    if (!memops) {
      if (ev_barrier_setup(&r, &evb)) {
        snprintf(res->error, sizeof res->error, "%s:%d: agreeing on the barrier failed", __FILE__, __LINE__);
        goto done;
      }
      r.evb = &evb;
    }
    snprintf(res->barrier, sizeof res->barrier, "%s", evb.on ? "events" : "memops");
  }
  for (int c = 0; c < r.chunks; c++) STEP(cudaEventCreateWithFlags(&r.chunk_done[c], cudaEventDisableTiming));
  if (time_phases(&r, args)) goto done;
  if (args->check && verify_chunks(&r)) goto done;
  res->flops = 4.0 * (double)B * sh->q_heads * (double)S * (double)S * (double)D * (s->causal ? 0.5 : 1.0);
  res->gathered_bytes = r.gather ? 2.0 * (double)gathered_elems : 0;

  /* Did the collective assemble every rank's output? Each rank hashes its own slots, the
   * hashes are all-gathered, and every slot of the gathered buffer is hashed and compared;
   * a slot whose real heads still hold a NaN of the poison (poison_slots) was never written,
   * on any rank, and counts as wrong too. */
  if (r.gather) {
    uint64_t *mine = NULL, *all = NULL;
    uint64_t *hmine = calloc((size_t)r.chunks, 8), *hall = calloc((size_t)r.chunks * n, 8);
    int ok = hmine && hall;
    ok = ok && cudaMemcpy(host, r.gathered, 2 * gathered_elems, cudaMemcpyDeviceToHost) == cudaSuccess;
    for (int c = 0; ok && c < r.chunks; c++) hmine[c] = checksum(host + (slot(&r, c) - r.gathered), slot_elems(&r, c));
    ok = ok && cudaMalloc((void **)&mine, 8 * (size_t)r.chunks) == cudaSuccess;
    ok = ok && cudaMalloc((void **)&all, 8 * (size_t)r.chunks * n) == cudaSuccess;
    ok = ok && cudaMemcpy(mine, hmine, 8 * (size_t)r.chunks, cudaMemcpyHostToDevice) == cudaSuccess;
    ok = ok && ncclAllGather(mine, all, (size_t)r.chunks, ncclUint64, comm, r.comm_stream) == ncclSuccess;
    ok = ok && cudaStreamSynchronize(r.comm_stream) == cudaSuccess;
    ok = ok && cudaMemcpy(hall, all, 8 * (size_t)r.chunks * n, cudaMemcpyDeviceToHost) == cudaSuccess;
    for (int c = 0; ok && c < r.chunks; c++)
      for (int i = 0; i < n; i++) {
        const size_t off = chunk_offset(&r, c) + (size_t)i * slot_elems(&r, c);
        if (checksum(host + off, slot_elems(&r, c)) != hall[(size_t)i * r.chunks + c] ||
            fc_bf16_count_nan(host + off, real_elems(&r, c, shards[i].q_heads)))
          res->wrong++;
      }
    cudaFree(mine), cudaFree(all), free(hmine), free(hall);
    if (!ok) {
      snprintf(res->error, sizeof res->error, "%s:%d: verifying the gathered buffer failed: %s", __FILE__, __LINE__,
               cudaGetErrorString(cudaGetLastError()));
      goto done;
    }
  }
  ret = 0;
done:
#undef STEP
#undef NSTEP
  if (r.fork) cudaEventDestroy(r.fork);
  if (r.join) cudaEventDestroy(r.join);
  ev_barrier_free(&r, &evb);
  for (int c = 0; c < r.chunks; c++)
    if (r.chunk_done[c]) cudaEventDestroy(r.chunk_done[c]);
  for (int i = 0; i < 2; i++)
    if (r.comp[i]) cudaStreamDestroy(r.comp[i]);
  if (r.comm_stream) cudaStreamDestroy(r.comm_stream);
  cudaFree(q), cudaFree(k), cudaFree(v);
  if (win) ncclCommWindowDeregister(comm, win);
  if (windowed) ncclMemFree(r.gathered);
  else cudaFree(r.gathered);
  free(host);
  fc_context_destroy(r.ctx);
  return ret;
}
