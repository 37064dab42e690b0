// Tile configurations of the sm80 family: one row per head dim, per shared-memory class.
// Every warp owns 16 * m_tiles query rows, so block_m = 16 * m_tiles * warps.
// Shared memory holds Q (block_m rows) plus two stages of K and V tiles (block_n rows); every
// row is padded by 8 elements (16 bytes) so that the 8 row addresses of an ldmatrix fall in
// 8 different bank groups for every head dim (pitches of 80, 144, 208, 272, 400, 528 bytes
// are all 16 mod 128 or cover all 8 groups).
#pragma once

#include "fc_problem.h"
#include "key_split.h"
#include "workspace.h"

namespace fc::sm80 {

struct Config {
  int head_dim;
  int block_m;  // query rows per CTA
  int block_n;  // key rows per iteration
  int m_tiles;  // m16 tiles per warp: each K/V fragment from shared memory feeds m_tiles mmas
};

constexpr int kPad = 8;

constexpr int smem_bytes(Config c) { return (c.block_m + 4 * c.block_n) * (c.head_dim + kPad) * 2; }  // Q + 2 stages of K and V
constexpr int warps(Config c) { return c.block_m / (16 * c.m_tiles); }

// A100 (164 KB) and Hopper (227 KB) opt-in shared memory.
//  D <= 64:  128 x 128, 4 warps of 32 rows (2 m-tiles). With one m-tile per warp every mma
//            needed its own 256-byte K or V fragment from shared memory, which on H100 ran
//            the kernel at shared-memory speed (230 TFLOP/s at D=128, 0.63x FA2); two
//            m-tiles halve that traffic (293 TFLOP/s, 0.81x). 128 keys (S = 128 floats, O =
//            64) halve the per-tile barriers and softmax passes of 64 keys: +2.4-5.5% on H100
//            (results/history/variants-h100-sm80-left32-bn128); no spills for sm_80/sm_89.
//  D 96-128: 128 x 48, 2 m-tiles. O takes 128 floats per thread. 48 keys (S = 48 floats)
//            compile without spills for sm_80 and sm_89 and ran 2.0-3.7% faster than 32 keys
//            on H100 (results/history/variants-h100-sm80-bn48); 64 keys (FA2's tile) ran
//            4-7% faster but spill 8 bytes in sm_80 SASS, which the audit rejects. Counting
//            a tile load's rows left in 32 bits took the 32-byte spill out of the sm_90 JIT of
//            this kernel: +2.8-3.9% (results/history/variants-h100-sm80-left32-bn128).
//  D >= 192: 128 x 32, 8 warps of 16 rows. O alone takes D/2 floats per thread, so only one
//            m-tile fits; 32 keys keep S at 16 floats (64 keys spilled at D=256).
constexpr Config big_smem(int d) {
  return d <= 64 ? Config{d, 128, 128, 2} : d <= 128 ? Config{d, 128, 48, 2} : Config{d, 128, 32, 1};
}
// Ada (sm_86, sm_89: 99 KB opt-in). Same as above up to D = 128 (90 KB at most; the 128-key
// D=64 and 48-key D=128 tiles were measured on H100 only); for D >= 192 a 64 x 16 tile
// (4 warps) needs 51-68 KB.
constexpr Config small_smem(int d) {
  return d <= 128 ? big_smem(d) : Config{d, 64, 16, 1};
}

// Launches of at most 64 query rows a sequence (decodes, a GQA decode's G rows, short chunks)
// run a tile of 64 rows, 4 warps of one m-tile, with the keys of the launch's own tile: half
// the 128-row tile's products on rows that are mostly padding, and fewer registers (the
// 128 x 128 D=64 tile with a cut of its key tiles spilled 120 bytes). Where their tiles fill
// at most half the SMs they also split their keys over the SMs (key_split.h): as many pieces
// as key_splits() gives and a workspace holds (records of seqlen_q rows, the longest
// sequence's with variable lengths, whose key tiles are counted from seqlen_k: max_seqlen_k
// where given, else every key row). key_splits_for() returns 1 for no split; the plan and the launch both ask
// here.
constexpr Config short_config(Config c) { return Config{c.head_dim, 64, c.block_n, 1}; }
constexpr bool short_rows(long long seqlen_q, Config c) { return seqlen_q <= short_config(c).block_m; }
inline int key_splits_for(const fc_problem *p, Config c, int sms) {
  const long long tiles = p->heads * p->batch;
  int s = key_splits(tiles, sms, (p->seqlen_k + c.block_n - 1) / c.block_n,
                     short_rows(p->seqlen_q, c));
  if (s < 2 || p->seqlen_q < 1) return 1;
  const long long fit = (long long)sms * (long long)kWorkspaceDataPerSm / (tiles * key_split_record_bytes(p->seqlen_q, c.head_dim));
  if (s > fit) s = (int)fit;
  return s < 2 ? 1 : s;
}

static_assert(smem_bytes(big_smem(256)) <= 163 * 1024, "A100 shared memory");
static_assert(smem_bytes(small_smem(256)) <= 99 * 1024, "Ada shared memory");
static_assert(smem_bytes(small_smem(128)) <= 99 * 1024, "Ada shared memory");
static_assert(smem_bytes(small_smem(64)) <= 99 * 1024, "Ada shared memory");
static_assert(smem_bytes(short_config(big_smem(256))) <= 163 * 1024, "A100 shared memory");
static_assert(smem_bytes(short_config(small_smem(256))) <= 99 * 1024 &&
                  smem_bytes(short_config(small_smem(64))) <= 99 * 1024, "Ada shared memory");

}  // namespace fc::sm80
