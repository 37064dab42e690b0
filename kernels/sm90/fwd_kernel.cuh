// sm90 forward kernel: FlashAttention-3 structure on Hopper (TMA, mbarriers, wgmma).
//
// A persistent grid (one CTA per SM) walks the work tiles: block_m = 64 * C query rows of one
// (sequence, head), heaviest causal row blocks first. Warpgroup 0 is the producer: after
// giving back most of its registers, one thread issues every TMA copy (Q, then K and V tiles
// into a ring of `stages`), each completing on a "full" mbarrier; it refills a buffer once
// every consumer warp has arrived on its "empty" mbarrier, and runs ahead into the next tile
// while the consumers finish the current one. Warpgroups 1..C are consumers, 64 rows each:
// S = Q K^T with both operands in shared memory (wgmma m64nBNk16), the online softmax in
// registers, then O += P V with P re-packed from the S accumulators as the register A operand
// and V read MN-major through the transpose bit. The scores of tile j are issued with P V of
// tile j-1 so that the softmax overlaps the tensor cores, and the consumer warpgroups take
// turns issuing (ping-pong). Key tiles run from the last to the first, so masked tiles
// (causal diagonal, ragged tail) come first and the rest skip the mask.
#pragma once

#include <cuda.h>  // CUtensorMap (a 128-byte kernel parameter); no driver calls here
#include <math.h>

#include "config.h"
#include "ptx_sm90.cuh"
#include "wgmma.cuh"

namespace fc::sm90 {

struct Params {
  void *out;
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
  const int32_t *cu_q, *cu_k;
  int batch, num_m_blocks, num_tiles;  // query row blocks per (sequence, head); all tiles
};

__device__ __forceinline__ int clamp_int(int x, int lo, int hi) {
  return x < lo ? lo : x > hi ? hi : (int)x;
}

template <typename T, int D, int BM, int BN, int STAGES, bool OWN_O> struct SharedStorage {
  // Per 64 columns of the head dim, rows of 128 bytes in the TMA's 128-byte swizzle; every
  // array is a multiple of 1024 bytes so every 8-row atom stays 1024-byte aligned.
  T q[BM * D];
  T k[STAGES][BN * D];
  T v[STAGES][BN * D];
  T o[OWN_O ? BM * D : 8];  // output staging; without room for it, the Q tile stages O
  uint64_t q_full, q_empty, k_full[STAGES], v_full[STAGES], k_empty[STAGES], v_empty[STAGES];
};

template <typename T, int D, int BN, int C, int STAGES>
__global__ void __launch_bounds__(128 * (C + 1), 1)
    fwd_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
               const __grid_constant__ CUtensorMap tm_v, const Params p) {
  constexpr Config kCfg{D, C, BN, STAGES};
  constexpr int BM = block_m(kCfg);
  constexpr bool kOwnO = own_o_buffer(kCfg);
  constexpr bool kPersistent = persistent(kCfg);
  constexpr int kCols = D / 64;  // 64-column blocks of the head dim
  constexpr int kNT = BN / 8;    // n8 blocks of S per thread row pair
  constexpr int kDT = D / 8;     // n8 blocks of O
  using Smem = SharedStorage<T, D, BM, BN, STAGES, kOwnO>;
  extern __shared__ unsigned char smem_raw[];
  Smem &s = *reinterpret_cast<Smem *>(smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023));

  if (threadIdx.x == 0) {
    mbar_init(&s.q_full, 1);
    mbar_init(&s.q_empty, 4 * C);  // one arrival per consumer warp
#pragma unroll
    for (int i = 0; i < STAGES; i++) {
      mbar_init(&s.k_full[i], 1);
      mbar_init(&s.v_full[i], 1);
      mbar_init(&s.k_empty[i], 4 * C);
      mbar_init(&s.v_empty[i], 4 * C);
    }
    mbar_init_fence();
  }
  __syncthreads();

  // One work tile: which rows of which (sequence, head), and the key tiles it visits.
  struct Tile {
    int m0, h, b, hk, q0, k0, sq, sk, diag, m_last, nb_last, nblocks;
  };
  auto tile_at = [&](int tile) {
    Tile w;
    // Row blocks of one (sequence, head) are neighbours in the tile order, so the CTAs
    // running at once share K and V through L2; within a head the last row block (the
    // heaviest under a causal mask) comes first. (Row block as the slowest index instead
    // streamed every head's K and V from memory at once: 0.55-0.87x of this order.)
    const int mb = (int)((unsigned)tile % (unsigned)p.num_m_blocks);
    const int hb = (int)((unsigned)tile / (unsigned)p.num_m_blocks);
    w.h = hb % p.heads, w.b = hb / p.heads, w.hk = w.h / p.group;
    w.m0 = (p.num_m_blocks - 1 - mb) * BM;
    w.q0 = 0, w.k0 = 0, w.sq = p.seqlen_q, w.sk = p.seqlen_k;
    if (p.cu_q) {
      // Offsets live in device memory the host could not check: clamp them to the tensors.
      w.q0 = min(max(p.cu_q[w.b], 0), p.total_q);
      w.sq = max(min(max(p.cu_q[w.b + 1], 0), p.total_q) - w.q0, 0);
      w.k0 = min(max(p.cu_k[w.b], 0), p.total_k);
      w.sk = max(min(max(p.cu_k[w.b + 1], 0), p.total_k) - w.k0, 0);
    }
    // Keys visible to any row of this block: [n_lo, n_hi] (bottom-right aligned diagonal).
    w.diag = w.sk - w.sq, w.m_last = min(w.m0 + BM, w.sq) - 1;
    int n_lo = 0, n_hi = w.sk - 1;
    if (p.window_left >= 0) n_lo = max(n_lo, w.m0 + w.diag - p.window_left);
    if (p.window_right >= 0) n_hi = min(n_hi, w.m_last + w.diag + p.window_right);
    const int nb_first = n_lo / BN;
    w.nb_last = n_hi >= n_lo ? n_hi / BN : nb_first - 1;
    w.nblocks = w.m0 < w.sq ? w.nb_last - nb_first + 1 : 0;
    return w;
  };

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    // ---------------- producer ----------------
    regs_dealloc<producer_regs(kCfg)>();
    if (threadIdx.x != 0) return;
    tma_prefetch_map(&tm_q);
    tma_prefetch_map(&tm_k);
    tma_prefetch_map(&tm_v);
    // K and V of a stage are released separately: K as soon as its scores exist, V after
    // P V, one tile later. So K runs a tile ahead of V through the ring.
    int kv = 0, loaded = 0;  // K/V tiles and Q tiles issued so far
    for (int tile = blockIdx.x; tile < p.num_tiles; tile += gridDim.x) {
      const Tile w = tile_at(tile);
      if (w.nblocks <= 0) continue;
      // Tensor coordinates (dims innermost first): column, row, head, batch. Varlen tensors
      // are one batch of total rows, and the sequence's offset moves the row.
      const int qb = p.cu_q ? 0 : w.b;
      if (loaded > 0) mbar_wait(&s.q_empty, (loaded - 1) & 1);
      mbar_expect_tx(&s.q_full, BM * D * (int)sizeof(T));
#pragma unroll
      for (int c = 0; c < kCols; c++)
        tma_load_4d(s.q + c * BM * 64, &tm_q, &s.q_full, c * 64, w.q0 + w.m0, w.h, qb);
      loaded++;
      for (int it = 0; it < w.nblocks; it++, kv++) {
        const int stage = kv % STAGES;
        const uint32_t parity = ((kv / STAGES) & 1) ^ 1;  // the previous use's phase
        const int row = w.k0 + (w.nb_last - it) * BN;
        if (kv >= STAGES) mbar_wait(&s.k_empty[stage], parity);
        mbar_expect_tx(&s.k_full[stage], BN * D * (int)sizeof(T));
#pragma unroll
        for (int c = 0; c < kCols; c++)
          tma_load_4d(s.k[stage] + c * BN * 64, &tm_k, &s.k_full[stage], c * 64, row, w.hk, qb);
        if (kv >= STAGES) mbar_wait(&s.v_empty[stage], parity);
        mbar_expect_tx(&s.v_full[stage], BN * D * (int)sizeof(T));
#pragma unroll
        for (int c = 0; c < kCols; c++)
          tma_load_4d(s.v[stage] + c * BN * 64, &tm_v, &s.v_full[stage], c * 64, row, w.hk, qb);
      }
      if (!kPersistent) break;
    }
    return;
  }

  // ---------------- consumers ----------------
  regs_alloc<consumer_regs(kCfg)>();
  const int cw = wg - 1;  // this warpgroup's 64 rows: cw * 64 ..
  const int tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // accumulator row-in-8 and column pair
  // Without softcap the scale is folded into the exponent (one FFMA per score); with it the
  // scores are mapped to the log2 domain first and the factor is 1.
  const float to_log2 = p.softcap > 0.f ? 1.f : p.scale_log2;
  const T *sq_wg = s.q + cw * 64 * 64;
  // Ping-pong: the consumer warpgroups take turns issuing their wgmmas (named barrier 2 + cw
  // holds this one until the previous one has issued), so one warpgroup's softmax runs while
  // the other's products occupy the tensor cores.
  const int next = cw + 1 == C ? 0 : cw + 1;
  auto my_turn = [&] { named_barrier_sync(2 + cw, 256); };
  auto pass_turn = [&] { named_barrier_arrive(2 + next, 256); };
  if (cw == C - 1) pass_turn();  // warpgroup 0 goes first

  float o[D / 2];
  int kv = 0;              // K/V tiles consumed so far, as the producer counts them
  uint32_t q_phase = 0;    // parity of the next Q tile's q_full phase
  for (int tile = blockIdx.x; tile < p.num_tiles; tile += gridDim.x) {
    const Tile w = tile_at(tile);
    if (w.m0 >= w.sq) continue;
    const int row0 = w.m0 + cw * 64 + warp * 16 + g;  // rows row0 and row0 + 8
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};  // max in log2 domain

    // S = Q K^T for one key tile: D/16 wgmmas, both operands K-major in shared memory.
    auto issue_qk = [&](float (&sc)[BN / 2], int stage) {
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++)  // column block kk/4, then 32 bytes per step in it
        Wgmma<T, BN>::ss(sc, smem_desc_sw128(sq_wg + (kk / 4) * BM * 64 + (kk % 4) * 16, 16),
                         smem_desc_sw128(s.k[stage] + (kk / 4) * BN * 64 + (kk % 4) * 16, 16), kk > 0);
      wgmma_commit();
    };
    // O += P V: V is [keys][head dim] in shared memory, MN-major for this product; the next
    // 64 head-dim columns are BN rows of 128 bytes further on.
    auto issue_pv = [&](const uint32_t (&pa)[BN / 16][4], int stage) {
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++)
        Wgmma<T, D>::rs(o, pa[kk], smem_desc_sw128(s.v[stage] + kk * 16 * 64, BN * 128));
      wgmma_commit();
    };
    // Mask, softcap and the online softmax of key tile `it`, in place: S becomes
    // exp(S - max). Returns whether any row of this warp changed its maximum.
    auto softmax = [&](float (&sc)[BN / 2], int it, float (&corr)[2]) {
      const int n0 = (w.nb_last - it) * BN;
      if (p.softcap > 0.f) {
#pragma unroll
        for (int i = 0; i < BN / 2; i++) sc[i] = p.post_cap * tanhf(sc[i] * p.pre_cap);
      }
      // Mask only tiles that cross a boundary, in offsets relative to the tile.
      const bool full = n0 + BN <= w.sk &&
                        (p.window_right < 0 || n0 + BN - 1 <= w.m0 + w.diag + p.window_right) &&
                        (p.window_left < 0 || n0 >= w.m_last + w.diag - p.window_left);
      if (!full) {
        const int kmax = clamp_int(w.sk - n0, 0, BN);  // columns < kmax exist
#pragma unroll
        for (int r = 0; r < 2; r++) {
          const int d0 = row0 + r * 8 + w.diag - n0;  // the diagonal's column
          const int hi = p.window_right < 0 ? kmax - 1 : clamp_int(d0 + p.window_right, -1, kmax - 1);
          const int lo = p.window_left < 0 ? 0 : clamp_int(d0 - p.window_left, 0, BN);
#pragma unroll
          for (int i = 0; i < kNT; i++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
              const int col = i * 8 + 2 * t + e;
              if (col < lo || col > hi) sc[i * 4 + 2 * r + e] = -INFINITY;
            }
        }
      }
      bool rescale = false;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kNT; i++) mx = fmaxf(mx, fmaxf(sc[i * 4 + 2 * r], sc[i * 4 + 2 * r + 1]));
        mx = fmaxf(row_max[r], quad_max(mx) * to_log2);
        const float base = mx == -INFINITY ? 0.f : mx;  // a row with nothing visible yet
        corr[r] = exp2f(row_max[r] - base);
        rescale |= corr[r] != 1.f;
        row_max[r] = mx;
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < kNT; i++) {
          sc[i * 4 + 2 * r] = exp2f(fmaf(sc[i * 4 + 2 * r], to_log2, -base));
          sc[i * 4 + 2 * r + 1] = exp2f(fmaf(sc[i * 4 + 2 * r + 1], to_log2, -base));
          sum += sc[i * 4 + 2 * r] + sc[i * 4 + 2 * r + 1];
        }
        row_sum[r] = row_sum[r] * corr[r] + sum;
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
    // This warp is done reading a buffer. Every caller follows a .sync.aligned wgmma wait,
    // which the whole warp has passed together.
    auto release = [&](uint64_t *bar) {
      if (lane == 0) mbar_arrive(bar);
    };

    if (w.nblocks > 0) {
      mbar_wait(&s.q_full, q_phase);
      float sc[BN / 2], corr[2];
      uint32_t pa[BN / 16][4];
      mbar_wait(&s.k_full[kv % STAGES], (kv / STAGES) & 1);
      my_turn();
#pragma unroll
      for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
      wgmma_fence();
      issue_qk(sc, kv % STAGES);
      pass_turn();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < BN / 2; i++) reg_fence(sc[i]);
      release(&s.k_empty[kv % STAGES]);
      softmax(sc, 0, corr);  // O is still zero: nothing to rescale
      pack(sc, pa);
      // Steady state: the scores of tile it and P V of tile it-1 are issued together; the
      // softmax of tile it runs while P V is still on the tensor cores.
      for (int it = 1; it < w.nblocks; it++) {
        const int cur = kv + it, prev = cur - 1;
        mbar_wait(&s.k_full[cur % STAGES], (cur / STAGES) & 1);
        mbar_wait(&s.v_full[prev % STAGES], (prev / STAGES) & 1);
        my_turn();
#pragma unroll
        for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
        wgmma_fence();
        issue_qk(sc, cur % STAGES);
        issue_pv(pa, prev % STAGES);
        pass_turn();
        wgmma_wait<1>();  // the scores (committed first) are done; P V may still run
#pragma unroll
        for (int i = 0; i < BN / 2; i++) reg_fence(sc[i]);
        release(&s.k_empty[cur % STAGES]);
        const bool rescale = softmax(sc, it, corr);
        wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
          for (int j = 0; j < 4; j++) reg_fence(pa[kk][j]);  // P V read them until now
        release(&s.v_empty[prev % STAGES]);
        if (rescale) {
#pragma unroll
          for (int i = 0; i < kDT; i++) {
            o[4 * i + 0] *= corr[0], o[4 * i + 1] *= corr[0];
            o[4 * i + 2] *= corr[1], o[4 * i + 3] *= corr[1];
          }
        }
        pack(sc, pa);
      }
      const int last = kv + w.nblocks - 1;
      mbar_wait(&s.v_full[last % STAGES], (last / STAGES) & 1);
      my_turn();
#pragma unroll
      for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
      wgmma_fence();
      issue_pv(pa, last % STAGES);
      pass_turn();
      wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < D / 2; i++) reg_fence(o[i]);
      release(&s.v_empty[last % STAGES]);
      kv += w.nblocks;
      q_phase ^= 1;
      // With its own staging buffer, Q is free now and the next tile's Q loads during the
      // epilogue; otherwise the epilogue stages O in this warp's Q rows and frees them after.
      if (kOwnO) release(&s.q_empty);
    }

    // Normalise; rows that saw no key keep O = 0 and get LSE = -inf; NaN sums propagate.
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      const float l = quad_sum(row_sum[r]);
      inv[r] = l == 0.f ? 0.f : 1.f / l;
      const int row = row0 + r * 8;
      if (p.lse && t == 0 && row < w.sq) {
        const float lse = l == 0.f ? -INFINITY : (row_max[r] + log2f(l)) * 0.69314718055994531f;
        p.lse[w.b * p.lse_stride[0] + (int64_t)(w.q0 + row) * p.lse_stride[1] + w.h * p.lse_stride[2]] = lse;
      }
    }
    T *og = static_cast<T *>(p.out) + w.b * p.o_stride[0] + (int64_t)w.q0 * p.o_stride[1] +
            w.h * p.o_stride[2];
    if (w.nblocks <= 0) {
      // No key visible to the whole block: zeros, written directly (the Q tile may be
      // loading for the next tile, and there is nothing to stage).
#pragma unroll
      for (int c = lane; c < 16 * (D / 8); c += 32) {
        const int row = w.m0 + cw * 64 + warp * 16 + c / (D / 8);
        if (row < w.sq)
          *reinterpret_cast<uint4 *>(og + (int64_t)row * p.o_stride[1] + (c % (D / 8)) * 8) =
              make_uint4(0, 0, 0, 0);
      }
      continue;
    }
    // Stage this warp's 16 rows, swizzling 16-byte chunks by row so that neither the 4-byte
    // writes nor the 16-byte reads conflict, then write whole 16-byte chunks per row.
    // In the Q tile, every warp of this warpgroup must first be past its last wgmma.
    if (!kOwnO) named_barrier_sync(8 + cw, 128);
    unsigned char *stage_base = reinterpret_cast<unsigned char *>(kOwnO ? s.o : s.q) +
                                (cw * 64 + warp * 16) * 128;
#pragma unroll
    for (int i = 0; i < kDT; i++) {
      unsigned char *blk = stage_base + (i / 8) * BM * 128;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int row = g + 8 * r;  // row % 8 == g
        *reinterpret_cast<uint32_t *>(blk + row * 128 + (((i % 8) ^ g) * 16) + 4 * t) =
            pack2<T>(o[4 * i + 2 * r] * inv[r], o[4 * i + 2 * r + 1] * inv[r]);
      }
    }
    __syncwarp();
#pragma unroll
    for (int c = lane; c < 16 * (D / 8); c += 32) {
      const int r = c / (D / 8), ch = c % (D / 8);
      const int row = w.m0 + cw * 64 + warp * 16 + r;
      if (row < w.sq)
        *reinterpret_cast<uint4 *>(og + (int64_t)row * p.o_stride[1] + ch * 8) =
            *reinterpret_cast<const uint4 *>(stage_base + (ch / 8) * BM * 128 + r * 128 +
                                             (((ch % 8) ^ (r % 8)) * 16));
    }
    if (!kPersistent) break;  // this CTA's only tile
    if (!kOwnO) {
      fence_proxy_async();  // these reads come before the TMA's next write of Q
      __syncwarp();
      release(&s.q_empty);
    } else {
      __syncwarp();  // the next tile's staging writes come after every lane's reads
    }
  }
  if (cw == 0) my_turn();  // takes the last warpgroup's final pass, so no arrival is left over
}

}  // namespace fc::sm90
