// Host side of one sm80 instantiation: fill Params, raise the shared-memory limit once, launch.
#pragma once

#include <cuda_runtime.h>
#include <stdio.h>

#include "fc_problem.h"
#include "flashcore.h"
#include "fwd_kernel.cuh"
#include "merge_key_splits.cuh"
#include "workspace.h"

namespace fc::sm80 {

inline Params make_params(const fc_problem *pr, int64_t row_blocks) {
  Params p;
  p.q = pr->q, p.k = pr->k, p.v = pr->v, p.out = pr->out, p.lse = pr->lse;
  for (int i = 0; i < 3; i++) {
    p.q_stride[i] = pr->q_stride[i], p.k_stride[i] = pr->k_stride[i];
    p.v_stride[i] = pr->v_stride[i], p.o_stride[i] = pr->o_stride[i];
    p.lse_stride[i] = pr->lse_stride[i];
  }
  p.seqlen_q = pr->seqlen_q, p.seqlen_k = pr->seqlen_k;
  p.total_q = pr->total_q, p.total_k = pr->total_k;
  p.heads = (int)pr->heads, p.group = (int)(pr->heads / pr->heads_k);
  const float log2e = 1.4426950408889634f;
  p.scale_log2 = pr->scale * log2e;
  p.softcap = pr->softcap;
  p.pre_cap = pr->softcap > 0.f ? pr->scale / pr->softcap : 0.f;
  p.post_cap = pr->softcap * log2e;
  p.window_left = pr->window_left, p.window_right = pr->window_right;
  p.cu_q = pr->cu_seqlens_q, p.cu_k = pr->cu_seqlens_k;
  p.head_group = (int)fc_head_group(pr->seqlen_k, pr->head_dim, 2, pr->heads * pr->batch, row_blocks, 1, p.group,
                                    pr->window_left, pr->window_right, FC_ORDER_L2_BUDGET);
  p.splits = 1, p.part = nullptr;
  p.q_offset_stride = pr->offset_stride[0], p.o_offset_stride = pr->offset_stride[1];
  p.lse_offset_stride = pr->offset_stride[2], p.fold = (int)pr->fold, p.units = (int)(pr->seqlen_q / pr->fold);
  p.pos_group = (int)(pr->pos_group > 1 ? pr->pos_group : 1), p.pos_mul = (int)fc_pos_mul(p.pos_group);
  p.q_pos_stride = pr->pos_stride[0], p.o_pos_stride = pr->pos_stride[1];
  p.lse_pos_stride = pr->pos_stride[2];
  return p;
}

template <typename T, int D, int BM, int BN, int MT>
int launch(const fc_problem *pr, void *stream, char *err, size_t err_len) {
  // At most 64 query rows a sequence run short_config(C), split or not (config.h).
  constexpr Config C{D, BM, BN, MT}, S = short_config(C);
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  const bool shorter = short_rows(pr->seqlen_q, C);
  dim3 grid(shorter ? 1u : (unsigned)((pr->seqlen_q + BM - 1) / BM), (unsigned)pr->heads, (unsigned)pr->batch);
  Params params = make_params(pr, grid.x);
  // Keys split over the SMs (key_splits_for() in config.h), in the caller's workspace
  // (fc_attn_options.workspace, whose size fc_select() checked against the plan's), else in
  // one of the pool's (workspace.h): not under stream capture, and where no workspace is free
  // the launch runs whole.
  int ws = -1, device = 0;
  if (shorter) {
    int sms = 0;
    bool capturing = false;
    if (cudaError_t e = launch_site(st, &device, &sms, &capturing, err, err_len)) return (int)e;
    const int want = capturing && !pr->workspace ? 1 : key_splits_for(pr, C, sms);
    const size_t bytes = (size_t)key_split_workspace_bytes(pr->heads * pr->batch, want, pr->seqlen_q, D);
    unsigned int *state = nullptr;
    void *data = pr->workspace && bytes <= pr->workspace_bytes ? pr->workspace : nullptr;
    if (want > 1 && (data || (!capturing && (ws = acquire_workspace(device, st, bytes, &state, &data)) >= 0))) {
      params.splits = want, params.part = static_cast<float *>(data);
      params.lse = nullptr;  // the merge writes it
      grid.x = (unsigned)want;
    }
  }
  auto go = [&](auto kernel, Config c) {
    // The attribute is per kernel and per device; setting it each call costs a host call
    // but no allocation or synchronisation, and keeps multi-device processes correct.
    const int bytes = smem_bytes(c);
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) {
      snprintf(err, err_len, "cudaFuncSetAttribute(%d bytes of shared memory): %s", bytes, cudaGetErrorString(e));
      return e;
    }
    kernel<<<grid, warps(c) * 32, bytes, st>>>(params);
    if ((e = cudaGetLastError()) != cudaSuccess)
      snprintf(err, err_len, "launch of %dx%d tile, D=%d (grid %u x %u x %u): %s", c.block_m, c.block_n, D, grid.x,
               grid.y, grid.z, cudaGetErrorString(e));
    return e;
  };
  cudaError_t e = params.splits > 1 ? go(fwd_kernel<T, D, S.block_m, S.block_n, S.m_tiles, true>, S)
                  : shorter         ? go(fwd_kernel<T, D, S.block_m, S.block_n, S.m_tiles, false>, S)
                                    : go(fwd_kernel<T, D, BM, BN, MT, false>, C);
  if (params.splits > 1 && e == cudaSuccess &&
      (e = launch_merge_key_splits<T, D>(pr, params.part, params.splits, (int)pr->seqlen_q, st, false)) != cudaSuccess)
    snprintf(err, err_len, "launch of the sm80 merge of %d key splits, D=%d (grid %lld x %lld x %lld): %s",
             params.splits, D, (long long)pr->heads, (long long)pr->batch, (long long)pr->seqlen_q,
             cudaGetErrorString(e));
  if (ws >= 0) release_workspace(device, ws, st);
  return (int)e;
}

// Both dtypes, both shared-memory classes of one head dim.
template <int D>
int launch_d(const fc_problem *pr, const fc_kernel_info *info, void *stream, char *err,
             size_t err_len) {
  constexpr Config big = big_smem(D), small = small_smem(D);
  // The plan reports the 64-row tile for short launches (short_config()): block_n tells.
  const bool is_big = info->block_n == big.block_n;
#define FC_CFG(c) D, c.block_m, c.block_n, c.m_tiles
  if (pr->dtype == FC_DTYPE_BF16)
    return is_big ? launch<__nv_bfloat16, FC_CFG(big)>(pr, stream, err, err_len)
                  : launch<__nv_bfloat16, FC_CFG(small)>(pr, stream, err, err_len);
  return is_big ? launch<__half, FC_CFG(big)>(pr, stream, err, err_len)
                : launch<__half, FC_CFG(small)>(pr, stream, err, err_len);
#undef FC_CFG
}

}  // namespace fc::sm80

// One translation unit per head dim instantiates this (see fwd_d*.cu).
#define FC_SM80_HEAD_DIM(D)                                                                    \
  extern "C" int fc_sm80_launch_d##D(const fc_problem *pr, const fc_kernel_info *info,        \
                                     void *stream, char *err, size_t err_len) {               \
    return fc::sm80::launch_d<D>(pr, info, stream, err, err_len);                              \
  }
