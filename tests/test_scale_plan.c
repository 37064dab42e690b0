/* The scaling harness's shard planner and argument parsing (no GPU needed). */
#include <criterion/criterion.h>
#include <string.h>

#include "plan.h"

/* Every query head is owned exactly once, and each segment reads the right KV heads. */
static void check_plan(int H, int Hk, int ranks) {
  fc_shard s[FC_SCALE_MAX_RANKS];
  char err[256];
  cr_assert_eq(fc_plan_shards(H, Hk, ranks, s, err, sizeof err), 0, "H=%d Hk=%d ranks=%d: %s", H, Hk, ranks, err);
  int owned[512] = {0};
  const int G = H / Hk;
  int min = 1 << 30, max = 0;
  for (int r = 0; r < ranks; r++) {
    cr_assert_gt(s[r].q_heads, 0);
    min = s[r].q_heads < min ? s[r].q_heads : min;
    max = s[r].q_heads > max ? s[r].q_heads : max;
    int covered = 0;
    for (int g = 0; g < s[r].num_segments; g++) {
      const fc_segment *seg = &s[r].seg[g];
      cr_assert_eq(seg->q0, covered, "segments must tile the shard");
      cr_assert_eq(seg->q_heads % seg->kv_heads, 0);
      const int ratio = seg->q_heads / seg->kv_heads;
      for (int i = 0; i < seg->q_heads; i++) {
        int h = s[r].q_head0 + seg->q0 + i;
        int kv = s[r].kv_head0 + seg->kv0 + i / ratio;
        cr_assert_eq(kv, h / G, "H=%d Hk=%d ranks=%d: head %d reads kv %d, not %d", H, Hk, ranks, h, kv, h / G);
        cr_assert(seg->kv0 + i / ratio < s[r].kv_heads);
        owned[h]++;
      }
      covered += seg->q_heads;
    }
    cr_assert_eq(covered, s[r].q_heads);
  }
  for (int h = 0; h < H; h++) cr_assert_eq(owned[h], 1, "head %d owned %d times", h, owned[h]);
  cr_assert_leq(max - min, G, "uneven by more than one group");
}

Test(plan, mha_even_and_uneven) {
  check_plan(16, 16, 1);
  check_plan(16, 16, 2);
  check_plan(16, 16, 3);
  check_plan(16, 16, 16);
  check_plan(5, 5, 4);
}
Test(plan, gqa_whole_groups) {
  check_plan(32, 8, 2);
  check_plan(32, 8, 8);
  check_plan(12, 3, 2); /* uneven: 1 and 2 groups */
}
Test(plan, gqa_kv_duplicated) {
  check_plan(32, 8, 16); /* Hk < ranks: each KV head on 2 ranks */
  check_plan(8, 2, 3);   /* partial groups at both ends */
  check_plan(8, 1, 8);   /* MQA */
  check_plan(30, 5, 7);
  fc_shard s[FC_SCALE_MAX_RANKS];
  char err[128];
  fc_plan_shards(32, 8, 16, s, err, sizeof err);
  cr_assert_eq(s[0].kv_heads, 1);
  cr_assert_eq(s[1].kv_head0, 0, "KV head 0 is duplicated on ranks 0 and 1");
}
Test(plan, rejects_bad_input) {
  fc_shard s[FC_SCALE_MAX_RANKS];
  char err[256];
  cr_assert_eq(fc_plan_shards(16, 3, 2, s, err, sizeof err), -1);
  cr_assert(strstr(err, "Hk must divide H"), "%s", err);
  cr_assert_eq(fc_plan_shards(4, 4, 8, s, err, sizeof err), -1);
  cr_assert(strstr(err, "exceeds the 4 query heads"), "%s", err);
  cr_assert_eq(fc_plan_shards(4, 4, 0, s, err, sizeof err), -1);
  cr_assert_eq(fc_plan_shards(4, 4, 65, s, err, sizeof err), -1);
}

Test(args, defaults_and_values) {
  fc_scale_args a;
  char err[2048];
  char *argv1[] = {"x", NULL};
  cr_assert_eq(fc_scale_parse_args(1, argv1, &a, err, sizeof err), 0);
  cr_assert_eq(a.num_shapes, 2);
  cr_assert_eq(a.shapes[0].S, 8192);
  cr_assert_eq(a.sweep, FC_SWEEP_STRONG);
  cr_assert_eq(a.chunks, 0, "auto by default");
  cr_assert_eq(a.engine, FC_GATHER_CE_STORE);
  cr_assert_eq(a.engine_set, 0);
  char *argv2[] = {"x", "--shape", "1,32,8,4096,128,0", "--sweep", "weak", "--families", "sm90,sm80",
                   "--gpus", "2", "--collective", "none", "--chunks", "2", "--reps", "5", "--json", "o.json",
                   "--gather", "sm", NULL};
  cr_assert_eq(fc_scale_parse_args(19, argv2, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.engine, FC_GATHER_SM);
  cr_assert_eq(a.engine_set, 1);
  char *argv3[] = {"x", "--gather", "store", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv3, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.engine, FC_GATHER_STORE);
  char *argv4[] = {"x", "--gather", "ce-store", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv4, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.engine, FC_GATHER_CE_STORE);
  cr_assert_eq(a.engine_set, 1);
  /* every engine's name parses back to it (the report and the errors print these names) */
  for (int e = FC_GATHER_CE; e <= FC_GATHER_CE_STORE; e++) {
    char *argv5[] = {"x", "--gather", (char *)fc_gather_name((fc_gather_engine)e), NULL};
    cr_assert_eq(fc_scale_parse_args(3, argv5, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.engine, (fc_gather_engine)e, "%s", argv5[2]);
  }
  cr_assert_eq(fc_scale_parse_args(19, argv2, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.num_shapes, 1);
  cr_assert_eq(a.shapes[0].Hk, 8);
  cr_assert_eq(a.shapes[0].causal, 0);
  cr_assert_eq(a.sweep, FC_SWEEP_WEAK);
  cr_assert_eq(a.num_families, 2);
  cr_assert_eq(a.families[0], FC_FAMILY_SM90);
  cr_assert_eq(a.families[1], FC_FAMILY_SM80);
  cr_assert_eq(a.max_gpus, 2);
  cr_assert_eq(a.collective, FC_COLL_NONE);
  cr_assert_str_eq(a.json, "o.json");
}

/* Each bad command line (its flag and value; no value: the flag is last) must be refused with
 * a sentence that holds `needle`. */
Test(args, bad_arguments) {
  static const struct { const char *flag, *value, *needle; } cases[] = {
      {"--shape", "1,32,7,4096,128", "--shape 1,32,7,4096,128"},
      {"--shape", "1,32,8,4096", "expected B,H,Hk,S,D"},
      {"--sweep", "sideways", "--sweep sideways"},
      {"--families", "sm80,cpu", "\"cpu\" is not a GPU family"},
      {"--gpus", "0", "--gpus 0"},
      {"--reps", "many", "--reps many"},
      {"--json", NULL, "--json needs a value"},
      {"--frobnicate", "1", "unknown argument --frobnicate"},
      {"--shape", "1,32,8,4096,128,2", "causal 0 or 1"},
      /* sizes past int (the ranks' head counts are ints) or whose product overflows, and a
       * value strtoll saturates */
      {"--shape", "1,4294967296,8,4096,128", "below 2^31 each"},
      {"--shape", "2147483647,2147483647,1,2147483647,128", "B*S*H*D below 2^58"},
      {"--shape", "1,8,8,99999999999999999999999,128", "below 2^31 each"},
      {"--gather", "dma", "--gather dma: use ce (copy engines), sm (NCCL kernels), store (the kernel's stores) or ce-store"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *argv[] = {"x", (char *)cases[i].flag, (char *)cases[i].value, NULL};
    const int argc = cases[i].value ? 3 : 2;
    fc_scale_args a;
    char err[2048] = "";
    cr_assert_eq(fc_scale_parse_args(argc, argv, &a, err, sizeof err), -1, "accepted %s %s", cases[i].flag,
                 cases[i].value ? cases[i].value : "");
    cr_assert(strstr(err, cases[i].needle), "message \"%s\" lacks \"%s\"", err, cases[i].needle);
  }
}
/* The whole usage, to its last line, in the driver's buffer (4096 bytes). */
Test(args, help) {
  fc_scale_args a;
  char err[4096];
  char *argv[] = {"x", "--help", NULL};
  cr_assert_eq(fc_scale_parse_args(2, argv, &a, err, sizeof err), 1);
  cr_assert(strstr(err, "usage: flashcore-scale"));
  cr_assert(strstr(err, "slot of it\n"), "%s", err);
  cr_assert_lt(strlen(err), sizeof err - 1);
}
Test(args, rank_counts) {
  int c[16];
  cr_assert_eq(fc_scale_rank_counts(1, c, 16), 1);
  cr_assert_eq(c[0], 1);
  cr_assert_eq(fc_scale_rank_counts(2, c, 16), 2);
  cr_assert_eq(c[1], 2);
  cr_assert_eq(fc_scale_rank_counts(6, c, 16), 4);
  cr_assert_eq(c[3], 6);
  cr_assert_eq(fc_scale_rank_counts(8, c, 16), 4);
  cr_assert_eq(c[3], 8);
}

/* Chunk bounds: increasing, aligned inside, cover [0, S), and the last chunk (its gather is
 * the one left exposed) holds S/8 rows, give or take the rounding to whole aligned blocks. */
Test(chunks, bounds) {
  const int64_t sizes[] = {8192, 16384, 4096, 1000, 129, 128, 1, 65536};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    for (int causal = 0; causal <= 1; causal++)
      for (int c = 1; c <= 16; c++) {
        const int64_t S = sizes[i];
        int64_t b[17];
        int n = fc_plan_chunks(S, causal, c, 128, b);
        cr_assert(n >= 1 && n <= c, "S %lld causal %d chunks %d: n %d", (long long)S, causal, c, n);
        cr_assert_eq(b[0], 0);
        cr_assert_eq(b[n], S);
        for (int k = 1; k <= n; k++) {
          cr_assert(b[k] > b[k - 1]);
          if (k < n) cr_assert_eq(b[k] % 128, 0);
        }
        if (c > 1 && S >= 1024) {
          cr_assert(n >= 2);
          const int64_t last = S - b[n - 1];
          cr_assert(last >= S / 8 - 64 && last <= S / 8 + 64, "S %lld chunks %d: last chunk %lld rows", (long long)S, c,
                    (long long)last);
        }
      }
}
Test(chunks, shares_and_errors) {
  int64_t b[5];
  /* 8192 rows, 4 chunks: the last 1024 rows, the 7168 before in 3 chunks of equal work */
  cr_assert_eq(fc_plan_chunks(8192, 0, 4, 128, b), 4);
  cr_assert_eq(b[1], 2432);
  cr_assert_eq(b[2], 4736);
  cr_assert_eq(b[3], 7168);
  /* causal: equal work ends at sqrt(1/3) and sqrt(2/3) of those rows */
  cr_assert_eq(fc_plan_chunks(8192, 1, 4, 128, b), 4);
  cr_assert_eq(b[1], 4096);
  cr_assert_eq(b[2], 5888);
  cr_assert_eq(b[3], 7168);
  cr_assert_eq(fc_plan_chunks(8192, 1, 1, 128, b), 1);
  cr_assert_eq(b[1], 8192);
  /* too short to cut */
  cr_assert_eq(fc_plan_chunks(100, 1, 4, 128, b), 1);
  cr_assert_eq(b[1], 100);
  cr_assert_eq(fc_plan_chunks(0, 1, 4, 128, b), -1);
  cr_assert_eq(fc_plan_chunks(8192, 1, 0, 128, b), -1);
  cr_assert_eq(fc_plan_chunks(8192, 1, 4, 0, b), -1);
}

/* Head chunks under a causal mask: the last chunk holds hmax / 4 heads (at least 2), cut on
 * whole KV groups of every segment; other plans (not causal, not 2 chunks, fewer than 8
 * heads, a group that the cut would split) keep row chunks (0). The cut must leave every
 * segment's heads on each side on whole groups, checked for every shard of many plans. */
Test(chunks, head_split) {
  fc_shard sh[FC_SCALE_MAX_RANKS];
  char err[256];
  cr_assert_eq(fc_plan_shards(16, 16, 2, sh, err, sizeof err), 0);
  cr_assert_eq(fc_plan_head_split(&sh[0], 8, 1, 2), 6); /* 8 heads a rank: the last 2 */
  cr_assert_eq(fc_plan_head_split(&sh[0], 8, 0, 2), 0); /* not causal */
  cr_assert_eq(fc_plan_head_split(&sh[0], 8, 1, 1), 0);
  cr_assert_eq(fc_plan_head_split(&sh[0], 8, 1, 4), 0);
  cr_assert_eq(fc_plan_head_split(NULL, 8, 1, 2), 0);
  cr_assert_eq(fc_plan_shards(32, 32, 2, sh, err, sizeof err), 0);
  cr_assert_eq(fc_plan_head_split(&sh[1], 16, 1, 2), 12);
  cr_assert_eq(fc_plan_shards(16, 16, 4, sh, err, sizeof err), 0);
  cr_assert_eq(fc_plan_head_split(&sh[0], 4, 1, 2), 0); /* 4 heads a rank: one head would be left */
  cr_assert_eq(fc_plan_shards(16, 4, 2, sh, err, sizeof err), 0); /* groups of 4: 2 would cut one */
  cr_assert_eq(fc_plan_head_split(&sh[0], 8, 1, 2), 0);
  cr_assert_eq(fc_plan_shards(32, 16, 2, sh, err, sizeof err), 0); /* 16 heads in groups of 2 */
  cr_assert_eq(fc_plan_head_split(&sh[0], 16, 1, 2), 12);
  cr_assert_eq(fc_plan_shards(48, 8, 2, sh, err, sizeof err), 0); /* 24 heads in groups of 6 */
  cr_assert_eq(fc_plan_head_split(&sh[0], 24, 1, 2), 18);
  for (int H = 1; H <= 48; H++)
    for (int Hk = 1; Hk <= H; Hk++) {
      if (H % Hk) continue;
      for (int n = 2; n <= 8; n++) {
        if (fc_plan_shards(H, Hk, n, sh, err, sizeof err)) continue;
        int hmax = 0;
        for (int i = 0; i < n; i++) hmax = sh[i].q_heads > hmax ? sh[i].q_heads : hmax;
        for (int i = 0; i < n; i++) {
          const int split = fc_plan_head_split(&sh[i], hmax, 1, 2);
          if (!split) continue;
          cr_assert(split >= hmax / 2 && hmax - split >= 2, "H %d Hk %d n %d: split %d of %d", H, Hk, n, split, hmax);
          for (int g = 0; g < sh[i].num_segments; g++) {
            const fc_segment *seg = &sh[i].seg[g];
            const int group = seg->q_heads / seg->kv_heads;
            if (split > seg->q0 && split < seg->q0 + seg->q_heads)
              cr_assert_eq((split - seg->q0) % group, 0, "H %d Hk %d n %d rank %d", H, Hk, n, i);
          }
        }
      }
    }
}

/* --chunks auto: at two ranks 2 chunks from 4 waves of CTAs per rank where a row attends
 * enough keys for the last chunk's attention to hide the earlier gather (2381 causal, 5556
 * not), else unchunked; beyond two ranks unchunked below 3 waves, 4 chunks from there; the
 * parser takes "auto" and refuses other words. */
Test(chunks, auto_rule_and_parsing) {
  cr_assert_eq(fc_auto_chunks(8 * 32, 132, 2048.5, 1, 2), 1);   /* weak S=4096: 8 heads x 32 row blocks */
  cr_assert_eq(fc_auto_chunks(8 * 64, 132, 4096.5, 1, 2), 1);   /* weak S=8192: 512 CTAs, under 528 */
  cr_assert_eq(fc_auto_chunks(4 * 132, 132, 8192.5, 1, 2), 2);  /* exactly 4 waves */
  cr_assert_eq(fc_auto_chunks(4 * 132 - 1, 132, 8192.5, 1, 2), 1);
  cr_assert_eq(fc_auto_chunks(16 * 64, 132, 4096.5, 1, 2), 2);  /* strong S=8192, B=2, 8 heads a rank */
  cr_assert_eq(fc_auto_chunks(16 * 64, 132, 8192, 0, 2), 2);    /* the same, not causal */
  cr_assert_eq(fc_auto_chunks(8 * 128, 132, 8192.5, 1, 2), 2);  /* strong S=16384, B=1 */
  cr_assert_eq(fc_auto_chunks(32 * 32, 132, 2048.5, 1, 2), 1);  /* weak B=4 S=4096: the link, not the waves */
  cr_assert_eq(fc_auto_chunks(32 * 32, 132, 4096, 0, 2), 1);    /* the same, not causal */
  cr_assert_eq(fc_auto_chunks(1000, 132, 2381.5, 1, 2), 2);     /* the causal threshold */
  cr_assert_eq(fc_auto_chunks(1000, 132, 2380, 1, 2), 1);
  cr_assert_eq(fc_auto_chunks(1000, 132, 5556, 0, 2), 2);       /* and the other */
  cr_assert_eq(fc_auto_chunks(1000, 132, 5555, 0, 2), 1);
  cr_assert_eq(fc_auto_chunks(500, 0, 8192, 1, 2), 1);          /* unknown SM count: 132 */
  cr_assert_eq(fc_auto_chunks(600, 0, 8192, 1, 2), 2);
  cr_assert_eq(fc_auto_chunks(8 * 64, 132, 4096.5, 1, 4), 4);   /* strong S=8192, B=2, 4 heads a rank */
  cr_assert_eq(fc_auto_chunks(8 * 32, 132, 2048.5, 1, 4), 1);   /* weak S=4096: under 3 waves */
  cr_assert_eq(fc_auto_chunks(3 * 132 - 1, 132, 8192, 1, 8), 1);
  cr_assert_eq(fc_auto_chunks(3 * 132, 132, 8192, 1, 8), 4);
  fc_scale_args a;
  char err[2048];
  char *argv1[] = {"x", "--chunks", "3", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv1, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.chunks, 3);
  char *argv2[] = {"x", "--chunks", "auto", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv2, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.chunks, 0);
  char *argv3[] = {"x", "--chunks", "many", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv3, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "or auto"), "%s", err);
  char *argv4[] = {"x", "--chunks", "0", NULL};
  cr_assert_eq(fc_scale_parse_args(3, argv4, &a, err, sizeof err), -1);
}

/* The poison scan: bf16 NaN is exponent 0xff with a nonzero mantissa, either sign; the
 * infinities, zeros and ordinary values are not NaN. */
Test(verify, bf16_nan_count) {
  const uint16_t x[] = {0xffff, 0x7fc0, 0x7f81, 0xff81, 0x7f80, 0xff80, 0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f7f, 0x0001};
  cr_assert_eq(fc_bf16_count_nan(x, 12), 4);
  cr_assert_eq(fc_bf16_count_nan(x + 4, 8), 0);
  cr_assert_eq(fc_bf16_count_nan(x, 0), 0);
}

/* FC_SCALE_SKIP_CHUNK: none when unset or empty; a chunk the all-gather assembles; refused
 * outside the plan and for a storing chunk (whose skip would leave the others waiting). */
Test(verify, skip_chunk) {
  char err[256];
  cr_assert_eq(fc_scale_skip_chunk(NULL, 2, 2, err, sizeof err), -1);
  cr_assert_eq(fc_scale_skip_chunk("", 2, 2, err, sizeof err), -1);
  cr_assert_eq(fc_scale_skip_chunk("0", 2, 2, err, sizeof err), 0);
  cr_assert_eq(fc_scale_skip_chunk("1", 2, 2, err, sizeof err), 1);
  cr_assert_eq(fc_scale_skip_chunk("0", 2, 1, err, sizeof err), 0);
  cr_assert_eq(fc_scale_skip_chunk("1", 2, 1, err, sizeof err), -2);
  cr_assert(strstr(err, "stores into the other ranks' windows"), "%s", err);
  cr_assert_eq(fc_scale_skip_chunk("2", 2, 2, err, sizeof err), -2);
  cr_assert(strstr(err, "use 0 to 1"), "%s", err);
  cr_assert_eq(fc_scale_skip_chunk("-1", 1, 1, err, sizeof err), -2);
  cr_assert_eq(fc_scale_skip_chunk("x", 1, 1, err, sizeof err), -2);
  cr_assert_eq(fc_scale_skip_chunk("0", 1, 0, err, sizeof err), -2);
  cr_assert(strstr(err, "every chunk's launch here stores"), "%s", err);
}
