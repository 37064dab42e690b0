/* --gather store: the peers' addresses of an NCCL symmetric window, and the flag barrier
 * that tells every rank the others' stores have landed (peers.cu, CUDA C++ for NCCL's
 * device API). */
#ifndef FC_SCALE_PEERS_H
#define FC_SCALE_PEERS_H

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stddef.h>

#include "flashcore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* a rank's kernel stores into the other ranks' windows through out_copies */
#define FC_SCALE_STORE_MAX_RANKS (FC_MAX_OUT_COPIES + 1)

/* Where every rank's copy of `win` (registered NCCL_WIN_COLL_SYMMETRIC on comm) starts in
 * this process's address space: bases[p] for each of the n ranks (bases[rank] is local).
 * Needs all n ranks in NCCL's load/store team (one NVLink domain). Returns 0, or -1 with a
 * sentence in err. */
int fc_scale_window_peers(ncclComm_t comm, ncclWindow_t win, int n, void **bases, char *err, size_t err_len);

/* The flag barrier, enqueued on `stream` after the kernel whose stores it publishes: rank
 * `rank` writes `epoch` into slot `rank` of every other rank's flags (flags[p]: rank p's
 * n-slot array, zeroed before the first call) after a system-scope fence, then waits until
 * each of its own slots holds at least `epoch` (fc_scale_wait_counts on those slots): stream
 * memory operations where the driver has them, else one-warp kernels. Every rank calls it with
 * the same epochs, 1, 2, 3, ...
 * Returns a cudaError_t value. */
int fc_scale_signal(unsigned int *const *flags, int rank, int n, unsigned int epoch, cudaStream_t stream);

/* Enqueue on `stream` a wait until *counts[p] >= expect[p] (wrapping: (int)(count - expect)
 * >= 0) for every rank p != rank: the rows rank p's kernels have stored into this rank's
 * window (fc_attn_options.out_signals) and made visible, or rank p's flag slot. Stream memory operations where the
 * driver has them, else a one-warp kernel. Returns a cudaError_t value. */
int fc_scale_wait_counts(unsigned int *const *counts, const unsigned int *expect, int rank, int n, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
