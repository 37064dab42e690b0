// The merge of a launch whose keys were split over the SMs (key_split.h), shared by the GPU
// families: each family's launch includes it and so compiles it for its own targets. The
// kernel is static (one copy a translation unit): two families instantiating the same
// <T, D> would otherwise share one host stub, and the runtime could launch one family's
// device code on a GPU that only the other's can run.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <type_traits>

#include "fc_problem.h"
#include "key_split.h"

namespace fc {

// For each row of each (batch, head): out = sum over pieces of O_s exp(lse_s - lse) with
// lse = log sum exp(lse_s), and lse into the caller's LSE where asked. A row no piece saw a
// key of stays 0 with an LSE of -inf; a NaN log-sum-exp (a NaN input) makes the row NaN. One
// CTA per row, kMergeThreads / D groups of D threads, a column each: the pieces' weights
// first (a thread a piece), then each group sums every kGroups-th piece and the groups meet
// in shared memory. (One CTA per (batch, head) walking every piece in turn took 60 us of a
// 98 us launch with one tile in 64 pieces: results/history/session-cf2c0e6/, call 4.)
// `rows`: the rows a record holds (key_split_record_bytes); grid (heads, batch, seqlen_q).
// With variable lengths (cu_q, the query offsets; rows = the longest sequence's) sequence b's
// rows start at cu_q[b] (clamped to total_q as the kernels clamp them) times o_off and l_off
// elements, a counted row stands for `fold` rows of which a sequence has at most `units`
// (fc_seq_rows()), and the CTAs of rows past the sequence's length leave at once. Rows folded
// by position (fc_problem.pos_group, `group`; `mul` = fc_pos_mul(group)) lie where
// fc_row_offset() puts them, with o_pos (l_pos in lse) as the position stride.
constexpr int kMergeThreads = 512;
static_assert(kMaxKeySplits <= kMergeThreads, "merge_key_splits() weighs a piece a thread");

template <typename T, int D>
static __global__ void __launch_bounds__(kMergeThreads)
    merge_key_splits(const float *part, int splits, int heads, int rows, T *out, int64_t os0, int64_t os1,
                     int64_t os2, float *lse, int64_t ls0, int64_t ls1, int64_t ls2, const int32_t *cu_q,
                     int64_t total_q, int64_t o_off, int64_t l_off, int fold, int units, int group, int mul, int64_t o_pos,
                     int64_t l_pos) {
  constexpr int kGroups = kMergeThreads / D;  // D = 96 or 192 leaves the last threads without a column
  __shared__ float weight[kMaxKeySplits];
  __shared__ float acc[kGroups][D];
  __shared__ float red[kMergeThreads / 32];
  const int h = blockIdx.x, b = blockIdx.y, row = blockIdx.z, tid = threadIdx.x, lane = tid % 32, wid = tid / 32;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Launched as the split kernel's programmatic dependent (launch_merge_key_splits(), `early`),
  // this CTA may start before that kernel's memory is flushed: wait for its completion and
  // its pieces. In a plain launch it returns at once.
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
  int64_t q0 = 0;  // the sequence's first counted row (variable lengths)
  if (cu_q) {
    q0 = min((int64_t)max(cu_q[b], 0), total_q);
    int64_t sq = min((int64_t)max(cu_q[b + 1], 0), total_q) - q0;
    sq = fc_seq_rows(sq, units, fold);
    if (row >= sq) return;  // the whole CTA, before any barrier
  }
  const int64_t record = key_split_record_floats(rows, D);
  const int64_t stride = (int64_t)gridDim.y * heads * record;  // from one piece to the next of this (b, h)
  const float *first = part + ((int64_t)b * heads + h) * record;
  const float x = tid < splits ? first[tid * stride + (int64_t)rows * D + row] : -INFINITY;
  // The largest log-sum-exp, a NaN winning
  auto bigger = [](float a, float c) { return a > c || a != a ? a : c; };
  float mx = x;
  for (int o = 16; o > 0; o /= 2) mx = bigger(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (lane == 0) red[wid] = mx;
  __syncthreads();
  mx = red[0];
  for (int i = 1; i < kMergeThreads / 32; i++) mx = bigger(mx, red[i]);
  const bool none = mx == -INFINITY;  // no piece saw a key of this row
  const float w = none ? 0.f : expf(x - mx);  // 0 for an empty piece
  if (tid < splits) weight[tid] = w;
  float sum = w;
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  __syncthreads();  // every warp has read red[] and written weight[]
  if (lane == 0) red[wid] = sum;
  const int g = tid / D, d = tid % D;
  float a = 0.f;
  if (g < kGroups) {
    for (int s = g; s < splits; s += kGroups) a += weight[s] * first[s * stride + (int64_t)row * D + d];
    acc[g][d] = a;
  }
  __syncthreads();
  if (g != 0) return;
  sum = 0.f;
  for (int i = 0; i < kMergeThreads / 32; i++) sum += red[i];
  for (int i = 1; i < kGroups; i++) a += acc[i][d];
  const float y = sum > 0.f ? a / sum : a;
  const int64_t o = b * os0 + q0 * o_off + fc_row_offset(row, group, mul, o_pos, os1) + h * os2 + d;
  if constexpr (std::is_same_v<T, __half>) out[o] = __float2half_rn(y);
  else out[o] = __float2bfloat16_rn(y);
  if (lse && d == 0)
    lse[b * ls0 + q0 * l_off + fc_row_offset(row, group, mul, l_pos, ls1) + h * ls2] = none ? mx : mx + logf(sum);
}

// Enqueues the merge of `splits` pieces of `rows`-row records into pr->out (and pr->lse) on
// `stream`; returns the launch's error. `early` (a family built for sm_90 only): launched with
// programmatic stream serialization, so the launch of its grid overlaps the split kernel's
// last CTAs and their memory flush, the kernel waiting for them (griddepcontrol.wait) before
// it reads. The split kernel does not trigger the launch itself: it is released as that
// kernel's CTAs exit. A trigger at the split kernel's start (griddepcontrol.launch_dependents
// after its barrier set-up) made the decodes 0.4-2.8 us slower where this gains 1.4-1.7 us
// (results/history/session-885b469/, calls 1-2). A family that also runs on older targets
// (sm80's, whose merge is built without the wait) must pass false.
template <typename T, int D>
static cudaError_t launch_merge_key_splits(const fc_problem *pr, const float *part, int splits, int rows,
                                           cudaStream_t stream, bool early) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3((unsigned)pr->heads, (unsigned)pr->batch, (unsigned)pr->seqlen_q);
  cfg.blockDim = dim3(kMergeThreads);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = early ? attr : nullptr;
  cfg.numAttrs = early ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, merge_key_splits<T, D>, part, splits, (int)pr->heads, rows, static_cast<T *>(pr->out),
                            pr->o_stride[0], pr->o_stride[1], pr->o_stride[2], pr->lse, pr->lse_stride[0],
                            pr->lse_stride[1], pr->lse_stride[2], pr->cu_seqlens_q, pr->total_q,
                            pr->offset_stride[1], pr->offset_stride[2], (int)pr->fold,
                            (int)(pr->seqlen_q / pr->fold), (int)pr->pos_group, (int)fc_pos_mul(pr->pos_group),
                            pr->pos_stride[1], pr->pos_stride[2]);
}

}  // namespace fc
