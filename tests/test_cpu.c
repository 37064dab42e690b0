/* The CPU backend against the float64 reference over the whole feature matrix. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

ParameterizedTestParameters(cpu, matrix) {
  return cr_make_param_array(fc_spec, (void *)fc_matrix, FC_MATRIX_SIZE);
}

ParameterizedTest(const fc_spec *s, cpu, matrix) {
  if (s->sample_rows) cr_skip_test("%s: a GPU scheduling case, too large for the CPU backend in CI", s->name);
  fc_context *ctx;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &ctx), FC_SUCCESS);
  fc_case c = fc_spec_case(s, fc_test_seed());
  fc_check chk;
  fc_status st = fc_case_run(ctx, &c, &chk);
  cr_assert_eq(st, FC_SUCCESS, "%s: %s: %s", s->name, fc_status_string(st), fc_last_error(ctx));
  cr_assert(chk.pass, "%s: %s [max %.3g naive %.3g l2 %.3g lse %.3g]", s->name, chk.msg,
            chk.max_err, chk.naive_err, chk.rel_l2, chk.lse_err);
  cr_assert_gt(chk.checked, 0);
  fc_context_destroy(ctx);
}

/* The rule must be able to fail: a result damaged in one element is caught. */
static void expect_caught(int tamper, const char *what) {
  fc_context *ctx;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &ctx), FC_SUCCESS);
  fc_case c = fc_case_make(FC_DTYPE_BF16, 1, 64, 80, 2, 1, 64, fc_test_seed());
  c.with_lse = 1;
  c.tamper = tamper;
  fc_check chk;
  cr_assert_eq(fc_case_run(ctx, &c, &chk), FC_SUCCESS);
  cr_assert(!chk.pass, "a result with %s passed the rule", what);
  fc_context_destroy(ctx);
}
Test(rule, catches_unwritten_element) { expect_caught(1, "an unwritten element"); }
Test(rule, catches_wrong_element) { expect_caught(2, "one element off by 0.02"); }
Test(rule, catches_wrong_lse) { expect_caught(3, "one LSE off by 0.01"); }

/* The benchmark's timing fill in parts (4 or more threads, each jumping the generator to its
 * part's start) gives the values and final state of one pass: here one pass is made of calls
 * below the parallel size, each carrying the state on. Uniform bf16 and normal f16. */
Test(harness, parallel_timing_fill_is_one_pass) {
  const size_t n = ((size_t)1 << 22) + 12345, step = 1000;
  for (int normal = 0; normal <= 1; normal++) {
    const fc_dtype dt = normal ? FC_DTYPE_F16 : FC_DTYPE_BF16;
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    cr_assert(a && b);
    uint64_t sa = 1234567u | 1u, sb = sa;
    (normal ? fc_fill_timing_normal : fc_fill_timing)(a, dt, n, &sa);
    for (size_t i = 0; i < n; i += step)
      (normal ? fc_fill_timing_normal : fc_fill_timing)(b + i, dt, n - i < step ? n - i : step, &sb);
    size_t first_diff = n;
    for (size_t i = 0; i < n && first_diff == n; i++)
      if (a[i] != b[i]) first_diff = i;
    cr_expect_eq(first_diff, n, "normal %d: first difference at element %zu of %zu", normal, first_diff, n);
    cr_expect_eq(sa, sb, "normal %d: final states differ", normal);
    free(a), free(b);
  }
}

/* A GQA decode (one query row, several query heads a KV head) runs as rows of one KV head, and
 * the selector says so, with fixed lengths and with variable ones (one query row a sequence);
 * so do 2 query rows (G = 4 and G = 3) and a variable-length decode with a left window (by
 * query position, which the CPU backend takes); one query head a KV head, or variable
 * lengths with out_copies, run as they are. The matrix's decode-*, varlen-fold-* and
 * q*-gqa* cases check the results. */
Test(cpu, decode_gqa_runs_as_rows) {
  fc_context *ctx;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &ctx), FC_SUCCESS);
  static _Alignas(16) uint16_t q[2 * 2 * 8 * 64], kv[2 * 300 * 8 * 64], out[2 * 2 * 8 * 64], copy[2 * 2 * 8 * 64];
  const struct {
    int64_t Sq, H, Hk;
    const char *want;
  } cases[] = {{1, 8, 2, "[decode: 4 query heads a KV head as rows]"}, {1, 8, 8, NULL},
               {2, 8, 2, "[rows: 4 query heads a KV head as rows]"},  {2, 6, 2, "[rows: 3 query heads a KV head as rows]"},
               {2, 8, 8, NULL}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fc_tensor tq = fc_tensor_bshd(q, FC_DTYPE_BF16, 2, cases[i].Sq, cases[i].H, 64);
    fc_tensor tk = fc_tensor_bshd(kv, FC_DTYPE_BF16, 2, 300, cases[i].Hk, 64);
    fc_tensor to = fc_tensor_bshd(out, FC_DTYPE_BF16, 2, cases[i].Sq, cases[i].H, 64);
    fc_attn_options o = FC_ATTN_OPTIONS_INIT;
    o.causal = 1;
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    cr_assert_eq(fc_select_kernel(ctx, &tq, &tk, &tk, &to, NULL, &o, &info), FC_SUCCESS, "%s",
                 fc_last_error(ctx));
    if (cases[i].want) cr_assert(strstr(info.description, cases[i].want), "%s", info.description);
    else cr_assert_null(strstr(info.description, "as rows"), "%s", info.description);
  }
  /* Two sequences of one query row each, by cu_seqlens: folded; with a left window, which
   * cuts each sequence's keys where they start, folded by position (every row position 0);
   * with the output copied, not folded. */
  static const int32_t cu_q[3] = {0, 1, 2}, cu_k[3] = {0, 300, 600};
  fc_tensor tq = fc_tensor_bshd(q, FC_DTYPE_BF16, 1, 2, 8, 64);
  fc_tensor tk = fc_tensor_bshd(kv, FC_DTYPE_BF16, 1, 600, 2, 64);
  fc_tensor to = fc_tensor_bshd(out, FC_DTYPE_BF16, 1, 2, 8, 64);
  for (int variant = 0; variant < 3; variant++) {
    fc_attn_options o = FC_ATTN_OPTIONS_INIT;
    o.cu_seqlens_q = cu_q, o.cu_seqlens_k = cu_k, o.num_seqs = 2, o.max_seqlen_q = 1;
    void *copies[1] = {copy};
    if (variant == 1) o.window_left = 100;
    if (variant == 2) o.out_copies = copies, o.num_out_copies = 1;
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    cr_assert_eq(fc_select_kernel(ctx, &tq, &tk, &tk, &to, NULL, &o, &info), FC_SUCCESS, "%s",
                 fc_last_error(ctx));
    if (variant == 0) cr_assert(strstr(info.description, "[decode: 4 query heads a KV head as rows]"), "%s", info.description);
    else if (variant == 1) cr_assert(strstr(info.description, "[rows: 4 query heads a KV head as rows]"), "%s", info.description);
    else cr_assert_null(strstr(info.description, "as rows"), "variant %d: %s", variant, info.description);
  }
  fc_context_destroy(ctx);
}
