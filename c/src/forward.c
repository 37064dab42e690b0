/* fc_attention_forward: validate, select, run. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

fc_status fc_attention_forward(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                               const fc_tensor *v, const fc_tensor *out, const fc_tensor *lse,
                               const fc_attn_options *opts, struct CUstream_st *stream) {
  if (!ctx) return fc_fail(NULL, FC_ERR_NULL_POINTER, "fc_attention_forward: ctx is NULL");
  fc_problem p;
  fc_family requested;
  fc_status st = fc_validate_forward(ctx, q, k, v, out, lse, opts, &p, &requested);
  if (st) return st;
  /* A stream of another GPU: its launch would fail, and a pool set up on it at a first call
   * would stay failed. */
  const int home = ctx->device != FC_DEVICE_CPU ? fc_gpu_stream_device(stream) : -1;
  if (home >= 0 && home != ctx->device)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "stream = %p belongs to GPU %d, but the context is GPU %d",
                   (void *)stream, home, ctx->device);
  fc_kernel_info info = FC_KERNEL_INFO_INIT;
  if ((st = fc_select(ctx, &p, requested, &info))) return st;

  if (info.family == FC_FAMILY_CPU) {
    st = fc_cpu_forward(ctx, &p, &info);
  } else {
    int n = 0;
    const fc_family_entry *fam = fc_gpu_families(&n);
    st = FC_ERR_INTERNAL;
    for (int i = 0; i < n; i++) {
      if (fam[i].family != info.family) continue;
      char err[256] = "";
      /* The kernel runs on the context's device whatever the caller's current device is. */
      int previous, e = fc_gpu_enter(ctx->device, &previous);
      if (e == 0) {
        e = fam[i].launch(&p, &info, stream, err, sizeof err);
        fc_gpu_leave(previous);
      } else {
        snprintf(err, sizeof err, "cannot make device %d current (cudaError %d)", ctx->device, e);
      }
      st = e == 0 ? FC_SUCCESS
                  : fc_fail(ctx, e == 2 /* cudaErrorMemoryAllocation */ ? FC_ERR_OUT_OF_MEMORY
                                                                        : FC_ERR_CUDA,
                            "%s kernel on GPU %d: %s", fc_family_name(info.family), ctx->device,
                            err);
      break;
    }
    if (st == FC_ERR_INTERNAL)
      return fc_fail(ctx, st, "selected family %s has no launcher", fc_family_name(info.family));
  }
  if (st == FC_SUCCESS) fc_clear_error(ctx);
  return st;
}
