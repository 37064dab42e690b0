// Host side of one sm90 instantiation: tensor maps for Q, K and V, Params, the launch.
#pragma once

#include <cuda_runtime.h>
#include <stdio.h>

#include <type_traits>

#include "fc_problem.h"
#include "flashcore.h"
#include "fwd_kernel.cuh"
#include "merge_key_splits.cuh"
#include "workspace.h"

namespace fc::sm90 {

static_assert(kMaxCopies == FC_MAX_OUT_COPIES, "Params::copies holds every out_copies entry");

// Tensor maps of q, k and v for tiles of block_m (q) and block_n (k, v) rows by 64 columns,
// 128-byte swizzle; defined in family.cu. Returns 0 or a CUresult with a sentence in err.
int make_tensor_maps(const fc_problem *pr, int block_m, int block_n, CUtensorMap maps[3],
                     char *err, size_t err_len);
// The tensor map of out, or of a copy at `out` with out's strides, for the persistent kernel's
// TMA store (boxes of 64 rows by 64 columns, 128-byte swizzle; family.cu); false where the
// driver declines one: the kernel then stores with its threads.
bool make_out_map(const fc_problem *pr, void *out, CUtensorMap *map);

// The maps of out (maps[3]) and of every copy (copy_maps) for the persistent kernel, all or
// none (Params::o_tma).
template <bool COPIES>
bool make_out_maps(const fc_problem *pr, CUtensorMap maps[4], CopyMaps<COPIES> &copy_maps) {
  if (!make_out_map(pr, pr->out, &maps[3])) return false;
  if constexpr (COPIES)
    for (int i = 0; i < pr->num_out_copies; i++)
      if (!make_out_map(pr, pr->out_copies[i], &copy_maps.m[i])) return false;
  return true;
}

// From how many row blocks a pair the causal order interleaves pairs, by schedule. One CTA
// per tile (v4): from 10; there the interleaved order lost 9% at S=512 and 3% at S=1024 (4
// and 8 blocks of 128 rows, causal D=128;
// history/fwd-grid-sm90-h100-v4-09459e2-interleave-every-size.json). Persistent grid: from 6
// (H100, history/variants-h100-sm90-min-blocks/): causal S=1024 D=256 +6.1%, D=128 +3.1%,
// D=64 +1.3% against 10; from 4, S=512 D=128 lost 5.9%; from 12 or 17, S=2048 lost 3-9%.
constexpr int64_t kMinBlocksPlain = 10, kMinBlocksPersistent = 6;

// Tile counters for one persistent launch on `device` that no other launch holds (family.cu):
// a zeroed pair in device memory and its busy flag in host-mapped memory, set here and
// cleared by the launch's last CTA. False when every counter is held or the pool could not be
// set up: the launch then runs one CTA per tile. Not under stream capture (a graph would
// replay its launch with the same counters).
bool acquire_tile_counter(int device, cudaStream_t stream, unsigned int **counter, volatile unsigned int **busy);

// Where the split tail starts for `tiles` tiles of config c over `ctas` CTAs of the persistent
// grid (split_from() in config.h), or `tiles` for none: only where every tile visits the same
// key tiles (no mask, no varlen) and there are no copies, in the kernels that have it (kSplit:
// D=128). family.cu; the plan's description says it too.
int64_t split_plan(const fc_problem *pr, Config c, int64_t tiles, int64_t ctas);

// The split tail's workspace (workspace.h) holds a word per cut and consumer warp of the D=128
// tile, then the cuts' data, for as many CTAs as the device has SMs.
static_assert(4 * config(128, true).consumers * 4 <= kWorkspaceStatePerSm &&
                  split_cut_bytes(config(128, true)) <= kWorkspaceDataPerSm,
              "a workspace holds the split tail of one CTA an SM");

// `counter` and `busy`: the persistent launch's tile counters (acquire_tile_counter), or null
// for one CTA per tile; the schedule also sets from how many row blocks pairs interleave.
inline Params make_params(const fc_problem *pr, int64_t row_blocks, unsigned int *counter,
                          volatile unsigned int *busy) {
  const bool persistent = counter != nullptr;
  Params p;
  p.out = pr->out, p.lse = pr->lse;
  p.num_copies = pr->num_out_copies;
  p.o_tma = 0;
  p.any_signal = 0;
  for (int i = 0; i < kMaxCopies; i++) {
    p.copies[i] = i < pr->num_out_copies ? pr->out_copies[i] : nullptr;
    p.signals[i] = i < pr->num_out_copies ? pr->out_signals[i] : nullptr;
    p.any_signal |= p.signals[i] != nullptr;
  }
  for (int i = 0; i < 3; i++) p.o_stride[i] = pr->o_stride[i], p.lse_stride[i] = pr->lse_stride[i];
  p.seqlen_q = (int)pr->seqlen_q, p.seqlen_k = (int)pr->seqlen_k;
  p.total_q = (int)pr->total_q, p.total_k = (int)pr->total_k;
  p.heads = (int)pr->heads, p.group = (int)(pr->heads / pr->heads_k);
  const float log2e = 1.4426950408889634f;
  p.scale_log2 = pr->scale * log2e;
  p.softcap = pr->softcap;
  p.pre_cap = pr->softcap > 0.f ? pr->scale / pr->softcap : 0.f;
  p.post_cap = pr->softcap * log2e;
  // A window of 2^30 - 1 or more reaches past every row the planner accepts.
  const int64_t kFar = (1 << 30) - 1;
  p.window_left = (int)(pr->window_left < kFar ? pr->window_left : kFar);
  p.window_right = (int)(pr->window_right < kFar ? pr->window_right : kFar);
  p.cu_q = pr->cu_seqlens_q, p.cu_k = pr->cu_seqlens_k;
  p.head_group = (int)fc_head_group(pr->seqlen_k, pr->head_dim, 2, pr->heads * pr->batch, row_blocks,
                                    persistent ? kMinBlocksPersistent : kMinBlocksPlain, p.group,
                                    pr->window_left, pr->window_right, FC_ORDER_L2_BUDGET);
  p.blocks = (int)row_blocks;
  p.pairs = (int)(pr->heads * pr->batch);
  p.num_tiles = (int)(row_blocks * p.pairs);  // under 2^30 (fc_sm90_plan)
  p.counter = counter, p.busy = busy;
  p.split_from = p.num_tiles, p.split_nb = 0, p.num_items = p.num_tiles;
  p.ws = nullptr, p.ws_state = nullptr;
  p.lead = 0;
  p.splits = 1, p.part = nullptr;
  p.o_offset_stride = pr->offset_stride[1], p.lse_offset_stride = pr->offset_stride[2];
  p.fold = (int)pr->fold, p.units = (int)(pr->seqlen_q / pr->fold);
  p.pos_group = (int)(pr->pos_group > 1 ? pr->pos_group : 1), p.pos_mul = (int)fc_pos_mul(p.pos_group);
  p.q_by_pos = p.pos_group > 1 && pr->pos_stride[0] != 0;
  p.o_pos_stride = pr->pos_stride[1], p.lse_pos_stride = pr->pos_stride[2];
  p.record_rows = (int)pr->seqlen_q;
  p.q_box_rows = 0;  // the launch sets it (it knows the tile)
  return p;
}

// How many tiles a launch that stores copies to other GPUs (out_copies) runs first from the
// end of its dispatch order: under a causal mask (pairs interleaved, heaviest
// row blocks first) the order ends on the last group's row blocks of at most 4 key tiles. A
// tile's output (32 KB at D=128) crosses NVLink at about 2.9 GB/s an SM when every SM sends
// (378 GB/s over 132), about 11 us, while a tile of 4 key tiles computes in 8-10 us: a last
// wave of those leaves the link its bytes after the attention ends. Run first, their bytes
// cross under the heavy tiles. A model of the launch (list scheduling of the tiles in this
// order, the link a queue at 350 GB/s) gave 2-3 us less after the attention at weak S=4096,
// B=1 and B=4; measured on 2 x H200, B=1 0.078-0.079 ms against 0.080-0.081 (+1.5 points),
// B=4 unchanged (results/history/scale-light-first-x2/). One CTA per tile (weak S=8192, the
// last head chunk of strong causal rows) takes them first by its block index since
// 4032509: the same model gave 2-3 us less at weak S=8192, B=1; measured about 1 us on
// 2 x H200 (results/history/session-b8e543f/, call 1).
// The count itself: lead_tiles() in config.h.
inline int lead_tiles(const fc_problem *pr, const Params &p, int block_m, int block_n) {
  if (!(pr->window_left < 0 && pr->window_right >= 0) || p.cu_q) return 0;  // causal, fixed lengths
  return lead_tiles(pr->seqlen_q, pr->seqlen_k, pr->window_right, p.blocks, block_m, block_n,
                    p.head_group < p.pairs ? p.head_group : p.pairs, p.num_tiles);
}


// NARROW: the tile of config(D, true), see narrow() in config.h.
template <typename T, int D, bool NARROW>
int launch_cfg(const fc_problem *pr, void *stream, char *err, size_t err_len) {
  constexpr Config C = config(D, NARROW), CW = exact_whole_config(C);  // CW: exact, whole tiles
  constexpr int BM = block_m(C);
  static_assert(block_m(CW) == BM && CW.block_n == C.block_n, "exact_whole_config() changes only the stages");
  CUtensorMap maps[4] = {};
  if (int e = make_tensor_maps(pr, BM, C.block_n, maps, err, err_len)) return e;
  constexpr bool kCanPersist = persistent_config(D, NARROW);
  const bool copies = pr->num_out_copies > 0;
  bool persistent = kCanPersist && persistent_grid(C, pr->seqlen_k, masked(pr->window_left, pr->window_right), copies,
                                                   pr->cu_seqlens_q != nullptr, fc_problem_positions(pr));
  const int64_t row_blocks = (pr->seqlen_q + BM - 1) / BM, tiles = row_blocks * pr->heads * pr->batch;
  if (tiles == 0) return 0;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  unsigned int *counter = nullptr;
  volatile unsigned int *busy = nullptr;
  dim3 grid((unsigned)row_blocks, (unsigned)pr->heads, (unsigned)pr->batch);
  cudaError_t e = cudaSuccess;
  int device = 0, sms = 0;
  const bool exact = exact_softmax(fc_problem_positions(pr), copies);
  bool capturing = false;
  if ((persistent || exact) && (e = launch_site(st, &device, &sms, &capturing, err, err_len)) != cudaSuccess) return (int)e;
  if (persistent) persistent = !capturing && acquire_tile_counter(device, st, &counter, &busy);
  // Keys split over the SMs (key_split.h), in the caller's workspace (fc_attn_options.workspace,
  // whose size fc_select() checked against the plan's), else in one of the pool's
  // (workspace.h): not under stream capture, and where no workspace is free the launch runs
  // whole tiles.
  int splits = 1, kws = -1;
  float *part = nullptr;
  if (exact && (!capturing || pr->workspace)) {
    const int want = key_splits(tiles, sms, (pr->seqlen_k + C.block_n - 1) / C.block_n, true);
    const size_t bytes = (size_t)key_split_workspace_bytes(tiles, want, pr->seqlen_q, D);
    if (want > 1 && pr->workspace && bytes <= pr->workspace_bytes) {
      splits = want, part = static_cast<float *>(pr->workspace);
    } else if (want > 1 && !capturing) {
      unsigned int *state = nullptr;
      void *data = nullptr;
      kws = acquire_workspace(device, st, bytes, &state, &data);
      if (kws >= 0) splits = want, part = static_cast<float *>(data);
    }
  }
  CopyMaps<true> copy_maps = {};
  CopyMaps<false> no_maps = {0};
  // The persistent kernel's TMA stores of out (and of every copy), all maps or none.
  const bool out_maps = persistent && (copies ? make_out_maps(pr, maps, copy_maps) : make_out_maps(pr, maps, no_maps));
  // A persistent COPIES kernel with an output tile stores every warpgroup's rows by the TMA
  // (copies_persist() in config.h), so without its maps it runs one CTA per tile.
  if (persistent && copies && out_staged(C, true) && !out_maps) {
    *busy = 0u;  // the counters go back to the pool unused
    persistent = false, counter = nullptr, busy = nullptr;
  }
  // One CTA per SM (the tile needs all of one), never more than tiles.
  if (persistent) grid = dim3((unsigned)(tiles < sms ? tiles : sms));
  Params params = make_params(pr, row_blocks, counter, busy);
  // Q by position comes in boxes of whole positions: G x (BM / G) rows (BM where G divides it).
  params.q_box_rows = params.q_by_pos ? BM / params.pos_group * params.pos_group : BM;
  params.o_tma = persistent && out_maps;
  if (copies) params.lead = lead_tiles(pr, params, BM, C.block_n);
  params.splits = splits, params.part = part;
  if (splits > 1) {
    grid.x *= (unsigned)splits;
    params.lse = nullptr;  // merge_key_splits() writes it
  }
  const bool whole_stages = exact && splits == 1 && !same_config(C, CW);
  const int smem = smem_bytes(whole_stages ? CW : C, persistent);
  const int64_t split = persistent ? split_plan(pr, C, tiles, grid.x) : tiles;
  void *ws_data = nullptr;
  const int ws = split < tiles ? acquire_workspace(device, st, (size_t)grid.x * split_cut_bytes(C), &params.ws_state, &ws_data) : -1;
  if (ws >= 0) {
    params.ws = static_cast<float4 *>(ws_data);
    params.split_from = (int)split, params.split_nb = (int)((pr->seqlen_k + C.block_n - 1) / C.block_n);
    params.num_items = (int)split + (int)grid.x;
  }
  // The kernels with copies take their maps; the others an empty parameter.
  auto go = [&](auto kernel, const auto &cmaps) {
    cudaError_t r = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (r != cudaSuccess) {
      snprintf(err, err_len, "cudaFuncSetAttribute(%d bytes of shared memory): %s", smem, cudaGetErrorString(r));
      return r;
    }
    kernel<<<grid, threads(C), smem, st>>>(maps[0], maps[1], maps[2], maps[3], cmaps, params);
    if ((r = cudaGetLastError()) != cudaSuccess)
      snprintf(err, err_len, "launch of the sm90 %dx%d tile, D=%d (%s grid %u x %u x %u for %lld tiles): %s", BM,
               C.block_n, D, persistent ? "persistent" : "plain", grid.x, grid.y, grid.z, (long long)tiles,
               cudaGetErrorString(r));
    return r;
  };
  constexpr bool kP = kCanPersist;  // no persistent instantiation where the config has none
  // VARLEN: kernels of their own for launches with cu_seqlens, which zero V's rows past each
  // sequence's end (fwd_kernel's second producer warp); the fixed-length ones compile none of it.
  auto pick = [&](auto varlen) {
    constexpr bool V = decltype(varlen)::value;
    if (exact) {  // one CTA per tile (persistent_grid())
      // (C and CW spelt out: nvcc takes no captured constexpr local in this if constexpr)
      if constexpr (!same_config(exact_whole_config(config(D, NARROW)), config(D, NARROW)))  // D=64
        if (whole_stages) return go(fwd_kernel<T, D, CW.block_n, CW.consumers, CW.stages, false, false, true, V>, no_maps);
      return go(fwd_kernel<T, D, C.block_n, C.consumers, C.stages, false, false, true, V>, no_maps);
    }
    if (copies)
      return kP && persistent ? go(fwd_kernel<T, D, C.block_n, C.consumers, C.stages, kP, true, false, V>, copy_maps)
                              : go(fwd_kernel<T, D, C.block_n, C.consumers, C.stages, false, true, false, V>, copy_maps);
    return kP && persistent ? go(fwd_kernel<T, D, C.block_n, C.consumers, C.stages, kP, false, false, V>, no_maps)
                            : go(fwd_kernel<T, D, C.block_n, C.consumers, C.stages, false, false, false, V>, no_maps);
  };
  e = pr->cu_seqlens_k ? pick(std::true_type{}) : pick(std::false_type{});
  if (e != cudaSuccess && persistent) *busy = 0u;  // no CTA ran: the counters are still zero
  if (ws >= 0) release_workspace(device, ws, st);
  if (splits > 1 && e == cudaSuccess && (e = launch_merge_key_splits<T, D>(pr, part, splits, (int)pr->seqlen_q, st, true)) != cudaSuccess)
    snprintf(err, err_len, "launch of the sm90 merge of %d key splits, D=%d (grid %lld x %lld x %lld): %s", splits, D,
             (long long)pr->heads, (long long)pr->batch, (long long)pr->seqlen_q, cudaGetErrorString(e));
  if (kws >= 0) release_workspace(device, kws, st);
  return (int)e;
}

// The tile of config(D, narrow(...)); one instantiation where both are the same.
template <typename T, int D>
int launch(const fc_problem *pr, void *stream, char *err, size_t err_len) {
  if constexpr (same_config(config(D, true), config(D, false)))
    return launch_cfg<T, D, true>(pr, stream, err, err_len);
  else
    return narrow(pr->seqlen_k, pr->window_left, pr->window_right) ? launch_cfg<T, D, true>(pr, stream, err, err_len)
                                                                   : launch_cfg<T, D, false>(pr, stream, err, err_len);
}

template <int D>
int launch_d(const fc_problem *pr, void *stream, char *err, size_t err_len) {
  return pr->dtype == FC_DTYPE_BF16 ? launch<__nv_bfloat16, D>(pr, stream, err, err_len)
                                    : launch<__half, D>(pr, stream, err, err_len);
}

}  // namespace fc::sm90

// One translation unit per head dim instantiates this (see fwd_d*.cu).
#define FC_SM90_HEAD_DIM(D)                                                                  \
  extern "C" int fc_sm90_launch_d##D(const fc_problem *pr, void *stream, char *err,         \
                                     size_t err_len) {                                       \
    return fc::sm90::launch_d<D>(pr, stream, err, err_len);                                  \
  }
