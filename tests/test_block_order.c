/* The forward grid's dispatch order (kernels/common/fc_block_order.h): a bijection onto
 * (pair, row block), the old pair-by-pair order for group 1, heavy row blocks first inside a
 * group, the short group first; and the group size rule. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "fc_block_order.h"

Test(block_order, bijection_and_order) {
  const int64_t blocks_list[] = {1, 2, 3, 7, 64};
  const int64_t pairs_list[] = {1, 2, 3, 5, 16, 17, 32};
  for (size_t bi = 0; bi < sizeof blocks_list / sizeof *blocks_list; bi++)
    for (size_t pi = 0; pi < sizeof pairs_list / sizeof *pairs_list; pi++)
      for (int64_t group = 0; group <= pairs_list[pi] + 1; group++) {
        const int64_t blocks = blocks_list[bi], pairs = pairs_list[pi], n = blocks * pairs;
        const int64_t g = group < 1 ? 1 : group > pairs ? pairs : group, rem = pairs % g;
        char *seen = calloc((size_t)n, 1);
        fc_block prev = {-1, -1};
        for (int64_t i = 0; i < n; i++) {
          fc_block b = fc_block_order(i, blocks, pairs, group);
          cr_assert(b.hb >= 0 && b.hb < pairs && b.m >= 0 && b.m < blocks, "blocks %lld pairs %lld group %lld: %lld -> (%lld, %lld)",
                    (long long)blocks, (long long)pairs, (long long)group, (long long)i, (long long)b.hb, (long long)b.m);
          cr_assert(!seen[b.hb * blocks + b.m], "(%lld, %lld) twice", (long long)b.hb, (long long)b.m);
          seen[b.hb * blocks + b.m] = 1;
          if (g == 1) {
            cr_assert_eq(b.hb, i / blocks);
            cr_assert_eq(b.m, blocks - 1 - i % blocks);
          }
          /* the pairs of the short group, then of each full group, are contiguous */
          const int64_t gfirst = b.hb < rem ? 0 : rem + (b.hb - rem) / g * g;
          const int64_t gsize = b.hb < rem ? rem : g;
          if (i > 0 && prev.hb >= gfirst && prev.hb < gfirst + gsize) {
            /* inside one group: same row block for the next pair, else the next lighter block */
            if (b.hb > prev.hb) cr_assert_eq(b.m, prev.m);
            else cr_assert_eq(b.m, prev.m - 1);
          } else if (i > 0) {
            cr_assert_eq(b.m, blocks - 1, "a new group starts with its heaviest row block");
            cr_assert_eq(b.hb, gfirst);
          }
          prev = b;
        }
        free(seen);
      }
}

Test(block_order, group_size) {
  const int64_t MiB = 1 << 20;
  /* not causal, or a window on the left: one pair at a time */
  cr_assert_eq(fc_head_group(8192, 128, 2, 32, 8192 / 128, 1, 1, -1, -1, 24 * MiB), 1);
  cr_assert_eq(fc_head_group(8192, 128, 2, 32, 8192 / 128, 1, 1, 256, 0, 24 * MiB), 1);
  /* causal: K and V of one pair are 4 MiB at S = 8192, D = 128, bf16 */
  cr_assert_eq(fc_head_group(8192, 128, 2, 32, 8192 / 128, 1, 1, -1, 0, 24 * MiB), 6);
  /* GQA: four query heads share them */
  cr_assert_eq(fc_head_group(8192, 128, 2, 32, 8192 / 128, 1, 4, -1, 0, 24 * MiB), 24);
  cr_assert_eq(fc_head_group(8192, 128, 2, 8, 8192 / 128, 1, 4, -1, 0, 24 * MiB), 8);
  /* long sequences: one pair; a single pair: 1 */
  cr_assert_eq(fc_head_group(65536, 128, 2, 16, 65536 / 128, 1, 1, -1, 0, 24 * MiB), 1);
  cr_assert_eq(fc_head_group(1024, 64, 2, 1, 1024 / 128, 1, 1, -1, 0, 24 * MiB), 1);
  /* fewer row blocks a pair than the family's minimum: the plain order */
  cr_assert_eq(fc_head_group(1024, 128, 2, 256, 8, 10, 1, -1, 0, 24 * MiB), 1);
  cr_assert_eq(fc_head_group(2048, 128, 2, 128, 16, 10, 1, -1, 0, 24 * MiB), 24);
  /* a grid of more CTAs than 32-bit arithmetic holds: the plain order */
  cr_assert_eq(fc_head_group(1024, 64, 2, 1 << 24, 1 << 8, 1, 1, -1, 0, 24 * MiB), 1);
  cr_assert_eq(fc_head_group(1024, 64, 2, 1 << 22, 1 << 8, 1, 1, -1, 0, 24 * MiB), 96);
}

Test(block_order, lead_first) {
  /* A rotation: the last `lead` positions first, in their order, then the rest from 0; a
   * bijection for every lead, and no change for 0 or a lead that is not below the total. */
  const uint32_t totals[] = {1, 2, 7, 256, 512};
  for (size_t ti = 0; ti < sizeof totals / sizeof *totals; ti++) {
    const uint32_t n = totals[ti];
    for (uint32_t lead = 0; lead <= n + 1; lead++) {
      char *seen = calloc(n, 1);
      for (uint32_t i = 0; i < n; i++) {
        const uint32_t j = fc_lead_first(i, n, lead);
        cr_assert(j < n && !seen[j], "total %u lead %u: %u -> %u", n, lead, i, j);
        seen[j] = 1;
        if (lead == 0 || lead >= n) cr_assert_eq(j, i);
        else cr_assert_eq(j, i < lead ? n - lead + i : i - lead);
      }
      free(seen);
    }
  }
  /* weak S=8192 (B=1, 8 heads, groups of 2 and 6, 64 row blocks): a lead of 24 starts on the
   * last group's four lightest row blocks and then takes the heaviest */
  const fc_block first = fc_block_order(fc_lead_first(0, 512, 24), 64, 8, 6);
  cr_assert_eq(first.m, 3);
  cr_assert_eq(first.hb, 2);
  const fc_block next = fc_block_order(fc_lead_first(24, 512, 24), 64, 8, 6);
  cr_assert_eq(next.m, 63);
  cr_assert_eq(next.hb, 0);
}
