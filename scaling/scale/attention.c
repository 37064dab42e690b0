/* The experiment: tensor-parallel attention on one rank. Heads are sharded (plan.c); the
 * sequence is cut into chunks so that the all-gather of chunk c overlaps the attention of
 * chunk c+1 on a second stream.
 *
 * Local output layout [chunk][head (padded to the largest shard)][B][Sc][D]: every chunk is
 * contiguous, so NCCL gathers it as is, into [chunk][rank][head][B][Sc][D]. The kernels
 * write straight into it through strided views (no copies). A causal chunk of query rows
 * [r0, r1) reads keys [0, r1): with the bottom-right diagonal that is exactly causal. */
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

/* One forward call per segment for chunk c, on stream st. */
static int run_chunk(fc_context *ctx, const fc_scale_shape *s, const fc_shard *sh, int chunks,
                     int hmax, int c, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                     uint16_t *out, cudaStream_t st, fc_rank_result *res) {
  const int64_t B = s->B, S = s->S, D = s->D, Sc = S / chunks, hq = sh->q_heads, hk = sh->kv_heads;
  const int64_t keys = s->causal ? (c + 1) * Sc : S;
  for (int g = 0; g < sh->num_segments; g++) {
    const fc_segment *seg = &sh->seg[g];
    fc_tensor tq = {(void *)(q + c * Sc * hq * D + seg->q0 * D), FC_DTYPE_BF16, {B, Sc, seg->q_heads, D}, {S * hq * D, hq * D, D, 1}};
    fc_tensor tk = {(void *)(k + seg->kv0 * D), FC_DTYPE_BF16, {B, keys, seg->kv_heads, D}, {S * hk * D, hk * D, D, 1}};
    fc_tensor tv = tk;
    tv.data = (void *)(v + seg->kv0 * D);
    fc_tensor to = {(void *)(out + ((int64_t)c * hmax + seg->q0) * B * Sc * D), FC_DTYPE_BF16,
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
  uint16_t *q = NULL, *k = NULL, *v = NULL, *out = NULL, *gathered = NULL;
  uint16_t *host = malloc(2 * (nq > gathered_elems ? nq : gathered_elems));
  if (!host) FC_FAIL(res, "out of host memory");
  cudaStream_t s_comp = NULL, s_comm = NULL;
  int ret = -1;
  cudaEvent_t *ev = calloc((size_t)(3 * (args->reps + args->warmup) * 2 + chunks), sizeof(cudaEvent_t));
  double *times = calloc((size_t)args->reps, sizeof(double));
#define STEP(call) do { if ((call) != cudaSuccess) { snprintf(res->error, sizeof res->error, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(cudaGetLastError())); goto done; } } while (0)
  STEP(cudaMalloc((void **)&q, 2 * nq));
  STEP(cudaMalloc((void **)&k, 2 * nk));
  STEP(cudaMalloc((void **)&v, 2 * nk));
  STEP(cudaMalloc((void **)&out, 2 * out_elems));
  STEP(cudaMalloc((void **)&gathered, 2 * gathered_elems));
  STEP(cudaMemset(out, 0, 2 * out_elems)); /* padding heads of small shards stay zero */
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
  STEP(cudaStreamCreateWithFlags(&s_comp, cudaStreamNonBlocking));
  STEP(cudaStreamCreateWithFlags(&s_comm, cudaStreamNonBlocking));
  const int total_iters = args->warmup + args->reps;
  for (int i = 0; i < 3 * total_iters * 2 + chunks; i++) STEP(cudaEventCreate(&ev[i]));
  cudaEvent_t *chunk_ev = ev + 3 * total_iters * 2;
  const int gather = args->collective == FC_COLL_ALLGATHER;

  /* 1. attention alone */
  for (int it = 0; it < total_iters; it++) {
    STEP(cudaEventRecord(ev[2 * it], s_comp));
    for (int c = 0; c < chunks; c++)
      if (run_chunk(ctx, s, sh, chunks, hmax, c, q, k, v, out, s_comp, res)) goto done;
    STEP(cudaEventRecord(ev[2 * it + 1], s_comp));
  }
  STEP(cudaStreamSynchronize(s_comp)); /* phases must not overlap each other */
  /* 2. the collective alone */
  cudaEvent_t *ec = ev + 2 * total_iters;
  for (int it = 0; it < total_iters && gather; it++) {
    STEP(cudaEventRecord(ec[2 * it], s_comm));
    if (ncclGroupStart() != ncclSuccess) goto done;
    for (int c = 0; c < chunks; c++)
      if (ncclAllGather(out + c * chunk_elems, gathered + (size_t)c * chunk_elems * n, chunk_elems, ncclBfloat16, comm, s_comm) != ncclSuccess) {
        ncclGroupEnd();
        snprintf(res->error, sizeof res->error, "%s:%d: ncclAllGather failed", __FILE__, __LINE__);
        goto done;
      }
    if (ncclGroupEnd() != ncclSuccess) goto done;
    STEP(cudaEventRecord(ec[2 * it + 1], s_comm));
  }
  STEP(cudaStreamSynchronize(s_comm));
  /* 3. both, overlapped: the gather of chunk c waits only for chunk c's attention */
  cudaEvent_t *eo = ev + 4 * total_iters;
  for (int it = 0; it < total_iters; it++) {
    STEP(cudaEventRecord(eo[2 * it], s_comp));
    for (int c = 0; c < chunks; c++) {
      if (run_chunk(ctx, s, sh, chunks, hmax, c, q, k, v, out, s_comp, res)) goto done;
      if (!gather) continue;
      STEP(cudaEventRecord(chunk_ev[c], s_comp));
      STEP(cudaStreamWaitEvent(s_comm, chunk_ev[c], 0));
      if (ncclAllGather(out + c * chunk_elems, gathered + (size_t)c * chunk_elems * n, chunk_elems, ncclBfloat16, comm, s_comm) != ncclSuccess) {
        snprintf(res->error, sizeof res->error, "%s:%d: ncclAllGather failed", __FILE__, __LINE__);
        goto done;
      }
    }
    if (gather) {
      /* the end is when both streams are done; s_comp must not run ahead into the next
       * iteration's writes while the gather still reads this one's output */
      STEP(cudaEventRecord(chunk_ev[0], s_comm));
      STEP(cudaStreamWaitEvent(s_comp, chunk_ev[0], 0));
    }
    STEP(cudaEventRecord(eo[2 * it + 1], s_comp));
  }
  STEP(cudaStreamSynchronize(s_comp));
  STEP(cudaStreamSynchronize(s_comm));
  {
    double *t = times;
    float ms;
    for (int i = 0; i < args->reps; i++) {
      int it = args->warmup + i;
      STEP(cudaEventElapsedTime(&ms, ev[2 * it], ev[2 * it + 1]));
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
    STEP(cudaMemcpy(host, out, 2 * out_elems, cudaMemcpyDeviceToHost));
    for (int c = 0; c < chunks; c++) hmine[c] = checksum(host + c * chunk_elems, chunk_elems);
    STEP(cudaMalloc((void **)&mine, 8 * (size_t)chunks));
    STEP(cudaMalloc((void **)&all, 8 * (size_t)chunks * n));
    STEP(cudaMemcpy(mine, hmine, 8 * (size_t)chunks, cudaMemcpyHostToDevice));
    if (ncclAllGather(mine, all, (size_t)chunks, ncclUint64, comm, s_comm) != ncclSuccess) goto done;
    STEP(cudaStreamSynchronize(s_comm));
    STEP(cudaMemcpy(hall, all, 8 * (size_t)chunks * n, cudaMemcpyDeviceToHost));
    STEP(cudaMemcpy(host, gathered, 2 * gathered_elems, cudaMemcpyDeviceToHost));
    for (int c = 0; c < chunks; c++)
      for (int r = 0; r < n; r++)
        if (checksum(host + ((size_t)c * n + r) * chunk_elems, chunk_elems) != hall[(size_t)r * chunks + c]) res->wrong++;
    cudaFree(mine), cudaFree(all), free(hmine), free(hall);
  }
  ret = 0;
done:
#undef STEP
  if (ev)
    for (int i = 0; i < 3 * total_iters * 2 + chunks; i++)
      if (ev[i]) cudaEventDestroy(ev[i]);
  if (s_comp) cudaStreamDestroy(s_comp);
  if (s_comm) cudaStreamDestroy(s_comm);
  cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(out), cudaFree(gathered);
  free(host), free(ev), free(times);
  fc_context_destroy(ctx);
  return ret;
}
