/* Which (batch-head pair, row block) a CTA computes: the dispatch order of the forward grid.
 * Plain C, shared by the GPU families (device and host) and the unit tests.
 *
 * The grid is (row blocks, heads, batch), and the hardware hands CTAs out in linear order,
 * x fastest. The pairs hb = b * heads + h are taken in groups of `group` consecutive pairs.
 * Inside a group the row blocks run from the last to the first, each row block for every
 * pair of the group before the next. A group smaller than `group` (the remainder) comes
 * first, so the launch ends on a full group.
 *
 * Why: under a causal mask the last row blocks are the heaviest. With group = 1 (one pair's
 * row blocks, heavy to light, then the next pair's) the last pair's heavy blocks start in
 * the final wave and leave most SMs idle while they finish. Interleaving the pairs of a
 * group moves every heavy block early. The group stays small enough that its keys and
 * values fit in L2 (fc_head_group), because the CTAs that run at once share them. */
#ifndef FC_BLOCK_ORDER_H
#define FC_BLOCK_ORDER_H

#include <stdint.h>

#if defined(__CUDACC__)
#define FC_HD __host__ __device__
#else
#define FC_HD
#endif

typedef struct fc_block {
  int hb; /* b * heads + h                                */
  int m;  /* row block index, 0 = the first rows            */
} fc_block;

/* CTA `linear` (0 <= linear < blocks * pairs <= INT32_MAX, which fc_head_group ensures
 * before it returns a group above 1) of a grid of `blocks` row blocks for each of `pairs`
 * batch-head pairs, in groups of `group` (>= 1) pairs. 32-bit unsigned arithmetic: the
 * 64-bit divisions it had first cost 4-6% of a launch at S <= 1024 on H100
 * (results/history/variants-h100-d22ddb7). */
FC_HD static inline fc_block fc_block_order(uint32_t linear, uint32_t blocks, uint32_t pairs, uint32_t group) {
  if (group < 1) group = 1;
  if (group > pairs) group = pairs;
  const uint32_t rem = pairs % group; /* the first, smaller group */
  uint32_t first = 0, size = rem, local = linear;
  if (linear >= rem * blocks) {
    const uint32_t rest = linear - rem * blocks;
    first = rem + rest / (group * blocks) * group;
    size = group;
    local = rest % (group * blocks);
  }
  fc_block out;
  out.hb = (int)(first + local % size);
  out.m = (int)(blocks - 1 - local / size);
  return out;
}

/* Position `linear` of `total` in an order whose last `lead` entries run first (a lead of 0,
 * or not below the total, leaves the order as it is): where the output also crosses to other GPUs, the launch starts on the lightest row
 * blocks, which end its causal order, so that the last wave does not hand the link more
 * bytes than it drains while the heavy tiles compute (lead_tiles() in the sm90 family). */
FC_HD static inline uint32_t fc_lead_first(uint32_t linear, uint32_t total, uint32_t lead) {
  if (lead == 0 || lead >= total) return linear;
  return linear < lead ? total - lead + linear : linear - lead;
}

#if defined(__CUDACC__)
/* The row block, head and batch of this CTA, for a grid of (row blocks, heads, batch), its
 * last `lead` CTAs of the order run first (fc_lead_first). Group 1 without a lead is the
 * plain order, read straight from the block index. */
__device__ static inline void fc_this_block(int group, int heads, uint32_t lead, int *m, int *h, int *b) {
  if (group == 1 && lead == 0) {
    *m = (int)(gridDim.x - 1 - blockIdx.x);
    *h = (int)blockIdx.y;
    *b = (int)blockIdx.z;
    return;
  }
  const uint32_t total = gridDim.x * gridDim.y * gridDim.z;
  const uint32_t linear = fc_lead_first(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z), total, lead);
  const fc_block blk = fc_block_order(linear, gridDim.x, gridDim.y * gridDim.z, (uint32_t)group);
  *m = blk.m;
  *h = (int)((uint32_t)blk.hb % (uint32_t)heads);
  *b = (int)((uint32_t)blk.hb / (uint32_t)heads);
}
#endif

/* Keys and values that the CTAs running at once may share through L2: under half of the
 * smallest L2 the families run on (40 MB on A100, 48 MB on L4, 50 MB on H100). */
#define FC_ORDER_L2_BUDGET ((int64_t)24 << 20)

/* How many batch-head pairs to interleave. 1 (plain pair-by-pair order) unless the cost of a
 * row block grows with its index (a causal or left-unbounded mask); then as many pairs as
 * keep their distinct keys and values within `l2_budget` bytes. group_q = heads / heads_k;
 * `blocks` = row blocks per pair; fewer than `min_blocks` keep group 1 (a family whose
 * short CTAs lose more to the scattered K/V reads than the order gains sets it). A grid of
 * more than INT32_MAX CTAs keeps group 1. */
static inline int64_t fc_head_group(int64_t seqlen_k, int64_t head_dim, int64_t elem_bytes, int64_t pairs,
                                    int64_t blocks, int64_t min_blocks, int64_t group_q, int64_t window_left,
                                    int64_t window_right, int64_t l2_budget) {
  if (!(window_left < 0 && window_right >= 0) || pairs < 2) return 1;
  if (blocks < 1 || blocks < min_blocks || pairs > INT32_MAX / blocks) return 1;
  const int64_t kv_per_pair = 2 * seqlen_k * head_dim * elem_bytes / (group_q > 0 ? group_q : 1);
  int64_t g = kv_per_pair > 0 ? l2_budget / kv_per_pair : pairs;
  if (g < 1) g = 1;
  if (g > pairs) g = pairs;
  return g;
}

#endif
