/* Argument validation for the forward call. Every rejection names the argument and value.
 * Nothing is written to any tensor before validation has passed. */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dim_name[4] = {"batch", "seq", "heads", "head_dim"};

static const char *dtype_name(fc_dtype d) {
  switch (d) {
  case FC_DTYPE_F32: return "f32";
  case FC_DTYPE_F16: return "f16";
  case FC_DTYPE_BF16: return "bf16";
  default: return "unknown";
  }
}

static int head_dim_offered(int64_t d) {
  return d == 32 || d == 64 || d == 96 || d == 128 || d == 192 || d == 256;
}

/* Byte span [lo, hi) covered by a view whose shape and strides are already checked. */
typedef struct span {
  uintptr_t lo, hi;
} span;

static fc_status check_view(fc_context *ctx, const char *name, const fc_tensor *t,
                            size_t elem_size, span *sp) {
  if (!t->data) return fc_fail(ctx, FC_ERR_NULL_POINTER, "%s->data is NULL", name);
  if ((uintptr_t)t->data % elem_size)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "%s->data = %p is not aligned to its %zu-byte elements",
                   name, t->data, elem_size);
  for (int i = 0; i < 4; i++)
    if (t->shape[i] <= 0)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE, "%s->shape[%d] (%s) = %lld; sizes must be > 0",
                     name, i, dim_name[i], (long long)t->shape[i]);
  if (t->stride[3] != 1 && t->shape[3] != 1)
    return fc_fail(ctx, FC_ERR_BAD_STRIDES,
                   "%s->stride[3] (head_dim) = %lld; the last dimension must be contiguous (1)",
                   name, (long long)t->stride[3]);
  for (int i = 0; i < 3; i++)
    if (t->stride[i] <= 0 && t->shape[i] > 1)
      return fc_fail(ctx, FC_ERR_BAD_STRIDES, "%s->stride[%d] (%s) = %lld; strides must be > 0",
                     name, i, dim_name[i], (long long)t->stride[i]);
  /* Largest element offset, with overflow checks; then bytes. */
  int64_t last = 0;
  for (int i = 0; i < 4; i++) {
    int64_t term;
    int64_t st = t->shape[i] > 1 ? t->stride[i] : 0;
    if (__builtin_mul_overflow(t->shape[i] - 1, st, &term) ||
        __builtin_add_overflow(last, term, &last))
      return fc_fail(ctx, FC_ERR_OVERFLOW,
                     "%s: shape[%d] = %lld with stride %lld overflows int64 offsets", name, i,
                     (long long)t->shape[i], (long long)t->stride[i]);
  }
  int64_t bytes;
  if (__builtin_add_overflow(last, 1, &bytes) ||
      __builtin_mul_overflow(bytes, (int64_t)elem_size, &bytes) ||
      (uint64_t)bytes > UINTPTR_MAX - (uintptr_t)t->data)
    return fc_fail(ctx, FC_ERR_OVERFLOW, "%s: the view spans more bytes than int64 can count",
                   name);
  /* No two elements may share an address: sorted by stride, each stride must step over
   * everything the smaller dimensions cover. */
  int order[4] = {0, 1, 2, 3};
  for (int a = 0; a < 4; a++)
    for (int b = a + 1; b < 4; b++)
      if (t->stride[order[b]] < t->stride[order[a]]) {
        int x = order[a];
        order[a] = order[b];
        order[b] = x;
      }
  int64_t covered = 1; /* elements spanned by the dimensions seen so far: max offset + 1 */
  for (int a = 0; a < 4; a++) {
    int d = order[a];
    if (t->shape[d] == 1) continue;
    if (t->stride[d] < covered)
      return fc_fail(ctx, FC_ERR_BAD_STRIDES,
                     "%s: stride[%d] (%s) = %lld overlaps the smaller dimensions, which span %lld "
                     "elements",
                     name, d, dim_name[d], (long long)t->stride[d], (long long)covered);
    covered = t->stride[d] * (t->shape[d] - 1) + covered; /* cannot overflow: checked above */
  }
  sp->lo = (uintptr_t)t->data;
  sp->hi = sp->lo + (uintptr_t)bytes;
  return FC_SUCCESS;
}

static int spans_overlap(span a, span b) { return a.lo < b.hi && b.lo < a.hi; }

/* Host memory for the CPU backend; for a GPU context device memory of that GPU, or managed
 * memory. `peer_ok`: device memory of another GPU too (out_copies and out_signals, which a
 * tensor-parallel caller points into its peers' buffers). A kernel that read another GPU's
 * memory without peer access would fault and leave the caller's CUDA context unusable. */
static fc_status check_memory_kind(fc_context *ctx, const char *name, const void *ptr, int peer_ok) {
  int home = -1;
  const int dev = fc_gpu_pointer_is_device(ptr, &home);
  if (ctx->device == FC_DEVICE_CPU && dev == 1)
    return fc_fail(ctx, FC_ERR_WRONG_MEMORY,
                   "%s = %p is device memory, but the context is the CPU backend", name, ptr);
  if (ctx->device != FC_DEVICE_CPU && dev == 0)
    return fc_fail(ctx, FC_ERR_WRONG_MEMORY,
                   "%s = %p is host memory, but the context is GPU %d", name, ptr, ctx->device);
  if (ctx->device != FC_DEVICE_CPU && dev == 1 && !peer_ok && home >= 0 && home != ctx->device)
    return fc_fail(ctx, FC_ERR_WRONG_MEMORY, "%s = %p is memory of GPU %d, but the context is GPU %d", name, ptr,
                   home, ctx->device);
  return FC_SUCCESS;
}

_Static_assert(sizeof(((fc_problem *)0)->out_copies) == FC_MAX_OUT_COPIES * sizeof(void *),
               "fc_problem holds every out_copies entry");

/* The options of headers without out_copies, without out_signals, without max_seqlen_k, or
 * without workspace: a caller built against one passes its size. */
static const size_t kOptionsNoCopies = offsetof(fc_attn_options, out_copies);
static const size_t kOptionsNoSignals = offsetof(fc_attn_options, out_signals);
static const size_t kOptionsNoMaxK = offsetof(fc_attn_options, max_seqlen_k);
static const size_t kOptionsNoWorkspace = offsetof(fc_attn_options, workspace);

static fc_status check_options(fc_context *ctx, const fc_attn_options *o, int64_t d) {
  if (o->size != sizeof(fc_attn_options) && o->size != kOptionsNoCopies && o->size != kOptionsNoSignals &&
      o->size != kOptionsNoMaxK && o->size != kOptionsNoWorkspace)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->size = %zu, expected %zu: initialise options with FC_ATTN_OPTIONS_INIT",
                   o->size, sizeof(fc_attn_options));
  if (!(isfinite(o->softmax_scale) && o->softmax_scale >= 0.0f))
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->softmax_scale = %g; use 0 (1/sqrt(head_dim)) or a finite value > 0",
                   (double)o->softmax_scale);
  if (o->causal != 0 && o->causal != 1)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->causal = %d; use 0 or 1", o->causal);
  if (o->window_left < -1)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->window_left = %lld; use -1 (unbounded) or >= 0",
                   (long long)o->window_left);
  if (o->window_right < -1)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->window_right = %lld; use -1 (unbounded) or >= 0",
                   (long long)o->window_right);
  if (o->causal && o->window_right > 0)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->window_right = %lld with causal = 1; a causal mask sees no key to the "
                   "right of the diagonal (use 0 or -1)",
                   (long long)o->window_right);
  if (!(isfinite(o->softcap) && o->softcap >= 0.0f))
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->softcap = %g; use 0 (off) or a finite value > 0", (double)o->softcap);
  if ((int)o->family < 0 || o->family >= FC_FAMILY_COUNT)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->family = %d is not an fc_family",
                   (int)o->family);
  (void)d;
  return FC_SUCCESS;
}

/* Variable-length offsets. On the CPU they are host memory and checked in full; on a GPU
 * they must be that GPU's (or managed) memory, and the context cannot read them without a
 * synchronisation, so only what the host knows is checked and the kernels clamp every
 * sequence to the tensors. */
static fc_status check_varlen(fc_context *ctx, const fc_attn_options *o, const fc_tensor *q,
                              const fc_tensor *k, fc_problem *p) {
  if (!o->cu_seqlens_q || !o->cu_seqlens_k)
    return fc_fail(ctx, FC_ERR_NULL_POINTER,
                   "opts->cu_seqlens_%s is NULL but cu_seqlens_%s is set; give both or neither",
                   o->cu_seqlens_q ? "k" : "q", o->cu_seqlens_q ? "q" : "k");
  if (o->num_seqs <= 0 || o->num_seqs > INT32_MAX - 1)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->num_seqs = %lld; variable-length batches need 1 to 2^31-2 sequences",
                   (long long)o->num_seqs);
  if (q->shape[0] != 1 || k->shape[0] != 1)
    return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH,
                   "q->shape[0] = %lld, k->shape[0] = %lld; with cu_seqlens the batch dimension "
                   "must be 1 and seq holds all tokens",
                   (long long)q->shape[0], (long long)k->shape[0]);
  if (q->shape[1] > INT32_MAX || k->shape[1] > INT32_MAX)
    return fc_fail(ctx, FC_ERR_OVERFLOW,
                   "variable-length tensors hold %lld query and %lld key rows; int32 offsets "
                   "address at most 2^31-1",
                   (long long)q->shape[1], (long long)k->shape[1]);
  if (o->max_seqlen_q < 0 || o->max_seqlen_q > q->shape[1])
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->max_seqlen_q = %lld; it must lie in 0..%lld (the query rows)",
                   (long long)o->max_seqlen_q, (long long)q->shape[1]);
  int64_t max_q = o->max_seqlen_q;
  const int64_t max_k = o->size >= kOptionsNoWorkspace ? o->max_seqlen_k : 0;
  if (max_k < 0 || max_k > k->shape[1])
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->max_seqlen_k = %lld; it must lie in 0..%lld (the key rows; 0: unknown)",
                   (long long)max_k, (long long)k->shape[1]);
  fc_status st;
  if ((st = check_memory_kind(ctx, "opts->cu_seqlens_q", o->cu_seqlens_q, 0)) ||
      (st = check_memory_kind(ctx, "opts->cu_seqlens_k", o->cu_seqlens_k, 0)))
    return st;
  if (ctx->device == FC_DEVICE_CPU) {
    const int32_t *cq = o->cu_seqlens_q, *ck = o->cu_seqlens_k;
    if (cq[0] != 0 || ck[0] != 0)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                     "opts->cu_seqlens_q[0] = %d, cu_seqlens_k[0] = %d; offsets must start at 0",
                     cq[0], ck[0]);
    int64_t longest = 0, longest_k = 0;
    for (int64_t b = 0; b < o->num_seqs; b++) {
      if (cq[b + 1] < cq[b] || ck[b + 1] < ck[b])
        return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                       "opts->cu_seqlens decrease at sequence %lld (q: %d -> %d, k: %d -> %d)",
                       (long long)b, cq[b], cq[b + 1], ck[b], ck[b + 1]);
      if (cq[b + 1] - cq[b] > longest) longest = cq[b + 1] - cq[b];
      if (ck[b + 1] - ck[b] > longest_k) longest_k = ck[b + 1] - ck[b];
    }
    if (cq[o->num_seqs] > q->shape[1] || ck[o->num_seqs] > k->shape[1])
      return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH,
                     "opts->cu_seqlens end at %d query and %d key rows, but q has %lld and k has "
                     "%lld",
                     cq[o->num_seqs], ck[o->num_seqs], (long long)q->shape[1],
                     (long long)k->shape[1]);
    if (max_q != 0 && max_q < longest)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                     "opts->max_seqlen_q = %lld, but a sequence has %lld query rows",
                     (long long)max_q, (long long)longest);
    if (max_k != 0 && max_k < longest_k)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                     "opts->max_seqlen_k = %lld, but a sequence has %lld key rows",
                     (long long)max_k, (long long)longest_k);
    max_q = longest;
  } else if (max_q == 0) {
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->max_seqlen_q = 0; a GPU context needs the longest query length of a "
                   "variable-length batch (the offsets are device memory)");
  }
  p->cu_seqlens_q = o->cu_seqlens_q;
  p->cu_seqlens_k = o->cu_seqlens_k;
  p->batch = o->num_seqs;
  p->seqlen_q = max_q;
  /* The kernels read each sequence's keys from the offsets; seqlen_k only steers the plan. */
  p->seqlen_k = max_k > 0 ? max_k : k->shape[1];
  return FC_SUCCESS;
}

fc_status fc_validate_forward(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                              const fc_tensor *v, const fc_tensor *out, const fc_tensor *lse,
                              const fc_attn_options *opts, fc_problem *p, fc_family *family) {
  static const fc_attn_options defaults = FC_ATTN_OPTIONS_INIT;
  const fc_attn_options *o = opts ? opts : &defaults;
  const fc_tensor *all[4] = {q, k, v, out};
  static const char *const names[5] = {"q", "k", "v", "out", "lse"};
  for (int i = 0; i < 4; i++)
    if (!all[i]) return fc_fail(ctx, FC_ERR_NULL_POINTER, "%s is NULL", names[i]);

  fc_status st = check_options(ctx, o, q->shape[3]);
  if (st) return st;

  fc_dtype dt = q->dtype;
  if ((int)dt < 0 || dt >= FC_DTYPE_COUNT)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "q->dtype = %d is not an fc_dtype", (int)dt);
  for (int i = 1; i < 4; i++)
    if (all[i]->dtype != dt)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                     "%s->dtype = %s (%d) but q->dtype = %s; q, k, v and out share one dtype",
                     names[i], dtype_name(all[i]->dtype), (int)all[i]->dtype, dtype_name(dt));
  if (lse && lse->dtype != FC_DTYPE_F32)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "lse->dtype = %s (%d); lse must be FC_DTYPE_F32",
                   dtype_name(lse->dtype), (int)lse->dtype);

  span sp[5];
  for (int i = 0; i < 4; i++)
    if ((st = check_view(ctx, names[i], all[i], fc_dtype_size(dt), &sp[i]))) return st;
  if (lse && (st = check_view(ctx, "lse", lse, 4, &sp[4]))) return st;

  const int64_t B = q->shape[0], Sq = q->shape[1], H = q->shape[2], D = q->shape[3];
  const int64_t Sk = k->shape[1], Hk = k->shape[2];
  if (k->shape[0] != B || v->shape[0] != B)
    return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH,
                   "batch: q has %lld, k has %lld, v has %lld; they must agree", (long long)B,
                   (long long)k->shape[0], (long long)v->shape[0]);
  if (k->shape[3] != D || v->shape[3] != D)
    return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH,
                   "head_dim: q has %lld, k has %lld, v has %lld; they must agree",
                   (long long)D, (long long)k->shape[3], (long long)v->shape[3]);
  for (int i = 1; i < 3; i++)
    if (v->shape[i] != k->shape[i])
      return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH, "v->shape[%d] (%s) = %lld but k has %lld", i,
                     dim_name[i], (long long)v->shape[i], (long long)k->shape[i]);
  for (int i = 0; i < 4; i++)
    if (out->shape[i] != q->shape[i])
      return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH, "out->shape[%d] (%s) = %lld but q has %lld", i,
                     dim_name[i], (long long)out->shape[i], (long long)q->shape[i]);
  if (lse) {
    for (int i = 0; i < 3; i++)
      if (lse->shape[i] != q->shape[i])
        return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH, "lse->shape[%d] (%s) = %lld but q has %lld",
                       i, dim_name[i], (long long)lse->shape[i], (long long)q->shape[i]);
    if (lse->shape[3] != 1)
      return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH, "lse->shape[3] = %lld; lse is [B, Sq, H, 1]",
                     (long long)lse->shape[3]);
  }
  if (H % Hk != 0)
    return fc_fail(ctx, FC_ERR_SHAPE_MISMATCH,
                   "q has %lld heads and k/v have %lld; the query heads must be a multiple of the "
                   "key/value heads",
                   (long long)H, (long long)Hk);
  if (!head_dim_offered(D))
    return fc_fail(ctx, FC_ERR_UNSUPPORTED,
                   "head_dim = %lld; flashcore offers 32, 64, 96, 128, 192 and 256", (long long)D);

  /* Outputs must not alias inputs or each other: a kernel reads inputs while writing. */
  for (int w = 3; w < 5; w++) {
    if (w == 4 && !lse) break;
    for (int r = 0; r < w; r++)
      if (spans_overlap(sp[w], sp[r]))
        return fc_fail(ctx, FC_ERR_WRONG_MEMORY,
                       "%s (bytes %p..%p) overlaps %s; outputs must not share memory with inputs "
                       "or with each other",
                       names[w], (void *)sp[w].lo, (void *)sp[w].hi, names[r]);
  }
  for (int i = 0; i < 4; i++)
    if ((st = check_memory_kind(ctx, names[i], all[i]->data, 0))) return st;
  if (lse && (st = check_memory_kind(ctx, "lse", lse->data, 0))) return st;

  /* Copies of the output: out's view at another address, overlapping nothing else. */
  const int copies = o->size >= kOptionsNoSignals ? o->num_out_copies : 0;
  uint32_t *const *signals = o->size >= kOptionsNoMaxK ? o->out_signals : NULL;
  if (copies < 0 || copies > FC_MAX_OUT_COPIES)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->num_out_copies = %d; use 0 to %d", copies,
                   FC_MAX_OUT_COPIES);
  if (copies > 0 && !o->out_copies)
    return fc_fail(ctx, FC_ERR_NULL_POINTER, "opts->out_copies is NULL with num_out_copies = %d",
                   copies);
  span cp[FC_MAX_OUT_COPIES];
  for (int c = 0; c < copies; c++) {
    char name[32];
    snprintf(name, sizeof name, "out_copies[%d]", c);
    if (!o->out_copies[c]) return fc_fail(ctx, FC_ERR_NULL_POINTER, "opts->%s is NULL", name);
    fc_tensor view = *out;
    view.data = o->out_copies[c];
    if ((st = check_view(ctx, name, &view, fc_dtype_size(dt), &cp[c]))) return st;
    for (int r = 0; r < 5 + c; r++) {
      if (r == 4 && !lse) continue;
      const span other = r < 5 ? sp[r] : cp[r - 5];
      if (spans_overlap(cp[c], other)) {
        char other_name[32];
        if (r < 5) snprintf(other_name, sizeof other_name, "%s", names[r]);
        else snprintf(other_name, sizeof other_name, "out_copies[%d]", r - 5);
        return fc_fail(ctx, FC_ERR_WRONG_MEMORY,
                       "opts->%s (bytes %p..%p) overlaps %s; a copy of the output must not share "
                       "memory with an input, an output or another copy",
                       name, (void *)cp[c].lo, (void *)cp[c].hi, other_name);
      }
    }
    if ((st = check_memory_kind(ctx, name, o->out_copies[c], 1))) return st;
  }
  /* Their counters: 4 aligned bytes each, outside every tensor and copy. */
  for (int c = 0; signals && c < copies; c++) {
    if (!signals[c]) continue;
    char name[32];
    snprintf(name, sizeof name, "out_signals[%d]", c);
    if ((uintptr_t)signals[c] % 4u)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->%s = %p is not 4-byte aligned", name, (void *)signals[c]);
    const span w = {(uintptr_t)signals[c], (uintptr_t)signals[c] + 4};
    for (int r = 0; r < 5 + copies; r++) {
      if (r == 4 && !lse) continue;
      const span other = r < 5 ? sp[r] : cp[r - 5];
      if (spans_overlap(w, other)) {
        char other_name[32];
        if (r < 5) snprintf(other_name, sizeof other_name, "%s", names[r]);
        else snprintf(other_name, sizeof other_name, "out_copies[%d]", r - 5);
        return fc_fail(ctx, FC_ERR_WRONG_MEMORY, "opts->%s (%p) lies in %s; a counter must not share memory with a tensor or a copy",
                       name, (void *)signals[c], other_name);
      }
    }
    if ((st = check_memory_kind(ctx, name, signals[c], 1))) return st;
  }

  /* The caller's workspace for split pieces: aligned, outside every tensor, copy and counter.
   * Whether it is large enough depends on the plan (fc_select() checks it). */
  void *ws = o->size >= sizeof(fc_attn_options) ? o->workspace : NULL;
  const size_t ws_bytes = o->size >= sizeof(fc_attn_options) ? o->workspace_bytes : 0;
  if (!ws && ws_bytes)
    return fc_fail(ctx, FC_ERR_NULL_POINTER, "opts->workspace is NULL with workspace_bytes = %zu", ws_bytes);
  if (ws) {
    if ((uintptr_t)ws % 16u)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->workspace = %p is not 16-byte aligned", ws);
    if (ws_bytes == 0 || ws_bytes > UINTPTR_MAX - (uintptr_t)ws)
      return fc_fail(ctx, FC_ERR_INVALID_VALUE, "opts->workspace_bytes = %zu; give the bytes at opts->workspace (more than 0)",
                     ws_bytes);
    const span w = {(uintptr_t)ws, (uintptr_t)ws + ws_bytes};
    for (int r = 0; r < 5 + copies + (signals ? copies : 0); r++) {
      if (r == 4 && !lse) continue;
      span other;
      char other_name[32];
      if (r < 5) other = sp[r], snprintf(other_name, sizeof other_name, "%s", names[r]);
      else if (r < 5 + copies) other = cp[r - 5], snprintf(other_name, sizeof other_name, "out_copies[%d]", r - 5);
      else if (signals[r - 5 - copies]) {
        other.lo = (uintptr_t)signals[r - 5 - copies], other.hi = other.lo + 4;
        snprintf(other_name, sizeof other_name, "out_signals[%d]", r - 5 - copies);
      } else continue;
      if (spans_overlap(w, other))
        return fc_fail(ctx, FC_ERR_WRONG_MEMORY,
                       "opts->workspace (bytes %p..%p) overlaps %s; the workspace must not share memory with a "
                       "tensor, a copy or a counter",
                       (void *)w.lo, (void *)w.hi, other_name);
    }
    if ((st = check_memory_kind(ctx, "opts->workspace", ws, 0))) return st;
  }

  memset(p, 0, sizeof *p);
  p->workspace = ws;
  p->workspace_bytes = ws ? ws_bytes : 0;
  p->dtype = (int)dt;
  p->q = q->data;
  p->k = k->data;
  p->v = v->data;
  p->out = out->data;
  p->lse = lse ? (float *)lse->data : NULL;
  for (int c = 0; c < copies; c++) p->out_copies[c] = o->out_copies[c], p->out_signals[c] = signals ? signals[c] : NULL;
  p->num_out_copies = copies;
  for (int i = 0; i < 3; i++) {
    p->q_stride[i] = q->stride[i];
    p->k_stride[i] = k->stride[i];
    p->v_stride[i] = v->stride[i];
    p->o_stride[i] = out->stride[i];
    p->lse_stride[i] = lse ? lse->stride[i] : 0;
  }
  p->batch = B;
  p->seqlen_q = Sq;
  p->seqlen_k = Sk;
  p->total_q = Sq;
  p->total_k = Sk;
  p->heads = H;
  p->heads_k = Hk;
  p->head_dim = D;
  p->scale = o->softmax_scale > 0.0f ? o->softmax_scale : (float)(1.0 / sqrt((double)D));
  p->softcap = o->softcap;
  p->causal = o->causal;
  p->window_left = o->window_left;
  p->window_right = o->causal ? 0 : o->window_right;
  /* A window that reaches past every key of the tensors (left >= their rows, so any
   * sequence's Sk) or every query (right >= Sq) hides nothing: it is the unbounded one, and
   * the offset arithmetic downstream then never meets values near INT64_MAX. */
  if (p->window_left >= k->shape[1]) p->window_left = -1;
  if (p->window_right >= q->shape[1]) p->window_right = -1;
  if (o->cu_seqlens_q || o->cu_seqlens_k) {
    if ((st = check_varlen(ctx, o, q, k, p))) return st;
    p->q_stride[0] = p->k_stride[0] = p->v_stride[0] = p->o_stride[0] = p->lse_stride[0] = 0;
  }
  p->offset_stride[0] = p->q_stride[1], p->offset_stride[1] = p->o_stride[1], p->offset_stride[2] = p->lse_stride[1];
  p->fold = 1;
  /* Unfolded, a row is its own position: the position strides are the seq strides. */
  p->pos_stride[0] = p->q_stride[1], p->pos_stride[1] = p->o_stride[1], p->pos_stride[2] = p->lse_stride[1];
  *family = o->family != FC_FAMILY_AUTO ? o->family : ctx->forced;
  return FC_SUCCESS;
}

fc_tensor fc_tensor_bshd(void *data, fc_dtype dtype, int64_t batch, int64_t seq, int64_t heads,
                         int64_t head_dim) {
  fc_tensor t;
  t.data = data;
  t.dtype = dtype;
  t.shape[0] = batch;
  t.shape[1] = seq;
  t.shape[2] = heads;
  t.shape[3] = head_dim;
  /* A stride that int64 cannot hold becomes INT64_MAX, which validation rejects as an
   * overflow wherever its dimension has more than one element. */
  t.stride[3] = 1;
  t.stride[2] = head_dim;
  if (__builtin_mul_overflow(heads, head_dim, &t.stride[1])) t.stride[1] = INT64_MAX;
  if (t.stride[1] == INT64_MAX || __builtin_mul_overflow(seq, t.stride[1], &t.stride[0])) t.stride[0] = INT64_MAX;
  return t;
}
