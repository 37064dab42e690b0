// Tile configurations of the sm90 family (H100 / H200: 227 KB of opt-in shared memory, 64K
// registers per SM, one CTA per SM). One row per head dim; the reason beside each choice.
//
// A CTA is one producer warpgroup (one thread issues every TMA copy) and `consumers`
// warpgroups of 64 query rows each, so block_m = 64 * consumers. Shared memory holds the Q
// tile and `stages` K and V tiles, all in the 128-byte swizzled layout the TMA writes and
// wgmma reads: per 64 columns of the head dim, rows of 128 bytes.
#pragma once

#ifdef __CUDACC__
#define FC_SM90_HD __host__ __device__
#else
#define FC_SM90_HD
#endif

namespace fc::sm90 {

struct Config {
  int head_dim;
  int consumers;  // consumer warpgroups (64 query rows each)
  int block_n;    // key rows per stage: the N of the Q K^T wgmma
  int stages;     // K/V ring depth
};

FC_SM90_HD constexpr int block_m(Config c) { return 64 * c.consumers; }
FC_SM90_HD constexpr int threads(Config c) { return 128 * (c.consumers + 1); }
// Q + stages * (K + V) in 16-bit elements, the mbarriers, and 1 KB to align the swizzle atoms.
FC_SM90_HD constexpr int smem_bytes(Config c) {
  return (block_m(c) + 2 * c.stages * c.block_n) * c.head_dim * 2 + 64 * 8 + 1024;
}
// Registers per thread after setmaxnreg: the producer keeps few, consumers take the rest of
// the 64K file (the counts must be multiples of 8).
FC_SM90_HD constexpr int producer_regs(Config c) { return c.consumers == 2 ? 24 : 32; }
FC_SM90_HD constexpr int consumer_regs(Config c) { return c.consumers == 2 ? 240 : 160; }

//  D = 64:  2 x 64 rows, 128 keys, 2 stages (80 KB). S and O take 64 + 32 floats a thread.
//  D = 128: 2 x 64 rows, 128 keys, 2 stages (160 KB). O (64 floats) + S (64) + P (32 regs)
//           fit under 240 registers; 128 keys give each Q K^T wgmma an N of 128.
//  D = 256: 2 x 64 rows, 64 keys, 2 stages (192 KB): O alone is 128 floats a thread, and
//           K and V tiles of 64 keys are 32 KB each.
FC_SM90_HD constexpr Config config(int d) {
  return d == 64    ? Config{64, 2, 128, 2}
         : d == 128 ? Config{128, 2, 128, 2}
                    : Config{256, 2, 64, 2};
}

static_assert(smem_bytes(config(64)) <= 227 * 1024, "Hopper shared memory");
static_assert(smem_bytes(config(128)) <= 227 * 1024, "Hopper shared memory");
static_assert(smem_bytes(config(256)) <= 227 * 1024, "Hopper shared memory");
static_assert(producer_regs(config(128)) * 128 + consumer_regs(config(128)) * 256 <= 65536,
              "register file");

}  // namespace fc::sm90
