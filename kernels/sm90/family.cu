// The sm90 family's answers to the selector (can it run a problem here, with which tile) and
// the tensor maps its launches need. The kernels live in fwd_d*.cu.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include <mutex>

#include "config.h"
#include "fc_problem.h"
#include "flashcore.h"
#include "workspace.h"

namespace fc::sm90 {
int make_tensor_maps(const fc_problem *pr, int block_m, int block_n, CUtensorMap maps[3],
                     char *err, size_t err_len);
int64_t split_plan(const fc_problem *pr, Config c, int64_t tiles, int64_t ctas);  // fwd_launch.cuh
}

#define FC_DECLARE(D) extern "C" int fc_sm90_launch_d##D(const fc_problem *, void *, char *, size_t);
FC_DECLARE(64)
FC_DECLARE(128)
FC_DECLARE(256)

typedef int (*launch_fn)(const fc_problem *, void *, char *, size_t);

// Head dims with an sm90 kernel in this build (FLASHCORE_HEAD_DIMS prunes them).
static launch_fn launcher(int64_t d) {
  switch (d) {
#ifdef FC_SM90_HAS_D64
  case 64: return fc_sm90_launch_d64;
#endif
#ifdef FC_SM90_HAS_D128
  case 128: return fc_sm90_launch_d128;
#endif
#ifdef FC_SM90_HAS_D256
  case 256: return fc_sm90_launch_d256;
#endif
  default: return nullptr;
  }
}

extern "C" int fc_sm90_plan(const fc_problem *p, const fc_device_caps *caps, fc_kernel_info *info,
                            char *why, size_t why_len) {
  using namespace fc::sm90;
  if (caps->cc_major != 9 || caps->cc_minor != 0) {
    snprintf(why, why_len, "needs compute capability 9.0 (sm_90a code), the device has %d.%d",
             caps->cc_major, caps->cc_minor);
    return 0;
  }
  if (p->dtype != FC_DTYPE_BF16 && p->dtype != FC_DTYPE_F16) {
    snprintf(why, why_len, "dtype f32 runs only on the CPU backend; GPU families take bf16 and f16");
    return 0;
  }
  if (!launcher(p->head_dim)) {
    snprintf(why, why_len, "head_dim %lld has no sm90 kernel (64, 128 and 256 do, unless "
             "FLASHCORE_HEAD_DIMS pruned them)", (long long)p->head_dim);
    return 0;
  }
  // Query heads folded into rows by position: the exact softmax's kernels, one row block.
  if (p->pos_group > 1 && (fc_problem_positions(p) > kExactMaxRows || p->seqlen_q > 64 || p->num_out_copies > 0 ||
                       (p->cu_seqlens_q && p->fold < 2))) {
    snprintf(why, why_len, "query heads folded into rows by position take at most %lld positions and 64 rows",
             (long long)kExactMaxRows);
    return 0;
  }
  if (const char *bad = fc_problem_misaligned(p)) {
    snprintf(why, why_len,
             "%s is not 16-byte aligned (data pointer and the batch, seq and head strides must "
             "be multiples of 8 elements)", bad);
    return 0;
  }
  // Positions are 32-bit in the kernel (TMA coordinates are); sums of a position and a
  // window stay below 2^31 with rows under 2^30. The grid's y and z are 16-bit.
  if (p->total_q >= (1 << 30) || p->total_k >= (1 << 30)) {
    snprintf(why, why_len, "%lld query or %lld key rows exceed the sm90 limit of 2^30 rows",
             (long long)p->total_q, (long long)p->total_k);
    return 0;
  }
  if (p->batch > 65535 || p->heads > 65535) {
    snprintf(why, why_len, "batch %lld or heads %lld exceeds the grid limit of 65535",
             (long long)p->batch, (long long)p->heads);
    return 0;
  }
  const Config c = config((int)p->head_dim, narrow(p->seqlen_k, p->window_left, p->window_right));
  // The persistent kernel counts its tiles (row blocks x heads x batch) in 32 bits.
  const int64_t tiles = (p->seqlen_q + block_m(c) - 1) / block_m(c) * p->heads * p->batch;
  if (tiles >= (1 << 30)) {
    snprintf(why, why_len, "%lld tiles of %d query rows exceed the sm90 limit of 2^30", (long long)tiles,
             block_m(c));
    return 0;
  }
  // The persistent launch falls back to one CTA per tile (less shared memory) when no tile
  // counter is free, so the larger of the two must fit.
  const bool pers = persistent_grid(c, p->seqlen_k, masked(p->window_left, p->window_right), p->num_out_copies > 0,
                                    p->cu_seqlens_q != nullptr, fc_problem_positions(p));
  const bool exact = exact_softmax(fc_problem_positions(p), p->num_out_copies > 0);
  // As the launch splits keys (key_splits()), unless no workspace is free or the stream is
  // being captured: it then runs whole tiles, so an exact launch's whole-tile stages
  // (exact_whole_config()) must fit too.
  const int splits = fc::key_splits(tiles, caps->num_sms, (p->seqlen_k + c.block_n - 1) / c.block_n, exact);
  const Config run = exact && splits == 1 ? exact_whole_config(c) : c;
  const int smem = smem_bytes(exact ? exact_whole_config(c) : c, pers);
  if (smem > caps->smem_optin) {
    snprintf(why, why_len, "the D=%lld tile needs %d bytes of shared memory, the device allows %d",
             (long long)p->head_dim, smem, caps->smem_optin);
    return 0;
  }
  info->block_m = block_m(c);
  info->block_n = c.block_n;
  info->num_warps = threads(c) / 32;
  info->stages = run.stages;
  info->persistent = pers;
  // The pieces' records, from the caller's workspace or the pool (fwd_launch.cuh)
  info->workspace_bytes = exact ? (size_t)fc::key_split_workspace_bytes(tiles, splits, p->seqlen_q, (int)p->head_dim) : 0;
  const bool split = pers && split_plan(p, c, tiles, tiles < caps->num_sms ? tiles : caps->num_sms) < tiles;
  char how[64] = "one CTA per tile";
  if (pers) snprintf(how, sizeof how, "%s", split ? "persistent grid, last wave split by keys" : "persistent grid");
  // (one CTA per tile is implied: the description must leave room for the decode note)
  else if (exact && splits > 1) snprintf(how, sizeof how, "exact softmax, keys split %d ways", splits);
  else if (exact) snprintf(how, sizeof how, "one CTA per tile, exact softmax");
  snprintf(info->description, sizeof info->description,
           "sm90 %s D=%lld%s: %dx%d tile, %d+1 warpgroups, %d stages, %d KB smem, "
           "wgmma, %s", p->dtype == FC_DTYPE_BF16 ? "bf16" : "f16", (long long)p->head_dim,
           p->causal ? " causal" : "", block_m(c), c.block_n, c.consumers, run.stages,
           (smem_bytes(run, pers) + 1023) / 1024, how);
  return 1;
}

extern "C" int fc_sm90_launch(const fc_problem *p, const fc_kernel_info *info, void *stream,
                              char *err, size_t err_len) {
  launch_fn f = launcher(p->head_dim);
  if (!f) {
    snprintf(err, err_len, "no sm90 kernel for head_dim %lld", (long long)p->head_dim);
    return 1;
  }
  return f(p, stream, err, err_len);
}

namespace fc::sm90 {

// The driver's encoder, found once through the runtime so the library links only cudart.
static PFN_cuTensorMapEncodeTiled_v12000 encoder(char *err, size_t err_len) {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  if (fn) return fn;
  void *ptr = nullptr;
  cudaDriverEntryPointQueryResult q;
  cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000,
                                                   cudaEnableDefault, &q);
  if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !ptr) {
    snprintf(err, err_len, "the CUDA driver has no cuTensorMapEncodeTiled (%s)",
             cudaGetErrorString(e));
    return nullptr;
  }
  fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  return fn;
}

// One 4-D map over a [batch, seq, head, head_dim] tensor with element strides `st` of [batch,
// seq, head]: dims innermost first head_dim, rows, heads, batch (one batch of all rows for
// varlen), boxes of 64 columns by `box_rows` rows, 128-byte swizzle. A dimension of one element
// never advances, so its stride is only made valid. fold_step: q or out of a folded
// variable-length decode (fc_problem.fold), whose rows are the fold's and whose batch
// dimension counts the offsets, fold_step elements apart; 0 otherwise.
static CUresult encode_rows(PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMap *map, const fc_problem *pr,
                            const void *ptr, const int64_t *st, int64_t rows, int64_t heads, int box_rows,
                            int64_t fold_step, CUtensorMapL2promotion promotion, cuuint64_t (&dims)[4],
                            cuuint64_t (&strides)[3]) {
  const CUtensorMapDataType dt =
      pr->dtype == FC_DTYPE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const bool varlen = pr->cu_seqlens_q != nullptr;
  dims[0] = (cuuint64_t)pr->head_dim, dims[1] = (cuuint64_t)(fold_step ? pr->fold : rows), dims[2] = (cuuint64_t)heads;
  dims[3] = (cuuint64_t)(fold_step ? pr->total_q : varlen ? 1 : pr->batch);
  const int64_t el[3] = {st[1], st[2], fold_step ? fold_step : st[0]};
  for (int j = 0; j < 3; j++) strides[j] = dims[j + 1] > 1 ? (cuuint64_t)el[j] * 2 : 16;
  cuuint32_t box[4] = {64, (cuuint32_t)box_rows, 1, 1};
  cuuint32_t estride[4] = {1, 1, 1, 1};
  return encode(map, dt, 4, const_cast<void *>(ptr), dims, strides, box, estride, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, promotion, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

// q with query heads folded into rows by position (fc_problem.pos_group): a 5-D map, dims
// innermost first head_dim, the G query heads of a KV head (the folded seq stride apart), the
// positions (pos_stride[0] apart; with variable lengths all total_q of them, one batch),
// KV heads, batch; boxes of 64 columns by G heads by block_m / G positions (rounded down),
// which land in shared memory as G x (block_m / G) rows r = position x G + head, as the 4-D
// map's boxes do (q_box_rows() in fwd_launch.cuh).
static CUresult encode_q_by_position(PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMap *map, const fc_problem *pr,
                                     int block_m, cuuint64_t (&dims)[5], cuuint64_t (&strides)[4]) {
  const CUtensorMapDataType dt =
      pr->dtype == FC_DTYPE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const int64_t G = pr->pos_group;
  const bool varlen = pr->cu_seqlens_q != nullptr;
  dims[0] = (cuuint64_t)pr->head_dim, dims[1] = (cuuint64_t)G;
  dims[2] = (cuuint64_t)(varlen ? pr->total_q : pr->seqlen_q / G);
  dims[3] = (cuuint64_t)pr->heads, dims[4] = (cuuint64_t)(varlen ? 1 : pr->batch);
  const int64_t el[4] = {pr->q_stride[1], pr->pos_stride[0], pr->q_stride[2], pr->q_stride[0]};
  for (int j = 0; j < 4; j++) strides[j] = dims[j + 1] > 1 ? (cuuint64_t)el[j] * 2 : 16;
  cuuint32_t box[5] = {64, (cuuint32_t)G, (cuuint32_t)(block_m / G), 1, 1};
  cuuint32_t estride[5] = {1, 1, 1, 1, 1};
  return encode(map, dt, 5, const_cast<void *>(pr->q), dims, strides, box, estride, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

int make_tensor_maps(const fc_problem *pr, int block_m, int block_n, CUtensorMap maps[3],
                     char *err, size_t err_len) {
  PFN_cuTensorMapEncodeTiled_v12000 encode = encoder(err, err_len);
  if (!encode) return (int)CUDA_ERROR_NOT_FOUND;
  // (a windowed variable-length decode's rows are all position 0, pos_stride 0: the 4-D map)
  const bool by_position = pr->pos_group > 1 && pr->pos_stride[0] != 0;
  if (by_position) {
    cuuint64_t dims[5], strides[4];
    if (CUresult r = encode_q_by_position(encode, &maps[0], pr, block_m, dims, strides)) {
      snprintf(err, err_len,
               "cuTensorMapEncodeTiled for q by position failed (CUresult %d): dims %llu x %llu x %llu x %llu x %llu, "
               "byte strides %llu, %llu, %llu, %llu", (int)r, (unsigned long long)dims[0], (unsigned long long)dims[1],
               (unsigned long long)dims[2], (unsigned long long)dims[3], (unsigned long long)dims[4],
               (unsigned long long)strides[0], (unsigned long long)strides[1], (unsigned long long)strides[2],
               (unsigned long long)strides[3]);
      return (int)r;
    }
  }
  const void *ptr[3] = {pr->q, pr->k, pr->v};
  const int64_t *st[3] = {pr->q_stride, pr->k_stride, pr->v_stride};
  const int64_t rows[3] = {pr->total_q, pr->total_k, pr->total_k};
  const int64_t heads[3] = {pr->heads, pr->heads_k, pr->heads_k};
  const char *names[3] = {"q", "k", "v"};
  // Launches that read each K/V tile with one CTA (kv_read_once() in config.h: decodes, and
  // one row block a sequence with a KV head for every query head) fill L2 by 128 bytes, a
  // box row's, from K and V: a TMA ring streaming a decode's K and V read 4.1-4.4 TB/s on an
  // H200 with 256-byte promotion and 4.5-4.7 with 128 bytes, plain loads of every byte
  // 4.5-4.6 (scaling/probes/kv-stream.cu); decodes ran 6-11% faster, MHA launches of 32-128
  // rows over 8192 keys 3-8%. The other launches, which read each K/V tile from L2 for many
  // row blocks or query heads, keep 256 bytes (with 128 they read 0.98-1.00x):
  // results/history/session-8474796/, calls 1-4, 9 and 10.
  const CUtensorMapL2promotion kv_promotion =
      kv_read_once(exact_softmax(fc_problem_positions(pr), pr->num_out_copies > 0), pr->seqlen_q, block_m, pr->heads,
                   pr->heads_k)
          ? CU_TENSOR_MAP_L2_PROMOTION_L2_128B
          : CU_TENSOR_MAP_L2_PROMOTION_L2_256B;
  const CUtensorMapL2promotion promotion[3] = {CU_TENSOR_MAP_L2_PROMOTION_L2_256B, kv_promotion, kv_promotion};
  for (int i = by_position ? 1 : 0; i < 3; i++) {
    cuuint64_t dims[4], strides[3];
    CUresult r = encode_rows(encode, &maps[i], pr, ptr[i], st[i], rows[i], heads[i], i == 0 ? block_m : block_n,
                             i == 0 && pr->fold > 1 ? pr->offset_stride[0] : 0, promotion[i], dims, strides);
    if (r != CUDA_SUCCESS) {
      snprintf(err, err_len,
               "cuTensorMapEncodeTiled for %s failed (CUresult %d): dims %llu x %llu x %llu x %llu, "
               "byte strides %llu, %llu, %llu", names[i], (int)r, (unsigned long long)dims[0],
               (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3],
               (unsigned long long)strides[0], (unsigned long long)strides[1],
               (unsigned long long)strides[2]);
      return (int)r;
    }
  }
  return 0;
}

bool make_out_map(const fc_problem *pr, void *out, CUtensorMap *map) {
  char err[160];
  PFN_cuTensorMapEncodeTiled_v12000 encode = encoder(err, sizeof err);
  cuuint64_t dims[4], strides[3];
  return encode && encode_rows(encode, map, pr, out, pr->o_stride, pr->total_q, pr->heads, 64,
                               pr->fold > 1 ? pr->offset_stride[1] : 0, CU_TENSOR_MAP_L2_PROMOTION_NONE, dims,
                               strides) == CUDA_SUCCESS;
}

// The pool of tile counters for persistent launches, per device: kCounters pairs in device
// memory and a busy flag each in host-mapped memory. A launch takes a pair whose flag is
// clear and sets it; its last CTA zeroes the pair and clears the flag. So no two launches
// that may run at once share counters, whatever streams they are on (a fixed ring of slots
// could hand one slot to two launches in flight), and a pair is zero whenever it is free.
// With every pair held the launch runs one CTA per tile instead.
namespace {
constexpr int kCounters = 256, kMaxDevices = 64;
struct CounterPool {
  unsigned int *counters = nullptr;     // device memory, [kCounters][2]
  volatile unsigned int *busy = nullptr;  // host-mapped, [kCounters]
  int next = 0;
  bool failed = false;  // the allocation failed once: persistent launches stay off
};
std::mutex pool_mutex;
CounterPool pools[kMaxDevices];
}  // namespace

bool acquire_tile_counter(int device, cudaStream_t stream, unsigned int **counter, volatile unsigned int **busy) {
  if (device < 0 || device >= kMaxDevices) return false;
  std::lock_guard<std::mutex> lock(pool_mutex);
  CounterPool &pool = pools[device];
  if (!pool.counters) {
    if (pool.failed) return false;
    const RelaxedCapture relaxed;  // workspace.h says why
    void *d = nullptr, *h = nullptr;
    // Zeroed on the launch's stream before its first use; the synchronisation happens once.
    if (cudaMalloc(&d, kCounters * 2 * sizeof(unsigned int)) != cudaSuccess ||
        cudaMemsetAsync(d, 0, kCounters * 2 * sizeof(unsigned int), stream) != cudaSuccess ||
        cudaStreamSynchronize(stream) != cudaSuccess ||
        cudaHostAlloc(&h, kCounters * sizeof(unsigned int), cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) {
      (void)cudaGetLastError();  // this failure is ours, not the launch's: do not leave it behind
      if (d) cudaFree(d);
      pool.failed = true;
      return false;
    }
    pool.counters = static_cast<unsigned int *>(d);
    pool.busy = static_cast<volatile unsigned int *>(h);
    for (int i = 0; i < kCounters; i++) pool.busy[i] = 0u;
  }
  for (int i = 0; i < kCounters; i++) {
    const int slot = (pool.next + i) % kCounters;
    if (pool.busy[slot] == 0u) {
      pool.busy[slot] = 1u;
      pool.next = slot + 1;
      *counter = pool.counters + 2 * slot;
      *busy = pool.busy + slot;
      return true;
    }
  }
  return false;
}

int64_t split_plan(const fc_problem *pr, Config c, int64_t tiles, int64_t ctas) {
  if (c.head_dim != 128 || pr->num_out_copies > 0 || pr->cu_seqlens_q || masked(pr->window_left, pr->window_right))
    return tiles;
  return split_from(tiles, ctas, (pr->seqlen_k + c.block_n - 1) / c.block_n);
}

}  // namespace fc::sm90
