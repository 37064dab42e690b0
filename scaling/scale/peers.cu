// --gather store (peers.h): peer addresses of an NCCL symmetric window through NCCL's device
// API (ncclGetLsaPointer), and a flag barrier with system-scope release and acquire (stream
// memory operations, or a kernel where the driver lacks them).
#include <cuda.h>
#include <nccl.h>
#include <nccl_device.h>
#include <stdio.h>

#include "peers.h"

namespace {

__global__ void window_bases(ncclWindow_t win, int n, void **bases) {
  for (int p = 0; p < n; p++) bases[p] = ncclGetLsaPointer(win, 0, p);
}

struct Flags {
  unsigned int *rank[FC_SCALE_STORE_MAX_RANKS];
};

// Thread p < n, p != rank: tell rank p. The release store is ordered after every store of
// the kernels before this one on the stream (stream order, then the system-scope fence), so a
// rank that sees the epoch sees the output stores before it.
__global__ void post(Flags f, int rank, int n, unsigned int epoch) {
  const int p = threadIdx.x;
  if (p >= n || p == rank) return;
  __threadfence_system();
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(f.rank[p] + rank), "r"(epoch) : "memory");
}

// Thread p < n, p != rank: wait until this rank's word for rank p (its flag slot, or its
// count of rank p's stored rows) reaches expect[p] (wrapping comparison, as the stream memory
// operations make it).
struct Counts {
  unsigned int *count[FC_SCALE_STORE_MAX_RANKS];
  unsigned int expect[FC_SCALE_STORE_MAX_RANKS];
};
__global__ void wait_counts(Counts c, int rank, int n) {
  const int p = threadIdx.x;
  if (p >= n || p == rank) return;
  unsigned int seen;
  do {
    asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(seen) : "l"(c.count[p]) : "memory");
  } while ((int)(seen - c.expect[p]) < 0);
}

}  // namespace

extern "C" int fc_scale_window_peers(ncclComm_t comm, ncclWindow_t win, int n, void **bases, char *err,
                                     size_t err_len) {
  const ncclTeam_t lsa = ncclTeamLsa(comm);
  if (lsa.nRanks != n) {
    snprintf(err, err_len,
             "--gather store needs every rank to load and store the others' memory (one NVLink "
             "domain); NCCL's load/store team holds %d of the %d ranks",
             lsa.nRanks, n);
    return -1;
  }
  void **d = nullptr;
  cudaError_t e = cudaMalloc(&d, sizeof(void *) * (size_t)n);
  if (e == cudaSuccess) {
    window_bases<<<1, 1>>>(win, n, d);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaMemcpy(bases, d, sizeof(void *) * (size_t)n, cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e != cudaSuccess) {
    snprintf(err, err_len, "reading the window's peer addresses: %s", cudaGetErrorString(e));
    return -1;
  }
  return 0;
}

namespace {

// The driver's stream memory operations, through the runtime's entry-point query (no link
// against libcuda): null where this driver lacks them.
typedef CUresult (*value32_fn)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
struct MemOps {
  value32_fn write = nullptr, wait = nullptr;
};
const MemOps &mem_ops() {
  static const MemOps ops = [] {
    MemOps m;
    void *w = nullptr, *v = nullptr;
    cudaDriverEntryPointQueryResult q1, q2;
    if (cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", &w, 12000, cudaEnableDefault, &q1) == cudaSuccess &&
        q1 == cudaDriverEntryPointSuccess &&
        cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &v, 12000, cudaEnableDefault, &q2) == cudaSuccess &&
        q2 == cudaDriverEntryPointSuccess)
      m.write = reinterpret_cast<value32_fn>(w), m.wait = reinterpret_cast<value32_fn>(v);
    (void)cudaGetLastError();
    return m;
  }();
  return ops;
}

}  // namespace

// The barrier as stream memory operations where the driver has them: the front end writes
// the epoch into each peer's slot once the kernels before it on the stream are done, with a
// memory fence before the write (cuStreamWriteValue32's default, scoped to the stream, like
// __threadfence_system), then waits until each of this rank's slots holds the epoch
// (fc_scale_wait_counts). No kernel launch: on 2 x H100 that left about 0.016 ms after the
// attention, of which a launch is a few microseconds. The writes by a kernel (post) where the
// entry points are missing or the first write fails.
extern "C" int fc_scale_signal(unsigned int *const *flags, int rank, int n, unsigned int epoch,
                               cudaStream_t stream) {
  if (n < 2) return 0;
  const MemOps &ops = mem_ops();
  int written = 0;  // writes enqueued
  bool ok = ops.write != nullptr;
  for (int p = 0; p < n && ok; p++)
    if (p != rank) {
      ok = ops.write(stream, reinterpret_cast<CUdeviceptr>(flags[p] + rank), epoch, CU_STREAM_WRITE_VALUE_DEFAULT) ==
           CUDA_SUCCESS;
      written += ok;
    }
  if (!ok && written) return (int)cudaErrorUnknown;  // a peer has this epoch from us but not every one
  if (!ok) {
    Flags f{};
    for (int p = 0; p < n && p < FC_SCALE_STORE_MAX_RANKS; p++) f.rank[p] = flags[p];
    post<<<1, 32, 0, stream>>>(f, rank, n, epoch);
    if (cudaError_t e = cudaGetLastError()) return (int)e;
  }
  unsigned int *mine[FC_SCALE_STORE_MAX_RANKS], expect[FC_SCALE_STORE_MAX_RANKS];
  for (int p = 0; p < n && p < FC_SCALE_STORE_MAX_RANKS; p++) mine[p] = flags[rank] + p, expect[p] = epoch;
  return fc_scale_wait_counts(mine, expect, rank, n, stream);
}

// The waits as stream memory operations where the driver has them, else the kernel.
extern "C" int fc_scale_wait_counts(unsigned int *const *counts, const unsigned int *expect, int rank, int n,
                                    cudaStream_t stream) {
  if (n < 2) return 0;
  const MemOps &ops = mem_ops();
  if (ops.wait) {
    bool ok = true;
    int issued = 0;
    for (int p = 0; p < n && ok; p++)
      if (p != rank) {
        ok = ops.wait(stream, reinterpret_cast<CUdeviceptr>(counts[p]), expect[p], CU_STREAM_WAIT_VALUE_GEQ) ==
             CUDA_SUCCESS;
        issued += ok;
      }
    if (ok) return 0;
    if (issued) return (int)cudaErrorUnknown;  // some waits are in: a kernel after them would wait twice
  }
  Counts c{};
  for (int p = 0; p < n && p < FC_SCALE_STORE_MAX_RANKS; p++) c.count[p] = counts[p], c.expect[p] = expect[p];
  wait_counts<<<1, 32, 0, stream>>>(c, rank, n);
  return (int)cudaGetLastError();
}
