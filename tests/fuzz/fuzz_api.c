/* libFuzzer target for the public C API on the CPU backend, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer by scripts/fuzz.sh (no GPU, no CUDA).
 *
 * Each input is decoded into one call: four or five tensor views in one host arena (shapes,
 * strides, data offsets and dtypes near a valid problem, or edge values: 0, -1, 2^31, 2^62,
 * INT64_MAX, ...), options (scale, softcap, windows, family, options size, copies and their
 * counters, variable-length offsets), and an fc_kernel_info of some size. An input of zeros
 * is a valid problem, so the mutations start from calls that run. What must hold for every
 * input, besides no crash and no undefined behaviour:
 *   - fc_select_kernel writes nothing but the first info->size bytes of *info;
 *   - fc_attention_forward, where every view lies in the arena (so the call may touch it),
 *     returns what fc_select_kernel returned (the header: it validates "exactly as" forward);
 *   - on an error nothing is written and fc_last_error() says something;
 *   - on success only bytes of the out, lse and copy views' elements and the copies' counters
 *     change, and every accepted view holds no more elements than its byte span could.
 * A violated property aborts with a line saying which, so libFuzzer keeps the input. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flashcore.h"
#define FUZZ_TARGET "fuzz_api"
#include "fuzz.h"

enum { ARENA = 4 << 20, SEQ_CAP = 64 };

static _Alignas(256) unsigned char arena[ARENA];
static unsigned char before[ARENA];
static unsigned char writable[ARENA]; /* 1 where a successful call may write */
static int32_t seqlens[2][SEQ_CAP];
static fc_context *ctx;
/* What the inputs reached, printed at exit: scripts/fuzz.sh fails a run whose inputs never
 * got a forward call through, or never had one refused, as a fuzzer that tests nothing. */
static long long n_inputs, n_forward_ok, n_forward_refused;
static void summary(void) {
  printf("fuzz_api: %lld inputs, %lld forward calls succeeded, %lld refused\n", n_inputs, n_forward_ok,
         n_forward_refused);
}


typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t u8(reader *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}
static uint64_t u64(reader *r) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | u8(r);
  return x;
}

/* base most of the time; else an edge value or a nearby one (wrapping, never overflowing). */
static int64_t pick(reader *r, int64_t base) {
  const uint8_t s = u8(r);
  if (s < 176) return base;
  switch (s % 16) {
  case 0: return 0;
  case 1: return -1;
  case 2: return 1;
  case 3: return (int64_t)((uint64_t)base + 1);
  case 4: return (int64_t)((uint64_t)base - 1);
  case 5: return INT64_MAX;
  case 6: return INT64_MIN;
  case 7: return (int64_t)1 << 31;
  case 8: return ((int64_t)1 << 32) + 1;
  case 9: return u8(r);
  case 10: return (int64_t)u64(r);
  case 11: return (int64_t)((uint64_t)base * 2);
  case 12: return (int64_t)1 << 62;
  case 13: return -(int64_t)u8(r);
  case 14: return (int64_t)u8(r) << 8 | u8(r);
  default: return (int64_t)((uint64_t)base + u8(r));
  }
}

static float pick_float(reader *r, float base) {
  static const float edge[] = {0.0f, -1.0f, 1e-30f, 1e30f, 1e-45f, 3.0f, 0.5f, -0.0f};
  const uint8_t s = u8(r);
  if (s < 200) return base;
  switch (s % 4) {
  case 0: return edge[u8(r) % 8];
  case 1: return NAN;
  case 2: return INFINITY;
  default: {
    uint32_t bits = (uint32_t)u64(r);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
  }
  }
}

/* Byte span of a view, or 0 when it cannot be computed in int64 or has a bad shape. */
static int view_span(const fc_tensor *t, size_t es, int64_t *lo, int64_t *hi, int64_t *count) {
  int64_t first = 0, last = 0, n = 1;
  for (int i = 0; i < 4; i++) {
    if (t->shape[i] <= 0) return 0;
    int64_t term;
    if (__builtin_mul_overflow(t->shape[i] - 1, t->stride[i], &term)) return 0;
    if (term < 0 ? __builtin_add_overflow(first, term, &first) : __builtin_add_overflow(last, term, &last)) return 0;
    if (__builtin_mul_overflow(n, t->shape[i], &n)) return 0;
  }
  int64_t a, b;
  if (__builtin_add_overflow(last, 1, &last) || __builtin_mul_overflow(first, (int64_t)es, &a) ||
      __builtin_mul_overflow(last, (int64_t)es, &b))
    return 0;
  *lo = a, *hi = b, *count = n;
  return 1;
}

/* Does the view lie inside the arena? Its data pointer is arena + off. */
static int in_arena(const fc_tensor *t, int64_t off, size_t es) {
  int64_t lo, hi, n;
  if (!t->data || !view_span(t, es, &lo, &hi, &n)) return 0;
  return (__int128)off + lo >= 0 && (__int128)off + hi <= ARENA && lo <= hi;
}

static void mark_view(const fc_tensor *t, int64_t off, size_t es) {
  for (int64_t b = 0; b < t->shape[0]; b++)
    for (int64_t s = 0; s < t->shape[1]; s++)
      for (int64_t h = 0; h < t->shape[2]; h++)
        for (int64_t d = 0; d < t->shape[3]; d++) {
          int64_t at = off + (int64_t)es * (b * t->stride[0] + s * t->stride[1] + h * t->stride[2] + d * t->stride[3]);
          memset(writable + at, 1, es);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (fc_context_create(FC_DEVICE_CPU, &ctx) != FC_SUCCESS) abort();
  atexit(summary);
  /* Finite values in every dtype's reading: each 16-bit half is 0x3Cxx (f16 1..2, bf16 near 0.01). */
  for (size_t i = 0; i < ARENA; i += 2) arena[i + 1] = 0x3C, arena[i] = (unsigned char)(i * 2654435761u >> 24);
  return 0;
}

static const size_t kOptionSizes[4] = {sizeof(fc_attn_options), offsetof(fc_attn_options, out_copies),
                                       offsetof(fc_attn_options, out_signals), 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size};
  n_inputs++;
  /* A valid problem near which the mutations stay. */
  static const int64_t dims[6] = {32, 64, 96, 128, 192, 256};
  const fc_dtype dt = (fc_dtype)(u8(&r) % 3 == 0 ? FC_DTYPE_F32 : u8(&r) % 2 ? FC_DTYPE_BF16 : FC_DTYPE_F16);
  const size_t es = fc_dtype_size(dt);
  const int64_t B = 1 + u8(&r) % 2, Sq = 1 + u8(&r) % 24, Sk = 1 + u8(&r) % 40;
  const int64_t Hk = 1 + u8(&r) % 2, H = Hk * (1 + u8(&r) % 2), D = dims[u8(&r) % 6];
  const int layout = u8(&r) % 3; /* 0: BSHD, 1: BHSD, 2: BSHD with padded rows */
  const int64_t shp[4][4] = {{B, Sq, H, D}, {B, Sk, Hk, D}, {B, Sk, Hk, D}, {B, Sq, H, D}};
  fc_tensor t[5];
  int64_t off[5 + 2];
  int64_t at = 0;
  for (int i = 0; i < 4; i++) {
    const int64_t b = shp[i][0], s = shp[i][1], h = shp[i][2], d = shp[i][3], pad = layout == 2 ? 8 : 0;
    t[i].dtype = dt;
    for (int j = 0; j < 4; j++) t[i].shape[j] = shp[i][j];
    if (layout == 1) t[i].stride[0] = h * s * d, t[i].stride[1] = d, t[i].stride[2] = s * d;
    else t[i].stride[0] = s * (h * d + pad), t[i].stride[1] = h * d + pad, t[i].stride[2] = d;
    t[i].stride[3] = 1;
    off[i] = at;
    at += ((b * t[i].stride[0] * (int64_t)es) + 255) / 256 * 256;
  }
  /* lse [B, Sq, H, 1] in f32 */
  t[4].dtype = FC_DTYPE_F32;
  t[4].shape[0] = B, t[4].shape[1] = Sq, t[4].shape[2] = H, t[4].shape[3] = 1;
  t[4].stride[0] = Sq * H, t[4].stride[1] = H, t[4].stride[2] = 1, t[4].stride[3] = 1;
  off[4] = at;
  at += (B * Sq * H * 4 + 255) / 256 * 256;
  off[5] = at, at += (B * t[3].stride[0] * (int64_t)es + 255) / 256 * 256; /* two copies of out */
  off[6] = at, at += (B * t[3].stride[0] * (int64_t)es + 255) / 256 * 256;
  const int64_t signals_at = at;
  at += 256;
  const int64_t used = at; /* under 4 MiB for every baseline */

  /* Mutations of the views. */
  for (int i = 0; i < 5; i++) {
    for (int j = 0; j < 4; j++) t[i].shape[j] = pick(&r, t[i].shape[j]);
    for (int j = 0; j < 4; j++) t[i].stride[j] = pick(&r, t[i].stride[j]);
    if (u8(&r) > 250) t[i].dtype = (fc_dtype)(int)pick(&r, t[i].dtype);
    off[i] = pick(&r, off[i]);
  }
  for (int c = 5; c < 7; c++) off[c] = pick(&r, off[c]);
  for (int i = 0; i < 5; i++) {
    /* computed as an integer: no pointer arithmetic outside the arena */
    t[i].data = (void *)((uintptr_t)arena + (uintptr_t)off[i]);
    if (u8(&r) > 252) t[i].data = NULL;
  }

  fc_attn_options o = FC_ATTN_OPTIONS_INIT;
  const uint8_t osel = u8(&r);
  o.size = osel < 240 ? sizeof o : kOptionSizes[osel % 4];
  o.softmax_scale = pick_float(&r, 0.0f);
  o.softcap = pick_float(&r, u8(&r) > 200 ? 20.0f : 0.0f);
  o.causal = (int)pick(&r, u8(&r) & 1);
  o.window_left = pick(&r, u8(&r) > 200 ? (int64_t)(u8(&r) % 16) : -1);
  o.window_right = pick(&r, o.causal ? 0 : u8(&r) > 200 ? (int64_t)(u8(&r) % 16) : -1);
  o.family = (fc_family)(int)pick(&r, u8(&r) > 240 ? FC_FAMILY_CPU : FC_FAMILY_AUTO);
  o.num_out_copies = (int)pick(&r, u8(&r) % 3 == 2 ? 1 + u8(&r) % 2 : 0);
  void *copies[FC_MAX_OUT_COPIES + 1];
  uint32_t *signals[FC_MAX_OUT_COPIES + 1];
  for (int c = 0; c < FC_MAX_OUT_COPIES + 1; c++) {
    int64_t where = c < 2 ? off[5 + c] : pick(&r, off[5]);
    copies[c] = (void *)((uintptr_t)arena + (uintptr_t)where);
    signals[c] = (uint32_t *)(void *)((uintptr_t)arena + (uintptr_t)pick(&r, signals_at + 4 * c));
    if (u8(&r) > 250) copies[c] = NULL;
    if (u8(&r) > 200) signals[c] = NULL;
  }
  o.out_copies = u8(&r) > 252 ? NULL : copies;
  o.out_signals = u8(&r) > 128 ? signals : NULL;
  /* Variable lengths: offsets from lengths, then mutated; num_seqs below SEQ_CAP when given. */
  const int varlen = u8(&r) > 220;
  if (varlen) {
    const int64_t n = 1 + u8(&r) % 4;
    int64_t tq = 0, tk = 0;
    seqlens[0][0] = seqlens[1][0] = 0;
    for (int64_t b = 0; b < n; b++) {
      tq += u8(&r) % 9, tk += u8(&r) % 13;
      seqlens[0][b + 1] = (int32_t)tq, seqlens[1][b + 1] = (int32_t)tk;
    }
    for (int64_t b = 0; b <= n; b++)
      if (u8(&r) > 240) seqlens[u8(&r) & 1][b] = (int32_t)pick(&r, seqlens[0][b]);
    /* the tensors hold every token (batch 1) */
    for (int i = 0; i < 5; i++) {
      if (t[i].shape[0] == B) t[i].shape[0] = 1;
      if (i == 1 || i == 2) {
        if (t[i].shape[1] == Sk) t[i].shape[1] = tk > 0 ? tk : 1;
      } else if (t[i].shape[1] == Sq) {
        t[i].shape[1] = tq > 0 ? tq : 1;
      }
    }
    o.num_seqs = pick(&r, n);
    o.max_seqlen_q = pick(&r, 0);
    const int bad = o.num_seqs <= 0 || o.num_seqs >= SEQ_CAP;
    o.cu_seqlens_q = bad || u8(&r) > 250 ? NULL : seqlens[0];
    o.cu_seqlens_k = bad || u8(&r) > 250 ? NULL : seqlens[1];
  }
  const fc_tensor *lse = u8(&r) > 200 ? NULL : &t[4];
  const fc_attn_options *opts = u8(&r) > 250 ? NULL : &o;
  const fc_tensor *view[4] = {&t[0], &t[1], &t[2], &t[3]};
  if (u8(&r) > 252) view[u8(&r) % 4] = NULL;
  fc_context_set_num_threads(ctx, 1 + u8(&r) % 2);

  /* fc_tensor_bshd with whatever dims the input holds: no undefined arithmetic. */
  int64_t hd[4];
  for (int j = 0; j < 4; j++) hd[j] = pick(&r, j == 3 ? 64 : 2 + j);
  fc_tensor helper = fc_tensor_bshd(arena, dt, hd[0], hd[1], hd[2], hd[3]);
  (void)helper;

  /* fc_select_kernel writes info's first info->size bytes and nothing else. */
  unsigned char infobuf[sizeof(fc_kernel_info) + 64];
  memset(infobuf, 0xA5, sizeof infobuf);
  fc_kernel_info *info = (fc_kernel_info *)(void *)infobuf;
  const uint8_t isel = u8(&r);
  info->size = isel < 230 ? sizeof *info : isel % 2 ? offsetof(fc_kernel_info, persistent) : (size_t)u8(&r);
  /* The bytes to watch: the baseline layout and every view that lies in the arena. */
  int64_t end = used;
  for (int i = 0; i < 5; i++) {
    const fc_tensor *tv = i < 4 ? view[i] : lse;
    int64_t lo, hi, n;
    if (tv && in_arena(tv, off[i], i < 4 ? es : 4) && view_span(tv, i < 4 ? es : 4, &lo, &hi, &n) &&
        off[i] + hi > end)
      end = off[i] + hi;
  }
  for (int c = 0; c < FC_MAX_OUT_COPIES + 1; c++) {
    const int64_t a = (int64_t)((uintptr_t)copies[c] - (uintptr_t)arena);
    const uintptr_t w = (uintptr_t)signals[c] - (uintptr_t)arena;
    fc_tensor cv = t[3];
    cv.data = copies[c];
    int64_t lo, hi, n;
    if (in_arena(&cv, a, es) && view_span(&cv, es, &lo, &hi, &n) && a + hi > end) end = a + hi;
    if (signals[c] && w <= ARENA - 4 && (int64_t)w + 4 > end) end = (int64_t)w + 4;
  }
  memcpy(before, arena, (size_t)end);
  const fc_status sel = fc_select_kernel(ctx, view[0], view[1], view[2], view[3], lse, opts, info);
  REQUIRE(memcmp(before, arena, (size_t)end) == 0, "fc_select_kernel wrote into a tensor (status %d)", sel);
  {
    size_t keep = info->size > sizeof *info ? sizeof *info : info->size;
    if (info->size < sizeof(size_t)) keep = sizeof(size_t);
    for (size_t b = keep; b < sizeof infobuf; b++)
      REQUIRE(infobuf[b] == 0xA5, "fc_select_kernel wrote byte %zu of an fc_kernel_info of size %zu", b, info->size);
  }
  if (sel != FC_SUCCESS) REQUIRE(fc_last_error(ctx)[0] != '\0', "status %d without a sentence", sel);

  /* forward only where it may touch what it is given: every view in the arena, work bounded
   * (a pointer outside the arena may be given to select, never dereferenced) */
  int wild = 0;
  for (int i = 0; i < 4; i++)
    if (!view[i] || !in_arena(view[i], off[i], es)) wild = 1;
  if (lse && !in_arena(lse, off[4], 4)) wild = 1;
  const int ncopies = opts && o.size >= offsetof(fc_attn_options, out_signals) ? o.num_out_copies : 0;
  if (ncopies < 0 || ncopies > 2 || (ncopies > 0 && !o.out_copies)) wild = 1;
  for (int c = 0; c < ncopies && !wild; c++) {
    fc_tensor cv = t[3];
    cv.data = copies[c];
    if (!copies[c] || !in_arena(&cv, off[5 + c], es)) wild = 1;
    if (o.out_signals && signals[c] && (uintptr_t)signals[c] - (uintptr_t)arena > ARENA - 4) wild = 1;
  }
  double work = 1.0;
  if (!wild) {
    const fc_tensor *qv = view[0], *kv = view[1];
    work = (double)qv->shape[0] * (double)qv->shape[1] * (double)qv->shape[2] * (double)kv->shape[1] * (double)qv->shape[3];
  }
  if (wild || work > (double)(1 << 21)) return 0;

  const fc_status fwd = fc_attention_forward(ctx, view[0], view[1], view[2], view[3], lse, opts, NULL);
  if (info->size >= offsetof(fc_kernel_info, description)) /* else select refused the info alone */
    REQUIRE(fwd == sel, "fc_attention_forward returned %d where fc_select_kernel returned %d: %s", fwd, sel,
          fc_last_error(ctx));
  if (fwd != FC_SUCCESS) {
    n_forward_refused++;
    REQUIRE(memcmp(before, arena, (size_t)end) == 0, "an error (%d) left writes behind", fwd);
    REQUIRE(fc_last_error(ctx)[0] != '\0', "status %d without a sentence", fwd);
    return 0;
  }
  n_forward_ok++;
  /* Success: the views were valid, so each holds at most as many elements as its span. */
  for (int i = 0; i < 5; i++) {
    const fc_tensor *tv = i < 4 ? view[i] : lse;
    if (!tv) continue;
    int64_t lo, hi, n;
    const size_t e = i < 4 ? es : 4;
    REQUIRE(view_span(tv, e, &lo, &hi, &n) && n <= (hi - lo) / (int64_t)e, "accepted view %d has overlapping elements", i);
  }
  memset(writable, 0, (size_t)end);
  mark_view(view[3], off[3], es);
  if (lse) mark_view(lse, off[4], 4);
  for (int c = 0; c < ncopies; c++) {
    mark_view(view[3], off[5 + c], es);
    if (o.size >= sizeof o && o.out_signals && signals[c]) memset(writable + ((uintptr_t)signals[c] - (uintptr_t)arena), 1, 4);
  }
  for (int64_t b = 0; b < end; b++)
    REQUIRE(writable[b] || arena[b] == before[b], "byte %lld of the arena, outside every output, changed", (long long)b);
  /* Leave the arena as the next input expects it (outputs overwrote parts of it). */
  memcpy(arena, before, (size_t)end);
  return 0;
}
