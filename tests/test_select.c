/* The sm80 and sm90 families' planners, driven with synthetic devices: which tile each architecture gets
 * and which problems it refuses, with what sentence. Runs without a GPU. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_problem.h"
#include "flashcore.h"

int fc_sm80_plan(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *, size_t);

static const fc_device_caps A100 = {8, 0, 108, 166912}, RTX4090 = {8, 9, 128, 101376},
                            H100 = {9, 0, 132, 232448}, T4 = {7, 5, 40, 65536};

static fc_problem problem(int dtype, int64_t d) {
  static _Alignas(16) unsigned char buf[64];
  fc_problem p;
  memset(&p, 0, sizeof p);
  p.dtype = dtype;
  p.q = p.k = p.v = buf;
  p.out = buf + 16;
  p.batch = 2, p.seqlen_q = p.seqlen_k = p.total_q = p.total_k = 1024;
  p.heads = 16, p.heads_k = 4, p.head_dim = d;
  int64_t h[4] = {16, 4, 4, 16};
  int64_t *st[4] = {p.q_stride, p.k_stride, p.v_stride, p.o_stride};
  for (int i = 0; i < 4; i++) st[i][2] = d, st[i][1] = h[i] * d, st[i][0] = 1024 * h[i] * d;
  p.scale = 0.1f, p.window_left = p.window_right = -1;
  return p;
}

/* problem() with B sequences of S rows and H heads (MHA), BSHD strides. */
static fc_problem sized(int dtype, int64_t d, int64_t B, int64_t H, int64_t S) {
  fc_problem p = problem(dtype, d);
  p.batch = B, p.heads = p.heads_k = H;
  p.seqlen_q = p.seqlen_k = p.total_q = p.total_k = S;
  int64_t *st[4] = {p.q_stride, p.k_stride, p.v_stride, p.o_stride};
  for (int t = 0; t < 4; t++) st[t][2] = d, st[t][1] = H * d, st[t][0] = S * H * d;
  return p;
}

static int plan(const fc_problem *p, const fc_device_caps *c, fc_kernel_info *info, char *why) {
  fc_kernel_info init = FC_KERNEL_INFO_INIT;
  *info = init;
  why[0] = 0;
  return fc_sm80_plan(p, c, info, why, 256);
}

Test(select_sm80, tiles_per_architecture) {
  fc_kernel_info info;
  char why[256];
  fc_problem p = problem(FC_DTYPE_BF16, 128);
  cr_assert(plan(&p, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_m, 128);
  cr_assert_eq(info.block_n, 48);
  cr_assert_eq(info.num_warps, 4);
  cr_assert(strstr(info.description, "PTX, JIT"), "%s", info.description);
  p = problem(FC_DTYPE_F16, 64);
  cr_assert(plan(&p, &A100, &info, why), "%s", why);
  cr_assert_eq(info.block_n, 128);
  cr_assert(!strstr(info.description, "PTX"), "A100 runs its own SASS: %s", info.description);
  cr_assert(plan(&p, &RTX4090, &info, why), "%s", why);
  cr_assert_eq(info.block_n, 128, "the 128x128 D=64 tile (90 KB) fits Ada's 99 KB");
  p = problem(FC_DTYPE_BF16, 256);
  cr_assert(plan(&p, &A100, &info, why), "%s", why);
  cr_assert_eq(info.block_m, 128);
  cr_assert_eq(info.num_warps, 8);
  cr_assert(plan(&p, &RTX4090, &info, why), "%s", why);
  cr_assert_eq(info.block_m, 64, "Ada's 99 KB takes the small D=256 tile");
  cr_assert_eq(info.block_n, 16);
}

Test(select_sm80, refusals_say_why) {
  fc_kernel_info info;
  char why[256];
  fc_problem p = problem(FC_DTYPE_BF16, 128);
  cr_assert_not(plan(&p, &T4, &info, why));
  cr_assert(strstr(why, "compute capability 8.0"), "%s", why);
  p = problem(FC_DTYPE_F32, 128);
  cr_assert_not(plan(&p, &H100, &info, why));
  cr_assert(strstr(why, "f32"), "%s", why);
  p = problem(FC_DTYPE_BF16, 128);
  p.q = (const char *)p.q + 2;
  cr_assert_not(plan(&p, &H100, &info, why));
  cr_assert(strstr(why, "q is not 16-byte aligned"), "%s", why);
  p = problem(FC_DTYPE_BF16, 128);
  p.v_stride[1] = 4 * 128 + 4;
  cr_assert_not(plan(&p, &H100, &info, why));
  cr_assert(strstr(why, "v is not 16-byte aligned"), "%s", why);
  p = problem(FC_DTYPE_BF16, 128);
  p.batch = 70000;
  cr_assert_not(plan(&p, &H100, &info, why));
  cr_assert(strstr(why, "grid limit"), "%s", why);
  fc_device_caps tiny = {8, 6, 10, 48 * 1024};
  p = problem(FC_DTYPE_BF16, 256);
  cr_assert_not(plan(&p, &tiny, &info, why));
  cr_assert(strstr(why, "shared memory"), "%s", why);
}

Test(select_sm80, strides_of_size_one_dims_are_free) {
  fc_kernel_info info;
  char why[256];
  fc_problem p = problem(FC_DTYPE_BF16, 64);
  p.batch = 1;
  p.q_stride[0] = p.o_stride[0] = 3; /* never multiplied by a non-zero index */
  cr_assert(plan(&p, &H100, &info, why), "%s", why);
}

/* A planner's answer on a problem of `batch` x `heads` tiles of `rows` query rows over `keys`
 * keys (MHA, bf16): "keys split N ways" in its description, or no split where splits is 0.
 * Both families' key-split tests read their tables through it. */
typedef struct split_case {
  const fc_device_caps *dev;
  int d, varlen;
  int64_t batch, heads, rows, keys;
  int splits; /* 0: none */
} split_case;
typedef int (*planner)(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *);
static void expect_key_splits(planner plan_fn, const split_case *cases, size_t n) {
  fc_kernel_info info;
  char why[256];
  for (size_t i = 0; i < n; i++) {
    fc_problem p = sized(FC_DTYPE_BF16, cases[i].d, cases[i].batch, cases[i].heads, cases[i].keys);
    p.seqlen_q = p.total_q = cases[i].rows;
    static const int32_t cu[2] = {0, 0};
    if (cases[i].varlen) p.cu_seqlens_q = p.cu_seqlens_k = cu;
    cr_assert(plan_fn(&p, cases[i].dev, &info, why), "case %zu: %s", i, why);
    char want[48];
    snprintf(want, sizeof want, "keys split %d ways", cases[i].splits);
    if (cases[i].splits)
      cr_assert(strstr(info.description, want), "case %zu: %s", i, info.description);
    else
      cr_assert_null(strstr(info.description, "keys split"), "case %zu: %s", i, info.description);
  }
}

/* sm80 splits the keys of a launch of at most 64 query rows over the SMs (key_splits_for() in
 * kernels/sm80/config.h): as many pieces as one wave holds, each at least two key tiles, no
 * more than the workspace holds, with variable lengths too; none with 65 rows or a full wave. */
Test(select_sm80, keys_split_for_short_batches) {
  static const split_case cases[] = {
      {&H100, 128, 0, 1, 8, 4, 131072, 16},    /* 8 tiles, 2731 key tiles of 48 */
      {&A100, 128, 0, 1, 8, 4, 131072, 13},    /* 108 SMs */
      {&H100, 256, 0, 1, 1, 64, 100000, 132},  /* 1 tile: one piece an SM */
      {&H100, 256, 0, 3, 1, 64, 100000, 44},   /* 65792-byte records, 3 x 44 fit the workspace */
      {&RTX4090, 256, 0, 1, 1, 64, 100000, 128}, /* Ada's 64 x 16 D=256 tile */
      {&H100, 96, 0, 2, 1, 60, 5000, 52},      /* 105 key tiles of 48: 52 pieces of at least 2 */
      {&H100, 64, 0, 1, 2, 1, 300, 0},         /* 3 key tiles of 128: too few */
      {&H100, 128, 0, 1, 8, 65, 8192, 0},      /* more rows than a piece's 64 */
      {&H100, 128, 0, 16, 8, 4, 8192, 0},      /* 128 tiles: past half the SMs */
      {&H100, 128, 1, 1, 8, 4, 8192, 16},      /* variable lengths: key tiles of seqlen_k */
  };
  expect_key_splits(plan, cases, sizeof cases / sizeof cases[0]);
}

/* Launches of at most 64 query rows a sequence take the 64-row tile (short_config() in
 * kernels/sm80/config.h), 4 warps, the key tile of their class; 65 rows take the full tile. */
Test(select_sm80, short_launches_take_64_rows) {
  fc_kernel_info info;
  char why[256];
  struct {
    const fc_device_caps *dev;
    int d;
    int64_t rows;
    int bm, bn;
  } cases[] = {
      {&H100, 128, 1, 64, 48},   {&H100, 128, 64, 64, 48},  {&H100, 128, 65, 128, 48},
      {&H100, 64, 16, 64, 128},  {&A100, 256, 16, 64, 32},  {&RTX4090, 256, 16, 64, 16},
      {&RTX4090, 256, 65, 64, 16}, /* Ada's D=256 tile is 64 x 16 anyway */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fc_problem p = sized(FC_DTYPE_BF16, cases[i].d, 64, 8, 2048); /* 512 tiles: no split */
    p.seqlen_q = p.total_q = cases[i].rows;
    cr_assert(plan(&p, cases[i].dev, &info, why), "case %zu: %s", i, why);
    cr_assert_eq(info.block_m, cases[i].bm, "case %zu: %s", i, info.description);
    cr_assert_eq(info.block_n, cases[i].bn, "case %zu: %s", i, info.description);
    cr_assert_eq(info.num_warps, cases[i].bm == 64 ? 4 : info.num_warps, "case %zu: %s", i, info.description);
    cr_assert_null(strstr(info.description, "keys split"), "case %zu: %s", i, info.description);
  }
}

#ifdef FC_HAVE_SM90
#include "internal.h"

int fc_sm90_plan(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *, size_t);

static int plan90(const fc_problem *p, const fc_device_caps *c, fc_kernel_info *info, char *why) {
  fc_kernel_info init = FC_KERNEL_INFO_INIT;
  *info = init;
  why[0] = 0;
  return fc_sm90_plan(p, c, info, why, 256);
}

Test(select_sm90, hopper_tiles) {
  fc_kernel_info info;
  char why[256];
  /* full attention, then causal, at 8192 keys: only D=128 changes its tile (176 keys without
   * a mask, on one CTA per tile) */
  const int dims[3] = {64, 128, 256}, bm[3] = {192, 128, 128}, warps[3] = {16, 12, 12};
  const int bn[2][3] = {{128, 176, 64}, {128, 128, 64}};
  for (int causal = 0; causal <= 1; causal++)
    for (int i = 0; i < 3; i++) {
      fc_problem p = problem(i == 1 ? FC_DTYPE_F16 : FC_DTYPE_BF16, dims[i]);
      p.seqlen_q = p.seqlen_k = p.total_q = p.total_k = 8192;
      p.causal = causal, p.window_right = causal ? 0 : -1;
      cr_assert(plan90(&p, &H100, &info, why), "D=%d: %s", dims[i], why);
      cr_assert_eq(info.block_m, bm[i], "D=%d", dims[i]);
      cr_assert_eq(info.block_n, bn[causal][i], "D=%d causal %d", dims[i], causal);
      cr_assert_eq(info.num_warps, warps[i], "one producer warpgroup and block_m / 64 consumers, D=%d", dims[i]);
      cr_assert(strstr(info.description, "wgmma"), "%s", info.description);
    }
  /* D=128 without a mask takes 128 keys too at up to 4096 keys (the persistent grid) */
  fc_problem short_rows = problem(FC_DTYPE_BF16, 128);
  cr_assert(plan90(&short_rows, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_n, 128);
  short_rows.seqlen_q = short_rows.seqlen_k = short_rows.total_q = short_rows.total_k = 4096;
  cr_assert(plan90(&short_rows, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_n, 128);
  cr_assert(strstr(info.description, "persistent grid"), "%s", info.description);
  /* the schedule: persistent up to 2048 keys (D=128: 4096), 4096 under a mask; one CTA per
   * tile beyond */
  const int64_t keys[7] = {4096, 4097, 4096, 8192, 2048, 4096, 2048};
  const int dim_of[7] = {128, 128, 128, 128, 64, 64, 256};
  const int causal_of[7] = {0, 0, 1, 1, 0, 0, 0}, persistent[7] = {1, 0, 1, 0, 1, 0, 1};
  for (int i = 0; i < 7; i++) {
    fc_problem p = problem(FC_DTYPE_BF16, dim_of[i]);
    p.seqlen_q = p.seqlen_k = p.total_q = p.total_k = keys[i];
    p.causal = causal_of[i], p.window_right = causal_of[i] ? 0 : -1;
    cr_assert(plan90(&p, &H100, &info, why), "%s", why);
    cr_assert(strstr(info.description, persistent[i] ? "persistent grid" : "one CTA per tile"),
              "D=%d, %lld keys, causal %d: %s", dim_of[i], (long long)keys[i], causal_of[i], info.description);
    cr_assert_eq(info.persistent, persistent[i], "D=%d, %lld keys, causal %d: info.persistent", dim_of[i],
                 (long long)keys[i], causal_of[i]);
  }
  /* a sliding window is a mask too */
  fc_problem w = problem(FC_DTYPE_BF16, 128);
  w.window_left = 256;
  cr_assert(plan90(&w, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_n, 128);
}

/* The split tail: on the persistent grid, unmasked, D=128, tiles of 16 key tiles or more,
 * where the SMs the last wave leaves idle would take at least 7 key tiles each. The standard
 * grid's D=128 shapes: 2048 tiles, 15.5 waves on 132 SMs. */
Test(select_sm90, split_tail) {
  fc_kernel_info info;
  char why[256];
  struct {
    int d, causal, varlen, copies;
    int64_t batch, heads, seq;
    int split;
  } cases[] = {
      {128, 0, 0, 0, 8, 16, 2048, 1},  /* 2048 tiles: 15 waves + 68 */
      {128, 0, 0, 0, 4, 16, 4096, 1},  /* the same tiles, 32 key tiles each */
      {256, 0, 0, 0, 8, 8, 2048, 0},   /* D=256: 1024 tiles, 7 waves + 100, but no split code */
      {128, 0, 0, 0, 16, 16, 1024, 0}, /* 2048 tiles of 8 key tiles: too short to cut */
      {128, 1, 0, 0, 8, 16, 2048, 0},  /* causal: tiles of unequal work */
      {64, 0, 0, 0, 8, 32, 2048, 0},   /* three consumer warpgroups: no split code */
      {128, 0, 1, 0, 8, 16, 2048, 0},  /* varlen */
      {128, 0, 0, 1, 8, 16, 2048, 0},  /* copies */
      {128, 0, 0, 0, 1, 33, 2048, 0},  /* 4 x 132 tiles: no partial wave */
      {128, 0, 0, 0, 1, 25, 2048, 1},  /* 400 tiles: 3 waves + 4 */
      {128, 0, 0, 0, 1, 41, 2048, 0},  /* 656 tiles: 4 waves + 128: 4 x 16 / 132 idle key tiles */
      {128, 0, 0, 0, 3, 16, 2048, 0},  /* 768 tiles: 5 waves + 108 (measured -3.5% with a split) */
      {128, 0, 0, 0, 1, 16, 4096, 0},  /* 512 tiles: 3 waves + 116 (measured -2.8%) */
      {128, 0, 0, 0, 1, 9, 1920, 0},   /* 135 tiles of 15 key tiles: too short to cut */
      {128, 0, 0, 0, 1, 9, 1921, 1},   /* 144 tiles of 16 key tiles */
      {128, 0, 0, 0, 1, 8, 2048, 0},   /* fewer tiles than SMs */
      {128, 0, 0, 0, 2, 16, 8192, 0},  /* one CTA per tile (176 keys) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fc_problem p = sized(FC_DTYPE_BF16, cases[i].d, cases[i].batch, cases[i].heads, cases[i].seq);
    p.causal = cases[i].causal, p.window_right = cases[i].causal ? 0 : -1;
    static const int32_t cu[2] = {0, 0};
    if (cases[i].varlen) p.cu_seqlens_q = p.cu_seqlens_k = cu;
    if (cases[i].copies) p.out_copies[0] = p.out, p.num_out_copies = 1;
    cr_assert(plan90(&p, &H100, &info, why), "case %zu: %s", i, why);
    cr_assert_eq(strstr(info.description, "last wave split by keys") != NULL, cases[i].split, "case %zu: %s", i,
                 info.description);
  }
}

/* With out_copies the persistent grid stores every warpgroup's rows by the TMA where the
 * kernel has an output tile (D=64 and 128), so it needs fixed lengths that are a multiple of
 * 64; other lengths and varlen batches run one CTA per tile. D=256 has no output tile and
 * keeps the persistent grid. Without copies nothing changes. */
Test(select_sm90, copies_persistent_only_aligned) {
  fc_kernel_info info;
  char why[256];
  struct {
    int d, varlen, copies;
    int64_t seq;
    int persistent;
  } cases[] = {
      {128, 0, 1, 4096, 1}, {128, 0, 1, 4000, 0}, {128, 0, 0, 4000, 1}, {128, 1, 1, 4096, 0},
      {64, 0, 1, 1024, 1},  {64, 0, 1, 1000, 0},  {64, 0, 0, 1000, 1},  {256, 0, 1, 1000, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fc_problem p = sized(FC_DTYPE_BF16, cases[i].d, 2, 8, cases[i].seq);
    p.causal = 1, p.window_right = 0;
    static const int32_t cu[3] = {0, 2048, 4096};
    if (cases[i].varlen) p.cu_seqlens_q = p.cu_seqlens_k = cu, p.total_q = p.total_k = 4096;
    if (cases[i].copies) p.out_copies[0] = p.out, p.num_out_copies = 1;
    cr_assert(plan90(&p, &H100, &info, why), "case %zu: %s", i, why);
    cr_assert_eq(info.persistent, cases[i].persistent, "case %zu: %s", i, info.description);
    cr_assert_eq(strstr(info.description, "persistent grid") != NULL, cases[i].persistent, "case %zu: %s", i,
                 info.description);
  }
}

/* Launches of at most 16 query rows a sequence (decodes) run the exact softmax on one CTA per
 * tile (exact_softmax() in kernels/sm90/config.h), whatever their keys; 17 rows, or a launch
 * with out_copies, keep the grid of the others. */
Test(select_sm90, exact_softmax_for_short_rows) {
  fc_kernel_info info;
  char why[256];
  struct {
    int d, varlen, copies;
    int64_t rows, keys;
    int exact, persistent;
  } cases[] = {
      {128, 0, 0, 1, 1024, 1, 0},  {128, 0, 0, 16, 1024, 1, 0}, {128, 0, 0, 17, 1024, 0, 1},
      {128, 0, 0, 1, 8192, 1, 0},  {64, 0, 0, 3, 300, 1, 0},    {256, 0, 0, 8, 129, 1, 0},
      {128, 1, 0, 16, 1024, 1, 0}, {128, 1, 0, 17, 1024, 0, 1}, {256, 0, 1, 1, 1024, 0, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fc_problem p = sized(FC_DTYPE_BF16, cases[i].d, 4, 8, cases[i].keys);
    p.seqlen_q = p.total_q = cases[i].rows;
    static const int32_t cu[2] = {0, 0};
    if (cases[i].varlen) p.cu_seqlens_q = p.cu_seqlens_k = cu, p.batch = 1;
    if (cases[i].copies) p.out_copies[0] = p.out, p.num_out_copies = 1;
    cr_assert(plan90(&p, &H100, &info, why), "case %zu: %s", i, why);
    cr_assert_eq(strstr(info.description, "exact softmax") != NULL, cases[i].exact, "case %zu: %s", i,
                 info.description);
    cr_assert_eq(info.persistent, cases[i].persistent, "case %zu: %s", i, info.description);
  }
}

/* Exact-softmax launches whose tiles fill at most half the SMs split their keys over the SMs
 * (key_splits() in kernels/sm90/config.h): as many pieces as one wave holds, each at least
 * two key tiles, with variable lengths too; none with 17 query rows or a full wave. */
Test(select_sm90, keys_split_for_short_batches) {
  static const split_case cases[] = {
      {&H100, 128, 0, 1, 8, 4, 131072, 16}, /* 8 tiles, 745 key tiles of 176 */
      {&H100, 128, 0, 4, 8, 4, 8192, 4},    /* 32 tiles */
      {&H100, 128, 0, 1, 2, 16, 5000, 14},  /* 29 key tiles: 14 pieces of at least 2 */
      {&H100, 256, 0, 1, 1, 1, 100000, 132}, /* 1 tile: one piece an SM */
      {&H100, 64, 0, 1, 2, 1, 300, 0},      /* 3 key tiles of 128: too few */
      {&H100, 128, 0, 16, 8, 4, 8192, 0},   /* 128 tiles: past half the SMs */
      {&H100, 128, 0, 1, 8, 17, 8192, 0},   /* 17 rows: not the exact softmax */
      {&H100, 128, 1, 1, 8, 4, 8192, 16},   /* variable lengths: 8 tiles, 47 key tiles */
  };
  expect_key_splits(plan90, cases, sizeof cases / sizeof cases[0]);
}

/* What sm90 refuses falls back to sm80 under auto dispatch; the sentence says why. */
Test(select_sm90, refusals_say_why) {
  fc_kernel_info info;
  char why[256];
  fc_problem p = problem(FC_DTYPE_BF16, 128);
  cr_assert_not(plan90(&p, &A100, &info, why));
  cr_assert(strstr(why, "compute capability 9.0"), "%s", why);
  fc_device_caps blackwell = {10, 0, 148, 232448};
  cr_assert_not(plan90(&p, &blackwell, &info, why), "sm_90a code runs on sm_90 only");
  p = problem(FC_DTYPE_BF16, 96);
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "head_dim 96"), "%s", why);
  cr_assert(plan(&p, &H100, &info, why), "sm80 takes D=96 on the H100: %s", why);
  p = problem(FC_DTYPE_BF16, 128);
  p.k_stride[2] = 130;
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "k is not 16-byte aligned"), "%s", why);
  p = problem(FC_DTYPE_F32, 64);
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "f32"), "%s", why);
  fc_device_caps small = {9, 0, 132, 100 * 1024};
  p = problem(FC_DTYPE_BF16, 256);
  cr_assert_not(plan90(&p, &small, &info, why));
  cr_assert(strstr(why, "shared memory"), "%s", why);
}
#endif

#ifdef FC_HAVE_SM90
/* The selector on a synthetic H100 context: sm90 where it applies, sm80 otherwise, and the
 * fallback's description names the family that declined and why. */
Test(select_sm90, auto_dispatch_falls_back_to_sm80) {
  fc_context ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.device = 0, ctx.cc_major = 9, ctx.cc_minor = 0, ctx.num_sms = 132, ctx.smem_optin = 232448;
  strcpy(ctx.device_name, "synthetic H100");
  fc_kernel_info info = FC_KERNEL_INFO_INIT;
  fc_problem p = problem(FC_DTYPE_BF16, 128);
  cr_assert_eq(fc_select(&ctx, &p, FC_FAMILY_AUTO, &info), FC_SUCCESS);
  cr_assert_eq(info.family, FC_FAMILY_SM90, "%s", info.description);
  cr_assert_null(strstr(info.description, "fallback"), "%s", info.description);
  p = problem(FC_DTYPE_BF16, 96);
  cr_assert_eq(fc_select(&ctx, &p, FC_FAMILY_AUTO, &info), FC_SUCCESS);
  cr_assert_eq(info.family, FC_FAMILY_SM80, "%s", info.description);
  cr_assert(strstr(info.description, "[fallback; sm90: head_dim 96"), "%s", info.description);
  cr_assert_eq(fc_select(&ctx, &p, FC_FAMILY_SM90, &info), FC_ERR_UNSUPPORTED);
  cr_assert(strstr(fc_last_error(&ctx), "head_dim 96"), "%s", fc_last_error(&ctx));
}

/* A GQA decode's description ends in the note the header promises, on sm90 (the exact
 * softmax, its keys split) and after a fallback's sentence alike: a description too long for
 * both is cut before the note. */
Test(select_sm90, decode_note_ends_the_description) {
  fc_context ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.device = 0, ctx.cc_major = 9, ctx.cc_minor = 0, ctx.num_sms = 132, ctx.smem_optin = 232448;
  const int dims[3] = {128, 64, 96};
  const fc_family fam[3] = {FC_FAMILY_SM90, FC_FAMILY_SM90, FC_FAMILY_SM80};
  for (int i = 0; i < 3; i++) {
    fc_problem p = problem(FC_DTYPE_BF16, dims[i]);
    p.heads = 8, p.heads_k = 1, p.seqlen_k = p.total_k = 8192;
    p.seqlen_q = p.total_q = 1;
    for (int t = 0; t < 4; t++) {
      int64_t *st = t == 0 ? p.q_stride : t == 1 ? p.k_stride : t == 2 ? p.v_stride : p.o_stride;
      const int64_t h = t == 1 || t == 2 ? 1 : 8;
      st[2] = dims[i], st[1] = h * dims[i], st[0] = (t == 1 || t == 2 ? 8192 : 1) * h * dims[i];
    }
    fc_kernel_info info = FC_KERNEL_INFO_INIT;
    cr_assert_eq(fc_select(&ctx, &p, FC_FAMILY_AUTO, &info), FC_SUCCESS, "D=%d", dims[i]);
    cr_assert_eq(info.family, fam[i], "%s", info.description);
    const char *note = " [decode: 8 query heads a KV head as rows]";
    const size_t len = strlen(info.description), n = strlen(note);
    cr_assert(len >= n && !strcmp(info.description + len - n, note), "D=%d: %s", dims[i], info.description);
    if (fam[i] == FC_FAMILY_SM90) /* 2 tiles after the fold: the keys split too, and both show */
      cr_assert(strstr(info.description, "exact softmax, keys split"), "%s", info.description);
    else
      cr_assert(strstr(info.description, "[fallback; sm90: head"), "%s", info.description);
  }
}

/* A variable-length batch's plan reads its length from max_seqlen_k (fc_validate_forward on a
 * CPU context, then the sm90 planner as an H100 would run it): 8 sequences of 1024 rows are
 * 8192 key rows, so without the bound D=128 takes one CTA per tile and the 176-key tile; with
 * it the persistent grid and the 128-key tile, as the same rows in a fixed-length batch. */
Test(select_sm90, varlen_plan_reads_max_seqlen_k) {
  enum { NS = 8, L = 1024, H = 2, D = 128, T = NS * L };
  fc_context *ctx = NULL;
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &ctx), FC_SUCCESS);
  static int32_t cu[NS + 1];
  for (int b = 0; b <= NS; b++) cu[b] = b * L;
  uint16_t *buf = calloc((size_t)4 * T * H * D, 2);
  cr_assert(buf);
  fc_tensor t[4];
  for (int i = 0; i < 4; i++) t[i] = fc_tensor_bshd(buf + (size_t)i * T * H * D, FC_DTYPE_BF16, 1, T, H, D);
  const int64_t bound[2] = {0, L}, want_k[2] = {T, L}, want_bn[2] = {176, 128}, want_pers[2] = {0, 1};
  for (int i = 0; i < 2; i++) {
    fc_attn_options o = FC_ATTN_OPTIONS_INIT;
    o.cu_seqlens_q = o.cu_seqlens_k = cu, o.num_seqs = NS, o.max_seqlen_q = L, o.max_seqlen_k = bound[i];
    fc_problem p;
    fc_family fam;
    cr_assert_eq(fc_validate_forward(ctx, &t[0], &t[1], &t[2], &t[3], NULL, &o, &p, &fam), FC_SUCCESS, "%s",
                 fc_last_error(ctx));
    cr_assert_eq(p.seqlen_k, want_k[i], "max_seqlen_k %lld: seqlen_k %lld", (long long)bound[i], (long long)p.seqlen_k);
    fc_kernel_info info;
    char why[256];
    cr_assert(plan90(&p, &H100, &info, why), "%s", why);
    cr_assert_eq(info.block_n, want_bn[i], "max_seqlen_k %lld: %s", (long long)bound[i], info.description);
    cr_assert_eq(info.persistent, want_pers[i], "max_seqlen_k %lld: %s", (long long)bound[i], info.description);
  }
  free(buf);
  fc_context_destroy(ctx);
}
#endif

/* Query heads folded into rows by position (fc_problem.pos_group, fold_rows() in select.c):
 * sm90 runs them on its exact softmax, one row block, at most 16 positions and 64 rows; sm80
 * on its 64-row tile, at most 64 rows. */
Test(select_sm90, rows_folded_by_position) {
  fc_kernel_info info;
  char why[256];
  /* B=1, 16 positions of H=8, Hk=2 at 32768 keys: 2 KV heads of 64 rows */
  fc_problem p = sized(FC_DTYPE_BF16, 128, 1, 2, 32768);
  p.seqlen_q = p.total_q = 64, p.pos_group = 4;
  cr_assert(plan90(&p, &H100, &info, why), "%s", why);
  cr_assert(strstr(info.description, "exact softmax, keys split 66 ways"), "%s", info.description);
  /* 2 tiles x 66 pieces, each 64 rows of 128 floats and their 64 log-sum-exps */
  cr_assert_eq(info.workspace_bytes, (size_t)2 * 66 * (64 * 128 + 64) * 4, "%zu", info.workspace_bytes);
  cr_assert(plan(&p, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_m, 64);
  {
    fc_problem whole = sized(FC_DTYPE_BF16, 128, 2, 16, 8192); /* no split: no workspace */
    cr_assert(plan90(&whole, &H100, &info, why), "%s", why);
    cr_assert_eq(info.workspace_bytes, 0, "%s", info.description);
    cr_assert(plan(&whole, &H100, &info, why), "%s", why);
    cr_assert_eq(info.workspace_bytes, 0, "%s", info.description);
  }
  p.seqlen_q = p.total_q = 68; /* 17 positions of 4 rows */
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "at most 16 positions"), "%s", why);
  cr_assert_not(plan(&p, &H100, &info, why));
  cr_assert(strstr(why, "at most 64 rows"), "%s", why);
  p.seqlen_q = p.total_q = 128, p.pos_group = 8; /* 16 positions of 8 rows: 128 rows */
  cr_assert_not(plan90(&p, &H100, &info, why));
  /* G = 7 (not a power of two): 9 positions, 63 rows; G = 3: 16 positions (48 rows), not 17 */
  p.seqlen_q = p.total_q = 63, p.pos_group = 7;
  cr_assert(plan90(&p, &H100, &info, why), "%s", why);
  cr_assert(plan(&p, &H100, &info, why), "%s", why);
  p.seqlen_q = p.total_q = 48, p.pos_group = 3;
  cr_assert(plan90(&p, &H100, &info, why), "%s", why);
  p.seqlen_q = p.total_q = 51;
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "at most 16 positions"), "%s", why);
  /* A variable-length decode with a left window: G = 4 rows, all position 0, offsets counting
   * rows (fold); a view with offsets that is not such a decode is declined. */
  static const int32_t cu[2] = {0, 1};
  fc_problem d = sized(FC_DTYPE_BF16, 128, 1, 2, 32768);
  d.cu_seqlens_q = d.cu_seqlens_k = cu, d.total_q = 1, d.seqlen_q = 4, d.fold = 4, d.pos_group = 4;
  d.window_left = 100;
  cr_assert(plan90(&d, &H100, &info, why), "%s", why);
  cr_assert(strstr(info.description, "exact softmax"), "%s", info.description);
  d.fold = 1;
  cr_assert_not(plan90(&d, &H100, &info, why));
  cr_assert(strstr(why, "by position"), "%s", why);
  /* Variable lengths of up to 8 query rows a sequence under G = 8 (speculative decoding):
   * 64 rows, the offsets counting positions (fold = G). Both families take it. */
  static const int32_t cu8[2] = {0, 8};
  fc_problem v = sized(FC_DTYPE_BF16, 128, 1, 2, 32768);
  v.cu_seqlens_q = v.cu_seqlens_k = cu8, v.total_q = 8, v.seqlen_q = 64, v.fold = 8, v.pos_group = 8;
  v.causal = 1, v.window_right = 0;
  cr_assert(plan90(&v, &H100, &info, why), "%s", why);
  cr_assert(strstr(info.description, "exact softmax"), "%s", info.description);
  cr_assert(plan(&v, &H100, &info, why), "%s", why);
  cr_assert_eq(info.block_m, 64);
}

/* Rows folded by position whose position stride (the seq stride they came from) is not
 * 16-byte aligned: sm90 declines, as it declines the unfolded problem. */
Test(select_sm90, rows_by_position_misaligned) {
  fc_kernel_info info;
  char why[256];
  fc_problem p = sized(FC_DTYPE_BF16, 128, 1, 2, 32768);
  p.seqlen_q = p.total_q = 16, p.pos_group = 4;
  p.pos_stride[0] = p.pos_stride[1] = 8 * 128;
  cr_assert(plan90(&p, &H100, &info, why), "%s", why);
  p.pos_stride[0] = 8 * 128 + 4;
  cr_assert_not(plan90(&p, &H100, &info, why));
  cr_assert(strstr(why, "q is not 16-byte aligned"), "%s", why);
}
