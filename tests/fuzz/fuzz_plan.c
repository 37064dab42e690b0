/* libFuzzer target for flashcore-scale's planner and argument parser (scaling/scale/plan.c),
 * built with AddressSanitizer and UndefinedBehaviorSanitizer by scripts/fuzz.sh.
 *
 * An input is a command line (arguments separated by newlines) and, after a NUL, raw numbers
 * for the planners. What must hold, besides no crash and no undefined behaviour:
 *   - fc_scale_parse_args returns -1, 0 or 1, with a NUL-terminated sentence for -1 and 1;
 *   - for every parsed shape and every rank count of the sweep, fc_plan_shards either refuses
 *     with a sentence or gives each query head to exactly one rank, each segment reading its
 *     heads' own KV heads, the ranks' head counts differing by at most one KV group (or head);
 *   - fc_plan_chunks gives 0 = b[0] < b[1] < ... < b[n] = S with inner bounds multiples of align;
 *   - fc_plan_head_split gives 0 or a split inside (0, hmax) that cuts no KV group;
 *   - fc_auto_chunks gives 1, 2 or 4; fc_scale_rank_counts an increasing list ending at max. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#define FUZZ_TARGET "fuzz_plan"
#include "fuzz.h"


static long long n_inputs, n_parsed, n_plans;
static void summary(void) {
  printf("fuzz_plan: %lld inputs, %lld command lines parsed, %lld shard plans checked\n", n_inputs, n_parsed,
         n_plans);
}
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  atexit(summary);
  return 0;
}

static void check_shards(int H, int Hk, int ranks) {
  fc_shard s[FC_SCALE_MAX_RANKS];
  char err[256];
  memset(err, 'x', sizeof err);
  if (fc_plan_shards(H, Hk, ranks, s, err, sizeof err) != 0) {
    REQUIRE(memchr(err, 0, sizeof err) && err[0], "fc_plan_shards(%d, %d, %d) refused without a sentence", H, Hk, ranks);
    return;
  }
  n_plans++;
  REQUIRE(H > 0 && Hk > 0 && H % Hk == 0 && ranks >= 1 && ranks <= FC_SCALE_MAX_RANKS, "accepted H=%d Hk=%d ranks=%d", H, Hk,
          ranks);
  const int G = H / Hk;
  int next = 0, min = H + 1, max = 0;
  for (int r = 0; r < ranks; r++) {
    /* ranks own contiguous, consecutive head ranges (possibly empty where ranks > H) */
    REQUIRE(s[r].q_head0 == next || s[r].q_heads == 0, "H=%d Hk=%d ranks=%d: rank %d starts at %d, not %d", H, Hk, ranks, r,
            s[r].q_head0, next);
    REQUIRE(s[r].q_heads >= 0 && s[r].num_segments >= 0 && s[r].num_segments <= FC_SCALE_MAX_SEGMENTS, "rank %d: bad counts", r);
    next += s[r].q_heads;
    min = s[r].q_heads < min ? s[r].q_heads : min;
    max = s[r].q_heads > max ? s[r].q_heads : max;
    int covered = 0;
    for (int g = 0; g < s[r].num_segments; g++) {
      const fc_segment *seg = &s[r].seg[g];
      REQUIRE(seg->q0 == covered && seg->q_heads > 0 && seg->kv_heads > 0 && seg->q_heads % seg->kv_heads == 0,
              "H=%d Hk=%d ranks=%d: rank %d segment %d does not tile the shard", H, Hk, ranks, r, g);
      const int ratio = seg->q_heads / seg->kv_heads;
      for (int i = 0; i < seg->q_heads; i++) {
        const int h = s[r].q_head0 + seg->q0 + i, kv = s[r].kv_head0 + seg->kv0 + i / ratio;
        REQUIRE(kv == h / G && seg->kv0 + i / ratio < s[r].kv_heads && seg->kv0 >= 0,
                "H=%d Hk=%d ranks=%d: head %d reads KV head %d, not %d", H, Hk, ranks, h, kv, h / G);
      }
      covered += seg->q_heads;
    }
    REQUIRE(covered == s[r].q_heads, "H=%d Hk=%d ranks=%d: rank %d's segments hold %d of its %d heads", H, Hk, ranks, r,
            covered, s[r].q_heads);
    /* the head split of a causal two-chunk plan */
    const int hmax = s[r].q_heads;
    const int split = fc_plan_head_split(&s[r], hmax, 1, 2);
    REQUIRE(split == 0 || (split > 0 && split < hmax), "head split %d of %d heads", split, hmax);
    for (int g = 0; split && g < s[r].num_segments; g++) {
      const fc_segment *seg = &s[r].seg[g];
      if (split > seg->q0 && split < seg->q0 + seg->q_heads)
        REQUIRE((split - seg->q0) % (seg->q_heads / seg->kv_heads) == 0, "head split %d cuts a KV group", split);
    }
  }
  REQUIRE(next == H, "H=%d Hk=%d ranks=%d: the ranks hold %d heads", H, Hk, ranks, next);
  REQUIRE(max - min <= (Hk >= ranks ? G : 1), "H=%d Hk=%d ranks=%d: uneven by %d", H, Hk, ranks, max - min);
}

static void check_chunks(int64_t S, int causal, int chunks, int64_t align) {
  int64_t b[66];
  if (chunks > 64) return; /* bounds must hold chunks + 1 values: the caller's contract */
  const int n = fc_plan_chunks(S, causal, chunks, align, b);
  if (n < 0) {
    REQUIRE(S <= 0 || chunks < 1 || align < 1, "fc_plan_chunks(%lld, %d, %d, %lld) refused", (long long)S, causal, chunks,
            (long long)align);
    return;
  }
  REQUIRE(n >= 1 && n <= chunks && b[0] == 0 && b[n] == S, "chunks of S=%lld: n=%d, ends %lld", (long long)S, n,
          (long long)b[n]);
  for (int i = 1; i <= n; i++) REQUIRE(b[i] > b[i - 1], "chunk bounds not increasing at %d", i);
  for (int i = 1; i < n; i++) REQUIRE(b[i] % align == 0, "inner bound %lld not a multiple of %lld", (long long)b[i], (long long)align);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  n_inputs++;
  /* The command line: up to 40 arguments, newline-separated, up to the first NUL. */
  char line[2048];
  size_t len = 0;
  while (len < size && len < sizeof line - 1 && data[len]) line[len] = (char)data[len], len++;
  line[len] = 0;
  char *argv[42];
  int argc = 0;
  argv[argc++] = "flashcore-scale";
  for (char *p = line; *p && argc < 41;) {
    argv[argc++] = p;
    char *nl = strchr(p, '\n');
    if (!nl) break;
    *nl = 0;
    p = nl + 1;
  }
  argv[argc] = NULL;
  fc_scale_args a;
  char err[512];
  memset(err, 'x', sizeof err);
  const int rc = fc_scale_parse_args(argc, argv, &a, err, sizeof err);
  REQUIRE(rc == -1 || rc == 0 || rc == 1, "fc_scale_parse_args returned %d", rc);
  if (rc != 0) REQUIRE(memchr(err, 0, sizeof err) && err[0], "fc_scale_parse_args returned %d without a sentence", rc);
  if (rc == 0) {
    n_parsed++;
    REQUIRE(a.num_shapes >= 0 && a.num_shapes <= FC_SCALE_MAX_SHAPES, "%d shapes", a.num_shapes);
    int counts[16];
    const int maxr = a.max_gpus > 0 ? a.max_gpus : 8;
    const int nc = fc_scale_rank_counts(maxr, counts, 16);
    REQUIRE(nc >= 1 && counts[nc - 1] == maxr, "rank counts up to %d end at %d", maxr, nc ? counts[nc - 1] : -1);
    for (int i = 1; i < nc; i++) REQUIRE(counts[i] > counts[i - 1], "rank counts not increasing");
    for (int i = 0; i < a.num_shapes; i++) {
      const fc_scale_shape *s = &a.shapes[i];
      for (int c = 0; c < nc; c++) {
        const int ranks = counts[c];
        const int64_t mul = a.sweep == FC_SWEEP_WEAK ? ranks : 1;
        if (s->H * mul > (1 << 20) || s->Hk * mul > (1 << 20)) continue;
        check_shards((int)(s->H * mul), (int)(s->Hk * mul), ranks);
        const int chunks = a.chunks > 0 ? a.chunks : fc_auto_chunks(s->B * (s->S + 127) / 128 * s->H, 132,
                                                                     s->causal ? s->S / 2.0 : (double)s->S, s->causal, ranks);
        REQUIRE(chunks >= 1, "chunks %d", chunks);
        check_chunks(s->S, s->causal, chunks, 128);
      }
    }
  }
  /* Raw numbers after the NUL, for the planners' own argument checks. */
  if (len < size) {
    const uint8_t *p = data + len + 1;
    size_t n = size - len - 1;
    int32_t v[6] = {0};
    memcpy(v, p, n < sizeof v ? n : sizeof v);
    check_shards(v[0] % 4096, v[1] % 4096, v[2] % 80);
    check_chunks((int64_t)((uint64_t)(uint32_t)v[3] << (v[5] & 31)), v[4] & 1, (v[4] >> 1) % 70, (v[5] >> 8) % 300);
    const int ac = fc_auto_chunks((int64_t)v[3] * 1000, v[4] % 200, (double)v[5], v[4] & 1, (v[0] & 7) + 1);
    REQUIRE(ac == 1 || ac == 2 || ac == 4, "fc_auto_chunks gave %d", ac);
  }
  return 0;
}
