/* fc-cases: the feature matrix of tests/cases.h as a plain program (no Criterion, no fork),
 * for compute-sanitizer and for machines without Criterion.
 *
 *   fc-cases [--device cpu|N] [--ragged] [--family F]
 *
 * Prints one line per case and ends with "N passed, N failed, N skipped". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

int main(int argc, char **argv) {
  int device = 0, ragged_only = 0;
  fc_family fam = FC_FAMILY_AUTO;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--ragged")) ragged_only = 1;
    else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
      i++;
      char *end;
      device = !strcmp(argv[i], "cpu") ? FC_DEVICE_CPU : (int)strtol(argv[i], &end, 10);
      if (strcmp(argv[i], "cpu") && (*end || device < 0)) {
        fprintf(stderr, "--device %s: use cpu or a GPU ordinal\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--family") && i + 1 < argc) {
      i++;
      int f = 0;
      while (f < FC_FAMILY_COUNT && strcmp(argv[i], fc_family_name((fc_family)f))) f++;
      if (f == FC_FAMILY_COUNT) {
        fprintf(stderr, "unknown family %s\n", argv[i]);
        return 2;
      }
      fam = (fc_family)f;
    } else {
      fprintf(stderr, "usage: fc-cases [--device cpu|N] [--ragged] [--family F]\n");
      return 2;
    }
  }
  fc_context *ctx;
  if (fc_context_create(device, &ctx) != FC_SUCCESS) {
    fprintf(stderr, "fc-cases: %s\n", fc_last_error(NULL));
    return 1;
  }
  if (fam != FC_FAMILY_AUTO) fc_context_set_family(ctx, fam);
  int passed = 0, failed = 0, skipped = 0;
  const uint64_t seed = fc_test_seed();
  for (size_t i = 0; i < FC_MATRIX_SIZE; i++) {
    const fc_spec *s = &fc_matrix[i];
    if ((ragged_only && !s->ragged) || (device != FC_DEVICE_CPU && s->dtype == FC_DTYPE_F32)) {
      skipped++;
      continue;
    }
    fc_case c = fc_spec_case(s, seed + i);
    fc_check chk;
    fc_status st = fc_case_run(ctx, &c, &chk);
    int ok = st == FC_SUCCESS && chk.pass;
    ok ? passed++ : failed++;
    printf("%-24s %s  max %.3g naive %.3g l2 %.3g lse %.3g %s%s\n", s->name, ok ? "pass" : "FAIL",
           chk.max_err, chk.naive_err, chk.rel_l2, chk.lse_err,
           st ? fc_last_error(ctx) : "", ok ? "" : chk.msg);
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  fc_context_destroy(ctx);
  return failed ? 1 : 0;
}
