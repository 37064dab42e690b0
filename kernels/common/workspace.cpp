// The workspaces of workspace.h: per device, kWorkspaces, each one allocation of state then
// data for as many SMs as the device has (kWorkspace*PerSm: 9 MB on a 132-SM H100),
// allocated at the first launch that asks. A workspace serves the launches of one stream at
// a time: they run one after another and each leaves the state zero, so the next may start
// at once (with a workspace held per launch, a flashcore-bench burst of 20 launches split
// only the first two). After each launch that holds one, an event is recorded on its stream;
// once it has completed, no launch is using the workspace and another stream may take it.
// (Until 2026-11-27 the sm90 split tail's last consumer warpgroup wrote a host-mapped word
// with a system-scope release instead: its last instruction, about 1 us of a launch of
// 0.42 ms on H100, results/history/session-b8e543f/, call 4.)
#include "workspace.h"

#include <stdio.h>

#include <mutex>

namespace fc {
namespace {

constexpr int kWorkspaces = 2, kMaxDevices = 64;
struct WorkspacePool {
  unsigned char *mem[kWorkspaces] = {};
  cudaEvent_t done[kWorkspaces] = {};           // recorded after each launch that held it
  bool recorded[kWorkspaces] = {};              // done has been recorded at least once
  bool pending[kWorkspaces] = {};               // acquired, its launch's event not yet recorded
  unsigned long long stream[kWorkspaces] = {};  // the stream (cudaStreamGetId) of the last launch
  size_t state_bytes = 0, data_bytes = 0;       // each workspace's
  bool ready = false, failed = false;
};
std::mutex ws_mutex;
WorkspacePool ws_pools[kMaxDevices];

// Whether workspace i's last launch has completed (or there was none). The event is never
// captured, but a global-mode capture elsewhere refuses the query, and is invalidated by it,
// unless the thread is in relaxed mode.
bool idle(WorkspacePool &pool, int i) {
  if (!pool.recorded[i]) return true;
  const RelaxedCapture relaxed;
  const cudaError_t e = cudaEventQuery(pool.done[i]);
  if (e == cudaErrorNotReady && cudaPeekAtLastError() == cudaErrorNotReady) (void)cudaGetLastError();
  return e == cudaSuccess;
}

}  // namespace

int acquire_workspace(int device, cudaStream_t stream, size_t data_bytes, unsigned int **state, void **data) {
  if (device < 0 || device >= kMaxDevices) return -1;
  unsigned long long id = 0;
  if (cudaStreamGetId(stream, &id) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  std::lock_guard<std::mutex> lock(ws_mutex);
  WorkspacePool &pool = ws_pools[device];
  if (!pool.ready) {
    if (pool.failed) return -1;
    const RelaxedCapture relaxed;
    int sms = 0;
    bool ok = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) == cudaSuccess && sms > 0;
    const size_t state_bytes = ((size_t)sms * kWorkspaceStatePerSm + 255) / 256 * 256;
    const size_t bytes = state_bytes + (size_t)sms * kWorkspaceDataPerSm;
    for (int i = 0; ok && i < kWorkspaces; i++) {
      void *d = nullptr;
      // The states zeroed on the launch's stream before their first use; the synchronisation
      // happens once.
      ok = cudaMalloc(&d, bytes) == cudaSuccess;
      if (ok) pool.mem[i] = static_cast<unsigned char *>(d);
      ok = ok && cudaMemsetAsync(d, 0, state_bytes, stream) == cudaSuccess &&
           cudaEventCreateWithFlags(&pool.done[i], cudaEventDisableTiming) == cudaSuccess;
    }
    ok = ok && cudaStreamSynchronize(stream) == cudaSuccess;
    if (!ok) {
      (void)cudaGetLastError();  // this failure is ours, not the launch's: do not leave it behind
      for (int i = 0; i < kWorkspaces; i++) {
        if (pool.mem[i]) cudaFree(pool.mem[i]), pool.mem[i] = nullptr;
        if (pool.done[i]) cudaEventDestroy(pool.done[i]), pool.done[i] = nullptr;
      }
      pool.failed = true;
      return -1;
    }
    pool.state_bytes = state_bytes;
    pool.data_bytes = (size_t)sms * kWorkspaceDataPerSm;
    pool.ready = true;
  }
  if (data_bytes > pool.data_bytes) return -1;
  int pick = -1;
  // This stream's, in flight or not (its launches run in order), unless another thread is
  // between acquiring it and recording its launch's event.
  for (int i = 0; i < kWorkspaces && pick < 0; i++)
    if (pool.recorded[i] && pool.stream[i] == id && !pool.pending[i]) pick = i;
  for (int i = 0; i < kWorkspaces && pick < 0; i++)  // one no launch is using
    if (!pool.pending[i] && idle(pool, i)) pick = i;
  if (pick < 0) return -1;
  pool.stream[pick] = id;
  pool.pending[pick] = true;
  *state = reinterpret_cast<unsigned int *>(pool.mem[pick]);
  *data = pool.mem[pick] + pool.state_bytes;
  return pick;
}

void release_workspace(int device, int ws, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(ws_mutex);
  WorkspacePool &pool = ws_pools[device];
  // Recorded after a launch that failed too (it then marks the stream's earlier work). A
  // workspace whose event could not be recorded is never handed out again: its launch may
  // still be running.
  if (cudaEventRecord(pool.done[ws], stream) == cudaSuccess) {
    pool.recorded[ws] = true;
    pool.pending[ws] = false;
  } else {
    (void)cudaGetLastError();  // ours, not the launch's (which the caller has read already)
  }
}

cudaError_t launch_site(cudaStream_t stream, int *device, int *sms, bool *capturing, char *err, size_t err_len) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaError_t e;
  if ((e = cudaGetDevice(device)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, *device)) != cudaSuccess ||
      (e = cudaStreamIsCapturing(stream, &capture)) != cudaSuccess) {
    snprintf(err, err_len, "reading the device's SM count or the stream's capture state: %s", cudaGetErrorString(e));
    return e;
  }
  *capturing = capture != cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

}  // namespace fc
