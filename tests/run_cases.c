/* fc-cases: the feature matrix of tests/cases.h as a plain program (no Criterion, no fork),
 * for compute-sanitizer and for machines without Criterion.
 *
 *   fc-cases [--device cpu|N] [--ragged] [--family F] [--case NAME] [--seeds N]
 *   fc-cases [--device cpu|N] [--family F] --random N [--random-seed S] [--random-gpu-dtypes]
 *
 * Prints one line per case and ends with "N passed, N failed, N skipped". --case runs only
 * the named case; --seeds N runs each case on N seeds in turn (FC_TEST_SEED + i, then +1000003
 * for each further round), for the rate at which a rare input misses the rule.
 * --random N runs N cases drawn at random from the feature space instead of the matrix: head
 * dim, dtype, batch, lengths from 1 to 1200, GQA, causal, windows, softcap, scale, LSE,
 * layout, variable lengths (empty sequences among them), scores growing along the keys.
 * Case r comes from the number S + r alone (S: --random-seed, default FC_TEST_SEED), its data
 * too; each line is named random-(that number) and prints the case in full, and
 * `--random 1 --random-seed (that number)` runs it again; --seeds R runs each on R draws of
 * its data. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

static uint64_t next_u64(uint64_t *x) { /* splitmix64 */
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int64_t draw(uint64_t *x, int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64(x) % (uint64_t)(hi - lo + 1)); }
/* A length from 1 to hi, as often short as long (log-uniform). */
static int64_t draw_len(uint64_t *x, int64_t hi) {
  const int bits = (int)draw(x, 0, 63 - __builtin_clzll((uint64_t)hi));
  const int64_t lo = (int64_t)1 << bits;
  return draw(x, lo, (lo << 1) - 1 < hi ? (lo << 1) - 1 : hi);
}

/* One random case of the feature space; lens_q/lens_k hold its variable lengths. */
static fc_case random_case(uint64_t *x, int cpu, uint64_t data_seed, int32_t *lens_q, int32_t *lens_k, char *desc,
                           size_t desc_len) {
  static const int64_t dims[6] = {32, 64, 96, 128, 192, 256};
  fc_dtype dt = draw(x, 0, 1) ? FC_DTYPE_BF16 : FC_DTYPE_F16;
  const int64_t D = dims[draw(x, 0, 5)], Hk = draw(x, 1, 3), H = Hk * draw(x, 1, 4);
  fc_case c = fc_case_make(dt, draw(x, 1, 3), draw_len(x, 700), draw_len(x, 1200), H, Hk, D, data_seed);
  if (draw(x, 0, 9) == 0) c.Sq = 1; /* decodes */
  c.causal = (int)draw(x, 0, 1);
  if (draw(x, 0, 3) == 0) c.window_left = draw(x, 0, 300);
  if (!c.causal && draw(x, 0, 3) == 0) c.window_right = draw(x, 0, 300);
  if (draw(x, 0, 4) == 0) c.softcap = (float)draw(x, 5, 50);
  if (draw(x, 0, 4) == 0) c.scale = (float)draw(x, 10, 300) / 1000.0f;
  c.with_lse = (int)draw(x, 0, 1);
  c.layout = (fc_layout)draw(x, 0, 2);
  if (draw(x, 0, 9) == 0) c.key_ramp = draw(x, 0, 1) ? 0.25f : -0.25f;
  if (draw(x, 0, 4) == 0) {
    c.num_seqs = draw(x, 1, 6);
    c.lens_q = lens_q, c.lens_k = lens_k;
    for (int64_t i = 0; i < c.num_seqs; i++) {
      lens_q[i] = (int32_t)(draw(x, 0, 7) == 0 ? 0 : draw_len(x, 300));
      lens_k[i] = (int32_t)(draw(x, 0, 9) == 0 ? 0 : draw_len(x, 600));
      /* a decode or speculative batch of at most Sq <= 16 rows a sequence (GQA: folded into rows) */
      if (c.Sq <= 16 && lens_q[i] > c.Sq) lens_q[i] = (int32_t)c.Sq;
    }
    /* tensors hold at least one row (the API refuses empty ones) */
    int64_t tq = 0, tk = 0;
    for (int64_t i = 0; i < c.num_seqs; i++) tq += lens_q[i], tk += lens_k[i];
    if (!tq) lens_q[0] = 1;
    if (!tk) lens_k[c.num_seqs - 1] = 1;
  }
  /* Scores growing along the keys reach hundreds; past about 260 keys (or with a larger scale)
   * float32's own rounding of them moves the LSE past the rule's 1e-3 in every family and in
   * the CPU backend (tests/cases.h, keys-steep), so such cases stay within that. */
  if (c.key_ramp != 0) {
    c.scale = 0;
    if (c.Sk > 260) c.Sk = 260;
    for (int64_t i = 0; i < c.num_seqs; i++)
      if (lens_k[i] > 260) lens_k[i] = 260;
  }
  /* The CPU backend also takes float32, in a quarter of its cases (drawn last, so a case's
   * other draws are the same on every device; --random-gpu-dtypes keeps a GPU's dtypes). */
  if (draw(x, 0, 3) == 0 && cpu) c.dtype = dt = FC_DTYPE_F32;
  /* The float64 reference on large problems checks sampled rows (the output is checked whole). */
  const int64_t rows = c.num_seqs ? 300 * c.num_seqs : c.B * c.Sq;
  if (rows * c.H > 2048) c.sample_rows = 256;
  int n = snprintf(desc, desc_len, "%s D=%lld B=%lld Sq=%lld Sk=%lld H=%lld Hk=%lld causal=%d wl=%lld wr=%lld cap=%g scale=%g lse=%d layout=%d ramp=%g",
                   dt == FC_DTYPE_F32 ? "f32" : dt == FC_DTYPE_BF16 ? "bf16" : "f16", (long long)D, (long long)c.B,
                   (long long)c.Sq, (long long)c.Sk, (long long)H, (long long)Hk, c.causal, (long long)c.window_left,
                   (long long)c.window_right, (double)c.softcap, (double)c.scale, c.with_lse, (int)c.layout,
                   (double)c.key_ramp);
  for (int64_t i = 0; i < c.num_seqs && n > 0 && (size_t)n < desc_len; i++)
    n += snprintf(desc + n, desc_len - (size_t)n, "%s%d/%d", i ? "," : " varlen=", lens_q[i], lens_k[i]);
  return c;
}

/* A count argument from 1 to max; 0 after a sentence on stderr otherwise. */
static long parse_count(const char *flag, const char *v, long max) {
  char *end;
  const long n = strtol(v, &end, 10);
  if (!*v || *end || n < 1 || n > max) {
    fprintf(stderr, "%s %s: use a count from 1 to %ld\n", flag, v, max);
    return 0;
  }
  return n;
}

typedef struct tally {
  int passed, failed, skipped;
} tally;

/* Run one case and print its line: name, pass / FAIL / skip, the errors, the data seed, what
 * the case is (desc, for random cases) and why it failed. A family forced with --family that
 * lacks the case's feature skips it (as test_gpu does), with the selector's sentence. */
static void run_one(fc_context *ctx, int forced, const char *name, const fc_case *c, const char *desc, tally *t) {
  fc_check chk;
  const fc_status st = fc_case_run(ctx, c, &chk);
  if (st == FC_ERR_UNSUPPORTED && forced) {
    t->skipped++;
    printf("%s skip  %s\n", name, fc_last_error(ctx));
    return;
  }
  const int ok = st == FC_SUCCESS && chk.pass;
  ok ? t->passed++ : t->failed++;
  printf("%-24s %s  max %.3g naive %.3g ratio %.3f l2 %.3g lse %.3g seed %llu %s%s%s%s%s\n", name, ok ? "pass" : "FAIL",
         chk.max_err, chk.naive_err, chk.naive_err > 0 ? chk.max_err / chk.naive_err : 0.0, chk.rel_l2, chk.lse_err,
         (unsigned long long)c->seed, desc ? "[" : "", desc ? desc : "", desc ? "] " : "", st ? fc_last_error(ctx) : "",
         ok ? "" : chk.msg);
}

int main(int argc, char **argv) {
  /* One line a case as it finishes, so a run stopped by a time limit keeps what it measured. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int device = 0, ragged_only = 0;
  long rounds = 1;
  const char *only = NULL;
  fc_family fam = FC_FAMILY_AUTO;
  long random_n = 0;
  uint64_t random_seed = 0;
  int random_seed_set = 0, gpu_dtypes = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--ragged")) ragged_only = 1;
    else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
      i++;
      char *end = NULL;
      const long d = strcmp(argv[i], "cpu") ? strtol(argv[i], &end, 10) : FC_DEVICE_CPU;
      if (end && (!*argv[i] || *end || d < 0 || d > INT_MAX)) {
        fprintf(stderr, "--device %s: use cpu or a GPU ordinal\n", argv[i]);
        return 2;
      }
      device = (int)d;
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
      if (!(rounds = parse_count("--seeds", argv[++i], 1000000))) return 2;
    } else if (!strcmp(argv[i], "--random") && i + 1 < argc) {
      if (!(random_n = parse_count("--random", argv[++i], 100000000))) return 2;
    } else if (!strcmp(argv[i], "--random-gpu-dtypes")) {
      gpu_dtypes = 1;
    } else if (!strcmp(argv[i], "--random-seed") && i + 1 < argc) {
      char *end;
      random_seed = strtoull(argv[++i], &end, 10);
      if (*end || !*argv[i] || argv[i][0] == '-') {
        fprintf(stderr, "--random-seed %s: use a non-negative integer\n", argv[i]);
        return 2;
      }
      random_seed_set = 1;
    } else {
      fprintf(stderr, "usage: fc-cases [--device cpu|N] [--ragged] [--family F] [--case NAME] [--seeds N]\n"
                      "       fc-cases [--device cpu|N] [--family F] --random N [--random-seed S] [--random-gpu-dtypes]\n");
      return 2;
    }
  }
  fc_context *ctx;
  if (fc_context_create(device, &ctx) != FC_SUCCESS) {
    fprintf(stderr, "fc-cases: %s\n", fc_last_error(NULL));
    return 1;
  }
  if (fam != FC_FAMILY_AUTO) fc_context_set_family(ctx, fam);
  tally t = {0, 0, 0};
  const uint64_t seed = fc_test_seed();
  const int forced = fam != FC_FAMILY_AUTO;
  if (random_n) {
    const uint64_t first = random_seed_set ? random_seed : seed;
    for (long n = 0; n < random_n * rounds; n++) {
      /* Case r is drawn from first + r alone: --random 1 --random-seed (that number) draws it
       * again; --seeds R runs each case on R draws of its data. */
      const uint64_t spec = first + (uint64_t)(n / rounds);
      uint64_t x = spec;
      const uint64_t cs = next_u64(&x) + 1000003u * (uint64_t)(n % rounds);
      int32_t lq[8] = {0}, lk[8] = {0};
      char name[32], desc[400];
      fc_case c = random_case(&x, device == FC_DEVICE_CPU && !gpu_dtypes, cs, lq, lk, desc, sizeof desc);
      snprintf(name, sizeof name, "random-%llu", (unsigned long long)spec);
      run_one(ctx, forced, name, &c, desc, &t);
    }
  } else {
    for (long r = 0; r < rounds; r++)
      for (size_t i = 0; i < FC_MATRIX_SIZE; i++) {
        const fc_spec *s = &fc_matrix[i];
        if (only && strcmp(only, s->name)) continue;
        if ((ragged_only && !s->ragged) || (device != FC_DEVICE_CPU && s->dtype == FC_DTYPE_F32)) {
          t.skipped++;
          continue;
        }
        const fc_case c = fc_spec_case(s, seed + i + 1000003u * (uint64_t)r);
        run_one(ctx, forced, s->name, &c, NULL, &t);
      }
  }
  printf("%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
  fc_context_destroy(ctx);
  return t.failed ? 1 : 0;
}
