/* flashcore-bench: check, then time, the forward call on one device.
 *
 *   flashcore-bench                      default problem on GPU 0, or on the CPU backend
 *   flashcore-bench --grid standard      the standard grid of VALIDATION.md (GPU)
 *   flashcore-bench --device cpu|N --family sm80 --json FILE --reps 20
 *   flashcore-bench --shape B,H,Hk,Sq,Sk,D,causal --dtype bf16|f16|f32
 *   flashcore-bench --inputs normal      time on inputs of variance 1 (default: uniform in [-1, 1))
 *   flashcore-bench --varlen             each shape as one variable-length batch of B equal
 *                                        sequences (cu_seqlens), the same rows as B x S
 *   flashcore-bench --layout bhsd        q, k, v and out as [B, H, S, D] memory (each head's rows
 *                                        contiguous, as PyTorch's SDPA peers take them) seen
 *                                        through strides; default bshd
 *   flashcore-bench --graph ws|pool      (GPU) each call captured once into a CUDA graph and the
 *                                        graphs launched: ws gives the call a workspace of its
 *                                        own (fc_attn_options.workspace), so a launch that
 *                                        splits its keys splits captured too; pool gives none,
 *                                        so a captured launch keeps its keys whole (the check
 *                                        runs the call; gpu::key_split_caller_workspace
 *                                        checks a graph's output against it, bit for bit)
 *
 * Each shape is first checked against the float64 reference (sampled rows for big shapes)
 * by the rule of VALIDATION.md, then timed: GPU with CUDA events around each call, warm-up
 * first, median of the repetitions, input sets rotated so that they do not sit in L2; CPU
 * with the monotonic clock. The JSON rows carry the fields VALIDATION.md lists, and
 * host_us: the median host time of one call, which on a GPU only enqueues (where it nears a
 * shape's GPU time, the calls are bound by the host and their times spread). */
#include "flashcore.h"
#include "harness.h"

#include "../c/src/convert.h"

#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef FC_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

typedef struct shape {
  int64_t B, H, Hk, Sq, Sk, D;
  int causal;
} shape;

typedef struct row {
  shape s;
  double ms, tflops, gbps;
  double host_us; /* GPU: median host time of one fc_attention_forward call (its launches) */
  int pass;
  char check[96];
  char desc[160];
  fc_family family; /* the family that ran, as the selector reported it */
} row;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* --window-left N: every shape's left window (-1: none). */
static int64_t window_left = -1;

/* The keys a query row reads: all, or within a left window (Sq + N, which is exact for a
 * decode and bounds a few query rows). */
static double keys_read(const shape *s) {
  return window_left >= 0 && window_left + s->Sq < s->Sk ? (double)(window_left + s->Sq) : (double)s->Sk;
}
static double flops(const shape *s) {
  double f = 4.0 * s->B * s->H * (double)s->Sq * keys_read(s) * s->D;
  if (s->causal && s->Sq == s->Sk && window_left < 0) f *= 0.5;
  return f;
}
static double bytes_moved(const shape *s, size_t es) {
  return (double)es * (double)s->B * s->D * (2.0 * s->Sq * s->H + 2.0 * keys_read(s) * s->Hk);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* The timed inputs: uniform in [-1, 1) (the grid files), or of variance 1 as torch.randn draws
 * them, whose scores are three times as spread: the softmax's running maximum then rises
 * more often, which sm90's lazy rescale (kMaxSlack) notices. */
static int normal_inputs;

/* --varlen: the B sequences of a shape as one variable-length batch (batch 1 of B * S rows,
 * cu_seqlens every S rows), the same memory as the fixed-length layout, so that the two
 * time the same work. */
static int varlen_mode;

/* --layout: the memory of q, k, v and out, BSHD (dense [B, S, H, D], the default) or BHSD
 * (dense [B, H, S, D] through strides, the layout scaling/sdpa_peers.py gives PyTorch). A
 * memory-bound shape reads its K and V differently in each: a KV head's keys 256 bytes
 * (D=128) every H x D elements, or all in one run. */
static fc_layout layout_mode = FC_LAYOUT_BSHD;
/* --graph: 0 = calls, 1 = captured graphs without a workspace (pool), 2 = with one (ws) */
static int graph_mode;

/* A view of `data` as [batch, seq, heads, head_dim] in the chosen layout. */
static fc_tensor view(void *data, fc_dtype dt, int64_t batch, int64_t seq, int64_t heads, int64_t d) {
  fc_tensor t = fc_tensor_bshd(data, dt, batch, seq, heads, d);
  if (layout_mode == FC_LAYOUT_BHSD) t.stride[1] = d, t.stride[2] = seq * d;
  return t;
}

/* The views of one input set: with --varlen batch 1 of B * S rows, the same memory. */
static void set_views(const shape *s, fc_dtype dt, void *q, void *k, void *v, void *out, fc_tensor *tq, fc_tensor *tk,
                      fc_tensor *tv, fc_tensor *to) {
  const int64_t nb = varlen_mode ? 1 : s->B, rq = varlen_mode ? s->B * s->Sq : s->Sq, rk = varlen_mode ? s->B * s->Sk : s->Sk;
  *tq = view(q, dt, nb, rq, s->H, s->D);
  *tk = view(k, dt, nb, rk, s->Hk, s->D);
  *tv = view(v, dt, nb, rk, s->Hk, s->D);
  *to = view(out, dt, nb, rq, s->H, s->D);
}

/* Offsets of B sequences of sq query and sk key rows, in ctx's memory: cu_q (B + 1 entries)
 * then cu_k. NULL on failure. */
static int32_t *make_offsets(int gpu, const shape *s) {
  const size_t n = 2 * (size_t)(s->B + 1);
  int32_t *host = malloc(n * sizeof(int32_t)), *cu = NULL;
  if (!host) return NULL;
  for (int64_t b = 0; b <= s->B; b++) host[b] = (int32_t)(b * s->Sq), host[s->B + 1 + b] = (int32_t)(b * s->Sk);
#ifdef FC_WITH_CUDA
  if (gpu) {
    if (cudaMalloc((void **)&cu, n * sizeof(int32_t)) != cudaSuccess ||
        cudaMemcpy(cu, host, n * sizeof(int32_t), cudaMemcpyHostToDevice) != cudaSuccess) {
      cudaFree(cu);
      cu = NULL;
    }
    free(host);
    return cu;
  }
#endif
  (void)gpu;
  return host;
}
static void free_offsets(int gpu, int32_t *cu) {
#ifdef FC_WITH_CUDA
  if (gpu) {
    cudaFree(cu);
    return;
  }
#endif
  (void)gpu;
  free(cu);
}

#ifdef FC_WITH_CUDA
/* --graph: a CUDA step's result; on failure `fail`, with the step named in msg (128 bytes),
 * which fc_last_error() cannot know. */
static fc_status graph_step(cudaError_t e, const char *what, fc_status fail, char *msg) {
  if (e == cudaSuccess) return FC_SUCCESS;
  snprintf(msg, 128, "%s: %s", what, cudaGetErrorString(e));
  return fail;
}
#endif

static int time_shape(fc_context *ctx, fc_family fam, fc_dtype dt, const shape *s, int reps,
                      row *r) {
  const size_t es = fc_dtype_size(dt);
  const size_t nq = (size_t)(s->B * s->Sq * s->H * s->D), nk = (size_t)(s->B * s->Sk * s->Hk * s->D);
  const int gpu = fc_context_device(ctx) != FC_DEVICE_CPU;
  fc_attn_options o = FC_ATTN_OPTIONS_INIT;
  o.causal = s->causal;
  o.window_left = window_left;
  o.family = fam;
  int32_t *cu = NULL;
  if (varlen_mode) {
    if (s->B * (s->Sq > s->Sk ? s->Sq : s->Sk) > INT32_MAX || !(cu = make_offsets(gpu, s))) {
      fprintf(stderr, "--varlen: no offsets for B = %lld (at most 2^31 - 1 rows, or out of memory)\n", (long long)s->B);
      return 0;
    }
    o.cu_seqlens_q = cu, o.cu_seqlens_k = cu + s->B + 1;
    o.num_seqs = s->B, o.max_seqlen_q = s->Sq, o.max_seqlen_k = s->Sk;
  }
  /* Input sets: enough to exceed twice a 60 MB L2 when one set is small. */
  const double set_bytes = (double)es * (2.0 * nq + 2.0 * nk);
  int sets = gpu ? (int)ceil(120e6 / set_bytes) : 1;
  if (sets < 1) sets = 1;
  if (sets > 16) sets = 16;
  void *host = malloc(es * (nq + 2 * nk));
  void **q = calloc((size_t)sets, sizeof(void *)), **k = calloc((size_t)sets, sizeof(void *)),
       **v = calloc((size_t)sets, sizeof(void *)), **out = calloc((size_t)sets, sizeof(void *));
  double *ms = calloc((size_t)reps, sizeof(double)), *host_ms = calloc((size_t)reps, sizeof(double));
  int ok = 1;
  if (!host || !q || !k || !v || !out || !ms || !host_ms) {
    fprintf(stderr, "out of host memory for the inputs of a %lld x %lld x %lld x %lld shape\n", (long long)s->B,
            (long long)(s->Sq > s->Sk ? s->Sq : s->Sk), (long long)s->H, (long long)s->D);
    ok = 0;
    goto release;
  }
  for (int i = 0; i < sets && ok; i++) {
    uint64_t state = (1234567u + (uint64_t)i) | 1u; /* the seeds the grid files were timed with */
    (normal_inputs ? fc_fill_timing_normal : fc_fill_timing)(host, dt, nq + 2 * nk, &state);
#ifdef FC_WITH_CUDA
    if (gpu) {
      ok = cudaMalloc(&q[i], es * nq) == cudaSuccess && cudaMalloc(&k[i], es * nk) == cudaSuccess &&
           cudaMalloc(&v[i], es * nk) == cudaSuccess && cudaMalloc(&out[i], es * nq) == cudaSuccess;
      if (ok) {
        cudaMemcpy(q[i], host, es * nq, cudaMemcpyHostToDevice);
        cudaMemcpy(k[i], (char *)host + es * nq, es * nk, cudaMemcpyHostToDevice);
        cudaMemcpy(v[i], (char *)host + es * (nq + nk), es * nk, cudaMemcpyHostToDevice);
      }
      continue;
    }
#endif
    q[i] = malloc(es * nq), k[i] = malloc(es * nk), v[i] = malloc(es * nk), out[i] = malloc(es * nq);
    ok = q[i] && k[i] && v[i] && out[i];
    if (ok) {
      memcpy(q[i], host, es * nq);
      memcpy(k[i], (char *)host + es * nq, es * nk);
      memcpy(v[i], (char *)host + es * (nq + nk), es * nk);
    }
  }
  fc_status st = ok ? FC_SUCCESS : FC_ERR_OUT_OF_MEMORY;
  char graph_err[128] = ""; /* --graph: the CUDA step that failed (fc_last_error does not know it) */
  const int warm = gpu ? 3 : 1;
#ifdef FC_WITH_CUDA
  /* After a sticky CUDA error (a kernel's fault in the check) no event is created: the
   * handles stay NULL, the shape fails, and nothing destroys a handle it never had (it did:
   * a segfault in the driver, results/history/session-d6e3164/, call 1). */
  cudaEvent_t e0[64] = {0}, e1[64] = {0};
  if (gpu)
    for (int i = 0; i < reps && st == FC_SUCCESS; i++)
      if (cudaEventCreate(&e0[i]) != cudaSuccess || cudaEventCreate(&e1[i]) != cudaSuccess) st = FC_ERR_CUDA;
  /* --graph: each input set's call captured once on a stream of its own, then the timed loop
   * launches the graphs there (events on that stream). */
  cudaStream_t gs = NULL;
  cudaGraphExec_t exec[16] = {0};
  void *ws = NULL;
  if (gpu && graph_mode && st == FC_SUCCESS)
    st = graph_step(cudaStreamCreateWithFlags(&gs, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", FC_ERR_CUDA, graph_err);
  for (int i = 0; gpu && graph_mode && i < sets && st == FC_SUCCESS; i++) {
    fc_tensor tq, tk, tv, to;
    set_views(s, dt, q[i], k[i], v[i], out[i], &tq, &tk, &tv, &to);
    if (graph_mode == 2 && i == 0) {
      fc_kernel_info info = FC_KERNEL_INFO_INIT;
      st = fc_select_kernel(ctx, &tq, &tk, &tv, &to, NULL, &o, &info);
      if (st == FC_SUCCESS && info.workspace_bytes) {
        st = graph_step(cudaMalloc(&ws, info.workspace_bytes), "cudaMalloc of the workspace", FC_ERR_OUT_OF_MEMORY, graph_err);
        if (st == FC_SUCCESS) o.workspace = ws, o.workspace_bytes = info.workspace_bytes;
      }
    }
    cudaGraph_t g = NULL;
    if (st == FC_SUCCESS)
      st = graph_step(cudaStreamBeginCapture(gs, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture", FC_ERR_CUDA,
                      graph_err);
    if (st != FC_SUCCESS) break;
    st = fc_attention_forward(ctx, &tq, &tk, &tv, &to, NULL, &o, (struct CUstream_st *)gs);
    const cudaError_t end = cudaStreamEndCapture(gs, &g); /* always, to leave capture */
    if (st == FC_SUCCESS) st = graph_step(end, "cudaStreamEndCapture", FC_ERR_CUDA, graph_err);
    if (st == FC_SUCCESS) st = graph_step(cudaGraphInstantiate(&exec[i], g, 0), "cudaGraphInstantiate", FC_ERR_CUDA, graph_err);
    if (g) cudaGraphDestroy(g);
  }
#endif
  for (int it = -warm; it < reps && st == FC_SUCCESS; it++) {
    int i = (it + warm) % sets;
    fc_tensor tq, tk, tv, to;
    set_views(s, dt, q[i], k[i], v[i], out[i], &tq, &tk, &tv, &to);
    if (it == -warm) {
      fc_kernel_info info = FC_KERNEL_INFO_INIT;
      if (fc_select_kernel(ctx, &tq, &tk, &tv, &to, NULL, &o, &info) == FC_SUCCESS) {
        /* a launch captured without a workspace keeps its keys whole */
        snprintf(r->desc, sizeof r->desc, "%s%s", info.description,
                 !graph_mode ? "" : graph_mode == 2 || !info.workspace_bytes ? " [captured]" : " [captured: keys whole]");
        r->family = info.family;
      }
    }
    double t0 = now_ms();
#ifdef FC_WITH_CUDA
    if (gpu && it >= 0) cudaEventRecord(e0[it], gs);
    const double h0 = now_ms();
    if (graph_mode && gpu) st = graph_step(cudaGraphLaunch(exec[i], gs), "cudaGraphLaunch", FC_ERR_CUDA, graph_err);
    else st = fc_attention_forward(ctx, &tq, &tk, &tv, &to, NULL, &o, NULL);
    if (it >= 0) host_ms[it] = now_ms() - h0;
    if (gpu && it >= 0) cudaEventRecord(e1[it], gs);
#else
    const double h0 = now_ms();
    st = fc_attention_forward(ctx, &tq, &tk, &tv, &to, NULL, &o, NULL);
    if (it >= 0) host_ms[it] = now_ms() - h0;
#endif
    if (!gpu && it >= 0) ms[it] = now_ms() - t0;
  }
#ifdef FC_WITH_CUDA
  if (gpu) {
    if (cudaDeviceSynchronize() != cudaSuccess) st = FC_ERR_CUDA;
    for (int i = 0; i < reps && st == FC_SUCCESS; i++) {
      float m;
      cudaEventElapsedTime(&m, e0[i], e1[i]);
      ms[i] = m;
    }
    for (int i = 0; i < reps; i++) {
      if (e0[i]) cudaEventDestroy(e0[i]);
      if (e1[i]) cudaEventDestroy(e1[i]);
    }
    for (int i = 0; i < sets; i++)
      if (exec[i]) cudaGraphExecDestroy(exec[i]);
    if (gs) cudaStreamDestroy(gs);
    if (ws) cudaFree(ws);
  }
#endif
  if (st != FC_SUCCESS) {
    fprintf(stderr, "timing failed: %s: %s\n", fc_status_string(st), graph_err[0] ? graph_err : fc_last_error(ctx));
    ok = 0;
  } else {
    qsort(ms, (size_t)reps, sizeof(double), cmp_double);
    r->ms = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    /* On a GPU the call only enqueues: where its host time is near the GPU time, the events
     * time the host (each call waits for the previous one's launches to be issued). */
    qsort(host_ms, (size_t)reps, sizeof(double), cmp_double);
    r->host_us = 1e3 * (reps % 2 ? host_ms[reps / 2] : 0.5 * (host_ms[reps / 2 - 1] + host_ms[reps / 2]));
    r->tflops = flops(s) / (r->ms * 1e-3) / 1e12;
    r->gbps = bytes_moved(s, es) / (r->ms * 1e-3) / 1e9;
  }
release:
  for (int i = 0; q && k && v && out && i < sets; i++) {
#ifdef FC_WITH_CUDA
    if (gpu) {
      cudaFree(q[i]), cudaFree(k[i]), cudaFree(v[i]), cudaFree(out[i]);
      continue;
    }
#endif
    free(q[i]), free(k[i]), free(v[i]), free(out[i]);
  }
  free(q), free(k), free(v), free(out), free(ms), free(host_ms), free(host);
  if (cu) free_offsets(gpu, cu);
  return ok;
}

static int parse_shape(const char *s, shape *sh) {
  long long b, h, hk, sq, sk, d;
  int c;
  if (sscanf(s, "%lld,%lld,%lld,%lld,%lld,%lld,%d", &b, &h, &hk, &sq, &sk, &d, &c) != 7) return 0;
  *sh = (shape){b, h, hk, sq, sk, d, c};
  if (!(b > 0 && h > 0 && hk > 0 && sq > 0 && sk > 0 && d > 0 && (c == 0 || c == 1))) return 0;
  /* the largest tensor's bytes (3 of them in float32 at most) fit in 64 bits */
  long long n;
  return !__builtin_mul_overflow(b, sq > sk ? sq : sk, &n) && !__builtin_mul_overflow(n, h > hk ? h : hk, &n) &&
         !__builtin_mul_overflow(n, d, &n) && !__builtin_mul_overflow(n, 12LL, &n);
}

/* The standard grid of VALIDATION.md. */
static int standard_grid(shape *g) {
  int n = 0;
  static const int64_t S[] = {512, 1024, 2048, 4096, 8192, 16384};
  for (int dd = 0; dd < 2; dd++)
    for (int c = 0; c < 2; c++)
      for (int i = 0; i < 6; i++) {
        int64_t D = dd ? 64 : 128, H = dd ? 32 : 16;
        g[n++] = (shape){16384 / S[i], H, H, S[i], S[i], D, c};
      }
  g[n++] = (shape){4, 32, 8, 4096, 4096, 128, 1};   /* GQA */
  g[n++] = (shape){1, 32, 32, 32768, 32768, 128, 1}; /* long context */
  g[n++] = (shape){1, 32, 32, 65536, 65536, 128, 1};
  g[n++] = (shape){64, 32, 8, 1, 8192, 128, 0};     /* decode: report GB/s */
  /* D=256 with H=8 (the sm90 family's issue asks for it beside the grid) */
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 6; i++) g[n++] = (shape){16384 / S[i], 8, 8, S[i], S[i], 256, c};
  return n;
}

static void usage(void) {
  fprintf(stderr, "usage: flashcore-bench [--device cpu|N] [--family auto|sm80|sm89|sm90|cpu] "
                  "[--grid default|standard] [--shape B,H,Hk,Sq,Sk,D,causal]... [--dtype bf16|f16|f32] "
                  "[--reps N] [--threads N] [--inputs uniform|normal] [--varlen] [--layout bshd|bhsd] "
                  "[--window-left N] [--graph ws|pool] [--json FILE] [--no-check]\n");
}

int main(int argc, char **argv) {
  int device = fc_test_gpu_count() > 0 ? 0 : FC_DEVICE_CPU;
  fc_family fam = FC_FAMILY_AUTO;
  fc_dtype dt = FC_DTYPE_BF16;
  int reps = -1, threads = 0, check = 1;
  const char *json = NULL, *grid = "default";
  shape shapes[64];
  int nshapes = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-check")) { check = 0; continue; }
    if (!strcmp(a, "--varlen")) { varlen_mode = 1; continue; }
    if (!val) { usage(); return 2; }
    i++;
    if (!strcmp(a, "--device")) {
      char *end = NULL;
      const long d = strcmp(val, "cpu") ? strtol(val, &end, 10) : FC_DEVICE_CPU;
      if (end && (!*val || *end || d < 0 || d > INT_MAX)) { fprintf(stderr, "--device %s: use cpu or a GPU ordinal\n", val); return 2; }
      device = (int)d;
    }
    else if (!strcmp(a, "--family")) {
      int f;
      for (f = 0; f < FC_FAMILY_COUNT && strcmp(val, fc_family_name((fc_family)f)); f++) {}
      if (f == FC_FAMILY_COUNT) { fprintf(stderr, "unknown family %s\n", val); return 2; }
      fam = (fc_family)f;
    } else if (!strcmp(a, "--dtype")) {
      if (!strcmp(val, "bf16")) dt = FC_DTYPE_BF16;
      else if (!strcmp(val, "f16")) dt = FC_DTYPE_F16;
      else if (!strcmp(val, "f32")) dt = FC_DTYPE_F32;
      else { fprintf(stderr, "--dtype %s: use bf16, f16 or f32\n", val); return 2; }
    }
    else if (!strcmp(a, "--reps")) reps = atoi(val);
    else if (!strcmp(a, "--threads")) threads = atoi(val);
    else if (!strcmp(a, "--window-left")) {
      char *end = NULL;
      const long long w = strtoll(val, &end, 10);
      if (!*val || *end || w < 0) { fprintf(stderr, "--window-left %s: use a key count of 0 or more\n", val); return 2; }
      window_left = w;
    }
    else if (!strcmp(a, "--layout")) {
      if (strcmp(val, "bshd") && strcmp(val, "bhsd")) { fprintf(stderr, "--layout %s: use bshd or bhsd\n", val); return 2; }
      layout_mode = strcmp(val, "bhsd") ? FC_LAYOUT_BSHD : FC_LAYOUT_BHSD;
    }
    else if (!strcmp(a, "--graph")) {
      if (strcmp(val, "ws") && strcmp(val, "pool")) { fprintf(stderr, "--graph %s: use ws or pool\n", val); return 2; }
      graph_mode = strcmp(val, "ws") ? 1 : 2;
    }
    else if (!strcmp(a, "--json")) json = val;
    else if (!strcmp(a, "--grid")) grid = val;
    else if (!strcmp(a, "--inputs")) {
      if (strcmp(val, "uniform") && strcmp(val, "normal")) { fprintf(stderr, "--inputs %s: use uniform or normal\n", val); return 2; }
      normal_inputs = !strcmp(val, "normal");
    }
    else if (!strcmp(a, "--shape")) {
      if (nshapes >= 64 || !parse_shape(val, &shapes[nshapes])) { fprintf(stderr, "bad --shape %s\n", val); return 2; }
      nshapes++;
    } else { usage(); return 2; }
  }
  fc_context *ctx;
  if (fc_context_create(device, &ctx) != FC_SUCCESS) {
    fprintf(stderr, "flashcore-bench: %s\n", fc_last_error(NULL));
    return 1;
  }
  if (threads && fc_context_set_num_threads(ctx, threads) != FC_SUCCESS) {
    fprintf(stderr, "flashcore-bench: %s\n", fc_last_error(ctx));
    return 2;
  }
  const int gpu = device != FC_DEVICE_CPU;
  if (graph_mode && !gpu) { fprintf(stderr, "--graph: CUDA graphs need a GPU device\n"); return 2; }
  if (reps < 0) reps = gpu ? 20 : 3;
  if (reps < 1 || reps > 64) { fprintf(stderr, "--reps must be 1..64\n"); return 2; }
  if (!nshapes) {
    if (!strcmp(grid, "standard")) nshapes = standard_grid(shapes);
    else shapes[nshapes++] = gpu ? (shape){2, 16, 16, 8192, 8192, 128, 0} : (shape){1, 8, 8, 1024, 1024, 128, 1};
  }
  char devname[128] = "CPU";
#ifdef FC_WITH_CUDA
  if (gpu) {
    struct cudaDeviceProp p;
    cudaGetDeviceProperties(&p, device);
    snprintf(devname, sizeof devname, "%s", p.name);
    cudaSetDevice(device);
  }
#endif
  char window[48] = "";
  if (window_left >= 0) snprintf(window, sizeof window, ", left window %lld", (long long)window_left);
  printf("# flashcore %s on %s, %s, family %s, median of %d, %s inputs%s%s%s\n", fc_version_string(), devname,
         dt == FC_DTYPE_BF16 ? "bf16" : dt == FC_DTYPE_F16 ? "f16" : "f32", fc_family_name(fam), reps,
         normal_inputs ? "normal" : "uniform", varlen_mode ? ", variable-length batches" : "", window,
         layout_mode == FC_LAYOUT_BHSD ? ", BHSD memory" : "");
  printf("%6s %4s %4s %7s %7s %4s %6s %10s %9s %9s  %s\n", "B", "H", "Hk", "Sq", "Sk", "D",
         "causal", "time(ms)", "TFLOP/s", "GB/s", "check");
  row *rows = calloc((size_t)nshapes, sizeof(row));
  if (!rows) {
    fprintf(stderr, "flashcore-bench: out of host memory\n");
    return 1;
  }
  int failures = 0;
  for (int i = 0; i < nshapes; i++) {
    row *r = &rows[i];
    r->s = shapes[i];
    const shape *s = &shapes[i];
    fc_case c = fc_case_make(dt, s->B, s->Sq, s->Sk, s->H, s->Hk, s->D, fc_test_seed());
    c.causal = s->causal;
    c.window_left = window_left;
    c.with_lse = 1;
    c.sample_rows = 256;
    c.layout = layout_mode;
    int32_t *lens = varlen_mode ? malloc(2 * (size_t)s->B * sizeof(int32_t)) : NULL;
    if (varlen_mode && !lens) {
      fprintf(stderr, "--varlen: out of host memory for shape %d\n", i);
      failures++;
      continue;
    }
    if (lens) {
      for (int64_t b = 0; b < s->B; b++) lens[b] = (int32_t)s->Sq, lens[s->B + b] = (int32_t)s->Sk;
      c.num_seqs = s->B, c.lens_q = lens, c.lens_k = lens + s->B;
    }
    snprintf(r->check, sizeof r->check, "skipped");
    fc_context_set_family(ctx, fam);
    int bad = 0; /* this shape failed its check or its timing (counted once) */
    if (check) {
      fc_check chk;
      fc_status st = fc_case_run(ctx, &c, &chk);
      if (st != FC_SUCCESS) snprintf(r->check, sizeof r->check, "error: %s", fc_status_string(st));
      else snprintf(r->check, sizeof r->check, "%s", chk.pass ? "pass" : "FAIL");
      if (st != FC_SUCCESS || !chk.pass) {
        bad = 1;
        fprintf(stderr, "check failed for shape %d: %s\n", i, st && !chk.msg[0] ? fc_last_error(ctx) : chk.msg);
      }
    }
    free(lens);
    const int timed = time_shape(ctx, fam, dt, s, reps, r);
    failures += bad || !timed;
    if (!timed) continue;
    printf("%6lld %4lld %4lld %7lld %7lld %4lld %6d %10.3f %9.3f %9.1f  %s\n", (long long)s->B,
           (long long)s->H, (long long)s->Hk, (long long)s->Sq, (long long)s->Sk,
           (long long)s->D, s->causal, r->ms, r->tflops, r->gbps, r->check);
    fflush(stdout);
  }
  int written = 1; /* the JSON file, where asked for */
  FILE *f = json ? fopen(json, "w") : NULL;
  if (json && !f) perror(json), written = 0;
  if (f) {
    const char *commit = getenv("FC_COMMIT");
    time_t t = time(NULL);
    char date[16];
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&t));
    fprintf(f, "{\"device\": \"%s\", \"commit\": \"%s\", \"date\": \"%s\", \"flashcore\": \"%s\", \"inputs\": \"%s\", \"varlen\": %s, \"window_left\": %lld, \"layout\": \"%s\", \"graph\": \"%s\",\n \"rows\": [\n",
            devname, commit ? commit : "unknown", date, fc_version_string(), normal_inputs ? "normal" : "uniform",
            varlen_mode ? "true" : "false", (long long)window_left, layout_mode == FC_LAYOUT_BHSD ? "bhsd" : "bshd",
            graph_mode == 2 ? "ws" : graph_mode ? "pool" : "none");
    for (int i = 0; i < nshapes; i++) {
      const row *r = &rows[i];
      fprintf(f, "  {\"family\": \"%s\", \"dtype\": \"%s\", \"B\": %lld, \"H\": %lld, \"Hk\": %lld, \"Sq\": %lld, "
                 "\"Sk\": %lld, \"D\": %lld, \"causal\": %s, \"ms\": %.5f, \"tflops\": %.2f, \"gbps\": %.1f, \"host_us\": %.1f, \"check\": \"%s\", \"kernel\": \"%s\"}%s\n",
              fc_family_name(r->family), dt == FC_DTYPE_BF16 ? "bf16" : dt == FC_DTYPE_F16 ? "f16" : "f32",
              (long long)r->s.B, (long long)r->s.H, (long long)r->s.Hk, (long long)r->s.Sq,
              (long long)r->s.Sk, (long long)r->s.D, r->s.causal ? "true" : "false", r->ms, r->tflops,
              r->gbps, r->host_us, r->check, r->desc, i + 1 < nshapes ? "," : "");
    }
    fprintf(f, " ]}\n");
    if (ferror(f) | fclose(f)) perror(json), written = 0;
  }
  printf("%d passed, %d failed\n", nshapes - failures, failures);
  free(rows);
  fc_context_destroy(ctx);
  return failures || !written ? 1 : 0;
}
