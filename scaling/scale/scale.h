/* flashcore-scale: shared declarations of the driver (driver.c) and the experiment
 * (attention.c). Modelled on nccl-tests: one driver, one experiment file, errors that
 * return with file:line instead of exiting. */
#ifndef FC_SCALE_H
#define FC_SCALE_H

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>

#include "plan.h"

/* Record an error with file:line into the rank's buffer and return -1 from the caller. */
#define FC_FAIL(res, ...)                                                                    \
  do {                                                                                      \
    int n_ = snprintf((res)->error, sizeof (res)->error, "%s:%d: ", __FILE__, __LINE__);     \
    snprintf((res)->error + n_, sizeof (res)->error - (size_t)n_, __VA_ARGS__);             \
    return -1;                                                                              \
  } while (0)
#define FC_CUDA(res, call)                                                                   \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess) FC_FAIL(res, "%s: %s", #call, cudaGetErrorString(e_));            \
  } while (0)
#define FC_NCCL(res, call)                                                                   \
  do {                                                                                      \
    ncclResult_t e_ = (call);                                                               \
    if (e_ != ncclSuccess) FC_FAIL(res, "%s: %s", #call, ncclGetErrorString(e_));            \
  } while (0)

/* What one rank measured and checked at one point (shape, rank count). Plain data: it is
 * gathered to rank 0 by memcpy (threads) or MPI_Gather. */
typedef struct fc_rank_result {
  int active;                 /* this rank took part in the point                          */
  int rank, device, cc_major, cc_minor;
  char gpu[64], family[16], binding[96];
  int q_head0, q_heads, kv_heads;
  int chunks;                 /* overlap chunks this point ran                             */
  int counted;                /* store, ce-store: the peers' counted stores were waited for,
                                 not the flag barrier (fc_attn_options.out_signals)          */
  char barrier[16];           /* store, ce-store: how the ranks met after the storing launch
                                 and in phase 2: "events" or "memops" (attention.c)          */
  double t_total, t_attn, t_coll; /* medians, ms                                          */
  double t_last;              /* phase 3 (both) until its last chunk's launch ended, median ms */
  double flops;               /* this rank's attention FLOPs                               */
  double gathered_bytes;      /* bytes each rank receives in the all-gather                */
  long long wrong;            /* gathered slots that differ from their source + failed checks */
  int checked, check_pass;
  double max_err, naive_err;  /* of the shard against the float64 reference                */
  char cross[192];            /* families run on the same shard, compared with each other  */
  char error[256];
} fc_rank_result;

/* One point of a sweep, as every rank sees it. */
typedef struct fc_point {
  fc_scale_shape shape;       /* the problem at this rank count (weak: heads scaled)       */
  int ranks;
  int point_index;
} fc_point;

/* The ranks' host side (driver.c's team), for what the GPUs cannot order by themselves: a
 * barrier of the ranks' host threads or processes, and an all-gather of small records.
 * same_process: one thread per rank (else one MPI process per rank). */
typedef struct fc_host_team {
  int size, same_process;
  void (*barrier)(const struct fc_host_team *t);
  void (*allgather)(const struct fc_host_team *t, int rank, const void *send, void *recv, size_t n);
  void *impl;
} fc_host_team;

/* Run one point on this rank: plan the shard, check it, time attention, the collective and
 * both overlapped. team: the point's ranks (driver.c makes one a point; NULL: none, and the
 * ranks' barrier uses the flags). Returns 0 or -1 with res->error set. */
int fc_run_attention_point(const fc_scale_args *args, const fc_point *pt, int rank, int device,
                           ncclComm_t comm, const fc_host_team *team, fc_rank_result *res);

#endif
