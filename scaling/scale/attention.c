/* The experiment: tensor-parallel attention on one rank. Heads are sharded (plan.c); the
 * sequence is cut into chunks so that the all-gather of chunk c overlaps the attention of
 * the next chunks.
 *
 * Layout: the gathered buffer is [chunk][rank][head (padded to the largest shard)][B][Sc][D],
 * and the kernels write this rank's slot of it in place through strided views (no copies),
 * so the all-gather of chunk c is in place (send = this rank's slot) and on one rank it is
 * nothing at all. A causal chunk of query rows [r0, r1) reads keys [0, r1): with the
 * bottom-right diagonal that is exactly causal.
 *
 * Overlap: chunks alternate between two compute streams, so the next chunk's blocks fill
 * the SMs that the last wave of a chunk leaves idle, and causal chunks run heaviest first.
 * With --gather ce the all-gather is NCCL's copy-engine path (zero-CTA policy, buffer in a
 * symmetric window): it takes no SMs from attention. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
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

/* One forward call per segment for chunk c, on stream st, into this rank's slot of chunk c
 * ([head][B][Sc][D]). */
static int run_chunk(fc_context *ctx, const fc_scale_shape *s, const fc_shard *sh, int chunks, int c,
                     const uint16_t *q, const uint16_t *k, const uint16_t *v, uint16_t *slot,
                     cudaStream_t st, fc_rank_result *res) {
  const int64_t B = s->B, S = s->S, D = s->D, Sc = S / chunks, hq = sh->q_heads, hk = sh->kv_heads;
  const int64_t keys = s->causal ? (c + 1) * Sc : S;
  for (int g = 0; g < sh->num_segments; g++) {
    const fc_segment *seg = &sh->seg[g];
    fc_tensor tq = {(void *)(q + c * Sc * hq * D + seg->q0 * D), FC_DTYPE_BF16, {B, Sc, seg->q_heads, D}, {S * hq * D, hq * D, D, 1}};
    fc_tensor tk = {(void *)(k + seg->kv0 * D), FC_DTYPE_BF16, {B, keys, seg->kv_heads, D}, {S * hk * D, hk * D, D, 1}};
    fc_tensor tv = tk;
    tv.data = (void *)(v + seg->kv0 * D);
    fc_tensor to = {(void *)(slot + (int64_t)seg->q0 * B * Sc * D), FC_DTYPE_BF16,
                    {B, Sc, seg->q_heads, D}, {Sc * D, D, B * Sc * D, 1}};
    fc_attn_options o = FC_ATTN_OPTIONS_INIT;
    o.causal = s->causal;
    fc_status stt = fc_attention_forward(ctx, &tq, &tk, &tv, &to, NULL, &o, (struct CUstream_st *)st);
    if (stt != FC_SUCCESS) FC_FAIL(res, "forward, chunk %d segment %d: %s: %s", c, g, fc_status_string(stt), fc_last_error(ctx));
  }
  return 0;
}

int fc_run_attention_point(const fc_scale_args *args, const fc_point *pt, int rank, int device,
                           ncclComm_t comm, fc_rank_result *res) {
  const fc_scale_shape *s = &pt->shape;
  const int n = pt->ranks;
  fc_shard shards[FC_SCALE_MAX_RANKS];
  char err[256];
  if (fc_plan_shards((int)s->H, (int)s->Hk, n, shards, err, sizeof err)) FC_FAIL(res, "%s", err);
  const fc_shard *sh = &shards[rank];
  int hmax = 0;
  for (int r = 0; r < n; r++) hmax = shards[r].q_heads > hmax ? shards[r].q_heads : hmax;
  const int chunks = s->S % args->chunks == 0 ? args->chunks : 1;
  res->q_head0 = sh->q_head0, res->q_heads = sh->q_heads, res->kv_heads = sh->kv_heads;

  FC_CUDA(res, cudaSetDevice(device));
  fc_context *ctx = NULL;
  if (fc_context_create(device, &ctx) != FC_SUCCESS) FC_FAIL(res, "%s", fc_last_error(NULL));
  const fc_family fam = args->families[rank % args->num_families];
  fc_context_set_family(ctx, fam);
  {
    /* Which family actually runs (auto resolves through the selector). */
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    void *probe = NULL;
    FC_CUDA(res, cudaMalloc(&probe, 2048)); /* two rows of up to 256 bf16, 512 bytes apart */
    fc_tensor t = fc_tensor_bshd(probe, FC_DTYPE_BF16, 1, 1, 1, s->D);
    fc_tensor o = t;
    o.data = (char *)probe + 2 * 256;
    fc_status st = fc_select_kernel(ctx, &t, &t, &t, &o, NULL, NULL, &info);
    cudaFree(probe);
    snprintf(res->family, sizeof res->family, "%s", st == FC_SUCCESS ? fc_family_name(info.family) : "none");
  }
  if (args->check && check_shard(args, pt, sh, ctx, device, fam, res)) {
    fc_context_destroy(ctx);
    return -1;
  }

  const int64_t B = s->B, S = s->S, D = s->D, Sc = S / chunks;
  const size_t nq = (size_t)(B * S * sh->q_heads * D), nk = (size_t)(B * S * sh->kv_heads * D);
  const size_t chunk_elems = (size_t)(hmax * B * Sc * D), out_elems = chunk_elems * (size_t)chunks;
  const size_t gathered_elems = out_elems * (size_t)n;
  const int gather = args->collective == FC_COLL_ALLGATHER;
  /* copy engines need the buffer in a symmetric window; one rank gathers nothing */
  const int windowed = gather && args->engine == FC_GATHER_CE && n > 1;
  const size_t gathered_bytes = (2 * gathered_elems + 4095) / 4096 * 4096;
  uint16_t *q = NULL, *k = NULL, *v = NULL, *gathered = NULL;
  ncclWindow_t win = NULL;
  uint16_t *host = malloc(2 * (nq > gathered_elems ? nq : gathered_elems));
  if (!host) FC_FAIL(res, "out of host memory");
  cudaStream_t s_comp[2] = {NULL, NULL}, s_comm = NULL;
  int ret = -1;
  const int total_iters = args->warmup + args->reps;
  const int num_events = 6 * total_iters + chunks + 2;
  cudaEvent_t *ev = calloc((size_t)num_events, sizeof(cudaEvent_t));
  double *times = calloc((size_t)args->reps, sizeof(double));
  int order[64]; /* causal: heaviest chunk first */
  for (int i = 0; i < chunks; i++) order[i] = s->causal ? chunks - 1 - i : i;
#define STEP(call) do { if ((call) != cudaSuccess) { snprintf(res->error, sizeof res->error, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(cudaGetLastError())); goto done; } } while (0)
#define NSTEP(call) do { ncclResult_t r_ = (call); if (r_ != ncclSuccess) { snprintf(res->error, sizeof res->error, "%s:%d: %s: %s", __FILE__, __LINE__, #call, ncclGetErrorString(r_)); goto done; } } while (0)
#define SLOT(c) (gathered + ((size_t)(c) * (size_t)n + (size_t)rank) * chunk_elems)
  STEP(cudaMalloc((void **)&q, 2 * nq));
  STEP(cudaMalloc((void **)&k, 2 * nk));
  STEP(cudaMalloc((void **)&v, 2 * nk));
  if (windowed) {
    NSTEP(ncclMemAlloc((void **)&gathered, gathered_bytes));
    NSTEP(ncclCommWindowRegister(comm, gathered, gathered_bytes, &win, NCCL_WIN_COLL_SYMMETRIC));
  } else {
    STEP(cudaMalloc((void **)&gathered, gathered_bytes));
  }
  STEP(cudaMemset(gathered, 0, gathered_bytes)); /* padding heads of small shards stay zero */
  {
    uint64_t x = 88172645463325252ull ^ (uint64_t)(rank + 1);
    for (size_t i = 0; i < nq; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      /* bf16 values of magnitude 0.5 to 1, either sign (timing data; the check draws its own) */
      host[i] = (uint16_t)((x >> 32) & 1 ? 0x3f00 | (x & 0x7f) : 0xbf00 | (x & 0x7f));
    }
    STEP(cudaMemcpy(q, host, 2 * nq, cudaMemcpyHostToDevice));
    STEP(cudaMemcpy(k, host, 2 * nk, cudaMemcpyHostToDevice));
    STEP(cudaMemcpy(v, host + (nq - nk), 2 * nk, cudaMemcpyHostToDevice));
  }
  STEP(cudaStreamCreateWithFlags(&s_comp[0], cudaStreamNonBlocking));
  STEP(cudaStreamCreateWithFlags(&s_comp[1], cudaStreamNonBlocking));
  STEP(cudaStreamCreateWithFlags(&s_comm, cudaStreamNonBlocking));
  for (int i = 0; i < num_events; i++) STEP(cudaEventCreate(&ev[i]));
  cudaEvent_t *chunk_ev = ev + 6 * total_iters, fork = ev[num_events - 2], join = ev[num_events - 1];

  /* 1. attention alone; 3. attention and the all-gather overlapped: the gather of chunk c
   * waits only for chunk c's attention. Each iteration begins and ends on s_comp[0]; the end
   * waits for both compute streams and the gathers, so no iteration writes a slot that the
   * previous one still sends. */
  cudaEvent_t *ea = ev, *ec = ev + 2 * total_iters, *eo = ev + 4 * total_iters;
  for (int phase = 1; phase <= 3; phase += 2) {
    cudaEvent_t *e = phase == 1 ? ea : eo;
    const int overlap = phase == 3 && gather;
    for (int it = 0; it < total_iters; it++) {
      STEP(cudaEventRecord(e[2 * it], s_comp[0]));
      STEP(cudaEventRecord(fork, s_comp[0]));
      STEP(cudaStreamWaitEvent(s_comp[1], fork, 0));
      for (int i = 0; i < chunks; i++) {
        const int c = order[i];
        cudaStream_t st = s_comp[i % 2];
        if (run_chunk(ctx, s, sh, chunks, c, q, k, v, SLOT(c), st, res)) goto done;
        if (!overlap) continue;
        STEP(cudaEventRecord(chunk_ev[c], st));
        STEP(cudaStreamWaitEvent(s_comm, chunk_ev[c], 0));
        NSTEP(ncclAllGather(SLOT(c), gathered + (size_t)c * chunk_elems * n, chunk_elems, ncclBfloat16, comm, s_comm));
      }
      STEP(cudaEventRecord(join, s_comp[1]));
      STEP(cudaStreamWaitEvent(s_comp[0], join, 0));
      if (overlap) {
        STEP(cudaEventRecord(join, s_comm));
        STEP(cudaStreamWaitEvent(s_comp[0], join, 0));
      }
      STEP(cudaEventRecord(e[2 * it + 1], s_comp[0]));
    }
    STEP(cudaStreamSynchronize(s_comp[0])); /* phases must not overlap each other */
    STEP(cudaStreamSynchronize(s_comm));
    if (phase == 3) break;
    /* 2. the collective alone */
    for (int it = 0; it < total_iters && gather; it++) {
      STEP(cudaEventRecord(ec[2 * it], s_comm));
      NSTEP(ncclGroupStart());
      for (int c = 0; c < chunks; c++) {
        ncclResult_t r = ncclAllGather(SLOT(c), gathered + (size_t)c * chunk_elems * n, chunk_elems, ncclBfloat16, comm, s_comm);
        if (r != ncclSuccess) {
          ncclGroupEnd();
          snprintf(res->error, sizeof res->error, "%s:%d: ncclAllGather: %s", __FILE__, __LINE__, ncclGetErrorString(r));
          goto done;
        }
      }
      NSTEP(ncclGroupEnd());
      STEP(cudaEventRecord(ec[2 * it + 1], s_comm));
    }
    STEP(cudaStreamSynchronize(s_comm));
  }
  {
    double *t = times;
    float ms;
    for (int i = 0; i < args->reps; i++) {
      int it = args->warmup + i;
      STEP(cudaEventElapsedTime(&ms, ea[2 * it], ea[2 * it + 1]));
      t[i] = ms;
    }
    res->t_attn = median(t, args->reps);
    res->t_coll = 0;
    if (gather) {
      for (int i = 0; i < args->reps; i++) {
        int it = args->warmup + i;
        STEP(cudaEventElapsedTime(&ms, ec[2 * it], ec[2 * it + 1]));
        t[i] = ms;
      }
      res->t_coll = median(t, args->reps);
    }
    for (int i = 0; i < args->reps; i++) {
      int it = args->warmup + i;
      STEP(cudaEventElapsedTime(&ms, eo[2 * it], eo[2 * it + 1]));
      t[i] = ms;
    }
    res->t_total = median(t, args->reps);
  }
  res->flops = 4.0 * (double)B * sh->q_heads * (double)S * (double)S * (double)D * (s->causal ? 0.5 : 1.0);
  res->gathered_bytes = gather ? 2.0 * (double)gathered_elems : 0;

  /* Did the collective assemble every rank's output? Each rank hashes its own chunks, the
   * hashes are all-gathered, and every slot of the gathered buffer is hashed and compared. */
  if (gather) {
    uint64_t *mine = NULL, *all = NULL;
    uint64_t *hmine = calloc((size_t)chunks, 8), *hall = calloc((size_t)chunks * n, 8);
    STEP(cudaMemcpy(host, gathered, 2 * gathered_elems, cudaMemcpyDeviceToHost));
    for (int c = 0; c < chunks; c++) hmine[c] = checksum(host + ((size_t)c * n + rank) * chunk_elems, chunk_elems);
    STEP(cudaMalloc((void **)&mine, 8 * (size_t)chunks));
    STEP(cudaMalloc((void **)&all, 8 * (size_t)chunks * n));
    STEP(cudaMemcpy(mine, hmine, 8 * (size_t)chunks, cudaMemcpyHostToDevice));
    NSTEP(ncclAllGather(mine, all, (size_t)chunks, ncclUint64, comm, s_comm));
    STEP(cudaStreamSynchronize(s_comm));
    STEP(cudaMemcpy(hall, all, 8 * (size_t)chunks * n, cudaMemcpyDeviceToHost));
    for (int c = 0; c < chunks; c++)
      for (int r = 0; r < n; r++)
        if (checksum(host + ((size_t)c * n + r) * chunk_elems, chunk_elems) != hall[(size_t)r * chunks + c]) res->wrong++;
    cudaFree(mine), cudaFree(all), free(hmine), free(hall);
  }
  ret = 0;
done:
#undef STEP
#undef NSTEP
#undef SLOT
  if (ev)
    for (int i = 0; i < num_events; i++)
      if (ev[i]) cudaEventDestroy(ev[i]);
  for (int i = 0; i < 2; i++)
    if (s_comp[i]) cudaStreamDestroy(s_comp[i]);
  if (s_comm) cudaStreamDestroy(s_comm);
  cudaFree(q), cudaFree(k), cudaFree(v);
  if (win) ncclCommWindowDeregister(comm, win);
  if (windowed) ncclMemFree(gathered);
  else cudaFree(gathered);
  free(host), free(ev), free(times);
  fc_context_destroy(ctx);
  return ret;
}
