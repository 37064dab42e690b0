// What a two-GPU barrier after a kernel costs, by the mechanisms flashcore-scale could use.
//
// A probe, not part of the library. GPUs 0 and 1 each run rounds of: an empty kernel on their
// stream, then (by mode) a barrier with the other GPU, so that the rounds go in lockstep:
//   kernel     - no barrier: the launch-to-launch time of a stream, the baseline;
//   memop      - what flashcore-scale's flag barrier does after the storing launch: a stream
//                write of the round's number into the peer's flag (cuStreamWriteValue32, its
//                default memory barrier first), then a stream wait on this GPU's own flag;
//   memop-nb   - the same write without its memory barrier (not enough for the stores a
//                storing launch sent to the peer; would show what the barrier costs, but the
//                driver refused the flag on peer memory on 2 x H100, 2026-11-27);
//   memop-fork - the write and the wait on a second stream, forked from and joined back to
//                the first by events (the harness's phase 2, the barrier timed alone);
//   event      - each stream waits for an event the other GPU recorded after its kernel
//                (one process, threads mode only; MPI would need IPC events).
// Flags live in device memory, each GPU's pair written by the other over the peer mapping,
// as flashcore-scale's (in NCCL's window). Each repeat's rounds are all enqueued behind a
// gate (a stream wait on a mapped host word), so the host's enqueueing never paces them. Per
// mode: median over repeats of (time of R rounds on GPU 0's stream) / R, in microseconds; the
// barrier's cost is a mode's time less kernel's. On 2 x H100 (results/history/session-dada976/
// call3b/): kernel 1.6-2.0 us a round, memop 4.5-7.5 us more, memop-fork 4.5, event 2.2-2.7.
//
// Build: nvcc -O2 -std=c++17 -arch=sm_90a barrier-cost.cu -lcuda -o barrier-cost
//   ./barrier-cost [ROUNDS] [REPEATS]
#include <cuda.h>
#include <cuda_runtime.h>

#include "probe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

__global__ void k_empty() {}

typedef CUresult (*write_fn)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
typedef CUresult (*wait_fn)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);

enum Mode { KERNEL, MEMOP, MEMOP_NB, MEMOP_FORK, EVENT, MODES };
static const char *kName[] = {"kernel", "memop", "memop-nb", "memop-fork", "event"};

struct Gpu {
  cudaStream_t s, side;
  cudaEvent_t fork, join, done, t0, t1;
  unsigned *flag;  // [2] in this GPU's memory: slot p is written by GPU p
};

static write_fn g_write;
static wait_fn g_wait;

static void check_cu(CUresult r, const char *what, int line) {
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, line, what, (int)r);
    exit(1);
  }
}
#define CU(x) check_cu((x), #x, __LINE__)

// One round's barrier on GPU d (after its kernel), for round number `epoch`.
static bool barrier(Gpu *g, int d, int mode, unsigned epoch) {
  Gpu &me = g[d], &peer = g[1 - d];
  CK(cudaSetDevice(d));
  cudaStream_t st = me.s;
  if (mode == MEMOP_FORK) {
    CK(cudaEventRecord(me.fork, me.s));
    CK(cudaStreamWaitEvent(me.side, me.fork, 0));
    st = me.side;
  }
  if (mode == MEMOP || mode == MEMOP_NB || mode == MEMOP_FORK) {
    const unsigned flags = mode == MEMOP_NB ? CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER : CU_STREAM_WRITE_VALUE_DEFAULT;
    const CUresult r = g_write((CUstream)st, (CUdeviceptr)(peer.flag + d), epoch, flags);
    if (r != CUDA_SUCCESS && mode == MEMOP_NB) {  // the driver may refuse the flag on peer memory
      printf("%s: the write without its memory barrier is refused (CUresult %d): skipped\n", kName[mode], (int)r);
      return false;
    }
    check_cu(r, "cuStreamWriteValue32", __LINE__);
    CU(g_wait((CUstream)st, (CUdeviceptr)(me.flag + (1 - d)), epoch, CU_STREAM_WAIT_VALUE_GEQ));
  }
  if (mode == MEMOP_FORK) {
    CK(cudaEventRecord(me.join, me.side));
    CK(cudaStreamWaitEvent(me.s, me.join, 0));
  }
  return true;
}

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 200, repeats = argc > 2 ? atoi(argv[2]) : 9;
  if (rounds < 1 || repeats < 1) {
    fprintf(stderr, "usage: %s [ROUNDS >= 1] [REPEATS >= 1]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (int rc = open_peer_pair()) return rc;
  void *w = nullptr, *v = nullptr;
  cudaDriverEntryPointQueryResult q1, q2;
  CK(cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", &w, 12000, cudaEnableDefault, &q1));
  CK(cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &v, 12000, cudaEnableDefault, &q2));
  if (q1 != cudaDriverEntryPointSuccess || q2 != cudaDriverEntryPointSuccess) {
    printf("no stream memory operations in this driver\n");
    return 2;
  }
  g_write = (write_fn)w, g_wait = (wait_fn)v;
  Gpu g[2];
  for (int d = 0; d < 2; d++) {
    CK(cudaSetDevice(d));
    CK(cudaStreamCreateWithFlags(&g[d].s, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&g[d].side, cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&g[d].fork, cudaEventDisableTiming));
    CK(cudaEventCreateWithFlags(&g[d].join, cudaEventDisableTiming));
    CK(cudaEventCreateWithFlags(&g[d].done, cudaEventDisableTiming));
    CK(cudaEventCreate(&g[d].t0));
    CK(cudaEventCreate(&g[d].t1));
    CK(cudaMalloc(&g[d].flag, 2 * sizeof(unsigned)));
    CK(cudaMemset(g[d].flag, 0, 2 * sizeof(unsigned)));
    // Load the kernel before any stream waits at the gate: a lazily loaded module's first
    // launch waits for the device, which would wait for the gate, which waits for the launch.
    k_empty<<<1, 32, 0, g[d].s>>>();
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
  }
  unsigned *gate = nullptr;  // mapped host word: the streams wait for it to reach the repeat's number
  CK(cudaHostAlloc((void **)&gate, sizeof *gate, cudaHostAllocMapped | cudaHostAllocPortable));
  *(volatile unsigned *)gate = 0;
  void *gate_dev = nullptr;
  CK(cudaHostGetDevicePointer(&gate_dev, gate, 0));
  unsigned epoch = 0, opened = 0;
  printf("%-11s %10s %10s   (us a round, median of %d repeats of %d rounds; GPU 0's stream)\n", "mode", "round",
         "barrier", repeats, rounds);
  double base = 0;
  for (int mode = 0; mode < MODES; mode++) {
    std::vector<double> us;
    bool skip = false;
    for (int rep = 0; rep <= repeats && !skip; rep++) {  // rep 0 warms up
      ++opened;
      for (int d = 0; d < 2; d++) {
        CK(cudaSetDevice(d));
        CU(g_wait((CUstream)g[d].s, (CUdeviceptr)gate_dev, opened, CU_STREAM_WAIT_VALUE_GEQ));
        CK(cudaEventRecord(g[d].t0, g[d].s));
      }
      for (int i = 0; i < rounds && !skip; i++) {
        ++epoch;
        for (int d = 0; d < 2; d++) {
          CK(cudaSetDevice(d));
          k_empty<<<1, 32, 0, g[d].s>>>();
          CK(cudaGetLastError());
          if (mode == EVENT) CK(cudaEventRecord(g[d].done, g[d].s));
        }
        for (int d = 0; d < 2; d++) {
          if (mode == EVENT) {
            CK(cudaSetDevice(d));
            CK(cudaStreamWaitEvent(g[d].s, g[1 - d].done, 0));
          } else if (!barrier(g, d, mode, epoch)) {
            skip = true;
            break;
          }
        }
      }
      for (int d = 0; d < 2; d++) {
        CK(cudaSetDevice(d));
        CK(cudaEventRecord(g[d].t1, g[d].s));
      }
      __atomic_store_n(gate, opened, __ATOMIC_SEQ_CST);
      for (int d = 0; d < 2; d++) {  // at most 10 s: a mode that hangs says so and the probe stops
        CK(cudaSetDevice(d));
        cudaError_t q;
        for (int ms = 0; (q = cudaStreamQuery(g[d].s)) == cudaErrorNotReady; ms++) {
          if (ms == 10000) {
            printf("%s: GPU %d's stream not done after 10 s (repeat %d): stopping\n", kName[mode], d, rep);
            _exit(3);
          }
          usleep(1000);
        }
        CK(q);
      }
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, g[0].t0, g[0].t1));
      if (rep > 0) us.push_back(1000.0 * ms / rounds);
    }
    if (skip) continue;
    std::sort(us.begin(), us.end());
    const double med = us[us.size() / 2];
    if (mode == KERNEL) base = med;
    printf("%-11s %10.2f %10.2f   (repeats %.2f-%.2f)\n", kName[mode], med, med - base, us.front(), us.back());
  }
  return 0;
}
