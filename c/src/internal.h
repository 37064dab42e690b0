/* Internal interfaces of the host library. Nothing here is public. */
#ifndef FC_INTERNAL_H
#define FC_INTERNAL_H

#include "flashcore.h"
#include "fc_problem.h"

#include <stdarg.h>

#define FC_ERRMSG_LEN 512

struct fc_context {
  int device;               /* FC_DEVICE_CPU or a CUDA ordinal                         */
  fc_family forced;         /* FC_FAMILY_AUTO unless forced (API or FLASHCORE_FAMILY)  */
  int num_threads;          /* CPU backend workers; 0 = online CPUs                    */
  int cc_major, cc_minor;   /* compute capability (GPU contexts)                       */
  int num_sms;
  int smem_optin;           /* max dynamic shared memory per block after opt-in        */
  char device_name[256];
};

/* Record the calling thread's error for ctx (NULL = context creation) and return status. */
fc_status fc_fail(const fc_context *ctx, fc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Clear the calling thread's error for ctx. */
void fc_clear_error(const fc_context *ctx);

/* validate.c: check every argument and fill *p. Returns FC_SUCCESS or the failure already
 * recorded with fc_fail(). */
fc_status fc_validate_forward(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                              const fc_tensor *v, const fc_tensor *out, const fc_tensor *lse,
                              const fc_attn_options *opts, fc_problem *p, fc_family *family);

/* select.c: the one place that chooses a family and configuration. It may first rewrite *p
 * into an equivalent problem that runs faster (a GQA decode as rows of one KV head); the
 * caller then runs *p as rewritten. */
fc_status fc_select(fc_context *ctx, fc_problem *p, fc_family requested, fc_kernel_info *info);

/* cpu_backend.c */
void fc_cpu_plan(const fc_context *ctx, const fc_problem *p, fc_kernel_info *info);
fc_status fc_cpu_forward(fc_context *ctx, const fc_problem *p, const fc_kernel_info *info);

/* gpu.c: thin layer over the CUDA runtime (stubs when built without CUDA). */
int fc_gpu_built(void);
fc_status fc_gpu_query_device(fc_context *ctx, int device);
/* Make `device` current for a launch; fc_gpu_leave restores the caller's device. Returns 0,
 * or a cudaError_t value. */
int fc_gpu_enter(int device, int *previous);
void fc_gpu_leave(int previous);
/* 1 if ptr is device (or managed) memory, 0 if host memory, -1 if unknown. For device memory
 * *home is the GPU it lives on; else (managed memory too, which every GPU reads) -1. */
int fc_gpu_pointer_is_device(const void *ptr, int *home);
/* The GPU a stream belongs to, or -1 where that follows the current device (NULL, the legacy
 * and per-thread handles), where the stream is being captured, or where it cannot be read. */
int fc_gpu_stream_device(struct CUstream_st *stream);

/* Family entry points, implemented in kernels/<family>/ (absent families report 0). */

/* plan: fill *info and return 1 when the family can run p on this device; otherwise write
 * the reason into why and return 0. forward: enqueue on stream; return a cudaError_t value
 * (0 = success) and write a sentence into err on failure. */
typedef int (*fc_plan_fn)(const fc_problem *p, const fc_device_caps *caps, fc_kernel_info *info,
                          char *why, size_t why_len);
typedef int (*fc_launch_fn)(const fc_problem *p, const fc_kernel_info *info, void *stream,
                            char *err, size_t err_len);

typedef struct fc_family_entry {
  fc_family family;
  fc_plan_fn plan;     /* NULL when the family is not compiled in */
  fc_launch_fn launch;
} fc_family_entry;

/* The GPU families compiled into this build, best first. */
const fc_family_entry *fc_gpu_families(int *count);

int64_t fc_env_family(void); /* FLASHCORE_FAMILY parsed, or -1 when invalid */

#endif
