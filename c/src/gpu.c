/* The host library's only contact with the CUDA runtime. Built without CUDA, every GPU
 * request fails with FC_ERR_NO_DEVICE and a sentence saying so. */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef FC_WITH_CUDA
#include <cuda_runtime_api.h>

int fc_gpu_built(void) { return 1; }

fc_status fc_gpu_query_device(fc_context *ctx, int device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fc_fail(NULL, FC_ERR_NO_DEVICE, "fc_context_create: device = %d, but CUDA reports: %s",
                   device, cudaGetErrorString(e));
  }
  if (device >= count)
    return fc_fail(NULL, FC_ERR_NO_DEVICE,
                   "fc_context_create: device = %d, but only %d CUDA device(s) are visible",
                   device, count);
  struct cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess)
    return fc_fail(NULL, FC_ERR_CUDA, "fc_context_create: cudaGetDeviceProperties(%d): %s",
                   device, cudaGetErrorString(e));
  ctx->cc_major = prop.major;
  ctx->cc_minor = prop.minor;
  ctx->num_sms = prop.multiProcessorCount;
  ctx->smem_optin = (int)prop.sharedMemPerBlockOptin;
  snprintf(ctx->device_name, sizeof ctx->device_name, "%s", prop.name);
  return FC_SUCCESS;
}

int fc_gpu_enter(int device, int *previous) {
  cudaError_t e = cudaGetDevice(previous);
  if (e == cudaSuccess && *previous != device) e = cudaSetDevice(device);
  return (int)e;
}

void fc_gpu_leave(int previous) {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous) cudaSetDevice(previous);
}

int fc_gpu_pointer_is_device(const void *ptr, int *home) {
  struct cudaPointerAttributes a;
  *home = -1;
  cudaError_t e = cudaPointerGetAttributes(&a, ptr);
  if (e != cudaSuccess) {
    cudaGetLastError(); /* no GPU, or not a CUDA pointer: clear the sticky-free error */
    return -1;
  }
  if (a.type == cudaMemoryTypeDevice) *home = a.device;
  if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) return 1;
  return 0; /* unregistered or registered host memory */
}

int fc_gpu_stream_device(struct CUstream_st *stream) {
  int device = -1;
  if ((uintptr_t)stream <= (uintptr_t)cudaStreamPerThread) return -1; /* NULL, legacy, per-thread */
  /* Not while the stream is being captured: asking its device there invalidated the capture
   * (gpu::graph_capture, 2 x H200). */
  enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing((cudaStream_t)stream, &capture) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (capture != cudaStreamCaptureStatusNone) return -1;
  if (cudaStreamGetDevice((cudaStream_t)stream, &device) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return device;
}

#else

int fc_gpu_built(void) { return 0; }

fc_status fc_gpu_query_device(fc_context *ctx, int device) {
  (void)ctx;
  return fc_fail(NULL, FC_ERR_NO_DEVICE,
                 "fc_context_create: device = %d, but this flashcore was built without CUDA "
                 "(FLASHCORE_CUDA=OFF); only FC_DEVICE_CPU is available",
                 device);
}

int fc_gpu_enter(int device, int *previous) {
  (void)device;
  *previous = 0;
  return 100; /* cudaErrorNoDevice */
}

void fc_gpu_leave(int previous) { (void)previous; }

int fc_gpu_pointer_is_device(const void *ptr, int *home) {
  (void)ptr;
  *home = -1;
  return -1;
}

int fc_gpu_stream_device(struct CUstream_st *stream) {
  (void)stream;
  return -1;
}

#endif
