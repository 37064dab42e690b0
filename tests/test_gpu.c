/* GPU suite: the feature matrix on device 0 with the family that dispatch picks, or the one
 * FLASHCORE_FAMILY forces (that is how sm80 is checked from PTX on an H100). Every case
 * skips with a message where no GPU exists. FC_TEST_RAGGED_ONLY=1 keeps only the ragged
 * shapes (the suite compute-sanitizer runs). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

static fc_context *gpu_context_or_skip(void) {
  if (fc_test_gpu_count() == 0) cr_skip_test("no CUDA GPU on this machine: GPU case skipped");
  fc_context *ctx = NULL;
  fc_status st = fc_context_create(0, &ctx);
  cr_assert_eq(st, FC_SUCCESS, "%s", fc_last_error(NULL));
  return ctx;
}

ParameterizedTestParameters(gpu, matrix) {
  return cr_make_param_array(fc_spec, (void *)fc_matrix, FC_MATRIX_SIZE);
}

ParameterizedTest(const fc_spec *s, gpu, matrix) {
  if (s->dtype == FC_DTYPE_F32) cr_skip_test("float32 is a CPU-backend dtype");
  const char *ragged = getenv("FC_TEST_RAGGED_ONLY");
  if (ragged && *ragged == '1' && !s->ragged) cr_skip_test("not in the ragged suite");
  fc_context *ctx = gpu_context_or_skip();
  fc_case c = fc_spec_case(s, fc_test_seed());
  fc_check chk;
  fc_status st = fc_case_run(ctx, &c, &chk);
  const char *forced = getenv("FLASHCORE_FAMILY");
  if (st == FC_ERR_UNSUPPORTED && forced && *forced && strcmp(forced, "auto")) {
    /* A forced family that lacks this case's feature: auto dispatch runs it elsewhere. */
    char why[512];
    snprintf(why, sizeof why, "%s: %s", s->name, fc_last_error(ctx));
    fc_context_destroy(ctx);
    cr_skip_test("%s", why);
  }
  cr_assert_eq(st, FC_SUCCESS, "%s: %s: %s %s", s->name, fc_status_string(st),
               fc_last_error(ctx), chk.msg);
  cr_assert(chk.pass, "%s: %s [max %.3g naive %.3g l2 %.3g lse %.3g]", s->name, chk.msg,
            chk.max_err, chk.naive_err, chk.rel_l2, chk.lse_err);
  fc_context_destroy(ctx);
}

/* Host memory handed to a GPU context is refused before anything runs. */
Test(gpu, host_pointer_refused) {
  fc_context *ctx = gpu_context_or_skip();
  static uint16_t a[4 * 64], o[4 * 64];
  fc_tensor t = fc_tensor_bshd(a, FC_DTYPE_BF16, 1, 4, 1, 64);
  fc_tensor to = fc_tensor_bshd(o, FC_DTYPE_BF16, 1, 4, 1, 64);
  cr_assert_eq(fc_attention_forward(ctx, &t, &t, &t, &to, NULL, NULL, NULL), FC_ERR_WRONG_MEMORY);
  cr_assert(strstr(fc_last_error(ctx), "host memory"), "%s", fc_last_error(ctx));
  fc_context_destroy(ctx);
}

/* f32 on a GPU context is refused as unsupported, with a sentence naming the reason. */
Test(gpu, f32_unsupported_on_gpu) {
  fc_context *ctx = gpu_context_or_skip();
  fc_case c = fc_case_make(FC_DTYPE_F32, 1, 16, 16, 2, 1, 64, fc_test_seed());
  fc_check chk;
  cr_assert_eq(fc_case_run(ctx, &c, &chk), FC_ERR_UNSUPPORTED);
  cr_assert(strstr(fc_last_error(ctx), "f32"), "%s", fc_last_error(ctx));
  fc_context_destroy(ctx);
}
