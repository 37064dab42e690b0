/* Every bad input is rejected with a specific status and a sentence naming the argument and
 * value, and nothing is written. Each test starts from a valid problem and breaks one thing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flashcore.h"

enum { B = 2, S = 16, H = 4, HK = 2, D = 64 };

static fc_context *ctx;
static uint16_t q[B * S * H * D], k[B * S * HK * D], v[B * S * HK * D];
static uint16_t out[B * S * H * D];
static float lse[B * S * H];
static fc_tensor tq, tk, tv, to, tl;
static fc_attn_options opts;

static void setup(void) {
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &ctx), FC_SUCCESS);
  for (size_t i = 0; i < sizeof q / 2; i++) q[i] = (uint16_t)(0x3c00 + (i * 7) % 50); /* small f16 values */
  for (size_t i = 0; i < sizeof k / 2; i++) k[i] = (uint16_t)(0x3800 + (i * 13) % 70), v[i] = (uint16_t)(0xb800 + (i * 3) % 90);
  memset(out, 0xAB, sizeof out);
  memset(lse, 0xAB, sizeof lse);
  tq = fc_tensor_bshd(q, FC_DTYPE_F16, B, S, H, D);
  tk = fc_tensor_bshd(k, FC_DTYPE_F16, B, S, HK, D);
  tv = fc_tensor_bshd(v, FC_DTYPE_F16, B, S, HK, D);
  to = fc_tensor_bshd(out, FC_DTYPE_F16, B, S, H, D);
  tl = fc_tensor_bshd(lse, FC_DTYPE_F32, B, S, H, 1);
  fc_attn_options init = FC_ATTN_OPTIONS_INIT;
  opts = init;
}
static void teardown(void) { fc_context_destroy(ctx); }

static int untouched(void) {
  for (size_t i = 0; i < sizeof out / 2; i++)
    if (out[i] != 0xABAB) return 0;
  const unsigned char *l = (const unsigned char *)lse;
  for (size_t i = 0; i < sizeof lse; i++)
    if (l[i] != 0xAB) return 0;
  return 1;
}

/* Run the (broken) problem; expect status and a message containing `needle`. */
static void expect(fc_status want, const char *needle) {
  fc_status st = fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL);
  const char *msg = fc_last_error(ctx);
  cr_assert_eq(st, want, "status %d (%s), wanted %d; message: %s", st, fc_status_string(st), want, msg);
  cr_assert(strstr(msg, needle), "message \"%s\" does not name \"%s\"", msg, needle);
  cr_assert(untouched(), "the output was written although the call failed");
  /* fc_select_kernel validates identically. */
  fc_kernel_info info = FC_KERNEL_INFO_INIT;
  cr_assert_eq(fc_select_kernel(ctx, &tq, &tk, &tv, &to, &tl, &opts, &info), want);
}

TestSuite(validation, .init = setup, .fini = teardown);

Test(validation, valid_problem_succeeds) {
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  cr_assert(!untouched());
  cr_assert_str_eq(fc_last_error(ctx), "");
}
Test(validation, null_context) {
  cr_assert_eq(fc_attention_forward(NULL, &tq, &tk, &tv, &to, NULL, NULL, NULL), FC_ERR_NULL_POINTER);
  cr_assert(strstr(fc_last_error(NULL), "ctx"));
}
Test(validation, null_tensors) {
  const fc_tensor *saved = NULL;
  cr_assert_eq(fc_attention_forward(ctx, NULL, &tk, &tv, &to, NULL, NULL, NULL), FC_ERR_NULL_POINTER);
  cr_assert(strstr(fc_last_error(ctx), "q is NULL"));
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, NULL, NULL, NULL, NULL), FC_ERR_NULL_POINTER);
  cr_assert(strstr(fc_last_error(ctx), "out is NULL"));
  (void)saved;
  cr_assert(untouched());
}
Test(validation, null_data) { tk.data = NULL; expect(FC_ERR_NULL_POINTER, "k->data"); }
Test(validation, null_lse_data) { tl.data = NULL; expect(FC_ERR_NULL_POINTER, "lse->data"); }
Test(validation, misaligned_data) {
  tv.data = (char *)v + 1; /* inside v, off its 2-byte elements */
  expect(FC_ERR_INVALID_VALUE, "v->data");
  tv.data = v, tl.data = (char *)lse + 2;
  expect(FC_ERR_INVALID_VALUE, "lse->data");
}
Test(validation, bshd_helper_overflow) {
  /* Strides past int64 from the helper: no overflow inside it, an overflow error from the call. */
  fc_tensor t = fc_tensor_bshd(q, FC_DTYPE_F16, 2, 3, (int64_t)1 << 60, 64);
  cr_assert_eq(t.stride[1], INT64_MAX);
  cr_assert_eq(t.stride[0], INT64_MAX);
  t = fc_tensor_bshd(q, FC_DTYPE_F16, 2, (int64_t)1 << 50, (int64_t)1 << 8, 64);
  cr_assert_eq(t.stride[1], (int64_t)1 << 14);
  cr_assert_eq(t.stride[0], INT64_MAX);
  tq = t;
  expect(FC_ERR_OVERFLOW, "overflows int64 offsets");
}
Test(validation, zero_size) { tq.shape[1] = 0; expect(FC_ERR_INVALID_VALUE, "q->shape[1] (seq) = 0"); }
Test(validation, negative_size) { tv.shape[2] = -3; expect(FC_ERR_INVALID_VALUE, "v->shape[2] (heads) = -3"); }
Test(validation, batch_mismatch) { tk.shape[0] = 1; tv.shape[0] = 1; expect(FC_ERR_SHAPE_MISMATCH, "batch"); }
Test(validation, kv_seq_mismatch) { tv.shape[1] = 8; expect(FC_ERR_SHAPE_MISMATCH, "v->shape[1] (seq) = 8"); }
Test(validation, out_shape_mismatch) { to.shape[2] = 2; expect(FC_ERR_SHAPE_MISMATCH, "out->shape[2] (heads) = 2"); }
Test(validation, lse_shape_mismatch) { tl.shape[1] = 8; expect(FC_ERR_SHAPE_MISMATCH, "lse->shape[1] (seq) = 8"); }
Test(validation, lse_last_dim) { tl = fc_tensor_bshd(lse, FC_DTYPE_F32, B, S, H, 2); expect(FC_ERR_SHAPE_MISMATCH, "lse->shape[3] = 2"); }
Test(validation, head_dim_mismatch) { tk.shape[3] = 32; tk.stride[2] = 32; expect(FC_ERR_SHAPE_MISMATCH, "head_dim"); }
Test(validation, heads_not_divisible) {
  tk.shape[2] = 3, tv.shape[2] = 3;
  tk.stride[1] = tv.stride[1] = 3 * D, tk.stride[0] = tv.stride[0] = S * 3 * D;
  expect(FC_ERR_SHAPE_MISMATCH, "multiple of the key/value heads");
}
Test(validation, head_dim_unsupported) {
  tq.shape[3] = tk.shape[3] = tv.shape[3] = to.shape[3] = 48;
  expect(FC_ERR_UNSUPPORTED, "head_dim = 48");
}
Test(validation, dtype_mismatch) { tv.dtype = FC_DTYPE_BF16; expect(FC_ERR_INVALID_VALUE, "v->dtype = bf16"); }
Test(validation, dtype_unknown) {
  tq.dtype = tk.dtype = tv.dtype = to.dtype = (fc_dtype)7;
  expect(FC_ERR_INVALID_VALUE, "q->dtype = 7");
}
Test(validation, lse_dtype) { tl.dtype = FC_DTYPE_F16; expect(FC_ERR_INVALID_VALUE, "lse->dtype = f16"); }
Test(validation, last_dim_not_contiguous) { tq.stride[3] = 2; expect(FC_ERR_BAD_STRIDES, "q->stride[3]"); }
Test(validation, negative_stride) { tk.stride[1] = -HK * D; expect(FC_ERR_BAD_STRIDES, "k->stride[1] (seq)"); }
Test(validation, overlapping_strides) { to.stride[1] = D; expect(FC_ERR_BAD_STRIDES, "out: stride"); }
Test(validation, overlapping_heads) { tq.stride[2] = 32; expect(FC_ERR_BAD_STRIDES, "q: stride[2] (heads) = 32"); }
Test(validation, offset_overflow) { tq.shape[0] = 4; tq.stride[0] = INT64_MAX / 2; expect(FC_ERR_OVERFLOW, "q: shape[0]"); }
Test(validation, byte_overflow) {
  tq.shape[0] = 1; tq.stride[0] = 1;
  tq.stride[1] = INT64_MAX / 16; /* offsets fit in int64, bytes do not */
  expect(FC_ERR_OVERFLOW, "q");
}
Test(validation, output_aliases_input) { to.data = q; expect(FC_ERR_WRONG_MEMORY, "out"); }
Test(validation, lse_aliases_output) { tl.data = out; expect(FC_ERR_WRONG_MEMORY, "lse"); }
Test(validation, options_size) { opts.size = 8; expect(FC_ERR_INVALID_VALUE, "opts->size = 8"); }
Test(validation, scale_negative) { opts.softmax_scale = -1.0f; expect(FC_ERR_INVALID_VALUE, "opts->softmax_scale = -1"); }
Test(validation, scale_nan) { opts.softmax_scale = NAN; expect(FC_ERR_INVALID_VALUE, "opts->softmax_scale = nan"); }
Test(validation, causal_value) { opts.causal = 2; expect(FC_ERR_INVALID_VALUE, "opts->causal = 2"); }
Test(validation, window_left_range) { opts.window_left = -5; expect(FC_ERR_INVALID_VALUE, "opts->window_left = -5"); }
Test(validation, window_right_range) { opts.window_right = -2; expect(FC_ERR_INVALID_VALUE, "opts->window_right = -2"); }
Test(validation, huge_windows_are_unbounded) {
  /* Windows up to INT64_MAX, with more queries than keys (a negative diagonal), give the
   * unbounded result bit for bit: no offset arithmetic overflows on the way. */
  tq.shape[1] = to.shape[1] = tl.shape[1] = S, tk.shape[1] = tv.shape[1] = S / 2;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  static uint16_t want[B * S * H * D];
  memcpy(want, out, sizeof out);
  const int64_t far[3] = {INT64_MAX, INT64_MAX - 1, S}; /* S: every query and key */
  for (int causal = 0; causal < 2; causal++)
    for (int i = 0; i < 3; i++) {
      memset(out, 0xAB, sizeof out);
      opts.causal = causal, opts.window_left = far[i], opts.window_right = causal ? -1 : far[2 - i];
      if (causal) opts.window_left = -1; /* the causal mask alone, for the reference */
      cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
      if (causal) {
        memcpy(want, out, sizeof out);
        opts.window_left = far[i];
        memset(out, 0xAB, sizeof out);
        cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
      }
      cr_assert(memcmp(want, out, sizeof out) == 0, "causal %d, window %lld: not the unbounded result", causal,
                (long long)far[i]);
    }
}
Test(validation, causal_with_right_window) { opts.causal = 1; opts.window_right = 4; expect(FC_ERR_INVALID_VALUE, "opts->window_right = 4 with causal"); }
Test(validation, softcap_negative) { opts.softcap = -30.0f; expect(FC_ERR_INVALID_VALUE, "opts->softcap = -30"); }
Test(validation, softcap_inf) { opts.softcap = INFINITY; expect(FC_ERR_INVALID_VALUE, "opts->softcap = inf"); }
Test(validation, family_unknown) { opts.family = (fc_family)42; expect(FC_ERR_INVALID_VALUE, "opts->family = 42"); }
Test(validation, family_gpu_on_cpu_context) { opts.family = FC_FAMILY_SM80; expect(FC_ERR_UNSUPPORTED, "family sm80 was forced"); }

/* out_copies: the output written again, at other addresses with out's strides. */
static uint16_t copy0[B * S * H * D], copy1[B * S * H * D];
static void *copies[2] = {copy0, copy1};
Test(validation, misaligned_copy) {
  void *bad[1] = {(char *)copy0 + 1};
  opts.out_copies = bad, opts.num_out_copies = 1;
  expect(FC_ERR_INVALID_VALUE, "out_copies[0]->data");
}
Test(validation, copies_too_many) { opts.out_copies = copies; opts.num_out_copies = FC_MAX_OUT_COPIES + 1; expect(FC_ERR_INVALID_VALUE, "opts->num_out_copies = 8"); }
Test(validation, copies_negative) { opts.out_copies = copies; opts.num_out_copies = -1; expect(FC_ERR_INVALID_VALUE, "opts->num_out_copies = -1"); }
Test(validation, copies_null_array) { opts.num_out_copies = 1; expect(FC_ERR_NULL_POINTER, "opts->out_copies is NULL"); }
Test(validation, copies_null_entry) {
  void *bad[2] = {copy0, NULL};
  opts.out_copies = bad, opts.num_out_copies = 2;
  expect(FC_ERR_NULL_POINTER, "opts->out_copies[1] is NULL");
}
Test(validation, copy_aliases_input) {
  void *bad[1] = {k};
  opts.out_copies = bad, opts.num_out_copies = 1;
  expect(FC_ERR_WRONG_MEMORY, "opts->out_copies[0]");
}
Test(validation, copy_aliases_out) {
  void *bad[1] = {out};
  opts.out_copies = bad, opts.num_out_copies = 1;
  expect(FC_ERR_WRONG_MEMORY, "overlaps out");
}
Test(validation, copies_alias_each_other) {
  void *bad[2] = {copy0, copy0 + 64};
  opts.out_copies = bad, opts.num_out_copies = 2;
  expect(FC_ERR_WRONG_MEMORY, "overlaps out_copies[0]");
}
Test(validation, copies_equal_out) {
  /* Strided: out holds heads 1..2 of a wider buffer, and so does every copy. */
  static uint16_t wide_out[B * S * 6 * D], wide0[B * S * 6 * D], wide1[B * S * 6 * D];
  memset(wide0, 0x5A, sizeof wide0), memset(wide1, 0x5A, sizeof wide1), memset(wide_out, 0x5A, sizeof wide_out);
  fc_tensor w = fc_tensor_bshd(wide_out + D, FC_DTYPE_F16, B, S, H, D);
  w.stride[1] = 6 * D, w.stride[0] = S * 6 * D;
  void *cps[2] = {wide0 + D, wide1 + D};
  opts.out_copies = cps, opts.num_out_copies = 2;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &w, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  cr_assert(memcmp(wide_out, wide0, sizeof wide0) == 0, "copy 0 differs from out (or padding was written)");
  cr_assert(memcmp(wide_out, wide1, sizeof wide1) == 0, "copy 1 differs from out (or padding was written)");
  size_t written = 0;
  for (size_t i = 0; i < sizeof wide_out / 2; i++) written += wide_out[i] != 0x5A5A;
  cr_assert(written > 0 && written <= (size_t)B * S * H * D, "%zu elements written", written);
}
Test(validation, options_without_copies) {
  /* A caller built against the header before out_copies passes the shorter size. */
  opts.size = offsetof(fc_attn_options, out_copies);
  opts.num_out_copies = 3; /* past its size: never read */
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}

/* out_signals: a counter per copy, to which the call adds the (row, head) pairs it wrote. */
static uint32_t words[4];
Test(validation, signal_misaligned) {
  static uint32_t *sig[1] = {(uint32_t *)((char *)words + 2)};
  opts.out_copies = copies, opts.num_out_copies = 1, opts.out_signals = sig;
  expect(FC_ERR_INVALID_VALUE, "opts->out_signals[0]");
}
Test(validation, signal_inside_copy) {
  static uint32_t *sig[2] = {NULL, (uint32_t *)copy0 + 8};
  opts.out_copies = copies, opts.num_out_copies = 2, opts.out_signals = sig;
  expect(FC_ERR_WRONG_MEMORY, "opts->out_signals[1]");
}
Test(validation, signal_inside_input) {
  static uint32_t *sig[1] = {(uint32_t *)v};
  opts.out_copies = copies, opts.num_out_copies = 1, opts.out_signals = sig;
  expect(FC_ERR_WRONG_MEMORY, "lies in v");
}
Test(validation, signals_counted) {
  /* From just below 2^32: the count wraps, as a GEQ wait on it expects. */
  words[0] = 0xFFFFFFF0u, words[1] = 7u;
  static uint32_t *sig[2] = {&words[0], NULL};
  opts.out_copies = copies, opts.num_out_copies = 2, opts.out_signals = sig;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  cr_assert_eq(words[0], 0xFFFFFFF0u + (uint32_t)(B * S * H), "counter %u", words[0]);
  cr_assert_eq(words[1], 7u, "a word no signal points at changed");
}
Test(validation, options_without_signals) {
  /* A caller built against the header before out_signals passes its size: copies, no signals. */
  words[0] = 5u;
  static uint32_t *sig[1] = {&words[0]};
  memset(copy0, 0, sizeof copy0);
  opts.size = offsetof(fc_attn_options, out_signals);
  opts.out_copies = copies, opts.num_out_copies = 1, opts.out_signals = sig; /* past its size: never read */
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  cr_assert(memcmp(copy0, out, sizeof out) == 0, "the copy was not written");
  cr_assert_eq(words[0], 5u, "the counter changed");
}

/* Variable-length batches: q/k/v/out become [1, total, H, D]. */
static int32_t cu_q[3] = {0, 10, 32}, cu_k[3] = {0, 20, 32};
static void varlen(void) {
  tq.shape[0] = tk.shape[0] = tv.shape[0] = to.shape[0] = tl.shape[0] = 1;
  tq.shape[1] = tk.shape[1] = tv.shape[1] = to.shape[1] = tl.shape[1] = B * S;
  opts.cu_seqlens_q = cu_q;
  opts.cu_seqlens_k = cu_k;
  opts.num_seqs = 2;
}
Test(validation, varlen_valid) {
  varlen();
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}
Test(validation, varlen_signals_count_sequences) {
  /* The sequences' rows only: 24 of the 32 rows, the last 8 in no sequence. */
  static int32_t short_q[3] = {0, 10, 24};
  varlen();
  opts.cu_seqlens_q = short_q;
  words[0] = 0;
  static uint32_t *sig[1] = {&words[0]};
  opts.out_copies = copies, opts.num_out_copies = 1, opts.out_signals = sig;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  cr_assert_eq(words[0], 24u * H, "counter %u", words[0]);
}
Test(validation, varlen_one_array) { varlen(); opts.cu_seqlens_k = NULL; expect(FC_ERR_NULL_POINTER, "cu_seqlens_k is NULL"); }
Test(validation, varlen_num_seqs) { varlen(); opts.num_seqs = 0; expect(FC_ERR_INVALID_VALUE, "opts->num_seqs = 0"); }
Test(validation, varlen_batch_not_one) {
  opts.cu_seqlens_q = cu_q, opts.cu_seqlens_k = cu_k, opts.num_seqs = 2; /* shapes stay [2, S, ...] */
  expect(FC_ERR_SHAPE_MISMATCH, "batch dimension must be 1");
}
Test(validation, varlen_decreasing) {
  int32_t bad[3] = {0, 20, 12};
  varlen(); opts.cu_seqlens_q = bad;
  expect(FC_ERR_INVALID_VALUE, "decrease at sequence 1");
}
Test(validation, varlen_not_from_zero) {
  int32_t bad[3] = {1, 10, 32};
  varlen(); opts.cu_seqlens_k = bad;
  expect(FC_ERR_INVALID_VALUE, "start at 0");
}
Test(validation, varlen_past_end) {
  int32_t bad[3] = {0, 10, 40};
  varlen(); opts.cu_seqlens_q = bad;
  expect(FC_ERR_SHAPE_MISMATCH, "end at 40 query");
}
Test(validation, varlen_max_seqlen_too_small) { varlen(); opts.max_seqlen_q = 5; expect(FC_ERR_INVALID_VALUE, "opts->max_seqlen_q = 5"); }
Test(validation, varlen_max_seqlen_negative) { varlen(); opts.max_seqlen_q = -1; expect(FC_ERR_INVALID_VALUE, "opts->max_seqlen_q = -1"); }
/* max_seqlen_k: the longest key sequence (20 here), 0 when unknown; checked on the CPU. */
Test(validation, varlen_max_seqlen_k) {
  varlen();
  opts.max_seqlen_k = 20;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  opts.max_seqlen_k = B * S; /* every key row: a loose bound is fine */
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}
Test(validation, varlen_max_seqlen_k_too_small) { varlen(); opts.max_seqlen_k = 19; expect(FC_ERR_INVALID_VALUE, "opts->max_seqlen_k = 19, but a sequence has 20 key rows"); }
Test(validation, varlen_max_seqlen_k_negative) { varlen(); opts.max_seqlen_k = -1; expect(FC_ERR_INVALID_VALUE, "opts->max_seqlen_k = -1"); }
Test(validation, varlen_max_seqlen_k_past_rows) { varlen(); opts.max_seqlen_k = B * S + 1; expect(FC_ERR_INVALID_VALUE, "the key rows"); }
Test(validation, options_without_max_seqlen_k) {
  /* A caller built against the header before max_seqlen_k passes its size: the field past it
   * is never read, so a value there that would be refused changes nothing. */
  varlen();
  opts.size = offsetof(fc_attn_options, max_seqlen_k);
  opts.max_seqlen_k = -5;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}

/* opts->workspace: the caller's memory for split pieces. The CPU backend splits nothing, so
 * a valid one changes nothing here; the GPU suite runs split launches in one
 * (gpu::key_split_caller_workspace). */
static _Alignas(16) uint64_t ws_mem[64];
Test(validation, workspace_accepted) {
  opts.workspace = ws_mem, opts.workspace_bytes = sizeof ws_mem;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
  fc_kernel_info info = FC_KERNEL_INFO_INIT;
  cr_assert_eq(fc_select_kernel(ctx, &tq, &tk, &tv, &to, &tl, &opts, &info), FC_SUCCESS);
  cr_assert_eq(info.workspace_bytes, 0, "the CPU backend splits no keys");
}
Test(validation, workspace_null_with_bytes) { opts.workspace_bytes = 64; expect(FC_ERR_NULL_POINTER, "opts->workspace is NULL with workspace_bytes = 64"); }
Test(validation, workspace_no_bytes) { opts.workspace = ws_mem; expect(FC_ERR_INVALID_VALUE, "opts->workspace_bytes = 0"); }
Test(validation, workspace_misaligned) {
  opts.workspace = (char *)ws_mem + 8, opts.workspace_bytes = 64;
  expect(FC_ERR_INVALID_VALUE, "is not 16-byte aligned");
}
Test(validation, workspace_overlaps_out) {
  opts.workspace = (void *)(((uintptr_t)(out + 64) + 15) & ~(uintptr_t)15), opts.workspace_bytes = 256;
  expect(FC_ERR_WRONG_MEMORY, "opts->workspace (bytes");
}
Test(validation, workspace_overlaps_a_counter) {
  static uint16_t copy[B * S * H * D];
  void *copies[1] = {copy};
  uint32_t *signals[1] = {(uint32_t *)&ws_mem[3]};
  opts.out_copies = copies, opts.num_out_copies = 1, opts.out_signals = signals;
  opts.workspace = ws_mem, opts.workspace_bytes = sizeof ws_mem;
  expect(FC_ERR_WRONG_MEMORY, "overlaps out_signals[0]");
}
Test(validation, options_without_workspace) {
  /* A caller built against the header before workspace passes its size: the fields past it
   * are never read. */
  opts.size = offsetof(fc_attn_options, workspace);
  opts.workspace = (char *)ws_mem + 1, opts.workspace_bytes = 3;
  cr_assert_eq(fc_attention_forward(ctx, &tq, &tk, &tv, &to, &tl, &opts, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}

Test(validation, f32_accepted_on_cpu) {
  static float qf[S * H * D], kf[S * HK * D], vf[S * HK * D], of[S * H * D];
  for (int i = 0; i < S * H * D; i++) qf[i] = (float)((i % 17) - 8) / 8.0f;
  for (int i = 0; i < S * HK * D; i++) kf[i] = (float)((i % 13) - 6) / 6.0f, vf[i] = (float)(i % 5);
  fc_tensor a = fc_tensor_bshd(qf, FC_DTYPE_F32, 1, S, H, D), b = fc_tensor_bshd(kf, FC_DTYPE_F32, 1, S, HK, D),
            c = fc_tensor_bshd(vf, FC_DTYPE_F32, 1, S, HK, D), o = fc_tensor_bshd(of, FC_DTYPE_F32, 1, S, H, D);
  cr_assert_eq(fc_attention_forward(ctx, &a, &b, &c, &o, NULL, NULL, NULL), FC_SUCCESS, "%s", fc_last_error(ctx));
}

/* Contexts, families, strings. */
Test(api, status_strings_cover_every_code) {
  for (int s = 0; s < FC_STATUS_COUNT; s++) {
    cr_assert_str_neq(fc_status_string((fc_status)s), "unknown status", "code %d has no string", s);
  }
  cr_assert_str_eq(fc_status_string(FC_STATUS_COUNT), "unknown status");
  cr_assert_str_eq(fc_status_string((fc_status)-1), "unknown status");
}
Test(api, pinned_values) {
  cr_assert_eq(FC_SUCCESS, 0); cr_assert_eq(FC_ERR_UNSUPPORTED, 6); cr_assert_eq(FC_ERR_INTERNAL, 11);
  cr_assert_eq(FC_DTYPE_BF16, 2); cr_assert_eq(FC_FAMILY_SM90, 4);
}
Test(api, version) {
  cr_assert_eq(fc_version(), FLASHCORE_VERSION_NUMBER);
  cr_assert(strncmp(fc_version_string(), "0.1.0", 5) == 0);
  cr_assert(strstr(fc_version_string(), "cpu"));
}
Test(api, context_create_errors) {
  fc_context *c = (fc_context *)0x1;
  cr_assert_eq(fc_context_create(-7, &c), FC_ERR_INVALID_VALUE);
  cr_assert_null(c);
  cr_assert(strstr(fc_last_error(NULL), "device = -7"));
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, NULL), FC_ERR_NULL_POINTER);
  cr_assert_eq(fc_context_create(4096, &c), FC_ERR_NO_DEVICE);
  cr_assert(strstr(fc_last_error(NULL), "device = 4096"));
  fc_context_destroy(NULL); /* accepted */
}
Test(api, setters) {
  fc_context *c;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &c), FC_SUCCESS);
  cr_assert_eq(fc_context_set_family(c, (fc_family)9), FC_ERR_INVALID_VALUE);
  cr_assert(strstr(fc_last_error(c), "family = 9"));
  cr_assert_eq(fc_context_set_num_threads(c, -1), FC_ERR_INVALID_VALUE);
  cr_assert_eq(fc_context_set_num_threads(c, 3), FC_SUCCESS);
  cr_assert_eq(fc_context_set_family(NULL, FC_FAMILY_CPU), FC_ERR_NULL_POINTER);
  cr_assert_eq(fc_context_device(c), FC_DEVICE_CPU);
  fc_context_destroy(c);
}
Test(api, env_family_invalid) {
  setenv("FLASHCORE_FAMILY", "sm70", 1);
  fc_context *c = NULL;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &c), FC_ERR_INVALID_VALUE);
  cr_assert(strstr(fc_last_error(NULL), "FLASHCORE_FAMILY=\"sm70\""));
  setenv("FLASHCORE_FAMILY", "sm80", 1);
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &c), FC_SUCCESS);
  unsetenv("FLASHCORE_FAMILY");
  /* forced sm80 on a CPU context: every call says so */
  static uint16_t a[64 * 4], o[64 * 4];
  fc_tensor t = fc_tensor_bshd(a, FC_DTYPE_BF16, 1, 4, 1, 64), to2 = fc_tensor_bshd(o, FC_DTYPE_BF16, 1, 4, 1, 64);
  cr_assert_eq(fc_attention_forward(c, &t, &t, &t, &to2, NULL, NULL, NULL), FC_ERR_UNSUPPORTED);
  cr_assert(strstr(fc_last_error(c), "sm80"));
  fc_context_destroy(c);
}
Test(api, select_kernel_reports_cpu) {
  fc_context *c;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &c), FC_SUCCESS);
  static uint16_t a[64 * 4], o[64 * 4];
  fc_tensor t = fc_tensor_bshd(a, FC_DTYPE_BF16, 1, 4, 1, 64), to2 = fc_tensor_bshd(o, FC_DTYPE_BF16, 1, 4, 1, 64);
  fc_kernel_info info = FC_KERNEL_INFO_INIT;
  cr_assert_eq(fc_select_kernel(c, &t, &t, &t, &to2, NULL, NULL, &info), FC_SUCCESS);
  cr_assert_eq(info.family, FC_FAMILY_CPU);
  cr_assert(strstr(info.description, "cpu bf16 D=64"), "%s", info.description);
  cr_assert_eq(fc_select_kernel(c, &t, &t, &t, &to2, NULL, NULL, NULL), FC_ERR_NULL_POINTER);
  info.size = 4;
  cr_assert_eq(fc_select_kernel(c, &t, &t, &t, &to2, NULL, NULL, &info), FC_ERR_INVALID_VALUE);
  fc_context_destroy(c);
}
