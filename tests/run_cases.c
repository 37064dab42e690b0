/* fc-cases: the feature matrix of tests/cases.h as a plain program (no Criterion, no fork),
 * for compute-sanitizer and for machines without Criterion.
 *
 *   fc-cases [--device cpu|N] [--ragged] [--family F] [--case NAME] [--seeds N]
 *
 * Prints one line per case and ends with "N passed, N failed, N skipped". --case runs only
 * the named case; --seeds N runs each case on N seeds in turn (FC_TEST_SEED + i, then +1000003
 * for each further round), for the rate at which a rare input misses the rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

int main(int argc, char **argv) {
  /* One line a case as it finishes, so a run stopped by a time limit keeps what it measured. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int device = 0, ragged_only = 0;
  long rounds = 1;
  const char *only = NULL;
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
    } else if (!strcmp(argv[i], "--case") && i + 1 < argc) {
      only = argv[++i];
      size_t f = 0;
      while (f < FC_MATRIX_SIZE && strcmp(only, fc_matrix[f].name)) f++;
      if (f == FC_MATRIX_SIZE) {
        fprintf(stderr, "unknown case %s\n", only);
        return 2;
      }
    } else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
      char *end;
      rounds = strtol(argv[++i], &end, 10);
      if (*end || rounds < 1 || rounds > 1000000) {
        fprintf(stderr, "--seeds %s: use a count from 1 to 1000000\n", argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "usage: fc-cases [--device cpu|N] [--ragged] [--family F] [--case NAME] [--seeds N]\n");
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
  for (long r = 0; r < rounds; r++)
    for (size_t i = 0; i < FC_MATRIX_SIZE; i++) {
      const fc_spec *s = &fc_matrix[i];
      if (only && strcmp(only, s->name)) continue;
      if ((ragged_only && !s->ragged) || (device != FC_DEVICE_CPU && s->dtype == FC_DTYPE_F32)) {
        skipped++;
        continue;
      }
      const uint64_t cs = seed + i + 1000003u * (uint64_t)r;
      fc_case c = fc_spec_case(s, cs);
      fc_check chk;
      fc_status st = fc_case_run(ctx, &c, &chk);
      int ok = st == FC_SUCCESS && chk.pass;
      ok ? passed++ : failed++;
      printf("%-24s %s  max %.3g naive %.3g ratio %.3f l2 %.3g lse %.3g seed %llu %s%s\n", s->name,
             ok ? "pass" : "FAIL", chk.max_err, chk.naive_err,
             chk.naive_err > 0 ? chk.max_err / chk.naive_err : 0.0, chk.rel_l2, chk.lse_err,
             (unsigned long long)cs, st ? fc_last_error(ctx) : "", ok ? "" : chk.msg);
    }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  fc_context_destroy(ctx);
  return failed ? 1 : 0;
}
