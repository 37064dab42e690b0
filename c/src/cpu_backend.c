/* The CPU backend: tiled online-softmax attention in float32 on host threads.
 *
 * Work is cut into tasks of (sequence, head, block of BM query rows). A task converts its
 * query rows once, then walks the visible key blocks of BN rows, converting each K/V block
 * once for all BM queries. Extra memory is O(BM*D + BN*D) per thread, independent of the
 * sequence length. Tasks are handed out through an atomic counter so that causal and
 * windowed problems, whose tasks differ in cost, stay balanced. */
#include "convert.h"
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BM = 32, BN = 64 };

typedef struct scratch {
  float *q, *kt, *v, *s, *acc, *m, *l; /* kt: the K tile transposed, [D][BN] */
} scratch;

typedef struct job {
  const fc_problem *p;
  int64_t tasks, blocks_per_seq;
  atomic_llong next;
} job;

typedef struct worker_arg {
  job *j;
  scratch w;
} worker_arg;

static int scratch_alloc(scratch *w, int64_t d) {
  float *mem = malloc(sizeof(float) * (size_t)(BM * d + 2 * BN * d + BM * BN + BM * d + 2 * BM));
  if (!mem) return 0;
  w->q = mem;
  w->kt = w->q + BM * d;
  w->v = w->kt + BN * d;
  w->s = w->v + BN * d;
  w->acc = w->s + BM * BN;
  w->m = w->acc + BM * d;
  w->l = w->m + BM;
  return 1;
}

/* The hot loops are compiled twice on x86-64 GCC, for AVX2+FMA (x86-64-v3) and for the
 * baseline, and the loader picks the one the CPU runs; elsewhere they are compiled once. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FC_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FC_HOT
#endif

/* Visible keys of query row i: [lo, hi], given the per-sequence lengths (rows; a folded
 * launch's masks go by the position, fc_problem.pos_group). */
static inline void visible(const fc_problem *p, int64_t i, int64_t sq, int64_t sk, int64_t *lo,
                           int64_t *hi) {
  const int64_t G = p->pos_group > 1 ? p->pos_group : 1;
  int64_t diag = i / G + sk - sq / G;
  *hi = p->window_right < 0 ? sk - 1 : diag + p->window_right;
  *lo = p->window_left < 0 ? 0 : diag - p->window_left;
  if (*hi > sk - 1) *hi = sk - 1;
  if (*lo < 0) *lo = 0;
}

/* Element offset of row r of a (sequence, head) in q (i = 0), out (1) or lse (2), from the
 * sequence's first row; `stride` is that tensor's seq stride. */
static inline int64_t row_at(const fc_problem *p, int i, int64_t stride, int64_t r) {
  return fc_row_offset(r, p->pos_group, fc_pos_mul(p->pos_group), p->pos_stride[i], stride);
}

FC_HOT static void run_task(const fc_problem *p, int64_t task, int64_t blocks_per_seq, scratch *w) {
  const int dt = p->dtype;
  const int64_t D = p->head_dim, H = p->heads;
  const int64_t qblock = task % blocks_per_seq, h = (task / blocks_per_seq) % H,
                b = task / blocks_per_seq / H;
  const int64_t hk = h / (H / p->heads_k);
  int64_t q0 = 0, k0 = 0, sq = p->seqlen_q, sk = p->seqlen_k;
  if (p->cu_seqlens_q) {
    q0 = p->cu_seqlens_q[b];
    k0 = p->cu_seqlens_k[b];
    sq = p->cu_seqlens_q[b + 1] - q0;
    sk = p->cu_seqlens_k[b + 1] - k0;
    sq = fc_seq_rows(sq, p->seqlen_q / p->fold, p->fold); /* as the GPU kernels count it */
  }
  const int64_t r0 = qblock * BM;
  if (r0 >= sq) return; /* varlen: this sequence is shorter than the longest */
  const int64_t rows = sq - r0 < BM ? sq - r0 : BM;
  /* Element offsets of this (b, h)'s first row; q0 is 0 without offsets. */
  const int64_t qb = b * p->q_stride[0] + q0 * p->offset_stride[0] + h * p->q_stride[2];
  const int64_t ob = b * p->o_stride[0] + q0 * p->offset_stride[1] + h * p->o_stride[2];
  const int64_t kb = b * p->k_stride[0] + k0 * p->k_stride[1] + hk * p->k_stride[2];
  const int64_t vb = b * p->v_stride[0] + k0 * p->v_stride[1] + hk * p->v_stride[2];

  for (int64_t r = 0; r < rows; r++) {
    for (int64_t d = 0; d < D; d++)
      w->q[r * D + d] = fc_load(p->q, dt, qb + row_at(p, 0, p->q_stride[1], r0 + r) + d);
    for (int64_t d = 0; d < D; d++) w->acc[r * D + d] = 0.0f;
    w->m[r] = -INFINITY;
    w->l[r] = 0.0f;
  }
  /* Key range visible to any row of the block. */
  int64_t lo_first, hi_first, lo_last, hi_last;
  visible(p, r0, sq, sk, &lo_first, &hi_first);
  visible(p, r0 + rows - 1, sq, sk, &lo_last, &hi_last);
  const int64_t kstart = lo_first, kend = hi_last; /* inclusive */
  const float scale = p->scale, cap = p->softcap;

  for (int64_t j0 = kstart - kstart % BN; j0 <= kend; j0 += BN) {
    const int64_t cols = sk - j0 < BN ? sk - j0 : BN;
    /* K goes in transposed, so that a row's scores are computed BN keys at a time (vector
     * lanes across keys, no horizontal sums); keys past the end are zeros. */
    for (int64_t c = 0; c < BN; c++)
      for (int64_t d = 0; d < D; d++) {
        const int in = c < cols;
        w->kt[d * BN + c] = in ? fc_load(p->k, dt, kb + (j0 + c) * p->k_stride[1] + d) : 0.0f;
        if (in) w->v[c * D + d] = fc_load(p->v, dt, vb + (j0 + c) * p->v_stride[1] + d);
      }
    for (int64_t r = 0; r < rows; r++) {
      int64_t lo, hi;
      visible(p, r0 + r, sq, sk, &lo, &hi);
      int64_t c_lo = lo - j0, c_hi = hi - j0;
      if (c_lo < 0) c_lo = 0;
      if (c_hi > cols - 1) c_hi = cols - 1;
      if (c_lo > c_hi) continue;
      float *s = w->s + r * BN, bmax = -INFINITY;
      const float *qr = w->q + r * D;
      for (int64_t c = 0; c < BN; c++) s[c] = 0.0f;
      for (int64_t d = 0; d < D; d++) {
        const float qd = qr[d], *kd = w->kt + d * BN;
        for (int64_t c = 0; c < BN; c++) s[c] += qd * kd[c];
      }
      for (int64_t c = c_lo; c <= c_hi; c++) {
        float x = scale * s[c];
        if (cap > 0.0f) x = cap * tanhf(x / cap);
        s[c] = x;
        if (x > bmax) bmax = x;
      }
      const float m_new = w->m[r] > bmax ? w->m[r] : bmax;
      const float corr = expf(w->m[r] - m_new); /* 0 on the first visible block */
      float lsum = 0.0f;
      float *acc = w->acc + r * D;
      for (int64_t d = 0; d < D; d++) acc[d] *= corr;
      for (int64_t c = c_lo; c <= c_hi; c++) {
        const float pc = expf(s[c] - m_new);
        lsum += pc;
        const float *vr = w->v + c * D;
        for (int64_t d = 0; d < D; d++) acc[d] += pc * vr[d];
      }
      w->l[r] = w->l[r] * corr + lsum;
      w->m[r] = m_new;
    }
  }
  for (int64_t r = 0; r < rows; r++) {
    /* l == 0: the row sees no key (zeros, LSE -inf); a NaN l carries NaN through. */
    const float l = w->l[r], inv = l == 0.0f ? 0.0f : 1.0f / l;
    for (int64_t d = 0; d < D; d++)
      fc_store(p->out, dt, ob + row_at(p, 1, p->o_stride[1], r0 + r) + d, w->acc[r * D + d] * inv);
    if (p->lse) {
      const int64_t li = b * p->lse_stride[0] + q0 * p->offset_stride[2] + row_at(p, 2, p->lse_stride[1], r0 + r) +
                         h * p->lse_stride[2];
      p->lse[li] = l == 0.0f ? -INFINITY : w->m[r] + logf(l);
    }
  }
}

static void *worker(void *arg) {
  worker_arg *a = arg;
  for (;;) {
    long long t = atomic_fetch_add(&a->j->next, 1);
    if (t >= a->j->tasks) break;
    run_task(a->j->p, t, a->j->blocks_per_seq, &a->w);
  }
  return NULL;
}

static int worker_count(const fc_context *ctx) {
  if (ctx->num_threads > 0) return ctx->num_threads;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void fc_cpu_plan(const fc_context *ctx, const fc_problem *p, fc_kernel_info *info) {
  info->family = FC_FAMILY_CPU;
  info->block_m = BM;
  info->block_n = BN;
  info->num_warps = worker_count(ctx);
  info->stages = 1;
  snprintf(info->description, sizeof info->description,
           "cpu %s D=%lld%s: %dx%d float32 tiles, online softmax, %d thread(s)",
           p->dtype == FC_DTYPE_F32 ? "f32" : p->dtype == FC_DTYPE_F16 ? "f16" : "bf16",
           (long long)p->head_dim, p->causal ? " causal" : "", BM, BN, info->num_warps);
}

/* out_copies: each row of D elements of out, to the same place in every copy (out's
 * strides; a varlen output is one batch of total_q rows). */
static void copy_output(const fc_problem *p) {
  const size_t row = (size_t)p->head_dim * fc_dtype_size((fc_dtype)p->dtype);
  const int64_t batches = p->cu_seqlens_q ? 1 : p->batch, rows = p->cu_seqlens_q ? p->total_q : p->seqlen_q;
  const char *src = p->out;
  for (int c = 0; c < p->num_out_copies; c++)
    for (int64_t b = 0; b < batches; b++)
      for (int64_t s = 0; s < rows; s++)
        for (int64_t h = 0; h < p->heads; h++) {
          const size_t off = (size_t)(b * p->o_stride[0] + s * p->o_stride[1] + h * p->o_stride[2]) *
                             fc_dtype_size((fc_dtype)p->dtype);
          memcpy((char *)p->out_copies[c] + off, src + off, row);
        }
}

/* out_signals: the (query row, head) pairs written, as the GPU kernels count them (each
 * sequence clamped to the tensor), added to each counter after the copies are written. */
static void signal_copies(const fc_problem *p) {
  int64_t rows = p->batch * p->seqlen_q;
  if (p->cu_seqlens_q) {
    rows = 0;
    for (int64_t b = 0; b < p->batch; b++) {
      const int64_t lo = p->cu_seqlens_q[b] < 0 ? 0 : p->cu_seqlens_q[b] > p->total_q ? p->total_q : p->cu_seqlens_q[b];
      const int64_t hi = p->cu_seqlens_q[b + 1] < 0 ? 0 : p->cu_seqlens_q[b + 1] > p->total_q ? p->total_q : p->cu_seqlens_q[b + 1];
      rows += hi > lo ? hi - lo : 0;
    }
  }
  for (int c = 0; c < p->num_out_copies; c++)
    if (p->out_signals[c]) __atomic_fetch_add(p->out_signals[c], (uint32_t)(rows * p->heads), __ATOMIC_RELEASE);
}

fc_status fc_cpu_forward(fc_context *ctx, const fc_problem *p, const fc_kernel_info *info) {
  job j;
  j.p = p;
  j.blocks_per_seq = (p->seqlen_q + BM - 1) / BM;
  j.tasks = p->batch * p->heads * j.blocks_per_seq;
  atomic_init(&j.next, 0);
  int64_t n = info->num_warps;
  if (n > j.tasks) n = j.tasks;
  if (n < 1) n = 1;
  /* All memory is taken before the first output element is written, so an allocation
   * failure leaves the output untouched. */
  worker_arg *args = calloc((size_t)n, sizeof *args);
  pthread_t *tid = malloc(sizeof(pthread_t) * (size_t)n);
  int64_t ready = 0;
  if (args && tid)
    for (; ready < n; ready++) {
      args[ready].j = &j;
      if (!scratch_alloc(&args[ready].w, p->head_dim)) break;
    }
  if (ready < n) {
    for (int64_t i = 0; i < ready; i++) free(args[i].w.q);
    free(args);
    free(tid);
    return fc_fail(ctx, FC_ERR_OUT_OF_MEMORY,
                   "cpu backend: out of host memory for %lld worker scratch buffers",
                   (long long)n);
  }
  int64_t started = 0;
  for (; started < n - 1; started++)
    if (pthread_create(&tid[started], NULL, worker, &args[started + 1]) != 0) break;
  worker(&args[0]); /* the caller works too, and finishes what threads that failed to start left */
  for (int64_t i = 0; i < started; i++) pthread_join(tid[i], NULL);
  for (int64_t i = 0; i < n; i++) free(args[i].w.q);
  free(args);
  free(tid);
  copy_output(p);
  signal_copies(p);
  return FC_SUCCESS;
}
