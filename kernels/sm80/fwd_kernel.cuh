// sm80 forward kernel: FlashAttention-2 with mma.sync m16n8k16, ldmatrix and cp.async.
//
// One CTA computes block_m query rows of one (sequence, head); each warp owns 16 * MT rows.
// K and V tiles stream through two shared-memory stages while Q stays there: the loads of
// tile it+2 overlap the math of tiles it and it+1. Scores, the online softmax
// and O live in registers in the mma accumulator layout; P is re-packed from the score
// accumulators into A operands without touching shared memory.
#pragma once

#include <math.h>

#include "config.h"
#include "fc_block_order.h"
#include "fc_problem.h"
#include "key_split.h"
#include "ptx_sm80.cuh"

namespace fc::sm80 {

struct Params {
  const void *q, *k, *v;
  void *out;
  float *lse;
  int64_t q_stride[3], k_stride[3], v_stride[3], o_stride[3], lse_stride[3];
  int64_t seqlen_q, seqlen_k, total_q, total_k;
  int heads, group;  // group = heads / heads_k
  float scale_log2;  // softmax scale * log2(e) (no softcap)
  float softcap;     // 0 = off
  float pre_cap;     // softmax scale / softcap
  float post_cap;    // softcap * log2(e)
  int64_t window_left, window_right;  // -1 = unbounded
  int head_group;                     // batch-head pairs interleaved (fc_block_order.h)
  const int32_t *cu_q, *cu_k;
  // Keys split over the SMs (key_split.h; the SPLIT kernels): a grid of (splits, heads,
  // batch) over one row block, CTA x taking run x of its tile's key tiles and leaving its rows
  // in `part` (records of seqlen_q rows, key_split_record_bytes(), in order (split, batch,
  // head)) for merge_key_splits(). splits 1 and part null otherwise.
  int splits;
  float *part;
  // With offsets: sequence b's first query row is cu_q[b] times these elements into q, out
  // and lse, and each row the offsets count is `fold` rows (fc_problem.fold), of which a
  // sequence runs at most `units` (seqlen_q / fold: fc_seq_rows()).
  int64_t q_offset_stride, o_offset_stride, lse_offset_stride;
  int fold, units;
  // Query heads folded into rows by position (fc_problem.pos_group, G; the 64-row tile's
  // kernels only): row r is position r / G, these elements apart in q, out and lse, of query
  // head r % G, the seq stride apart. pos_mul: fc_pos_mul(G). 1 and 65536 unfolded.
  int pos_group, pos_mul;
  int64_t q_pos_stride, o_pos_stride, lse_pos_stride;
};

__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
__device__ __forceinline__ int clamp_int(int64_t x, int lo, int hi) {
  return x < lo ? lo : x > hi ? hi : (int)x;
}

// Copy ROWS rows of D elements, from row row0 of g on, into a padded shared tile with
// 16-byte cp.async; rows at or past `valid` are zero-filled without reading global memory.
template <typename T, int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile(T *s, const T *g, int64_t row_stride, int64_t row0,
                                          int64_t valid) {
  constexpr int kChunksPerRow = D / 8, kChunks = ROWS * kChunksPerRow;
  if constexpr (THREADS % kChunksPerRow == 0) {
    // Each thread walks one column of chunks down the tile with a running pointer, so that
    // only one 64-bit address per tile stays live (hoisted per-chunk addresses cost spills).
    constexpr int kRowStep = THREADS / kChunksPerRow;
    const int r0 = threadIdx.x / kChunksPerRow, ch = threadIdx.x % kChunksPerRow;
    const T *src = g + (row0 + r0) * row_stride + ch * 8;
    const int64_t step = kRowStep * row_stride;
    // Rows of this thread's column still in bounds, in 32 bits: the 64-bit count made the
    // H100's JIT spill the 48-key D=128 kernel (32 bytes; 2.8-3.9% slower, see config.h).
    int left = clamp_int(valid - row0, 0, ROWS) - r0;
    const uint32_t dst = smem_addr(s + r0 * (D + kPad) + ch * 8);
#pragma unroll
    for (int i = 0; i < ROWS / kRowStep; i++) {
      cp_async_16(dst + (uint32_t)(i * kRowStep * (D + kPad) * sizeof(T)), left > 0 ? src : g, left > 0 ? 16 : 0);
      src += step;
      left -= kRowStep;
    }
  } else {
#pragma unroll
    for (int i = 0; i < (kChunks + THREADS - 1) / THREADS; i++) {
      const int c = threadIdx.x + i * THREADS;
      if (kChunks % THREADS == 0 || c < kChunks) {
        const int r = c / kChunksPerRow, ch = c % kChunksPerRow;
        const bool ok = row0 + r < valid;
        cp_async_16(s + r * (D + kPad) + ch * 8, ok ? g + (row0 + r) * row_stride + ch * 8 : g,
                    ok ? 16 : 0);
      }
    }
  }
}

// CTAs per SM the register allocation must allow. 1 lets a thread use up to 255 registers;
// the static audit raises it to plant spills and prove that it catches them.
#ifndef FC_SM80_MIN_BLOCKS
#define FC_SM80_MIN_BLOCKS 1
#endif

// SPLIT: a piece of a launch whose keys were split over the SMs (Params::splits).
template <typename T, int D, int BM, int BN, int MT, bool SPLIT>
__global__ void __launch_bounds__(BM / (16 * MT) * 32, FC_SM80_MIN_BLOCKS) fwd_kernel(const Params p) {
  // MT m16 tiles per warp: each K/V fragment read from shared memory feeds MT mmas.
  constexpr int kRows = 16 * MT;  // query rows per warp
  // The 64-row tile's kernels (short_config(); Ada's D >= 192 tile is the same) take rows
  // folded by position.
  constexpr bool kByPos = BM == 64;
  constexpr int kWarps = BM / kRows, kThreads = kWarps * 32, kPitch = D + kPad;
  constexpr int kNT = BN / 8;   // score n-tiles of 8 keys per warp
  constexpr int kDT = D / 8;    // output n-tiles of 8 dims
  extern __shared__ __align__(16) unsigned char smem[];
  T *sQ = reinterpret_cast<T *>(smem);
  T *sK = sQ + BM * kPitch;
  T *sV = sK + 2 * BN * kPitch;  // two stages of K, then two of V

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // accumulator row-in-8 and column pair
  // Dispatch order (fc_block_order.h): row blocks from the last (heaviest under a causal mask)
  // to the first, for head_group batch-head pairs at a time.
  int mb, h, b;
  if constexpr (SPLIT) mb = 0, h = blockIdx.y, b = blockIdx.z;  // one row block; x is the piece
  else fc_this_block(p.head_group, p.heads, 0u, &mb, &h, &b);
  const int64_t m0 = (int64_t)mb * BM;
  const int hk = h / p.group;

  int64_t q0 = 0, k0 = 0, sq = p.seqlen_q, sk = p.seqlen_k;
  if (p.cu_q) {
    // Offsets live in device memory the host could not check: clamp them to the tensors.
    q0 = min((int64_t)max(p.cu_q[b], 0), p.total_q);
    sq = min((int64_t)max(p.cu_q[b + 1], 0), p.total_q) - q0;
    k0 = min((int64_t)max(p.cu_k[b], 0), p.total_k);
    sk = min((int64_t)max(p.cu_k[b + 1], 0), p.total_k) - k0;
    if (sq < 0) sq = 0;
    if (sk < 0) sk = 0;
    // At most the longest sequence's rows (max_seqlen_q, which the host cannot check): what a
    // split piece's record holds. A folded decode's sequence has one counted row.
    sq = fc_seq_rows(sq, p.units, p.fold);
  }
  if (m0 >= sq) return;
  // The query position of row r, and row r's offset from its (sequence, head)'s first row in a
  // tensor of seq stride `stride` and position stride `pos_stride` (Params::pos_group).
  auto pos = [&](int64_t r) -> int64_t {
    if constexpr (kByPos) return p.pos_group > 1 ? ((int)r * p.pos_mul) >> 16 : r;
    else return r;
  };
  auto row_at = [&](int64_t r, int64_t stride, int64_t pos_stride) -> int64_t {
    return fc_row_offset(r, kByPos ? p.pos_group : 1, kByPos ? p.pos_mul : 65536, pos_stride, stride);
  };

  const T *qg = static_cast<const T *>(p.q) + b * p.q_stride[0] + q0 * p.q_offset_stride + h * p.q_stride[2];
  // K and V bases without the sequence offset k0 (which moves the rows instead): built from
  // the parameters and the block index alone, they stay in uniform registers.
  const T *kg = static_cast<const T *>(p.k) + b * p.k_stride[0] + hk * p.k_stride[2];
  const T *vg = static_cast<const T *>(p.v) + b * p.v_stride[0] + hk * p.v_stride[2];

  // Keys visible to any row of this block: [n_lo, n_hi] (bottom-right aligned diagonal).
  const int64_t diag = sk - pos(sq), m_last = min(m0 + BM, sq) - 1;
  int64_t n_lo = 0, n_hi = sk - 1;
  if (p.window_left >= 0) n_lo = max(n_lo, pos(m0) + diag - p.window_left);
  if (p.window_right >= 0) n_hi = min(n_hi, pos(m_last) + diag + p.window_right);
  if constexpr (SPLIT) {
    // Run x of `splits` runs of the visited key tiles (key_split_run(), from the last key
    // tile down), taken as the keys it covers. Masks go by each key tile's place, so
    // a run needs nothing else; a run with no key tile (a window narrower than the split)
    // leaves O = 0 and an LSE of -inf. The division in 32 bits (a 64-bit one is a call).
    const int64_t t_lo = n_lo / BN, t_hi = n_hi >= n_lo ? n_hi / BN : t_lo - 1;
    int first;
    const int count = key_split_run((int)(t_hi - t_lo + 1), p.splits, (int)blockIdx.x, &first);
    const int64_t top = t_hi - first;
    n_hi = min(n_hi, top * BN + BN - 1);
    n_lo = max(n_lo, (top - count + 1) * BN);
  }
  const int64_t nb_first = n_lo / BN;
  const int64_t nb_last = n_hi >= n_lo ? n_hi / BN : nb_first - 1;

  // Two K/V stages: the tiles of iteration it+2 load while iterations it and it+1 compute.
  // Iterations walk the key blocks from the last (the diagonal, for causal) to the first.
  // Key tile counts fit in 32 bits (a sequence would need 2^31 * BN keys to overflow).
  const int nblocks = (int)(nb_last - nb_first + 1);
  auto load_kv = [&](int it) {
    const int stage = it & 1;
    const int64_t n0 = (nb_last - it) * BN;
    load_tile<T, BN, D, kThreads>(sK + stage * BN * kPitch, kg, p.k_stride[1], k0 + n0, k0 + sk);
    load_tile<T, BN, D, kThreads>(sV + stage * BN * kPitch, vg, p.v_stride[1], k0 + n0, k0 + sk);
  };
  if (kByPos && p.pos_group > 1) {  // rows by position: an address a chunk (Q loads once)
    constexpr int kChunksPerRow = D / 8;
#pragma unroll
    for (int c = threadIdx.x; c < BM * kChunksPerRow; c += kThreads) {
      const int r = c / kChunksPerRow, ch = c % kChunksPerRow;
      const bool ok = m0 + r < sq;
      cp_async_16(sQ + r * kPitch + ch * 8, ok ? qg + row_at(m0 + r, p.q_stride[1], p.q_pos_stride) + ch * 8 : qg,
                  ok ? 16 : 0);
    }
  } else {
    load_tile<T, BM, D, kThreads>(sQ, qg, p.q_stride[1], m0, sq);
  }
  if (nblocks > 0) load_kv(0);
  cp_async_commit();
  if (nblocks > 1) load_kv(1);
  cp_async_commit();

  float o[MT][kDT][4];
  float row_max[MT][2], row_sum[MT][2];  // row_max in the log2 domain
#pragma unroll
  for (int m = 0; m < MT; m++) {
#pragma unroll
    for (int i = 0; i < kDT; i++) o[m][i][0] = o[m][i][1] = o[m][i][2] = o[m][i][3] = 0.f;
    row_max[m][0] = row_max[m][1] = -INFINITY;
    row_sum[m][0] = row_sum[m][1] = 0.f;
  }

  // Accumulator row r (0: lane/4, 1: lane/4 + 8) of m-tile m, relative to the sequence.
  const int64_t row0 = m0 + warp * kRows + g;
  const int64_t row_diag = row0 + diag;  // row0's diagonal key
  // Key tile j = [j BN, j BN + BN) needs no mask when it holds no key past the end, right of
  // the first row's window or left of the last row's: j BN + BN <= full_hi, j BN >= full_lo.
  // Iteration it visits tile nb_last - it, so the unmasked iterations are one range.
  int it_full_first, it_full_last;
  {
    const int64_t full_hi = p.window_right < 0 ? sk : min(sk, pos(m0) + diag + p.window_right + 1);
    const int64_t full_lo = p.window_left < 0 ? 0 : pos(m_last) + diag - p.window_left;
    const int64_t hi_blk = floor_div(full_hi - BN, BN), lo_blk = -floor_div(-full_lo, BN);
    it_full_first = (int)max((int64_t)0, min((int64_t)nblocks, nb_last - hi_blk));
    it_full_last = (int)max((int64_t)-1, min((int64_t)nblocks - 1, nb_last - lo_blk));
  }
  T *sQw = sQ + warp * kRows * kPitch;
  // Without softcap the scale is folded into the exponent (one FFMA per score); with it the
  // scores are mapped to the log2 domain first and the factor is 1.
  const float to_log2 = p.softcap > 0.f ? 1.f : p.scale_log2;

  for (int it = 0; it < nblocks; it++) {
    const int64_t n0 = (nb_last - it) * BN;
    const T *sKs = sK + (it & 1) * BN * kPitch, *sVs = sV + (it & 1) * BN * kPitch;
    cp_async_wait<1>();
    __syncthreads();  // this iteration's K and V are in, for every thread's copies

    // S = Q K^T for this warp's rows and BN keys.
    float s[MT][kNT][4];
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
      for (int i = 0; i < kNT; i++) s[m][i][0] = s[m][i][1] = s[m][i][2] = s[m][i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int m = 0; m < MT; m++)
        ldmatrix_x4(a[m], sQw + (m * 16 + lane % 16) * kPitch + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nt = 0; nt < kNT; nt += 2) {
        uint32_t bk[4];  // keys nt*8.. +15, dims kk*16.. +15
        const int mi = lane / 8;
        ldmatrix_x4(bk, sKs + (nt * 8 + (mi / 2) * 8 + lane % 8) * kPitch + kk * 16 + (mi % 2) * 8);
#pragma unroll
        for (int m = 0; m < MT; m++) {
          Mma<T>::run(s[m][nt], a[m], bk[0], bk[1]);
          Mma<T>::run(s[m][nt + 1], a[m], bk[2], bk[3]);
        }
      }
    }

    if (p.softcap > 0.f) {
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int i = 0; i < kNT; i++)
#pragma unroll
          for (int c = 0; c < 4; c++) s[m][i][c] = p.post_cap * tanhf(s[m][i][c] * p.pre_cap);
    }
    // Mask only tiles that cross a boundary, in 32-bit offsets relative to the tile.
    const bool full = it >= it_full_first && it <= it_full_last;
    if (!full) {
      const int kmax = clamp_int(sk - n0, 0, BN);  // columns < kmax exist
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
          // the diagonal's column
          const int64_t d0 = kByPos ? pos(row0 + m * 16 + r * 8) + diag - n0 : row_diag - n0 + (m * 16 + r * 8);
          const int hi = (p.window_right < 0 ? kmax - 1 : clamp_int(d0 + p.window_right, -1, kmax - 1)) - 2 * t;
#pragma unroll
          for (int i = 0; i < kNT; i++)
#pragma unroll
            for (int e = 0; e < 2; e++)
              if (i * 8 + e > hi) s[m][i][2 * r + e] = -INFINITY;
        }
      // The left window bound in its own pass: with both bounds in one, 64-key tiles spilled.
      if (p.window_left >= 0) {
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
          for (int r = 0; r < 2; r++) {
            const int64_t d0 = kByPos ? pos(row0 + m * 16 + r * 8) + diag - n0 : row_diag - n0 + (m * 16 + r * 8);
            const int lo = clamp_int(d0 - p.window_left, 0, BN) - 2 * t;
#pragma unroll
            for (int i = 0; i < kNT; i++)
#pragma unroll
              for (int e = 0; e < 2; e++)
                if (i * 8 + e < lo) s[m][i][2 * r + e] = -INFINITY;
          }
      }
    }

    // Online softmax on this thread's rows.
    float corr[MT][2];
    bool rescale = false;
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kNT; i++) mx = fmaxf(mx, fmaxf(s[m][i][2 * r], s[m][i][2 * r + 1]));
        mx = fmaxf(row_max[m][r], quad_max(mx) * to_log2);
        const float base = mx == -INFINITY ? 0.f : mx;  // a row with nothing visible yet
        corr[m][r] = exp2_ftz(row_max[m][r] - base);
        rescale |= corr[m][r] != 1.f;
        row_max[m][r] = mx;
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < kNT; i++) {
          s[m][i][2 * r] = exp2_ftz(fmaf(s[m][i][2 * r], to_log2, -base));
          s[m][i][2 * r + 1] = exp2_ftz(fmaf(s[m][i][2 * r + 1], to_log2, -base));
          sum += s[m][i][2 * r] + s[m][i][2 * r + 1];
        }
        row_sum[m][r] = row_sum[m][r] * corr[m][r] + sum;
      }
    // Once the running maxima settle, most tiles change no row's maximum: skip the O rescale
    // (MT * D / 2 multiplies per thread) when no row of the warp needs it.
    if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int i = 0; i < kDT; i++) {
          o[m][i][0] *= corr[m][0], o[m][i][1] *= corr[m][0];
          o[m][i][2] *= corr[m][1], o[m][i][3] *= corr[m][1];
        }
    }

    // O += P V: the score accumulators of keys 16kk..16kk+15 are the A operand.
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int m = 0; m < MT; m++) {
        a[m][0] = pack2<T>(s[m][2 * kk][0], s[m][2 * kk][1]);
        a[m][1] = pack2<T>(s[m][2 * kk][2], s[m][2 * kk][3]);
        a[m][2] = pack2<T>(s[m][2 * kk + 1][0], s[m][2 * kk + 1][1]);
        a[m][3] = pack2<T>(s[m][2 * kk + 1][2], s[m][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        uint32_t bv[4];  // keys kk*16.. +15 (transposed), dims dt*8.. +15
        const int mi = lane / 8;
        ldmatrix_x4_trans(bv, sVs + (kk * 16 + (mi % 2) * 8 + lane % 8) * kPitch + dt * 8 + (mi / 2) * 8);
#pragma unroll
        for (int m = 0; m < MT; m++) {
          Mma<T>::run(o[m][dt], a[m], bv[0], bv[1]);
          Mma<T>::run(o[m][dt + 1], a[m], bv[2], bv[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with this stage: refill it two tiles ahead
    if (it + 2 < nblocks) load_kv(it + 2);
    cp_async_commit();  // possibly empty: keeps one group per iteration for wait_group
  }

  // Normalise; rows that saw no key keep O = 0 and get LSE = -inf; NaN sums propagate.
  if constexpr (SPLIT) {
    // This piece's record: its rows' output in float, then their log-sum-exp.
    const int64_t record = key_split_record_floats(p.seqlen_q, D);
    float *po = p.part + (((int64_t)blockIdx.x * gridDim.z + b) * p.heads + h) * record;
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const float l = quad_sum(row_sum[m][r]);
        const float iv = l == 0.f ? 0.f : 1.f / l;
        const int64_t row = row0 + m * 16 + r * 8;
        if (row >= sq) continue;
#pragma unroll
        for (int i = 0; i < kDT; i++)
          *reinterpret_cast<float2 *>(po + row * D + i * 8 + 2 * t) = make_float2(o[m][i][2 * r] * iv, o[m][i][2 * r + 1] * iv);
        if (t == 0) po[p.seqlen_q * D + row] = l == 0.f ? -INFINITY : (row_max[m][r] + log2f(l)) * 0.69314718055994531f;
      }
    cp_async_wait<0>();  // a piece with no key tile never waited for its Q copies
  } else {
    float inv[MT][2];
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const float l = quad_sum(row_sum[m][r]);
        inv[m][r] = l == 0.f ? 0.f : 1.f / l;
        const int64_t row = row0 + m * 16 + r * 8;
        if (p.lse && t == 0 && row < sq) {
          const float lse = l == 0.f ? -INFINITY : (row_max[m][r] + log2f(l)) * 0.69314718055994531f;
          p.lse[b * p.lse_stride[0] + q0 * p.lse_offset_stride + row_at(row, p.lse_stride[1], p.lse_pos_stride) +
                h * p.lse_stride[2]] = lse;
        }
      }
    // Stage this warp's 16 rows in its own part of sQ (only this warp ever read it), then
    // write 16-byte chunks so that global stores are coalesced. The barrier covers the case
    // of no visible key tile, where the Q copies were never waited for.
    cp_async_wait<0>();
    __syncthreads();
    T *so = sQw;
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
      for (int i = 0; i < kDT; i++) {
        T *dst = so + (m * 16 + g) * kPitch + i * 8 + 2 * t;
        *reinterpret_cast<uint32_t *>(dst) = pack2<T>(o[m][i][0] * inv[m][0], o[m][i][1] * inv[m][0]);
        *reinterpret_cast<uint32_t *>(dst + 8 * kPitch) = pack2<T>(o[m][i][2] * inv[m][1], o[m][i][3] * inv[m][1]);
      }
    __syncwarp();
    T *og = static_cast<T *>(p.out) + b * p.o_stride[0] + q0 * p.o_offset_stride + h * p.o_stride[2];
#pragma unroll
    for (int c = lane; c < kRows * (D / 8); c += 32) {
      const int r = c / (D / 8), ch = c % (D / 8);
      const int64_t row = m0 + warp * kRows + r;
      if (row < sq)
        *reinterpret_cast<uint4 *>(og + row_at(row, p.o_stride[1], p.o_pos_stride) + ch * 8) =
            *reinterpret_cast<const uint4 *>(so + r * kPitch + ch * 8);
    }
  }
}

}  // namespace fc::sm80
