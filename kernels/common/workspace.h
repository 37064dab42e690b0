// Device workspaces for the GPU families' launches, per device (workspace.cpp): the sm90
// split tail's cut data and both families' key-split pieces. Host code only.
#pragma once

#include <cuda_runtime.h>
#include <stddef.h>

namespace fc {

// What a workspace holds for each SM of its device: a state region that is zero between
// launches (a launch that writes it puts it back to zero), then data that a launch overwrites.
constexpr size_t kWorkspaceStatePerSm = 32, kWorkspaceDataPerSm = 68 * 1024;

// A workspace on `device` that no launch on another stream holds, with at least `data_bytes`
// of data. Returns its number, setting *state and *data, or -1 when the request exceeds a
// workspace, every workspace is held by launches on other streams, or none could be set up:
// the launch then runs without one. release_workspace() must follow the launch (or its
// failure) on the same stream. Not for a stream being captured (the caller checks): a graph
// would replay the launch into a workspace the pool hands out again.
int acquire_workspace(int device, cudaStream_t stream, size_t data_bytes, unsigned int **state, void **data);
void release_workspace(int device, int ws, cudaStream_t stream);

// What a launch that may take a workspace asks first: the current device, its SM count, and
// whether `stream` is being captured. Returns the first error, with a sentence in err.
cudaError_t launch_site(cudaStream_t stream, int *device, int *sms, bool *capturing, char *err, size_t err_len);

// Puts this thread in relaxed capture mode for a scope. The pools' one-time allocations and
// the workspaces' event queries run in it: the launch's own stream is not capturing (the
// launch checks it first), but in the default (global) mode a capture held by another
// thread, or by this one on another stream, refuses a cudaMalloc, cudaHostAlloc or
// cudaEventQuery and is invalidated by it: the call would break an unrelated graph (and a
// refused allocation would leave a pool failed for the rest of the process).
struct RelaxedCapture {
  cudaStreamCaptureMode prev = cudaStreamCaptureModeRelaxed;
  bool swapped = cudaThreadExchangeStreamCaptureMode(&prev) == cudaSuccess;
  RelaxedCapture() = default;
  RelaxedCapture(const RelaxedCapture &) = delete;
  RelaxedCapture &operator=(const RelaxedCapture &) = delete;
  ~RelaxedCapture() {
    if (swapped) (void)cudaThreadExchangeStreamCaptureMode(&prev);
  }
};

}  // namespace fc
