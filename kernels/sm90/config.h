// Tile configurations of the sm90 family (H100 / H200: 227 KB of opt-in shared memory, 64K
// registers per SM, one CTA per SM). One row per head dim; the reason beside each choice.
//
// A CTA is one producer warpgroup (one thread issues every TMA copy) and `consumers`
// warpgroups of 64 query rows each, so block_m = 64 * consumers. Shared memory holds the Q
// tile and `stages` K and V tiles, all in the 128-byte swizzled layout the TMA writes and
// wgmma reads: per 64 columns of the head dim, rows of 128 bytes.
#pragma once

#include "key_split.h"

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
FC_SM90_HD constexpr int base_smem_bytes(Config c) {
  return (block_m(c) + 2 * c.stages * c.block_n) * c.head_dim * 2 + 64 * 8 + 1024;
}
// Whether a persistent kernel has an output tile of its own in shared memory, beside the rest,
// for the TMA store of its output (D=64 and the 128-key D=128 tile; the Q tile holds the next
// tile's rows by then). Against stores from the registers, H100: +1.3 to +1.9% at D=128
// S=512 and 1024, causal S=2048 +1.4%, D=64 non-causal +0.8%
// (results/history/variants-h100-sm90-tma-store/). One CTA per tile stages its output in its
// Q rows and stores it with its threads: the TMA store from there measured 0 to -1.2%.
FC_SM90_HD constexpr bool out_staged(Config c, bool persistent) {
  return persistent && base_smem_bytes(c) + block_m(c) * c.head_dim * 2 <= 227 * 1024;
}
// Whether a launch with out_copies may run on the persistent grid: a persistent COPIES kernel
// with an output tile stores every warpgroup's 64 rows by the TMA (kAllStaged in
// fwd_kernel.cuh), so each warpgroup's rows must lie all in the sequence or all before it
// (row blocks end at the sequence's end; a TMA store at a negative row traps): fixed lengths
// that are a multiple of 64. Otherwise the launch runs one CTA per tile.
FC_SM90_HD constexpr bool copies_persist(Config c, bool varlen, long long seqlen_q) {
  return !out_staged(c, true) || (!varlen && seqlen_q % 64 == 0);
}
FC_SM90_HD constexpr int smem_bytes(Config c, bool persistent) {
  return base_smem_bytes(c) + (out_staged(c, persistent) ? block_m(c) * c.head_dim * 2 : 0);
}
// Registers per thread after setmaxnreg: the producer keeps few, consumers take the rest of
// the 64K file (the counts must be multiples of 8). At two consumer warpgroups a persistent
// producer keeps 40: it walks the tiles, and at 24 it spilled.
struct Regs {
  int producer, consumer;
};
FC_SM90_HD constexpr Regs regs(Config c, bool persistent) {
  return c.consumers != 2 ? Regs{32, 160} : persistent ? Regs{40, 232} : Regs{24, 240};
}

// The schedule: a persistent grid (one CTA per SM taking tiles in dispatch order from a
// counter; the next tile's Q and K/V load under the current one's last products and output)
// where the keys are at most 2048 (4096 at D=128), or 4096 under a mask (causal, windows); one
// CTA per tile beyond. Measured on H100 against one CTA per tile (results/history/variants-h100-sm90-pers-q/):
// run 5, persistent +14 to +18% at S=512 (D=128, D=64 non-causal), +7 to +10% at S=1024,
// +3 to +8% at S=2048 except D=64 non-causal (-0.5%), D=256 -0.8 to +3%; run 6, causal
// S=4096 +0.2 to +3.6%, causal S=8192 -0.2 to -1.0%. With every size persistent (run 2)
// non-causal S=4096 and 8192 lost 1.5-3.6%, with the inner loop's SASS unchanged. Unmasked
// D=128 at 4096 keys, on the 128-key tile with the TMA store and the tail under the last P V:
// +0.6% against one CTA per tile with the same tail, D=64 -2.0% earlier
// (results/history/variants-h100-sm90-tail/, variants-h100-sm90-pers4096/).
constexpr long long kPersistentMaxKeysMasked = 4096;
FC_SM90_HD constexpr long long persistent_max_keys(int d) { return d == 128 ? 4096 : 2048; }
FC_SM90_HD constexpr bool persistent_schedule(int d, long long seqlen_k, bool masked) {
  return seqlen_k <= (masked ? kPersistentMaxKeysMasked : persistent_max_keys(d));
}
// Launches of at most 16 query rows a sequence (decodes: a GQA decode folded into rows by
// fc_select has G rows; with variable lengths, max_seqlen_q; a GQA launch of 2-16 rows
// folded by position counts its positions, fc_problem.pos_group) run the exact softmax (no
// slack; kMaxSlack below), in a kernel of their own on one CTA per tile, so the other kernels
// keep their code. Each tile of such a launch is its sequence's only row block, mostly empty
// rows, so its time is reading K and V (measured: as fast as the lazy kernels); and there
// decode-gqa3-bhsd-softcap missed the 2x rule seven times as often with kMaxSlack 2 as with
// the exact softmax, which misses it as often as sm80 (README, Limits). Not with
// out_copies: the scaling harness's storing launches keep their kernels.
constexpr long long kExactMaxRows = 16;
FC_SM90_HD constexpr bool exact_softmax(long long seqlen_q, bool copies) {
  return !copies && seqlen_q <= kExactMaxRows;
}
static_assert(exact_softmax(1, false) && exact_softmax(16, false) && !exact_softmax(17, false) &&
                  !exact_softmax(1, true),
              "exact_softmax");
// Whether a launch reads each K/V tile with one CTA, so that its time is the K/V stream's:
// the exact softmax's launches (a GQA decode runs its query heads as rows of one tile), and
// launches of one row block a sequence where every query head has a KV head of its own. Their
// K and V maps promote L2 fills by 128 bytes (make_tensor_maps() in family.cu says why).
FC_SM90_HD constexpr bool kv_read_once(bool exact, long long seqlen_q, int block_m, long long heads, long long heads_k) {
  return exact || (seqlen_q <= block_m && heads == heads_k);
}
static_assert(kv_read_once(true, 1, 128, 32, 8) && kv_read_once(false, 128, 128, 32, 32) &&
                  !kv_read_once(false, 129, 128, 32, 32) && !kv_read_once(false, 64, 128, 32, 8),
              "kv_read_once");
// Keys split over the SMs (key_split.h): a launch of the exact softmax (at most 16 query
// positions a sequence, one row block) may split, with fixed or variable lengths; each
// piece's record holds the launch's rows (at most 64 where query heads are folded into rows
// by position: fc_problem.pos_group).

// The grid a problem runs on, for the launch and the selector's report alike:
// persistent_schedule() and, for a launch with out_copies, copies_persist(); one CTA per tile
// for the exact softmax's launches (exact_softmax()). (The launch
// still runs one CTA per tile when no tile counter is free, or when a storing launch's
// output maps cannot be made.)
FC_SM90_HD constexpr bool persistent_grid(Config c, long long seqlen_k, bool masked, bool copies, bool varlen,
                                          long long seqlen_q) {
  return persistent_schedule(c.head_dim, seqlen_k, masked) && (!copies || copies_persist(c, varlen, seqlen_q)) &&
         !exact_softmax(seqlen_q, copies);
}

// The split tail, on the persistent grid where every tile visits the same key tiles (no
// mask, no varlen, no copies; D=128): with `tiles` over `ctas` CTAs the last wave holds tiles
// % ctas tiles and leaves the other SMs idle for a whole tile (the standard grid's D=128
// shapes have 2048 tiles, 15.5 waves on 132 SMs: 3% of the time; cuDNN's time steps at the
// same tile counts). From the tile this returns on, the tiles are cut by keys into `ctas`
// equal runs of key tiles, one work item each after the whole tiles, so the CTAs end within a
// key tile or two of each other; a tile cut between two runs is finished by the second of its
// two pieces to end. That saves the idle SMs' share of a tile, (ctas - tiles % ctas) / ctas x
// key_tiles key tiles a CTA, and costs about 10 us on an H100 (the extra pieces' first Q K^T
// and softmax, a partial O written and merged; a piece's write or merge took 2 us in a
// trace), about 7 key tiles of 1.6 us at D=128. So a split needs the saving to reach 7 key
// tiles, and tiles of at least 16 key tiles (shorter ones measured slower whatever the
// saving). Measured against whole tiles on H100 (results/history/variants-h100-sm90-split-tail/):
// saving 15.5 (400 tiles of 16 key tiles) +15.5%; 15.5 (S=4096, 2048 tiles) +1.3 to +2.4%;
// 7.8 (S=2048, 2048 tiles) 0 to +1.0%; 3.9 (S=4096, 512 tiles) -2.8%; 2.9 (S=2048, 768 tiles)
// -3.5%; 4-key-tile tiles -8 to -12%; D=256 -3 to -14%. The pieces' start and length are
// packed in 10 bits each and the cut in 11, and the kernel finds the runs in 32-bit
// arithmetic (split tiles x key tiles x CTAs < 2^31). Returns `tiles` for no split.
FC_SM90_HD constexpr long long split_from(long long tiles, long long ctas, long long key_tiles) {
  return tiles <= ctas || tiles % ctas == 0 || (ctas - tiles % ctas) * key_tiles < 7 * ctas || key_tiles < 16 ||
                 key_tiles > 1023 || ctas > 2047 || 2 * ctas * ctas * key_tiles >= (1ll << 31)
             ? tiles
             : (tiles / ctas - 1) * ctas;
}
// Workspace of one cut (the partial O, row maxima and sums a piece leaves) per consumer warp:
// 32 lanes x (D / 8 + 1) float4.
FC_SM90_HD constexpr int split_warp_bytes(int d) { return 32 * (d / 8 + 1) * 16; }
FC_SM90_HD constexpr int split_cut_bytes(Config c) { return 4 * c.consumers * split_warp_bytes(c.head_dim); }

//  D = 64:  3 x 64 rows, 128 keys, 2 stages (96 KB). The softmax costs as much as the two
//           products here, so three consumer warpgroups take turns on the tensor cores (FA3's
//           choice); at 160 registers S (64), P (32) and O (32) fit.
//  D = 128: 2 x 64 rows, 2 stages. Full attention on one CTA per tile (beyond 4096 keys):
//           176 keys (208 KB), FA3's tile: fewer barriers and softmax passes per key, S (88)
//           + P (44) + O (64) under 240 registers. Masked (causal, windows) or on the
//           persistent grid: 128 keys (160 KB, 192 KB with the output tile), so the diagonal
//           or last tile wastes less and the output leaves through the TMA (see narrow()).
//  D = 256: 2 x 64 rows, 64 keys, 2 stages (192 KB): O alone is 128 floats a thread, and
//           K and V tiles of 64 keys are 32 KB each.
// `masked`: the problem has a causal mask or a window.
FC_SM90_HD constexpr bool masked(long long window_left, long long window_right) {
  return window_left >= 0 || window_right >= 0;
}
// Which D=128 tile (config()'s `narrow` argument): the 176-key one only for unmasked rows of
// more than 4096 keys (one CTA per tile). At 1024 keys and below the 128-key tile measured
// faster on H100 (+2.2 to +2.8% at S=512, +0.4 to +0.8% at S=1024;
// results/history/variants-h100-sm90-pers-q/, run 9); at 2048 keys about as fast (+0.7%,
// NOTES), and it leaves room for the output tile (+0.4% more with it).
FC_SM90_HD constexpr bool narrow(long long seqlen_k, long long window_left, long long window_right) {
  return masked(window_left, window_right) || seqlen_k <= persistent_max_keys(128);
}
FC_SM90_HD constexpr Config config(int d, bool narrow) {
  return d == 64    ? Config{64, 3, 128, 2}
         : d == 128 ? (narrow ? Config{128, 2, 128, 2} : Config{128, 2, 176, 2})
                    : Config{256, 2, 64, 2};
}
// The exact softmax's launches (exact_softmax(): decodes) read each K/V tile once and
// compute little with it, so their time is the K/V stream's. At D=64 those that run whole
// tiles (no key split) take kExactStagesD64 stages of 32 KB instead of config()'s 2: on an
// H200 batched D=64 decodes ran 1.9-2.9% faster with 4 (3% slower with 6), where
// single-sequence ones, whose keys split into pieces of 4-5 key tiles, ran up to 6% (1 us)
// slower, so a split launch keeps 2 (results/history/session-8474796/, calls 5-8). The other
// head dims keep config()'s stages.
constexpr int kExactStagesD64 = 4;
FC_SM90_HD constexpr Config exact_whole_config(Config c) {
  return c.head_dim == 64 ? Config{c.head_dim, c.consumers, c.block_n, kExactStagesD64} : c;
}

// A persistent launch with out_copies under a causal mask (or any mask bounded on the right
// only) takes its dispatch order's last tiles first (fwd_launch.cuh says why): the last group
// of `group` interleaved pairs' row blocks that see at most 4 key tiles, `blocks` row blocks
// of `block_m` rows ending at the sequence's end; at most a quarter of `num_tiles`.
FC_SM90_HD constexpr int lead_tiles(long long seqlen_q, long long seqlen_k, long long window_right, int blocks,
                                    int block_m, int block_n, int group, int num_tiles) {
  int light = 0;  // row blocks of at most 4 key tiles, from the first
  for (int m = 0; m < blocks; m++) {
    const long long m_last = seqlen_q - (long long)(blocks - 1 - m) * block_m - 1;
    if (m_last + (seqlen_k - seqlen_q) + window_right + 1 > 4LL * block_n) break;
    light++;
  }
  const long long lead = (long long)light * group;
  return (int)(lead < num_tiles / 4 ? lead : num_tiles / 4);
}
// The two measured rows (results/history/scale-light-first-x2/): causal S=4096, D=128, 8 heads,
// B=1 (8 pairs interleaved, 256 tiles) and B=4 (groups of 12, 1024 tiles); a ragged causal
// length (1000 rows: blocks of 104, 128, ..., the first four light); the cap.
static_assert(lead_tiles(4096, 4096, 0, 32, 128, 128, 8, 256) == 32 &&
                  lead_tiles(4096, 4096, 0, 32, 128, 128, 12, 1024) == 48 &&
                  lead_tiles(1000, 1000, 0, 8, 128, 128, 2, 16) == 4 && lead_tiles(1000, 1000, 0, 8, 128, 128, 3, 64) == 12 &&
                  lead_tiles(512, 512, 0, 4, 128, 128, 8, 32) == 8,
              "lead_tiles");

// How far (log2 domain) a tile's row maximum must exceed the row's running one before the
// softmax moves it and rescales O: with random scores a warp rescaled O (64 FMUL a thread at
// D=128) in most key tiles for a rise of a fraction of a unit. Below the slack the largest P
// of a row (at most 2^kMaxSlack) is rounded like the others where the exact softmax has it at
// exactly 1, which with 8 broke the 2x rule in about one test run in 25; what 2 fixes and
// costs (1.6-2.7% at D=128 on variance-1 inputs) is in NOTES.md and README's Limits.
constexpr float kMaxSlack = 2.f;

FC_SM90_HD constexpr bool same_config(Config a, Config b) {
  return a.head_dim == b.head_dim && a.consumers == b.consumers && a.block_n == b.block_n && a.stages == b.stages;
}
// Whether config(d, narrow) can run on the persistent grid: where the wide tile differs from
// the narrow one, narrow() gives it only problems of more than persistent_max_keys() unmasked
// keys, which persistent_schedule() runs one CTA per tile, so it has no persistent kernel.
FC_SM90_HD constexpr bool persistent_config(int d, bool narrow) {
  return narrow || same_config(config(d, true), config(d, false));
}

static_assert(smem_bytes(config(64, true), true) <= 227 * 1024 && smem_bytes(config(128, true), true) <= 227 * 1024 &&
                  smem_bytes(config(128, false), true) <= 227 * 1024 && smem_bytes(config(256, true), true) <= 227 * 1024 &&
                  smem_bytes(exact_whole_config(config(64, true)), false) <= 227 * 1024,
              "Hopper shared memory");
// setmaxnreg moves registers within the CTA's pool (the launch's per-thread count, at most
// 65536 / threads in multiples of 8, times the threads): the consumers can only grow by what
// the producer gave back, or their setmaxnreg waits forever (a 32-register producer hung
// every D=128 and D=256 launch).
FC_SM90_HD constexpr int launch_regs(Config c) { return 65536 / threads(c) / 8 * 8; }
FC_SM90_HD constexpr bool regs_fit(Config c, bool persistent) {
  const Regs r = regs(c, persistent);
  return (launch_regs(c) - r.producer) * 128 >= (r.consumer - launch_regs(c)) * 128 * c.consumers &&
         r.producer * 128 + r.consumer * 128 * c.consumers <= 65536;
}
FC_SM90_HD constexpr bool regs_fit(Config c) { return regs_fit(c, false) && regs_fit(c, true); }
static_assert(regs_fit(config(64, false)) && regs_fit(config(128, false)) && regs_fit(config(128, true)) &&
                  regs_fit(config(256, false)),
              "setmaxnreg pool");

}  // namespace fc::sm90
