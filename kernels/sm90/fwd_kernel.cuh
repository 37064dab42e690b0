// sm90 forward kernel: FlashAttention-3 structure on Hopper (TMA, mbarriers, wgmma).
//
// A tile is block_m = 64 * C query rows of one (sequence, head). Two schedules of the same
// tile code (persistent_schedule() in config.h chooses): one CTA per tile on a (row blocks,
// heads, batch) grid, or a persistent grid (at most one CTA per SM) whose CTAs take tiles in
// the dispatch order of fc_block_order.h (heaviest causal row blocks first) from the launch's
// own counter in global memory (acquire_tile_counter in family.cu). Taking them in order, as the hardware hands out the CTAs of a plain grid, keeps
// the CTAs that run at once on the same heads (a static stride over the tiles lost 8-18%:
// history/fwd-grid-sm90-h100-v3*).
//
// Warpgroup 0 is the producer: after giving back most of its registers, one thread issues
// every TMA copy (Q, then K and V tiles into a ring of `stages`), each completing on a "full"
// mbarrier; it refills a buffer once every consumer warp has arrived on its "empty" mbarrier.
// In the persistent kernel it also takes the tiles and passes each, decoded, to the consumers
// through a 2-slot ring in shared memory; the K/V ring runs on across tiles, the next tile's Q
// loads as soon as the current tile's last Q K^T has read Q, so both arrive under the
// current tile's last products and output. Warpgroups 1..C are consumers, 64 rows each:
// S = Q K^T with K in shared memory and Q there too (its first 96 columns from registers in
// the 128-key D=128 kernels: kQRegs) (wgmma m64nBNk16), the online softmax in
// registers, then O += P V with P re-packed from the S accumulators as the register A operand
// and V read MN-major through the transpose bit. Key tiles run from the last to the first, so
// masked tiles (causal diagonal, ragged tail) come first and the rest skip the mask. While one
// consumer warpgroup is in its softmax the other's wgmmas keep the tensor cores busy.
#pragma once

#include <cuda.h>  // CUtensorMap (a 128-byte kernel parameter); no driver calls here
#include <math.h>

#include "config.h"
#include "fc_block_order.h"
#include "fc_problem.h"
#include "ptx_sm90.cuh"
#include "wgmma.cuh"

namespace fc::sm90 {

constexpr int kMaxCopies = 7;  // FC_MAX_OUT_COPIES

struct Params {
  void *out;
  void *copies[kMaxCopies];  // out_copies: out's strides; the first num_copies are used
  int num_copies;
  unsigned int *signals[kMaxCopies];  // out_signals: null entries for none
  int any_signal;                     // some copy has a counter
  int o_tma;  // 1: tm_o maps out and tm_c every copy (make_out_map), for the persistent kernel's TMA store
  float *lse;
  int64_t o_stride[3], lse_stride[3];
  // Positions are 32-bit: the planner keeps every tensor under 2^30 rows and the launch
  // clamps windows to 2^30 - 1, so sums of a position and a window never overflow.
  int seqlen_q, seqlen_k, total_q, total_k;
  int heads, group;  // group = heads / heads_k
  float scale_log2;  // softmax scale * log2(e) (no softcap)
  float softcap;     // 0 = off
  float pre_cap;     // softmax scale / softcap
  float post_cap;    // softcap * log2(e)
  int window_left, window_right;      // -1 = unbounded
  int head_group;                     // batch-head pairs interleaved (fc_block_order.h)
  const int32_t *cu_q, *cu_k;
  int blocks;     // query row blocks per (sequence, head)
  int pairs;      // heads * batch
  int num_tiles;  // blocks * pairs (under 2^30, which the planner ensures)
  // Persistent schedule: this launch's own tile counters (acquire_tile_counter): [0] hands
  // out tiles, [1] counts the CTAs done; the last CTA puts both back to 0 and then clears
  // *busy, a flag in host-mapped memory, which hands the counters back to the host's pool.
  unsigned int *counter;
  volatile unsigned int *busy;
  // The split tail (split_from() in config.h): work items below split_from are whole tiles;
  // item split_from + j (j < gridDim.x) is the j-th of gridDim.x equal runs through the key
  // tiles (split_nb a tile) of tiles split_from..num_tiles-1. num_items: where the items end
  // (num_tiles without a split). ws: per cut (1 .. gridDim.x - 1) and consumer warp, what the
  // first of the cut tile's two pieces to claim the cut leaves (split_cut_bytes); ws_state: a
  // word per cut and warp (0 free, 1 claimed, 2 written; the piece that merges puts it back
  // to 0, so the launch leaves them as it found them). Null without a split. The host's pool
  // knows the workspace free again from an event recorded after the launch
  // (acquire_workspace(), workspace.h).
  int split_from, split_nb, num_items;
  float4 *ws;
  unsigned int *ws_state;
  // A COPIES launch: its first `lead` work items (persistent) or CTAs (one CTA per tile) take
  // the dispatch order's last `lead` tiles (lead_tiles() in fwd_launch.cuh), the rest follow
  // from the first (fc_lead_first); 0: none.
  int lead;
  // Keys split over the SMs (key_split.h; exact-softmax kernels only): the grid's
  // x holds `splits` CTAs per row block, CTA x taking run x % splits of its tile's key tiles,
  // and each leaves its rows in `part` (records of record_rows rows, key_split.h, in order
  // (split, batch, head)) for merge_key_splits(). splits 1 and part null otherwise.
  int splits;
  float *part;
  // With offsets: sequence b's first row of out and lse is cu_q[b] times these elements in, and
  // each row the offsets count is `fold` rows (fc_problem.fold), of which a sequence runs at
  // most `units` (seqlen_q / fold: fc_seq_rows()). The maps of q and out count a folded
  // decode's offsets in their batch dimension (make_tensor_maps()).
  int64_t o_offset_stride, lse_offset_stride;
  int fold, units;
  // Query heads folded into rows by position (fc_problem.pos_group, G; the exact softmax's
  // kernels only): row r is position r / G ((r * pos_mul) >> 16, fc_pos_mul()), pos_stride
  // elements apart, of query head r % G, the seq stride apart; 1 and 65536 unfolded.
  // q_by_pos: Q comes through a 5-D map (dims
  // column, head in the group, position, KV head, batch; with offsets one batch of all
  // positions) where the positions have a stride (all but a windowed variable-length decode,
  // whose rows are all position 0 and load through the 4-D map).
  int pos_group, q_by_pos;
  int64_t o_pos_stride, lse_pos_stride;
  // Rows a split piece's record holds (key_split_record_floats()): the launch's rows.
  int record_rows;
  // (Last, so that the other kernels' parameters keep their offsets.) fc_pos_mul(pos_group);
  // and the rows of a Q box by position, G x (BM / G): a tile's rows then start at a
  // position's first, m0 = sq - q_box_rows (BM otherwise).
  int pos_mul, q_box_rows;
};

// The tensor maps of the copies (out_copies, out's layout; make_out_map) for the persistent
// COPIES kernel's TMA stores, valid where Params::o_tma. A kernel without copies takes an empty
// parameter, so its launch copies nothing more.
template <bool COPIES> struct CopyMaps {
  CUtensorMap m[kMaxCopies];
};
template <> struct CopyMaps<false> {
  int none;
};

// One 16-byte global store. Written as a plain uint4 store, ptxas split some into four
// 4-byte stores (the quad transpose leaves the words in registers that are not a 4-aligned run).
__device__ __forceinline__ void store16(void *ptr, uint4 v) {
  asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(ptr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w));
}

// Store 16 bytes of output at element offset `off` of out and, in a COPIES kernel, of every
// copy. The copies' loop runs over constant indices, so the pointers stay kernel parameters.
// A separate instantiation: with the copies' stores compiled in but not taken, D=256 causal
// S=512 lost 12% and D=128 S=2048 3% (history/out-copies-h200x2-*).
template <typename T, bool COPIES>
__device__ __forceinline__ void store_out(const Params &p, int64_t off, uint4 v) {
  store16(static_cast<T *>(p.out) + off, v);
  if constexpr (COPIES) {
#pragma unroll
    for (int c = 0; c < kMaxCopies; c++)
      if (c < p.num_copies) store16(static_cast<T *>(p.copies[c]) + off, v);
  }
}

// out_signals: once every warp of this warpgroup has issued its stores (the named barrier),
// one thread makes them visible to every device (the system-scope fence covers the other
// warps' stores through the barrier, cumulatively) and adds the warpgroup's stored rows to
// each copy's counter. Called once a CTA, after its last tile, by the thread that issued the
// warpgroup's TMA stores (BULK: there were some), which first waits for them to complete. The
// fence waits for the stores to land: on the persistent grid once, at the CTA's end, which
// the kernel's end waits for anyway; with one CTA per tile once a tile, and the SM's next CTA
// waits with it.
template <bool BULK>
__device__ __forceinline__ void signal_copies(const Params &p, int rows, int barrier) {
  if (!p.any_signal) return;
  named_barrier_sync(barrier, 128);
  if (threadIdx.x % 128 != 0 || rows == 0) return;
  if constexpr (BULK) {
    bulk_wait();
    fence_proxy_async_global();
  }
  __threadfence_system();
#pragma unroll
  for (int c = 0; c < kMaxCopies; c++)
    if (c < p.num_copies && p.signals[c])
      asm volatile("red.relaxed.sys.global.add.u32 [%0], %1;" ::"l"(p.signals[c]), "r"(rows) : "memory");
}

__device__ __forceinline__ int clamp_int(int x, int lo, int hi) {
  return x < lo ? lo : x > hi ? hi : (int)x;
}

// 4x4 transpose of 32-bit words across a quad (lanes 4q..4q+3, t = lane % 4): on entry a[j]
// is element (t, j), on exit element (j, t). Round 1 swaps odd/even lanes' words j of the
// other parity; round 2 swaps the halves between lanes t and t ^ 2.
__device__ __forceinline__ void quad_transpose(uint32_t (&a)[4], int t) {
  const bool odd = t & 1, hi = t & 2;
  uint32_t s0 = __shfl_xor_sync(0xffffffffu, odd ? a[0] : a[1], 1);
  uint32_t s1 = __shfl_xor_sync(0xffffffffu, odd ? a[2] : a[3], 1);
  if (odd) a[0] = s0, a[2] = s1;
  else a[1] = s0, a[3] = s1;
  s0 = __shfl_xor_sync(0xffffffffu, hi ? a[0] : a[2], 2);
  s1 = __shfl_xor_sync(0xffffffffu, hi ? a[1] : a[3], 2);
  if (hi) a[0] = s0, a[1] = s1;
  else a[2] = s0, a[3] = s1;
}

template <typename T, int D, int BM, int BN, int STAGES, bool OSTAGE> struct SharedStorage {
  // Per 64 columns of the head dim, rows of 128 bytes in the TMA's 128-byte swizzle; every
  // array is a multiple of 1024 bytes so every 8-row atom stays 1024-byte aligned.
  T q[BM * D];
  T k[STAGES][BN * D];
  T v[STAGES][BN * D];
  T o[OSTAGE ? BM * D : 8];  // the persistent kernel's output on its way out (out_staged())
  uint64_t q_full, q_empty, k_full[STAGES], v_full[STAGES], k_empty[STAGES], v_empty[STAGES];
  uint64_t tile_full[2], tile_empty[2];
  // The tiles handed from the producer to the consumers, decoded: row block, head, batch and
  // KV head (head -1: stop).
  int4 tile[2];
  int piece[2];  // 0: the whole tile; else a piece of it (split tail, piece_code())
  int stored[3];  // rows each consumer warpgroup has stored (out_signals), kept by its thread 0
  // Varlen: each V tile lands on v_land, and the producer warpgroup's second warp zeroes its
  // rows past the sequence's end before it arrives on v_full. keys[stage][phase & 1]: the
  // tile's keys in the sequence (-1: stop), two a stage so that the producer writes a tile's
  // before it waits for the stage (the one it overwrites is two uses old, long read).
  uint64_t v_land[STAGES];
  int keys[STAGES][2];
};

// A piece of a tile in the split tail, as handed over: key tiles [a, a + n) of the tile in
// the order it visits them, and the cut (1 .. 2047) where the other piece of the tile meets it.
__host__ __device__ constexpr int piece_code(int a, int n, int cut) { return a | n << 10 | cut << 20; }

// PERSISTENT: the grid is at most one CTA per SM and each CTA takes tiles from the launch's
// counter (persistent_schedule() in config.h says when); otherwise the grid is (row blocks,
// heads, batch), one tile per CTA. COPIES: the output is also stored to p.copies.
// EXACT: the exact softmax (no slack), for the launches of exact_softmax() in config.h.
template <typename T, int D, int BN, int C, int STAGES, bool PERSISTENT, bool COPIES, bool EXACT = false,
          bool VARLEN = false>
__global__ void __launch_bounds__(128 * (C + 1), 1)
    fwd_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
               const __grid_constant__ CUtensorMap tm_v, const __grid_constant__ CUtensorMap tm_o,
               const __grid_constant__ CopyMaps<COPIES> tm_c, const Params p) {
  constexpr Config kCfg{D, C, BN, STAGES};
  constexpr Regs kRegs = regs(kCfg, PERSISTENT);
  constexpr int BM = block_m(kCfg);
  constexpr int kCols = D / 64;  // 64-column blocks of the head dim
  constexpr int kNT = BN / 8;    // n8 blocks of S per thread row pair
  constexpr int kDT = D / 8;     // n8 blocks of O
  constexpr bool kIdleSkip = C > 2;  // a warpgroup with no row of the sequence skips its products
  // The early exponentials (softmax() below) where registers allow: with three consumer
  // warpgroups (D=64, 160 registers) their speculative form spilled and lost 3-5%.
  constexpr bool kEarlyExp = C == 2;
  // The tile's bookkeeping under its last P V (mainloop's tail) where registers allow: with
  // three consumer warpgroups the values it holds across the wait spilled.
  constexpr bool kTailUnderPv = C == 2;
  // The split tail (Params::split_from) at D=128 only: at D=64 (three consumer warpgroups at
  // 160 registers, the producer at 32) its code spilled in both, and at D=256 it measured
  // 0.86-0.97 against whole tiles (results/history/variants-h100-sm90-split-tail/).
  constexpr bool kSplit = C == 2 && D == 128;
  // Q K^T takes its first kQRegs k-steps' A operand (Q's first 96 columns at D=128) from
  // registers, loaded once a tile, and the rest from shared memory: the wgmmas' reads of Q
  // share the SM's shared-memory bandwidth with the TMA's writes of K and V and the reads of
  // K and V. A probe with no Q read from shared memory ran 1.3-3.7% faster on the 128-key
  // D=128 shapes (results/history/variants-h100-sm90-q-regs/); 4 k-steps measured +0.4 to
  // +1.0%, 6 a further +0.2 to +1.2% (variants-h100-sm90-q-regs6/). 24 registers: the
  // persistent consumer reaches R229 of 232; all 8 k-steps spilled there, and where they fit
  // (one CTA per tile, 240) measured 0.4-0.6% slower than 6. The 176-key tile, D=64 and
  // D=256 have none to spare.
  constexpr int kQRegs = D == 128 && C == 2 && BN == 128 ? 6 : 0;
  // A piece claims its cut in mainloop's tail, under its last P V, where the atomic's round
  // trip hides.
  static_assert(!kSplit || kTailUnderPv, "a piece claims its cut in the tail");
  // How far a tile's row maximum must rise before the running one moves (move_max() below).
  constexpr float kSlack = EXACT ? 0.f : kMaxSlack;
  static_assert(!EXACT || (!PERSISTENT && !COPIES), "the exact softmax runs one CTA per tile, without copies");
  // The persistent kernel's output leaves through its own tile by the TMA (out_staged()), in a
  // COPIES kernel to every copy too (one store per copy from the same tile).
  constexpr bool kStageOut = out_staged(kCfg, PERSISTENT);
  // A persistent COPIES kernel with an output tile stores every warpgroup's rows by the TMA:
  // the launch runs it only where each warpgroup's 64 rows are all in the sequence or none
  // (copies_persist() in config.h) with every map made, and it has no split tail. With the
  // threads' stores to the copies in its tile loop for the other tiles, it ran 3-6% slower
  // than the plain kernel even with no copy written (results/history/weak-tokens-sweep-h100x2/).
  constexpr bool kAllStaged = COPIES && kStageOut;
  using Smem = SharedStorage<T, D, BM, BN, STAGES, out_staged(kCfg, PERSISTENT)>;
  static_assert(sizeof(Smem) + 1023 <= smem_bytes(kCfg, PERSISTENT), "smem_bytes() holds the shared storage, aligned");
  extern __shared__ unsigned char smem_raw[];
  Smem &s = *reinterpret_cast<Smem *>(smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023));

  // The query position of row r (r itself but where the exact softmax's launch folds query
  // heads into rows, Params::pos_group; a row below 0 gets a position below 0: fc_pos_mul()).
  auto pos = [&](int r) {
    if constexpr (EXACT) return (r * p.pos_mul) >> 16;
    else return r;
  };
  // One work tile: which rows of which (sequence, head), and the key tiles it visits.
  struct Tile {
    int m0, h, b, hk, q0, k0, sq, sk, diag, m_last, nb_last, nblocks;
  };
  // A row block of a sequence shorter than the longest (varlen) may lie wholly before its start.
  auto has_rows = [&](const Tile &w) { return w.m0 + BM > 0 && w.m0 < w.sq; };
  // Which row block of which (head, batch): the integer divisions by runtime values.
  auto place = [&](fc_block blk) {
    const int h = blk.hb % p.heads;
    return make_int4(blk.m, h, blk.hb / p.heads, h / p.group);
  };
  // The rest of the tile, from its place (x: row block, y: head, z: batch, w: KV head).
  auto tile_of = [&](int4 pl) {
    Tile w;
    w.h = pl.y, w.b = pl.z, w.hk = pl.w;
    const int m = pl.x;
    w.q0 = 0, w.k0 = 0, w.sq = p.seqlen_q, w.sk = p.seqlen_k;
    if (p.cu_q) {
      // Offsets live in device memory the host could not check: clamp them to the tensors.
      w.q0 = min(max(p.cu_q[w.b], 0), p.total_q);
      w.sq = max(min(max(p.cu_q[w.b + 1], 0), p.total_q) - w.q0, 0);
      w.k0 = min(max(p.cu_k[w.b], 0), p.total_k);
      w.sk = max(min(max(p.cu_k[w.b + 1], 0), p.total_k) - w.k0, 0);
      // At most the longest sequence's rows (max_seqlen_q, which the host cannot check): what
      // a split piece's record holds. A folded decode's sequence has one counted row.
      if constexpr (VARLEN) w.sq = (int)fc_seq_rows(w.sq, p.units, p.fold);
    }
    // Row blocks end at the sequence's end, so a length that is not a multiple of BM leaves
    // the first block short: its rows below 0 compute nothing anyone stores, and under a
    // causal mask that block is the lightest, where the last one, which those rows used to
    // pad, is the heaviest (D=64, 192 rows: a third of the heaviest tile at S=2048).
    // (The exact softmax's Q by position comes in boxes of whole positions, q_box_rows.)
    if constexpr (EXACT) w.m0 = w.sq - (p.blocks - m) * p.q_box_rows;
    else w.m0 = w.sq - (p.blocks - m) * BM;
    // Keys visible to any row of this block: [n_lo, n_hi] (bottom-right aligned diagonal), by
    // the rows' positions (pos()).
    w.diag = w.sk - pos(w.sq), w.m_last = min(w.m0 + BM, w.sq) - 1;
    int n_lo = 0, n_hi = w.sk - 1;
    if (p.window_left >= 0) n_lo = max(n_lo, pos(max(w.m0, 0)) + w.diag - p.window_left);
    if (p.window_right >= 0) n_hi = min(n_hi, pos(w.m_last) + w.diag + p.window_right);
    const int nb_first = n_lo / BN;
    w.nb_last = n_hi >= n_lo ? n_hi / BN : nb_first - 1;
    w.nblocks = has_rows(w) ? w.nb_last - nb_first + 1 : 0;  // 0: no row, or no visible key
    return w;
  };
  // Where row `row` of tile w's sequence sits in the maps of q and out: (row, batch). A
  // varlen map is one batch of total rows, the offset moving the row; a folded decode's map
  // holds the fold's rows and counts the offsets in its batch dimension.
  auto map_row = [&](const Tile &w, int row) {
    if constexpr (VARLEN) return p.fold > 1 ? row : w.q0 + row;
    else return w.q0 + row;
  };
  auto map_batch = [&](const Tile &w) {
    if constexpr (VARLEN) return p.fold > 1 ? w.q0 : 0;
    else return p.cu_q ? 0 : w.b;
  };
  // Element offset of the sequence's first row in out and in lse.
  auto out_base = [&](const Tile &w) {
    if constexpr (VARLEN) return (int64_t)w.q0 * p.o_offset_stride + w.h * p.o_stride[2];
    else return w.b * p.o_stride[0] + (int64_t)w.q0 * p.o_stride[1] + w.h * p.o_stride[2];
  };
  // Element offset of row `row` from its sequence's first in out and in lse: rows folded by
  // position (the exact softmax's, Params::pos_group) lie in two strides.
  auto out_row = [&](int row) {
    return fc_row_offset(row, EXACT ? p.pos_group : 1, EXACT ? p.pos_mul : 65536, p.o_pos_stride, p.o_stride[1]);
  };
  auto lse_row = [&](int row) {
    return fc_row_offset(row, EXACT ? p.pos_group : 1, EXACT ? p.pos_mul : 65536, p.lse_pos_stride, p.lse_stride[1]);
  };
  auto lse_at = [&](const Tile &w, int row) {
    if constexpr (VARLEN) return (int64_t)w.q0 * p.lse_offset_stride + lse_row(row) + w.h * p.lse_stride[2];
    else if constexpr (EXACT) return w.b * p.lse_stride[0] + lse_row(row) + w.h * p.lse_stride[2];  // q0 = 0
    else return w.b * p.lse_stride[0] + (int64_t)(w.q0 + row) * p.lse_stride[1] + w.h * p.lse_stride[2];
  };
  // A piece of tile w (split tail): its key tiles a .. a + n - 1 in visiting order.
  auto cut = [&](Tile w, int pc) {
    if (pc != 0) w.nb_last -= pc & 1023, w.nblocks = (pc >> 10) & 1023;
    return w;
  };


  // One CTA per tile: this CTA's tile, found before any barrier so that a CTA past its
  // sequence's end leaves at once.
  Tile mine{};
  int piece = 0;  // keys split over the SMs (EXACT): this CTA's run of its tile's key tiles
  if (!PERSISTENT) {
    int m, h, b;
    if (EXACT && p.splits > 1) {  // one row block group, no interleave (kMinBlocksPlain)
      piece = (int)(blockIdx.x % (unsigned)p.splits);
      m = p.blocks - 1 - (int)(blockIdx.x / (unsigned)p.splits), h = blockIdx.y, b = blockIdx.z;
    } else {
      fc_this_block(p.head_group, p.heads, COPIES ? (uint32_t)p.lead : 0u, &m, &h, &b);
    }
    mine = tile_of(make_int4(m, h, b, h / p.group));  // fc_this_block has divided already
    if (!has_rows(mine)) return;  // the whole CTA, before any barrier
    if (EXACT && p.splits > 1) {
      // Run `piece` of `splits` runs of the visited key tiles (key_split_run(), from the last
      // key tile down): masks go by each key tile's place, so a run needs nothing else. An
      // empty run (fewer key tiles than pieces) leaves O = 0 and a log-sum-exp of -inf.
      int first;
      mine.nblocks = key_split_run(mine.nblocks, p.splits, piece, &first);
      mine.nb_last -= first;
    }
  }

  if (threadIdx.x == 0) {
    mbar_init(&s.q_full, 1);
    mbar_init(&s.q_empty, 4 * C);  // one arrival per consumer warp
#pragma unroll
    for (int i = 0; i < STAGES; i++) {
      mbar_init(&s.k_full[i], 1);
      mbar_init(&s.v_full[i], 1);
      if constexpr (VARLEN) mbar_init(&s.v_land[i], 1);
      mbar_init(&s.k_empty[i], 4 * C);
      mbar_init(&s.v_empty[i], 4 * C);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
      mbar_init(&s.tile_full[i], 1);
      mbar_init(&s.tile_empty[i], 4 * C);
    }
    mbar_init_fence();
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    // ---------------- producer ----------------
    regs_dealloc<kRegs.producer>();
    // Varlen tensors hold the next sequence's rows (or rows past the last offset) after a
    // sequence's end, where the TMA reads them into a tile's tail: K's columns there are
    // masked, but P V would take 0 times V's rows, NaN where they hold an infinity or a NaN.
    // So in a varlen kernel (VARLEN: launches with cu_seqlens) every V tile lands on v_land,
    // and the second warp zeroes those rows before it passes the tile on to the consumers
    // (v_full), tile after tile in the ring's order. The generic stores reach the wgmmas'
    // reads (the async proxy) through fence.proxy.async and the barrier's release. The
    // fixed-length kernels compile none of it: their code is what it was before.
    if constexpr (VARLEN) if (threadIdx.x / 32 == 1) {
      const int lane = threadIdx.x % 32;
      for (int kv = 0;; kv++) {
        const int stage = kv % STAGES;
        mbar_wait(&s.v_land[stage], (kv / STAGES) & 1);
        // Read by lane 0 alone, the lane that arrives on v_full after it: racecheck counts
        // only the arriving thread's accesses as ordered before the producer's next write
        // (as in take_slot_lane0).
        int keys = 0;
        if (lane == 0) keys = s.keys[stage][(kv / STAGES) & 1];
        keys = __shfl_sync(0xffffffffu, keys, 0);
        if (keys < 0) return;
        if (keys < BN) {
          // Whole 128-byte rows of each 64-column block: the swizzle moves 16-byte chunks
          // within a row, never across rows.
#pragma unroll
          for (int c = 0; c < kCols; c++) {
            uint4 *rows = reinterpret_cast<uint4 *>(s.v[stage] + c * BN * 64);
            for (int i = keys * 8 + lane; i < BN * 8; i += 32) rows[i] = make_uint4(0u, 0u, 0u, 0u);
          }
          fence_proxy_async();
        }
        __syncwarp();
        if (lane == 0) mbar_arrive(&s.v_full[stage]);
      }
    }
    if (threadIdx.x != 0) return;
    // After the last of kv V tiles: once the second warp has passed on the tile this stage
    // held (it has read its keys), a phase of v_land without a copy tells it to stop.
    auto stop_zeroing = [&](int kv) {
      const int stage = kv % STAGES;
      if (kv >= STAGES) mbar_wait(&s.v_full[stage], ((kv - STAGES) / STAGES) & 1);
      s.keys[stage][(kv / STAGES) & 1] = -1;
      mbar_arrive(&s.v_land[stage]);
    };
    tma_prefetch_map(&tm_q);
    tma_prefetch_map(&tm_k);
    tma_prefetch_map(&tm_v);
    // Tensor coordinates (dims innermost first): column, row, head, batch. Varlen tensors are
    // one batch of total rows, and the sequence's offset moves the row.
    auto load_q = [&](const Tile &w) {
      if constexpr (EXACT) mbar_expect_tx(&s.q_full, p.q_box_rows * D * (int)sizeof(T));
      else mbar_expect_tx(&s.q_full, BM * D * (int)sizeof(T));
#pragma unroll
      for (int c = 0; c < kCols; c++)
        if (EXACT && p.q_by_pos)  // map dims: column, head in the group, position, KV head, batch
          tma_load_5d(s.q + c * BM * 64, &tm_q, &s.q_full, c * 64, 0, w.q0 + pos(w.sq) - p.q_box_rows / p.pos_group, w.h,
                      p.cu_q ? 0 : w.b);
        else
          tma_load_4d(s.q + c * BM * 64, &tm_q, &s.q_full, c * 64, map_row(w, w.m0), w.h, map_batch(w));
    };
    // K and V of key tile `it` of tile w into stage kv % STAGES of the ring, kv counting the
    // CTA's key tiles. K and V of a stage are released separately: K as soon as its scores
    // exist, V after P V, one tile later. So K runs a tile ahead of V through the ring.
    // Between them, after_k() (the persistent kernel loads Q there).
    auto load_kv = [&](const Tile &w, int it, int kv, int keys, auto after_k) {
      const int stage = kv % STAGES, qb = p.cu_q ? 0 : w.b;
      const uint32_t parity = ((kv / STAGES) & 1) ^ 1;  // the previous use's phase
      const int row = w.k0 + (w.nb_last - it) * BN;
      // Varlen: the tile's keys in the sequence, for the second warp (above), which zeroes V's
      // rows past the end (only the tile's last key tile, the first visited, can run past it).
      if constexpr (VARLEN) s.keys[stage][parity ^ 1] = keys;
      if (kv >= STAGES) mbar_wait(&s.k_empty[stage], parity);
      mbar_expect_tx(&s.k_full[stage], BN * D * (int)sizeof(T));
#pragma unroll
      for (int c = 0; c < kCols; c++)
        tma_load_4d(s.k[stage] + c * BN * 64, &tm_k, &s.k_full[stage], c * 64, row, w.hk, qb);
      after_k();
      if (kv >= STAGES) mbar_wait(&s.v_empty[stage], parity);
      uint64_t *bar = VARLEN ? &s.v_land[stage] : &s.v_full[stage];
      mbar_expect_tx(bar, BN * D * (int)sizeof(T));
#pragma unroll
      for (int c = 0; c < kCols; c++)
        tma_load_4d(s.v[stage] + c * BN * 64, &tm_v, bar, c * 64, row, w.hk, qb);
    };
    if (!PERSISTENT) {
      if (mine.nblocks > 0) {
        load_q(mine);
        if constexpr (VARLEN) {  // the first key tile apart, so the others pass a constant
          load_kv(mine, 0, 0, mine.sk - mine.nb_last * BN, [] {});
          for (int it = 1; it < mine.nblocks; it++) load_kv(mine, it, it, BN, [] {});
        } else {
          for (int it = 0; it < mine.nblocks; it++) load_kv(mine, it, it, BN, [] {});
        }
      }
      if constexpr (VARLEN) stop_zeroing(mine.nblocks);
      return;
    }
    unsigned int *counter = p.counter;
    int item = blockIdx.x;  // the first work item of each CTA is its index; then the counter's
    int k = 0, kv = 0, loaded = 0;  // tiles handed over, K/V tiles and Q tiles issued so far
    // Hand tile `tile` (or a piece of it: pc) to the consumers, its place decoded here so
    // that the divisions stay off the consumers' path between one tile's last product and the
    // next tile's first; tile -1 tells them to stop. Then issue its Q and K/V loads.
    auto run = [&](int tile, int pc) {
      const int slot = k & 1;
      const int4 pl = tile < 0 ? make_int4(0, -1, 0, 0)
                               : place(p.head_group == 1 ? fc_block{tile / p.blocks, p.blocks - 1 - tile % p.blocks}
                                                         : fc_block_order((uint32_t)tile, (uint32_t)p.blocks,
                                                                          (uint32_t)p.pairs, (uint32_t)p.head_group));
      if (k >= 2) mbar_wait(&s.tile_empty[slot], ((k / 2) & 1) ^ 1);
      s.tile[slot] = pl;
      s.piece[slot] = pc;
      mbar_arrive(&s.tile_full[slot]);  // release: the consumers' wait sees the tile
      k++;
      if (tile < 0) return;
      const Tile w = cut(tile_of(pl), pc);
      // Q after the tile's first K tile: the Q tile is free once every consumer warp's last
      // Q K^T of the previous tile is done.
      auto first_q = [&] {
        if (loaded > 0) mbar_wait(&s.q_empty, (loaded - 1) & 1);
        load_q(w);
        loaded++;
      };
      if constexpr (VARLEN) {  // the first key tile apart: its key count held no register
        if (w.nblocks < 1) return;  // across the Q load (which spilled the producer's)
        load_kv(w, 0, kv++, w.sk - w.nb_last * BN, first_q);
        for (int it = 1; it < w.nblocks; it++, kv++) load_kv(w, it, kv, BN, [] {});
      } else {
        for (int it = 0; it < w.nblocks; it++, kv++)
          load_kv(w, it, kv, BN, [&] {
            if (it == 0) first_q();
          });
      }
    };
    for (;;) {
      if (item >= p.num_items) {
        run(-1, 0);
        if constexpr (VARLEN) stop_zeroing(kv);
        break;
      }
      if (!kSplit || item < p.split_from) {
        // The lightest tiles first where the output also crosses to other GPUs: at the end
        // they would hand the link more bytes than it drains while the last tiles compute.
        if constexpr (COPIES)
          run((int)fc_lead_first((uint32_t)item, (uint32_t)p.num_tiles, (uint32_t)p.lead), 0);
        else
          run(item, 0);
      } else {
        // Run j of the split tail: key tiles [lo, hi) of the tiles from split_from on, counted
        // tile after tile; it starts or ends inside at most one tile (a run is at least one
        // tile long), and the cut there is numbered by the run boundary it lies on.
        // In 32 bits (split_from() keeps total * gridDim.x under 2^31): 64-bit divisions
        // spilled the producer's 24-40 registers.
        const unsigned int j = item - p.split_from, nb = p.split_nb;
        const unsigned int total = (p.num_tiles - p.split_from) * nb;
        const unsigned int lo = total * j / gridDim.x, hi = total * (j + 1) / gridDim.x;
        for (unsigned int x = lo; x < hi;) {
          const unsigned int t = x / nb, a = x - t * nb, b = min(hi - t * nb, nb);
          run(p.split_from + (int)t, a == 0 && b == nb ? 0 : piece_code(a, b - a, a > 0 ? j : j + 1));
          x = t * nb + b;
        }
      }
      // The next item only once this one's copies are issued, as a plain grid hands an SM
      // its next CTA when one ends. Taken at the start of the current tile instead, it stayed
      // promised to this CTA for a whole tile: 5-10% slower at D=256 causal.
      item = (int)gridDim.x + (int)atomicAdd(counter, 1u);
    }
    // Every CTA has taken its last tile before it counts itself done; the last one resets
    // the counters for a later launch and hands them back to the host's pool.
    __threadfence();
    if (atomicAdd(&counter[1], 1u) == gridDim.x - 1) {
      counter[0] = 0;
      counter[1] = 0;
      __threadfence_system();  // the zeros are visible before the host sees the flag
      *p.busy = 0u;
    }
    return;
  }

  // ---------------- consumers ----------------
  regs_alloc<kRegs.consumer>();
  const int cw = wg - 1;  // this warpgroup's 64 rows: cw * 64 ..
  const int tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // accumulator row-in-8 and column pair
  // Without softcap the scale is folded into the exponent (one FFMA per score); with it the
  // scores are mapped to the log2 domain first and the factor is 1.
  const float to_log2 = p.softcap > 0.f ? 1.f : p.scale_log2;
  // This warpgroup's Q rows, as the descriptor of their first k-step (the others are offsets).
  const uint64_t q_desc = smem_desc_sw128(s.q + cw * 64 * 64, 16);
  // Ping-pong: the consumer warpgroups take turns issuing their wgmmas (named barrier 2 + cw
  // holds this one until the previous one has issued), so one warpgroup's softmax runs while
  // the other's products occupy the tensor cores. Every warpgroup takes nblocks + 1 turns a
  // tile, so in the persistent kernel the turns run on across tiles: the first warpgroup
  // starts its next tile while the others still issue their last P V.
  const int next = cw + 1 == C ? 0 : cw + 1;
  auto my_turn = [&] { named_barrier_sync(2 + cw, 256); };
  auto pass_turn = [&] { named_barrier_arrive(2 + next, 256); };

  // The products and the online softmax of tile w, whose first key tile is the CTA's kv-th
  // and whose Q is the CTA's loaded-th: O, row_max (log2 domain) and row_sum accumulate.
  // tail(): the tile's bookkeeping that needs neither O nor the tensor cores (the row sums,
  // the next tile's place), run while the last P V is still on the tensor cores.
  auto mainloop = [&](const Tile &w, int kv, int loaded, float (&o)[D / 2], float (&row_max)[2],
                      float (&row_sum)[2], auto &&tail) {
    const int m0 = w.m0, sk = w.sk, diag = w.diag, m_last = w.m_last;
    // From lane 0: where the tile's place comes round the tile loop from the previous tile's
    // tail, the compiler could not prove the key-tile count the same across the warp, and the
    // loop's counter and its stage arithmetic left the uniform datapath (R2UR 22 -> 48 at D=128).
    const int nb_last = kTailUnderPv ? __shfl_sync(0xffffffffu, w.nb_last, 0) : w.nb_last;
    const int nblocks = kTailUnderPv ? __shfl_sync(0xffffffffu, w.nblocks, 0) : w.nblocks;
    const int row0 = m0 + cw * 64 + warp * 16 + g;  // rows row0 and row0 + 8
    uint32_t qf[kQRegs > 0 ? kQRegs : 1][4];  // Q's first k-steps (issue_qk)
    // S = Q K^T for key tile `it`: D/16 wgmmas, K-major; the first kQRegs take Q from registers.
    auto issue_qk = [&](float (&sc)[BN / 2], int stage) {
      // Opaque to the compiler here, so that it derives the k-steps' descriptors at their use
      // instead of hoisting all of them out of the loop into registers.
      uint64_t qd = q_desc;
      asm volatile("" : "+l"(qd));
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) {  // column block kk/4, then 32 bytes per step in it
        const uint64_t kd = smem_desc_sw128(s.k[stage] + (kk / 4) * BN * 64 + (kk % 4) * 16, 16);
        bool from_regs = false;
        if constexpr (kQRegs > 0) {  // rs_kmajor exists for the 128-key tile only
          from_regs = kk < kQRegs;
          if (from_regs) Wgmma<T, BN>::rs_kmajor(sc, qf[kk < kQRegs ? kk : 0], kd, kk > 0);
        }
        if (!from_regs)
          Wgmma<T, BN>::ss(sc, desc_advance(qd, ((kk / 4) * BM * 64 + (kk % 4) * 16) * (int)sizeof(T)), kd, kk > 0);
      }
      wgmma_commit();
    };
    // Q's first kQRegs k-steps as the wgmma's register A operand (rows row0 and row0 + 8,
    // columns 16kk + 2t and + 8), read out of the swizzled Q tile once its TMA load is in:
    // k-step kk lies in 64-column block kk / 4 (BM rows of 128 bytes each), 32 bytes a step.
    auto load_qf = [&] {
      const unsigned char *q = reinterpret_cast<const unsigned char *>(s.q) + (cw * 64 + warp * 16 + g) * 128 + 4 * t;
#pragma unroll
      for (int kk = 0; kk < kQRegs; kk++)
#pragma unroll
        for (int j = 0; j < 4; j++)  // j: row + 8 (odd j), columns + 8 (j >= 2)
          qf[kk][j] = *reinterpret_cast<const uint32_t *>(q + (kk / 4) * BM * 128 + (j & 1) * 8 * 128 +
                                                          (((2 * (kk % 4) + j / 2) ^ g) * 16));
    };
    // O += P V: V is [keys][head dim] in shared memory, MN-major for this product; the next
    // 64 head-dim columns are BN rows of 128 bytes further on.
    auto issue_pv = [&](const uint32_t (&pa)[BN / 16][4], int stage) {
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++)
        Wgmma<T, D>::rs(o, pa[kk], smem_desc_sw128(s.v[stage] + kk * 16 * 64, BN * 128));
      wgmma_commit();
    };
    // Mask, softcap and the online softmax of key tile `it`, in place: S becomes exp(S - max).
    // Returns whether any row of this warp changed its maximum (O then needs corr).
    auto softmax = [&](float (&sc)[BN / 2], int it, float (&corr)[2]) {
      const int n0 = (nb_last - it) * BN;
      if (p.softcap > 0.f) {
#pragma unroll
        for (int i = 0; i < BN / 2; i++) sc[i] = p.post_cap * tanhf(sc[i] * p.pre_cap);
      }
      // Mask only tiles that cross a boundary, in 32-bit offsets relative to the tile.
      const bool full = n0 + BN <= sk &&
                        (p.window_right < 0 || n0 + BN - 1 <= pos(m0) + diag + p.window_right) &&
                        (p.window_left < 0 || n0 >= pos(m_last) + diag - p.window_left);
      if (!full) {
        const int kmax = clamp_int(sk - n0, 0, BN);  // columns < kmax exist
        // The right bound (end of the keys, causal diagonal, right window) and the left bound
        // (left window) are applied in separate passes: one pass with both held more
        // temporaries while S, P and O are all live, and spilled at wide tiles.
#pragma unroll
        for (int r = 0; r < 2; r++) {
          const int d0 = pos(row0 + r * 8) + diag - n0;  // the diagonal's column
          const int hi = (p.window_right < 0 ? kmax - 1 : clamp_int(d0 + p.window_right, -1, kmax - 1)) - 2 * t;
#pragma unroll
          for (int i = 0; i < kNT; i++)
#pragma unroll
            for (int e = 0; e < 2; e++)
              if (i * 8 + e > hi) sc[i * 4 + 2 * r + e] = -INFINITY;
        }
        if (p.window_left >= 0) {
#pragma unroll
          for (int r = 0; r < 2; r++) {
            const int lo = clamp_int(pos(row0 + r * 8) + diag - n0 - p.window_left, 0, BN) - 2 * t;
#pragma unroll
            for (int i = 0; i < kNT; i++)
#pragma unroll
              for (int e = 0; e < 2; e++)
                if (i * 8 + e < lo) sc[i * 4 + 2 * r + e] = -INFINITY;
          }
        }
      }
      bool rescale = false;
      // Row r's P = 2^(S * to_log2 - b), in place; returns their sum.
      auto exps = [&](int r, float b) {
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < kNT; i++) {
          sc[i * 4 + 2 * r] = exp2_ftz(fmaf(sc[i * 4 + 2 * r], to_log2, -b));
          sc[i * 4 + 2 * r + 1] = exp2_ftz(fmaf(sc[i * 4 + 2 * r + 1], to_log2, -b));
          sum += sc[i * 4 + 2 * r] + sc[i * 4 + 2 * r + 1];
        }
        return sum;
      };
      // The row's maximum moves only when the tile's (m, log2 domain, across the quad)
      // exceeds it by more than kSlack: below that the old one stays, P reaches at most
      // 2^kSlack, and O and the row sum need no rescaling. O / row sum and the LSE
      // (row_max + log2 of the sum) do not depend on which maximum was subtracted. Sets
      // corr[r] and row_max[r]; returns the row's base (0 for a row with nothing visible yet).
      auto move_max = [&](int r, float m) {
        const float mx = m > row_max[r] + kSlack ? m : row_max[r];  // -inf + slack stays -inf
        const float base = mx == -INFINITY ? 0.f : mx;
        corr[r] = exp2_ftz(row_max[r] - base);
        rescale |= corr[r] != 1.f;
        row_max[r] = mx;
        return base;
      };
      if (kEarlyExp && it > 0) {
        // The exponentials start before the row's maximum is known across the quad: against
        // the running maximum, or this thread's own maximum less 100 where that is larger (so
        // no P can overflow); once the quad's maximum is in, P and the sum are scaled to the
        // row's base where it differs (a rise past kSlack, or past 100 in one thread).
        float mt[2], bo[2], sum[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
          float m[kNT];  // a tree: 5 levels at 32 values
#pragma unroll
          for (int i = 0; i < kNT; i++) m[i] = fmaxf(sc[i * 4 + 2 * r], sc[i * 4 + 2 * r + 1]);
#pragma unroll
          for (int w = 1; w < kNT; w *= 2)
#pragma unroll
            for (int i = 0; i + w < kNT; i += 2 * w) m[i] = fmaxf(m[i], m[i + w]);
          mt[r] = m[0];
          // A row with no running maximum yet takes this thread's own (0 where it has none:
          // its P are all 0 then, and its f below is 1).
          const float own = mt[r] * to_log2;
          bo[r] = row_max[r] != -INFINITY ? fmaxf(row_max[r], own - 100.f) : own != -INFINITY ? own : 0.f;
          sum[r] = exps(r, bo[r]);
        }
        bool moved = false;
        float f[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
          const bool none = row_max[r] == -INFINITY && mt[r] == -INFINITY;
          const float base = move_max(r, quad_max(mt[r]) * to_log2);
          f[r] = none ? 1.f : exp2_ftz(bo[r] - base);  // <= 1 (bo never exceeds the base)
          moved |= f[r] != 1.f;
        }
        if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
          for (int r = 0; r < 2; r++) {
#pragma unroll
            for (int i = 0; i < kNT; i++) sc[i * 4 + 2 * r] *= f[r], sc[i * 4 + 2 * r + 1] *= f[r];
            sum[r] *= f[r];
          }
        }
#pragma unroll
        for (int r = 0; r < 2; r++) row_sum[r] = row_sum[r] * corr[r] + sum[r];
        return __any_sync(0xffffffffu, rescale);
      }
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kNT; i++) mx = fmaxf(mx, fmaxf(sc[i * 4 + 2 * r], sc[i * 4 + 2 * r + 1]));
        const float base = move_max(r, quad_max(mx) * to_log2);
        row_sum[r] = row_sum[r] * corr[r] + exps(r, base);
      }
      return __any_sync(0xffffffffu, rescale);
    };
    // P as the register A operand: keys 16kk..16kk+15 are S's n8 blocks 2kk and 2kk+1.
    auto pack = [&](const float (&sc)[BN / 2], uint32_t (&pa)[BN / 16][4]) {
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) {
        pa[kk][0] = pack2<T>(sc[8 * kk + 0], sc[8 * kk + 1]);
        pa[kk][1] = pack2<T>(sc[8 * kk + 2], sc[8 * kk + 3]);
        pa[kk][2] = pack2<T>(sc[8 * kk + 4], sc[8 * kk + 5]);
        pa[kk][3] = pack2<T>(sc[8 * kk + 6], sc[8 * kk + 7]);
      }
    };
    // Every row of this warpgroup before the sequence's start (the first row block of a length
    // that is not a multiple of block_m, whose rows end at the sequence's end): it issues no
    // product and no softmax, so the other warpgroups have the tensor cores to themselves, but
    // it keeps its place in the protocol: the same waits on each full barrier before it
    // arrives on the matching empty one (an arrival before the data came could count towards
    // the wrong phase), and the same nblocks + 1 turns. O stays 0; its rows are never stored.
    // Broadcast from lane 0, so the compiler knows the branch is the same for the whole warp.
    // Only with three consumer warpgroups (D=64, 192 rows: every power-of-two length leaves a
    // third or two of the first block empty; measured +1 to +5% at S <= 4096, H100,
    // results/history/variants-h100-sm90-idle-fence/). With two (128 rows) no length of the
    // standard grid leaves a warpgroup idle, and the branch cost D=256 causal S=1024 1.2%.
    const bool idle = kIdleSkip && __shfl_sync(0xffffffffu, (int)(m0 + cw * 64 + 64 <= 0), 0);
    if (nblocks > 0 && idle) {
      mbar_wait(&s.q_full, loaded & 1);
      for (int it = 0; it <= nblocks; it++) {
        if (it < nblocks) mbar_wait(&s.k_full[(kv + it) % STAGES], ((kv + it) / STAGES) & 1);
        if (it > 0) mbar_wait(&s.v_full[(kv + it - 1) % STAGES], ((kv + it - 1) / STAGES) & 1);
        my_turn();
        pass_turn();
        __syncwarp();
        if (lane == 0) {
          if (it < nblocks) mbar_arrive(&s.k_empty[(kv + it) % STAGES]);
          if (PERSISTENT && it == nblocks - 1) mbar_arrive(&s.q_empty);
          if (it > 0 && (PERSISTENT || it < nblocks)) mbar_arrive(&s.v_empty[(kv + it - 1) % STAGES]);
        }
      }
      tail();
    } else if (nblocks > 0) {
      mbar_wait(&s.q_full, loaded & 1);
      if constexpr (kQRegs > 0) load_qf();
      float sc[BN / 2], corr[2];
      uint32_t pa[BN / 16][4];
      mbar_wait(&s.k_full[kv % STAGES], (kv / STAGES) & 1);
      my_turn();
      wgmma_fence();
      issue_qk(sc, kv % STAGES);
      pass_turn();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < BN / 2; i++) reg_fence(sc[i]);
      __syncwarp();
      if (lane == 0) {
        mbar_arrive(&s.k_empty[kv % STAGES]);
        if (PERSISTENT && nblocks == 1) mbar_arrive(&s.q_empty);  // the tile's last Q K^T has read Q
      }
      softmax(sc, 0, corr);  // O is still zero: nothing to rescale
      pack(sc, pa);
      // An aligned instruction, so the compiler knows the warp is converged here: after the
      // branch above (whose condition it cannot prove the same across the warp) the loop lost
      // its uniform datapath without it (R2UR before each wgmma; the join's notes in NOTES.md).
      if constexpr (kIdleSkip) wgmma_fence();
      // Steady state, intra-warpgroup overlap: the scores of tile it and P V of tile it-1 are
      // issued together; the softmax of tile it runs while P V is still on the tensor cores.
      for (int it = 1; it < nblocks; it++) {
        const int stage = (kv + it) % STAGES, prev = (kv + it - 1) % STAGES;
        mbar_wait(&s.k_full[stage], ((kv + it) / STAGES) & 1);
        mbar_wait(&s.v_full[prev], ((kv + it - 1) / STAGES) & 1);
        my_turn();
#pragma unroll
        for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
        wgmma_fence();
        issue_qk(sc, stage);
        issue_pv(pa, prev);
        pass_turn();
        wgmma_wait<1>();  // the scores (committed first) are done; P V may still run
#pragma unroll
        for (int i = 0; i < BN / 2; i++) reg_fence(sc[i]);
        __syncwarp();
        if (lane == 0) {
          mbar_arrive(&s.k_empty[stage]);
          // The tile's last Q K^T has read Q: the producer may load the next tile's into it
          // while this one's softmax, last P V and output run.
          if (PERSISTENT && it == nblocks - 1) mbar_arrive(&s.q_empty);
        }
        const bool rescale = softmax(sc, it, corr);
        wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
          for (int j = 0; j < 4; j++) reg_fence(pa[kk][j]);  // P V read them until now
        __syncwarp();
        if (lane == 0) mbar_arrive(&s.v_empty[prev]);
        if (rescale) {
#pragma unroll
          for (int i = 0; i < kDT; i++) {
            o[4 * i + 0] *= corr[0], o[4 * i + 1] *= corr[0];
            o[4 * i + 2] *= corr[1], o[4 * i + 3] *= corr[1];
          }
        }
        pack(sc, pa);
      }
      const int last = (kv + nblocks - 1) % STAGES;
      mbar_wait(&s.v_full[last], ((kv + nblocks - 1) / STAGES) & 1);
      my_turn();
#pragma unroll
      for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
      wgmma_fence();
      issue_pv(pa, last);
      pass_turn();
      if constexpr (kTailUnderPv) tail();
      wgmma_wait<0>();
      if constexpr (!kTailUnderPv) tail();
#pragma unroll
      for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
      if (PERSISTENT) {
        // The ring runs on into the next tile: release the last V stage too.
        __syncwarp();
        if (lane == 0) mbar_arrive(&s.v_empty[last]);
      }
    }

  };
  // Normalise; rows that saw no key keep O = 0 and get LSE = -inf; NaN sums propagate.
  auto finish = [&](const Tile &w, int row0, const float (&row_max)[2], const float (&row_sum)[2], float (&inv)[2]) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float l = quad_sum(row_sum[r]);
      inv[r] = l == 0.f ? 0.f : 1.f / l;
      const int row = row0 + r * 8;
      if (p.lse && t == 0 && row >= 0 && row < w.sq) {
        const float lse = l == 0.f ? -INFINITY : (row_max[r] + log2f(l)) * 0.69314718055994531f;
        p.lse[lse_at(w, row)] = lse;
      }
    }
  };

  // This warp's 16 rows of O into `tile` (BM rows x 128 bytes per 64 columns, 16-byte chunks
  // XOR-swizzled by row as the TMA's 128-byte swizzle lays them out), so that neither the
  // 4-byte writes nor 16-byte reads of a row conflict. Returns where this warp's rows start.
  auto stage = [&](T *tile, const float (&o)[D / 2], const float (&inv)[2]) {
    unsigned char *base = reinterpret_cast<unsigned char *>(tile) + (cw * 64 + warp * 16) * 128;
#pragma unroll
    for (int i = 0; i < kDT; i++) {
      unsigned char *blk = base + (i / 8) * BM * 128;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int row = g + 8 * r;  // row % 8 == g
        *reinterpret_cast<uint32_t *>(blk + row * 128 + (((i % 8) ^ g) * 16) + 4 * t) =
            pack2<T>(o[4 * i + 2 * r] * inv[r], o[4 * i + 2 * r + 1] * inv[r]);
      }
    }
    return base;
  };

  // This warpgroup's rows of tile w that lie in the sequence: the rows it stores.
  auto wg_rows = [&](const Tile &w) { return max(0, min(w.m0 + cw * 64 + 64, w.sq) - max(w.m0 + cw * 64, 0)); };

  if (cw == C - 1) pass_turn();  // warpgroup 0 goes first
  if (!PERSISTENT) {
    const Tile &w = mine;
    const int row0 = w.m0 + cw * 64 + warp * 16 + g;
    float o[D / 2], row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f}, inv[2];
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] = 0.f;
    auto tail = [&] { finish(w, row0, row_max, row_sum, inv); };
    if (w.nblocks > 0) mainloop(w, 0, 0, o, row_max, row_sum, tail);
    else tail();
    if (cw == 0) my_turn();  // takes the last warpgroup's final pass, so no arrival is left over
    if constexpr (EXACT) {
      if (p.part) {
        // A piece of a split tile: its rows' output, normalised, in float, and their
        // log-sum-exp, for merge_key_splits(). Rows of the sequence only (one row block of at
        // most 64: record_rows).
        const int64_t at = ((int64_t)piece * gridDim.z + w.b) * p.heads + w.h;
        float *po = p.part + at * key_split_record_floats(p.record_rows, D);
        float *pl = po + p.record_rows * D;
#pragma unroll
        for (int r = 0; r < 2; r++) {
          const int row = row0 + r * 8;
          const float l = quad_sum(row_sum[r]);
          if (row < 0 || row >= w.sq) continue;
#pragma unroll
          for (int i = 0; i < kDT; i++)
            *reinterpret_cast<float2 *>(po + row * D + 8 * i + 2 * t) =
                make_float2(o[4 * i + 2 * r] * inv[r], o[4 * i + 2 * r + 1] * inv[r]);
          if (t == 0) pl[row] = l == 0.f ? -INFINITY : (row_max[r] + log2f(l)) * 0.69314718055994531f;
        }
        return;
      }
    }
    // Stage this warp's 16 rows in its own rows of the Q tile, then write whole 16-byte
    // chunks per row: a warp stores 512 contiguous bytes (D=128) at a time, which measured
    // 1-3% faster than the persistent kernel's quad-transposed stores
    // (history/variants-h100-sm90-pers-q/); a TMA store from there, 0 to -1.2%
    // (history/variants-h100-sm90-tma-store/). Every warp of this warpgroup is past its last
    // wgmma (which read these Q rows) first.
    named_barrier_sync(8 + cw, 128);
    const unsigned char *stage_base = stage(s.q, o, inv);
    __syncwarp();
    const int64_t o_base = out_base(w);
#pragma unroll
    for (int c = lane; c < 16 * (D / 8); c += 32) {
      const int r = c / (D / 8), ch = c % (D / 8);
      const int row = w.m0 + cw * 64 + warp * 16 + r;
      if (row >= 0 && row < w.sq)
        store_out<T, COPIES>(p, o_base + out_row(row) + ch * 8,
                     *reinterpret_cast<const uint4 *>(stage_base + (ch / 8) * BM * 128 + r * 128 +
                                                      (((ch % 8) ^ (r % 8)) * 16)));
    }
    if constexpr (COPIES) signal_copies<false>(p, wg_rows(w), 8 + cw);
    return;
  }

  int kv = 0, loaded = 0;  // K/V tiles and Q tiles consumed so far, as the producer counts them
  // Rows this warpgroup has stored (out_signals) in shared memory, not a register live across
  // the tile loop: with it there, the COPIES kernel's main loop compiled differently.
  if (COPIES && threadIdx.x % 128 == 0) s.stored[cw] = 0;
  // Lane 0 reads tile k for its warp (the top of the loop broadcasts it) and releases the
  // slot. Where the tail runs under the last P V (kTailUnderPv), tile k + 1 is read there: the
  // producer hands it over once tile k's copies are issued, some key tiles before. There, with
  // no branch on the lane, as the read then comes before the next tile's main loop (see
  // take_slot_lane0); at the top of the loop (D=64) the branch costs nothing, and the
  // branch-free read spilled 7 bytes at 160 registers.
  auto take_tile = [&](int k, int &pc) {
    const int slot = k & 1;
    int4 pl = make_int4(0, 0, 0, 0);
    pc = 0;
    if constexpr (kTailUnderPv) {
      mbar_wait(&s.tile_full[slot], (k / 2) & 1);
      pl = take_slot_lane0(&s.tile[slot], &s.piece[slot], &s.tile_empty[slot], pc);
    } else if (lane == 0) {
      mbar_wait(&s.tile_full[slot], (k / 2) & 1);
      pl = s.tile[slot];
      if constexpr (kSplit) pc = s.piece[slot];
      mbar_arrive(&s.tile_empty[slot]);
    }
    return pl;
  };
  // Split tail: a piece of a tile cut between two work items. The first of the tile's two
  // pieces to claim the cut (its warp's state word, 0 -> 1, under its last P V) leaves this
  // warp's partial O, row maxima and sums in the workspace; the second waits until they are
  // written (the first is running then, and has nothing left to wait for), merges them into
  // its own and stores the rows. Per warp, with no barrier between warps: two warps of one
  // warpgroup may take different parts. Returns whether this warp stores the rows.
  auto cut_state = [&](int pc) { return p.ws_state + ((pc >> 20) * C + cw) * 4 + warp; };
  auto meet = [&](int pc, bool first, float (&o)[D / 2], float (&row_max)[2], float (&row_sum)[2]) {
    unsigned int *state = cut_state(pc);
    float4 *part = p.ws + (size_t)(state - p.ws_state) * (split_warp_bytes(D) / 16) + lane;
    if (first) {
#pragma unroll
      for (int i = 0; i < D / 8; i++) __stcg(part + 32 * i, make_float4(o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]));
      __stcg(part + 32 * (D / 8), make_float4(row_max[0], row_max[1], row_sum[0], row_sum[1]));
      // The warp's barrier orders every lane's stores before lane 0's release (cumulative), so
      // no lane needs a fence of its own.
      __syncwarp();
      if (lane == 0) st_release_gpu(state, 2u);
      return false;
    }
    while (ld_acquire_gpu(state) != 2u) {
    }
    const float4 mo = __ldcg(part + 32 * (D / 8));
    const float m_other[2] = {mo.x, mo.y}, l_other[2] = {mo.z, mo.w};
    // x * f + y, where the piece with the lower maximum is x and is scaled by f <= 1 (the
    // other's factor is exactly 1): one rounding, and the same whichever piece ended first,
    // so the output is the same bit for bit from launch to launch. (Both products rounded and
    // then added spilled 208-232 bytes at D=256.)
    bool mine_low[2];  // this piece's maximum is the lower one: scale O and the sum from here
    float f[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float mx = fmaxf(row_max[r], m_other[r]);
      mine_low[r] = row_max[r] < m_other[r];
      const float low = mine_low[r] ? row_max[r] : m_other[r];
      f[r] = low == -INFINITY ? 0.f : exp2_ftz(low - mx);
      row_sum[r] = mine_low[r] ? fmaf(row_sum[r], f[r], l_other[r]) : fmaf(l_other[r], f[r], row_sum[r]);
      row_max[r] = mx;
    }
    auto merge = [&](float x, float y, int r) { return mine_low[r] ? fmaf(x, f[r], y) : fmaf(y, f[r], x); };
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      const float4 v = __ldcg(part + 32 * i);
      o[4 * i + 0] = merge(o[4 * i + 0], v.x, 0);
      o[4 * i + 1] = merge(o[4 * i + 1], v.y, 0);
      o[4 * i + 2] = merge(o[4 * i + 2], v.z, 1);
      o[4 * i + 3] = merge(o[4 * i + 3], v.w, 1);
    }
    __syncwarp();
    if (lane == 0) *state = 0u;  // free for the next launch that holds this workspace
    return true;
  };
  int pc = 0;
  int4 pl = kTailUnderPv ? take_tile(0, pc) : make_int4(0, 0, 0, 0);
  for (int k = 0;; k++) {
    if constexpr (!kTailUnderPv) pl = take_tile(k, pc);
    pl.x = __shfl_sync(0xffffffffu, pl.x, 0), pl.y = __shfl_sync(0xffffffffu, pl.y, 0);
    pl.z = __shfl_sync(0xffffffffu, pl.z, 0), pl.w = __shfl_sync(0xffffffffu, pl.w, 0);
    pc = kSplit ? __shfl_sync(0xffffffffu, pc, 0) : 0;
    if (pl.y < 0) break;
    // Re-broadcast: to the compiler a value carried round this loop may differ across the
    // warp. Without this the main loop lost its uniform datapath: at D=64 through the idle
    // warpgroup's branch, at D=128 and 256 once the tile's place came from the producer
    // (R2UR 18 -> 56 in the D=128 loop).
    kv = __shfl_sync(0xffffffffu, kv, 0);
    loaded = __shfl_sync(0xffffffffu, loaded, 0);
    const Tile w = cut(tile_of(pl), pc);
    if (!has_rows(w)) {  // a row block wholly before this sequence's start
      if constexpr (kTailUnderPv) pl = take_tile(k + 1, pc);
      continue;
    }
    if (COPIES && threadIdx.x % 128 == 0) s.stored[cw] += wg_rows(w);
    const int row0 = w.m0 + cw * 64 + warp * 16 + g;
    float o[D / 2], row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f}, inv[2];
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] = 0.f;
    // Rows that saw no key (or a tile with none) have O = 0 and inv = 0, so they write zeros.
    // Where the warpgroup's 64 rows all lie in the sequence, through its rows of the output
    // tile and the TMA, so the warps go on at once: once its last TMA store has read them,
    // each warp stages its rows, and one thread issues a store per 64 columns. (The TMA writes
    // whole boxes, which at a sequence's ends would reach into the next sequence's rows.)
    const int wrow = w.m0 + cw * 64;
    // A piece's rows go out from the registers: which warps store them is known per warp.
    const bool staged = kAllStaged ? wrow >= 0 : kStageOut && p.o_tma && pc == 0 && wrow >= 0 && wrow + 64 <= w.sq;
    // Under the last P V: the row sums, the output tile's last store read, the next tile.
    auto free_out = [&] {
      if (threadIdx.x % 128 == 0) bulk_wait_read();
      named_barrier_sync(8 + cw, 128);
    };
    int4 next_pl = pl;
    int next_pc = pc;
    unsigned int claim = 0;  // a piece: the cut's state before this warp's claim (0: first)
    auto tail = [&] {
      if constexpr (kTailUnderPv) {
        if (pc == 0) finish(w, row0, row_max, row_sum, inv);
        else if constexpr (kSplit) claim = atom_cas_lane0(cut_state(pc), 0u, 1u);
        if (staged) free_out();
        next_pl = take_tile(k + 1, next_pc);
      }
    };
    if (w.nblocks > 0) mainloop(w, kv, loaded, o, row_max, row_sum, tail);
    else tail();
    const int this_pc = kSplit ? pc : 0;
    pl = next_pl, pc = next_pc;
    if (this_pc != 0) {
      if (!meet(this_pc, __shfl_sync(0xffffffffu, claim, 0) == 0u, o, row_max, row_sum)) {  // the other stores
        kv += w.nblocks;
        loaded++;
        continue;
      }
      finish(w, row0, row_max, row_sum, inv);
    } else if constexpr (!kTailUnderPv) {
      finish(w, row0, row_max, row_sum, inv);
    }
    if (staged) {
      if constexpr (!kTailUnderPv) free_out();
      stage(s.o, o, inv);
      fence_proxy_async();
      named_barrier_sync(8 + cw, 128);
      if (threadIdx.x % 128 == 0) {
#pragma unroll
        for (int c = 0; c < kCols; c++)
          tma_store_4d(&tm_o, s.o + c * BM * 64 + cw * 64 * 64, c * 64, map_row(w, wrow), w.h, map_batch(w));
        if constexpr (COPIES) {
#pragma unroll
          for (int i = 0; i < kMaxCopies; i++)
            if (i < p.num_copies)
#pragma unroll
              for (int c = 0; c < kCols; c++)
                tma_store_4d(&tm_c.m[i], s.o + c * BM * 64 + cw * 64 * 64, c * 64, map_row(w, wrow), w.h, map_batch(w));
        }
        bulk_commit();
      }
    } else if constexpr (!kAllStaged) {
      // Otherwise straight from the accumulators to global memory: the Q tile may already hold
      // the next tile's rows. A quad holds 16 bytes of a row per n8 block, 4 bytes a thread; a
      // 4x4 transpose in the quad (two shuffle rounds) gives each thread the 16 bytes of one
      // block, so a warp writes 64 contiguous bytes of each of 8 rows per store.
      const int64_t o_base = out_base(w);
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int row = row0 + r * 8;
        const int64_t orow = o_base + (int64_t)row * p.o_stride[1];
#pragma unroll
        for (int i0 = 0; i0 < kDT; i0 += 4) {
          uint32_t a[4];  // a[j]: this thread's 4 bytes of block i0 + j
#pragma unroll
          for (int j = 0; j < 4; j++)
            a[j] = pack2<T>(o[4 * (i0 + j) + 2 * r] * inv[r], o[4 * (i0 + j) + 2 * r + 1] * inv[r]);
          quad_transpose(a, t);  // now a[j]: thread j's 4 bytes of block i0 + t
          if (row >= 0 && row < w.sq) store_out<T, COPIES>(p, orow + (i0 + t) * 8, make_uint4(a[0], a[1], a[2], a[3]));
        }
      }
    }
    if (w.nblocks == 0) continue;  // no Q or K/V tile was loaded for it
    kv += w.nblocks;
    loaded++;
  }
  if (cw == 0) my_turn();  // takes the last warpgroup's final pass, so no arrival is left over
  if (kStageOut && threadIdx.x % 128 == 0) bulk_wait_read();  // the output tile outlives its reads
  if constexpr (COPIES) signal_copies<kStageOut>(p, threadIdx.x % 128 == 0 ? s.stored[cw] : 0, 8 + cw);
}

}  // namespace fc::sm90
