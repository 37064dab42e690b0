/* Reference, naive pipeline and the correctness rule (VALIDATION.md). */
#include "harness.h"

#include "../../c/src/convert.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef FC_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

fc_case fc_case_make(fc_dtype dt, int64_t B, int64_t Sq, int64_t Sk, int64_t H, int64_t Hk,
                     int64_t D, uint64_t seed) {
  fc_case c;
  memset(&c, 0, sizeof c);
  c.dtype = dt;
  c.B = B;
  c.Sq = Sq;
  c.Sk = Sk;
  c.H = H;
  c.Hk = Hk;
  c.D = D;
  c.window_left = c.window_right = -1;
  c.seed = seed;
  return c;
}

uint64_t fc_test_seed(void) {
  const char *s = getenv("FC_TEST_SEED");
  if (s && *s) return strtoull(s, NULL, 0);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
}

int fc_test_gpu_count(void) {
#ifdef FC_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

/* splitmix64 and a normal draw: fresh, reproducible inputs from the seed. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* Approximately standard normal (Irwin-Hall with 4 uniforms, variance scaled to 1): cheap
 * enough to fill the 10^8-element tensors of the long-context benchmark shapes. */
static double irwin_hall4(uint64_t r) {
  double sum = (double)(r & 0xffff) + (double)((r >> 16) & 0xffff) + (double)((r >> 32) & 0xffff) +
               (double)(r >> 48);
  return (sum / 65536.0 - 2.0) * 1.7320508075688772;
}
static double next_normal(uint64_t *s) { return irwin_hall4(next_u64(s)); }

typedef struct view {
  int64_t shape[4], stride[4], extent; /* extent: elements of the backing buffer */
} view;

static view make_view(fc_layout layout, int64_t b, int64_t s, int64_t h, int64_t d) {
  view v = {{b, s, h, d}, {0, 0, 0, 1}, 0};
  switch (layout) {
  case FC_LAYOUT_BHSD:
    v.stride[2] = s * d;
    v.stride[1] = d;
    v.stride[0] = h * s * d;
    break;
  case FC_LAYOUT_PADDED:
    v.stride[2] = d;
    v.stride[1] = h * d + 8;
    v.stride[0] = s * v.stride[1];
    break;
  default:
    v.stride[2] = d;
    v.stride[1] = h * d;
    v.stride[0] = s * h * d;
  }
  v.extent = b * v.stride[0];
  return v;
}

static fc_tensor tensor_of(const view *v, void *data, fc_dtype dt) {
  fc_tensor t;
  t.data = data;
  t.dtype = dt;
  memcpy(t.shape, v->shape, sizeof t.shape);
  memcpy(t.stride, v->stride, sizeof t.stride);
  return t;
}

/* xorshift64 draws: uniform in [-1, 1) from the top 24 bits, or normal from all 64. */
static uint64_t xorshift_step(uint64_t x) {
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return x;
}
/* Elements [begin, end) of the fill from x, the state before element begin's draw; returns
 * the state after element end - 1's. */
static uint64_t fill_range(void *buf, fc_dtype dt, size_t begin, size_t end, uint64_t x, int normal) {
  for (size_t i = begin; i < end; i++) {
    x = xorshift_step(x);
    fc_store(buf, (int)dt, (int64_t)i, normal ? (float)irwin_hall4(x) : (float)((x >> 40) * (1.0 / 8388608.0)) - 1.0f);
  }
  return x;
}

/* The step is linear over GF(2), x -> M x for a 64 x 64 bit matrix (col[j]: the image of bit
 * j), so the state n draws on is M^n x: a thread can start its part of a fill where one pass
 * would have reached, and the values are the same bit for bit. */
typedef struct gf2_matrix {
  uint64_t col[64];
} gf2_matrix;
static uint64_t gf2_apply(const gf2_matrix *a, uint64_t x) {
  uint64_t r = 0;
  for (int j = 0; x; j++, x >>= 1)
    if (x & 1) r ^= a->col[j];
  return r;
}
static uint64_t xorshift_jump(uint64_t x, uint64_t n) {
  gf2_matrix p; /* M^(2^k) at step k */
  for (int j = 0; j < 64; j++) p.col[j] = xorshift_step(1ull << j);
  while (n) {
    if (n & 1) x = gf2_apply(&p, x);
    n >>= 1;
    if (n) {
      gf2_matrix q;
      for (int j = 0; j < 64; j++) q.col[j] = gf2_apply(&p, p.col[j]);
      p = q;
    }
  }
  return x;
}

typedef struct fill_job {
  void *buf;
  fc_dtype dt;
  size_t begin, end;
  uint64_t x;
  int normal;
} fill_job;
static void *fill_job_run(void *arg) {
  fill_job *j = arg;
  fill_range(j->buf, j->dt, j->begin, j->end, j->x, j->normal);
  return NULL;
}

/* Fills of 4M values or more run in 4 to 32 parts, one thread each (at least 4, so that the
 * jumps are exercised on any machine; tests/test_cpu.c compares them with one pass): the
 * benchmark's decode inputs (2.2e9 values at B=132) took 7 s in one pass, and a device call's
 * A/B spent most of its time there. */
#define FC_FILL_PARALLEL_FROM ((size_t)1 << 22)
static void fill_timing(void *buf, fc_dtype dt, size_t n, uint64_t *state, int normal) {
  const uint64_t x = *state ? *state : 1;
  if (n < FC_FILL_PARALLEL_FROM) {
    *state = fill_range(buf, dt, 0, n, x, normal);
    return;
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const int parts = cores > 32 ? 32 : cores < 4 ? 4 : (int)cores;
  fill_job jobs[32];
  pthread_t tid[32];
  int started[32] = {0};
  const size_t chunk = (n + (size_t)parts - 1) / (size_t)parts;
  for (int t = 0; t < parts; t++) {
    const size_t begin = (size_t)t * chunk < n ? (size_t)t * chunk : n, end = begin + chunk < n ? begin + chunk : n;
    jobs[t] = (fill_job){buf, dt, begin, end, xorshift_jump(x, begin), normal};
    started[t] = pthread_create(&tid[t], NULL, fill_job_run, &jobs[t]) == 0;
    if (!started[t]) fill_job_run(&jobs[t]); /* no thread: this part here */
  }
  for (int t = 0; t < parts; t++)
    if (started[t]) pthread_join(tid[t], NULL);
  *state = xorshift_jump(x, n);
}
void fc_fill_timing(void *buf, fc_dtype dt, size_t n, uint64_t *state) { fill_timing(buf, dt, n, state, 0); }
void fc_fill_timing_normal(void *buf, fc_dtype dt, size_t n, uint64_t *state) { fill_timing(buf, dt, n, state, 1); }

static void *alloc_random(fc_dtype dt, int64_t n, uint64_t *rng, float **as_float) {
  size_t es = fc_dtype_size(dt);
  void *buf = malloc(es * (size_t)n);
  float *f = malloc(sizeof(float) * (size_t)n);
  if (!buf || !f) {
    free(buf), free(f);
    *as_float = NULL;
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) {
    fc_store(buf, dt, i, (float)next_normal(rng));
    f[i] = fc_load(buf, dt, i); /* the exact low-precision value the kernel sees */
  }
  *as_float = f;
  return buf;
}

/* c->key_ramp: scale each key row by its position in its sequence (fc_case), in place in the
 * low-precision buffer and its float copy. */
static void ramp_keys(const fc_case *c, const view *vk, const int32_t *cu_k, int64_t nseq, void *buf,
                      float *f) {
  for (int64_t b = 0; b < vk->shape[0]; b++)
    for (int64_t seq = 0; seq < (c->num_seqs > 0 ? nseq : 1); seq++) {
      const int64_t s0 = c->num_seqs > 0 ? cu_k[seq] : 0, s1 = c->num_seqs > 0 ? cu_k[seq + 1] : vk->shape[1];
      for (int64_t s = s0; s < s1; s++) {
        const int64_t j = c->key_ramp > 0 ? s - s0 : s1 - 1 - s;
        const float m = 1.f + fabsf(c->key_ramp) * (float)j;
        for (int64_t h = 0; h < vk->shape[2]; h++)
          for (int64_t d = 0; d < vk->shape[3]; d++) {
            const int64_t e = b * vk->stride[0] + s * vk->stride[1] + h * vk->stride[2] + d * vk->stride[3];
            fc_store(buf, c->dtype, e, f[e] * m);
            f[e] = fc_load(buf, c->dtype, e);
          }
      }
    }
}

static int is_visible(const fc_case *c, int64_t i, int64_t j, int64_t sq, int64_t sk) {
  /* In 128 bits: windows may be anything up to INT64_MAX. */
  const __int128 diag = (__int128)i + sk - sq;
  const int64_t right = c->causal ? 0 : c->window_right;
  if (right >= 0 && j > diag + right) return 0;
  if (c->window_left >= 0 && j < diag - c->window_left) return 0;
  return 1;
}

/* Float64 reference and same-precision naive output of one query row. */
static void reference_row(const fc_case *c, float scale, const float *qr, const float *kf,
                          const float *vf, int64_t k_row_stride, int64_t i, int64_t sq,
                          int64_t sk, double *ref, double *ref_lse, float *naive, double *sd,
                          float *sf) {
  const int64_t D = c->D;
  const int dt = c->dtype;
  double m = -INFINITY;
  float mf = -INFINITY;
  int any = 0;
  for (int64_t j = 0; j < sk; j++) {
    if (!is_visible(c, i, j, sq, sk)) continue;
    const float *kr = kf + j * k_row_stride;
    double acc = 0.0;
    float accf = 0.0f;
    for (int64_t d = 0; d < D; d++) {
      acc += (double)qr[d] * (double)kr[d];
      accf += qr[d] * kr[d];
    }
    double s = (double)scale * acc;
    float s32 = scale * accf;
    if (c->softcap > 0.0f) {
      s = c->softcap * tanh(s / c->softcap);
      s32 = c->softcap * tanhf(s32 / c->softcap);
    }
    sd[j] = s;
    sf[j] = s32;
    if (s > m) m = s;
    if (s32 > mf) mf = s32;
    any = 1;
  }
  for (int64_t d = 0; d < D; d++) {
    ref[d] = 0.0;
    naive[d] = 0.0f;
  }
  if (!any) {
    *ref_lse = -INFINITY;
    return;
  }
  double l = 0.0;
  float lf = 0.0f;
  for (int64_t j = 0; j < sk; j++) {
    if (!is_visible(c, i, j, sq, sk)) continue;
    l += exp(sd[j] - m);
    lf += expf(sf[j] - mf);
  }
  for (int64_t j = 0; j < sk; j++) {
    if (!is_visible(c, i, j, sq, sk)) continue;
    const double p = exp(sd[j] - m) / l;
    const float pf = fc_round_to(dt, expf(sf[j] - mf) / lf); /* P rounded to the input type */
    const float *vr = vf + j * k_row_stride;
    for (int64_t d = 0; d < D; d++) {
      ref[d] += p * vr[d];
      naive[d] += pf * vr[d];
    }
  }
  for (int64_t d = 0; d < D; d++) naive[d] = fc_round_to(dt, naive[d]);
  *ref_lse = m + log(l);
}

static uint16_t poison_bits(fc_dtype dt) { return dt == FC_DTYPE_F16 ? 0x7e00u : 0x7fc0u; }

static void poison(void *buf, fc_dtype dt, int64_t n) {
  if (dt == FC_DTYPE_F32) {
    for (int64_t i = 0; i < n; i++) ((float *)buf)[i] = NAN;
  } else {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)buf)[i] = poison_bits(dt);
  }
}

typedef struct bufs {
  void *q, *k, *v, *o;
  float *lse;
  int32_t *cu_q, *cu_k;
} bufs;

#ifdef FC_WITH_CUDA
/* A device (or managed) copy of src. Managed memory is written by the host's own stores, so
 * its pages start on the host and the kernel's first touch of each migrates it. */
static void *to_device(const void *src, size_t bytes, int managed) {
  void *d = NULL;
  if (managed) {
    if (cudaMallocManaged(&d, bytes, cudaMemAttachGlobal) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) return NULL;
    memcpy(d, src, bytes);
    return d;
  }
  if (cudaMalloc(&d, bytes) != cudaSuccess) return NULL;
  cudaMemcpy(d, src, bytes, cudaMemcpyHostToDevice);
  return d;
}
#endif

#ifdef FC_WITH_CUDA
/* fc_case::graph: the forward captured into a graph, then run twice (see harness.h). h holds
 * the host inputs and the poisoned output and LSE, d their device copies, n* their bytes. */
static fc_status forward_in_graph(fc_context *ctx, const fc_tensor *q, const fc_tensor *k, const fc_tensor *v,
                                  const fc_tensor *o, const fc_tensor *lse, const fc_attn_options *opt, const bufs *h,
                                  const bufs *d, size_t nq, size_t nk, size_t no, size_t nl, fc_check *chk) {
  cudaStream_t s = NULL;
  cudaGraph_t g = NULL;
  cudaGraphExec_t x = NULL;
  fc_status st = FC_ERR_CUDA;
  const char *step = "creating a stream";
  cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  if (e == cudaSuccess) {
    step = "poisoning the inputs";
    e = cudaMemset(d->q, 0xFF, nq);
    if (e == cudaSuccess) e = cudaMemset(d->k, 0xFF, nk);
    if (e == cudaSuccess) e = cudaMemset(d->v, 0xFF, nk);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
  }
  if (e == cudaSuccess) {
    step = "beginning the capture";
    e = cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
  }
  if (e == cudaSuccess) {
    st = fc_attention_forward(ctx, q, k, v, o, lse, opt, (struct CUstream_st *)s);
    step = "ending the capture";
    e = cudaStreamEndCapture(s, &g);
    if (st != FC_SUCCESS) goto done; /* the library's own error, in fc_last_error */
    st = FC_ERR_CUDA;
  }
  if (e == cudaSuccess) {
    step = "instantiating the graph";
    e = cudaGraphInstantiate(&x, g, 0);
  }
  if (e == cudaSuccess) {
    step = "uploading the inputs";
    e = cudaMemcpy(d->q, h->q, nq, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->k, h->k, nk, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->v, h->v, nk, cudaMemcpyHostToDevice);
  }
  for (int run = 0; run < 2 && e == cudaSuccess; run++) {
    step = "running the graph";
    e = cudaMemcpy(d->o, h->o, no, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(d->lse, h->lse, nl, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaGraphLaunch(x, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
  }
  if (e == cudaSuccess) st = FC_SUCCESS;
  else
    snprintf(chk->msg, sizeof chk->msg, "CUDA graph: %s: %s", step, cudaGetErrorString(e));
done:
  if (x) cudaGraphExecDestroy(x);
  if (g) cudaGraphDestroy(g);
  if (s) cudaStreamDestroy(s);
  return st;
}
#endif

int64_t fc_case_out_extent(const fc_case *c) {
  int64_t sq = c->Sq, b = c->B;
  if (c->num_seqs > 0) {
    sq = 0, b = 1;
    for (int64_t i = 0; i < c->num_seqs; i++) sq += c->lens_q[i];
  }
  return make_view(c->layout, b, sq, c->H, c->D).extent;
}

fc_status fc_case_run(fc_context *ctx, const fc_case *c, fc_check *chk) {
  memset(chk, 0, sizeof *chk);
  uint64_t rng = c->seed;
  const int varlen = c->num_seqs > 0;
  const int64_t nseq = varlen ? c->num_seqs : c->B;
  int32_t *cu_q = calloc((size_t)nseq + 1, sizeof(int32_t));
  int32_t *cu_k = calloc((size_t)nseq + 1, sizeof(int32_t));
  if (!cu_q || !cu_k) {
    free(cu_q), free(cu_k);
    snprintf(chk->msg, sizeof chk->msg, "out of host memory for %lld sequences' offsets", (long long)nseq);
    return FC_ERR_OUT_OF_MEMORY;
  }
  int64_t max_q = 0, max_k = 0;
  for (int64_t b = 0; b < nseq; b++) {
    int64_t lq = varlen ? c->lens_q[b] : c->Sq, lk = varlen ? c->lens_k[b] : c->Sk;
    cu_q[b + 1] = (int32_t)(cu_q[b] + lq);
    cu_k[b + 1] = (int32_t)(cu_k[b] + lk);
    if (lq > max_q) max_q = lq;
    if (lk > max_k) max_k = lk;
  }
  const int64_t B = varlen ? 1 : c->B;
  const int64_t Sq = varlen ? cu_q[nseq] : c->Sq, Sk = varlen ? cu_k[nseq] : c->Sk;
  const view vq = make_view(c->layout, B, Sq, c->H, c->D);
  const view vk = make_view(c->layout, B, Sk, c->Hk, c->D);
  const view vo = make_view(c->layout, B, Sq, c->H, c->D);
  /* LSE as [B, H, Sq] memory (FlashAttention's layout) seen as [B, Sq, H, 1]. */
  const view vl = {{B, Sq, c->H, 1}, {c->H * Sq, 1, Sq, 1}, B * c->H * Sq};

  float *qf, *kf, *vf;
  bufs h = {0};
  h.q = alloc_random(c->dtype, vq.extent, &rng, &qf);
  h.k = alloc_random(c->dtype, vk.extent, &rng, &kf);
  h.v = alloc_random(c->dtype, vk.extent, &rng, &vf);
  const size_t es = fc_dtype_size(c->dtype);
  h.o = malloc(es * (size_t)vo.extent);
  h.lse = malloc(sizeof(float) * (size_t)vl.extent);
  fc_status st = FC_SUCCESS;
  if (!h.q || !h.k || !h.v || !h.o || !h.lse) {
    snprintf(chk->msg, sizeof chk->msg, "out of host memory for the case's inputs and outputs (%lld + %lld elements)",
             (long long)vq.extent, (long long)(2 * vk.extent + vo.extent));
    st = FC_ERR_OUT_OF_MEMORY;
    goto release;
  }
  if (c->key_ramp != 0.f) ramp_keys(c, &vk, cu_k, nseq, h.k, kf);
  poison(h.o, c->dtype, vo.extent);
  for (int64_t i = 0; i < vl.extent; i++) h.lse[i] = NAN;

  bufs d = h;
  const int gpu = fc_context_device(ctx) != FC_DEVICE_CPU;
#ifdef FC_WITH_CUDA
  if (gpu) {
    d.q = to_device(h.q, es * (size_t)vq.extent, c->managed);
    d.k = to_device(h.k, es * (size_t)vk.extent, c->managed);
    d.v = to_device(h.v, es * (size_t)vk.extent, c->managed);
    d.o = to_device(h.o, es * (size_t)vo.extent, c->managed);
    d.lse = to_device(h.lse, sizeof(float) * (size_t)vl.extent, c->managed);
    d.cu_q = to_device(cu_q, sizeof(int32_t) * (size_t)(nseq + 1), c->managed);
    d.cu_k = to_device(cu_k, sizeof(int32_t) * (size_t)(nseq + 1), c->managed);
    if (!d.q || !d.k || !d.v || !d.o || !d.lse || !d.cu_q || !d.cu_k) st = FC_ERR_OUT_OF_MEMORY;
  }
#else
  if (gpu) st = FC_ERR_NO_DEVICE;
#endif
  if (!gpu) {
    d.cu_q = cu_q;
    d.cu_k = cu_k;
  }
  fc_tensor tq = tensor_of(&vq, d.q, c->dtype), tk = tensor_of(&vk, d.k, c->dtype),
            tv = tensor_of(&vk, d.v, c->dtype), to = tensor_of(&vo, d.o, c->dtype),
            tl = tensor_of(&vl, d.lse, FC_DTYPE_F32);
  fc_attn_options o = FC_ATTN_OPTIONS_INIT;
  o.causal = c->causal;
  o.window_left = c->window_left;
  o.window_right = c->window_right;
  o.softcap = c->softcap;
  o.softmax_scale = c->scale;
  if (varlen) {
    o.cu_seqlens_q = d.cu_q;
    o.cu_seqlens_k = d.cu_k;
    o.num_seqs = nseq;
    o.max_seqlen_q = max_q;
    /* The longest key length for odd seeds, unknown (0) for even ones: both plans run, and a
     * seed says which. */
    if (c->seed & 1) o.max_seqlen_k = max_k;
  }
#ifdef FC_WITH_CUDA
  if (st == FC_SUCCESS && gpu && c->graph)
    st = forward_in_graph(ctx, &tq, &tk, &tv, &to, c->with_lse ? &tl : NULL, &o, &h, &d, es * (size_t)vq.extent,
                          es * (size_t)vk.extent, es * (size_t)vo.extent, sizeof(float) * (size_t)vl.extent, chk);
  else
#endif
  if (st == FC_SUCCESS)
    st = fc_attention_forward(ctx, &tq, &tk, &tv, &to, c->with_lse ? &tl : NULL, &o, NULL);
#ifdef FC_WITH_CUDA
  if (gpu && st == FC_SUCCESS) {
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaMemcpy(h.o, d.o, es * (size_t)vo.extent, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
      e = cudaMemcpy(h.lse, d.lse, sizeof(float) * (size_t)vl.extent, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) {
      snprintf(chk->msg, sizeof chk->msg, "CUDA error after the kernel: %s (seed %llu)",
               cudaGetErrorString(e), (unsigned long long)c->seed);
      st = FC_ERR_CUDA;
    }
  }
  if (gpu) {
    cudaFree(d.q), cudaFree(d.k), cudaFree(d.v), cudaFree(d.o), cudaFree(d.lse);
    cudaFree(d.cu_q), cudaFree(d.cu_k);
  }
#endif
  if (st == FC_SUCCESS && c->keep_out)
    for (int64_t e = 0; e < vo.extent; e++) c->keep_out[e] = fc_load(h.o, c->dtype, e);
  if (st == FC_SUCCESS && c->tamper) {
    /* an element of the middle row of the view, first head */
    const int64_t e = (Sq / 2) * vo.stride[1] + (c->D / 2);
    if (c->tamper == 1)
      poison((char *)h.o + e * (int64_t)es, c->dtype, 1);
    else if (c->tamper == 2)
      fc_store(h.o, c->dtype, e, fc_load(h.o, c->dtype, e) + 0.02f);
    else
      h.lse[(Sq / 2) * vl.stride[1]] += 0.01f;
  }
  double *ref = NULL, *sd = NULL;
  float *naive = NULL, *sf = NULL;
  if (st == FC_SUCCESS) {
    ref = malloc(sizeof(double) * (size_t)c->D), sd = malloc(sizeof(double) * (size_t)Sk);
    naive = malloc(sizeof(float) * (size_t)c->D), sf = malloc(sizeof(float) * (size_t)Sk);
    if (!ref || !sd || !naive || !sf) {
      snprintf(chk->msg, sizeof chk->msg, "out of host memory for the reference's rows (%lld keys)", (long long)Sk);
      st = FC_ERR_OUT_OF_MEMORY;
    }
  }
  if (st == FC_SUCCESS) {
    const float scale = c->scale > 0.0f ? c->scale : (float)(1.0 / sqrt((double)c->D));
    const int64_t D = c->D, group = c->H / c->Hk;
    double err2 = 0.0, ref2 = 0.0;
    const uint16_t pb = poison_bits(c->dtype);
    /* Rule 1 over the whole view: every element written and finite; padding untouched. */
    for (int64_t e = 0; e < vo.extent; e++) {
      const int in_view = e % vo.stride[1] < c->H * D;
      const int poisoned = c->dtype == FC_DTYPE_F32
                               ? fc_f32_to_bits(((float *)h.o)[e]) == fc_f32_to_bits(NAN)
                               : ((uint16_t *)h.o)[e] == pb;
      if (!in_view) {
        if (!poisoned)
          snprintf(chk->msg, sizeof chk->msg,
                   "element %lld of the padding between rows was written", (long long)e);
        continue;
      }
      if (poisoned)
        chk->unwritten++;
      else if (!isfinite(fc_load(h.o, c->dtype, e)))
        chk->nonfinite++;
    }
    const int64_t rows_total = nseq * c->H * max_q;
    const int64_t want = c->sample_rows > 0 && c->sample_rows < rows_total ? c->sample_rows : 0;
    uint64_t srng = c->seed ^ 0x5eedull;
    int64_t iter_total = want ? want : rows_total;
    for (int64_t it = 0; it < iter_total; it++) {
      /* sampled: the first and last rows, then random ones */
      int64_t idx = !want ? it
                    : it == 0 ? 0
                    : it == 1 ? rows_total - 1
                              : (int64_t)(next_u64(&srng) % (uint64_t)rows_total);
      int64_t b = idx / (c->H * max_q), h2 = (idx / max_q) % c->H, i = idx % max_q;
      int64_t sq = cu_q[b + 1] - cu_q[b], sk = cu_k[b + 1] - cu_k[b];
      if (i >= sq) continue;
      int64_t bq = varlen ? 0 : b;
      int64_t qrow = varlen ? cu_q[b] + i : i, krow0 = varlen ? cu_k[b] : 0;
      const float *qr = qf + bq * vq.stride[0] + qrow * vq.stride[1] + h2 * vq.stride[2];
      const int64_t koff = bq * vk.stride[0] + krow0 * vk.stride[1] + (h2 / group) * vk.stride[2];
      double rl;
      reference_row(c, scale, qr, kf + koff, vf + koff, vk.stride[1], i, sq, sk, ref, &rl, naive,
                    sd, sf);
      const int64_t ob = bq * vo.stride[0] + qrow * vo.stride[1] + h2 * vo.stride[2];
      for (int64_t x = 0; x < D; x++) {
        double o2 = fc_load(h.o, c->dtype, ob + x);
        double e1 = fabs(o2 - ref[x]), e2 = fabs((double)naive[x] - ref[x]);
        if (isnan(e1)) e1 = INFINITY;
        if (e1 > chk->max_err) {
          chk->max_err = e1;
          chk->worst[0] = b, chk->worst[1] = i, chk->worst[2] = h2, chk->worst[3] = x;
        }
        if (e2 > chk->naive_err) chk->naive_err = e2;
        err2 += (o2 - ref[x]) * (o2 - ref[x]);
        ref2 += ref[x] * ref[x];
      }
      chk->checked++;
      if (c->with_lse) {
        float got = h.lse[bq * vl.stride[0] + qrow * vl.stride[1] + h2 * vl.stride[2]];
        double e = isinf(rl) ? (isinf(got) && got < 0 ? 0.0 : INFINITY) : fabs(got - rl);
        if (isnan(e)) e = INFINITY;
        if (e > chk->lse_err) chk->lse_err = e;
      }
    }
    chk->rel_l2 = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    const double l2_tol = c->dtype == FC_DTYPE_BF16 ? 1e-2 : c->dtype == FC_DTYPE_F16 ? 2e-3 : 1e-5;
    const double bound = 2.0 * chk->naive_err + 1e-5;
    chk->pass = 0;
    if (chk->msg[0]) {
      /* padding written: message already set */
    } else if (chk->unwritten)
      snprintf(chk->msg, sizeof chk->msg, "%lld output elements were never written",
               (long long)chk->unwritten);
    else if (chk->nonfinite)
      snprintf(chk->msg, sizeof chk->msg, "%lld output elements are NaN or Inf",
               (long long)chk->nonfinite);
    else if (!(chk->max_err <= bound))
      snprintf(chk->msg, sizeof chk->msg,
               "max |out-ref| = %.3g > 2*max|naive-ref|+1e-5 = %.3g (at sequence %lld, row %lld of %lld, head %lld, "
               "column %lld)",
               chk->max_err, bound, (long long)chk->worst[0], (long long)chk->worst[1],
               (long long)(cu_q[chk->worst[0] + 1] - cu_q[chk->worst[0]]), (long long)chk->worst[2],
               (long long)chk->worst[3]);
    else if (!(chk->rel_l2 <= l2_tol))
      snprintf(chk->msg, sizeof chk->msg, "relative L2 error %.3g > %.0e", chk->rel_l2, l2_tol);
    else if (c->with_lse && !(chk->lse_err <= 1e-3))
      snprintf(chk->msg, sizeof chk->msg, "max |lse-ref| = %.3g > 1e-3", chk->lse_err);
    else
      chk->pass = 1;
    if (!chk->pass) {
      size_t n = strlen(chk->msg);
      snprintf(chk->msg + n, sizeof chk->msg - n, " (seed %llu; FC_TEST_SEED reproduces)",
               (unsigned long long)c->seed);
    }
  }
  free(ref), free(sd), free(naive), free(sf);
release:
  free(h.q), free(h.k), free(h.v), free(h.o), free(h.lse);
  free(qf), free(kf), free(vf), free(cu_q), free(cu_k);
  return st;
}
