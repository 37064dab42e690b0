// What the stand-alone probes in this folder share: a CUDA call that exits with file:line and
// the error's name, and the opening of a pair of GPUs with peer access both ways.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define CK(x)                                                                                 \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));      \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

// GPUs 0 and 1 with peer access enabled both ways: 0; or, with a sentence printed, 1 when
// there are fewer than two GPUs (nothing to measure) and 2 when they cannot reach each other.
inline int open_peer_pair() {
  int n = 0;
  CK(cudaGetDeviceCount(&n));
  if (n < 2) {
    printf("needs 2 GPUs, found %d\n", n);
    return 1;
  }
  int p01 = 0, p10 = 0;
  CK(cudaDeviceCanAccessPeer(&p01, 0, 1));
  CK(cudaDeviceCanAccessPeer(&p10, 1, 0));
  if (!p01 || !p10) {
    printf("no peer access between GPUs 0 and 1\n");
    return 2;
  }
  for (int d = 0; d < 2; d++) {
    CK(cudaSetDevice(d));
    CK(cudaDeviceEnablePeerAccess(1 - d, 0));
  }
  return 0;
}
