/* Contexts: one per CUDA device, or the CPU backend. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

fc_status fc_context_create(int device, fc_context **ctx) {
  if (!ctx) return fc_fail(NULL, FC_ERR_NULL_POINTER, "fc_context_create: ctx is NULL");
  *ctx = NULL;
  int64_t env = fc_env_family();
  if (env < 0)
    return fc_fail(NULL, FC_ERR_INVALID_VALUE,
                   "fc_context_create: FLASHCORE_FAMILY=\"%s\" is not one of auto, cpu, sm80, "
                   "sm89, sm90",
                   getenv("FLASHCORE_FAMILY"));
  if (device < FC_DEVICE_CPU)
    return fc_fail(NULL, FC_ERR_INVALID_VALUE,
                   "fc_context_create: device = %d; use a CUDA ordinal >= 0 or FC_DEVICE_CPU (-1)",
                   device);
  fc_context *c = calloc(1, sizeof *c);
  if (!c) return fc_fail(NULL, FC_ERR_OUT_OF_MEMORY, "fc_context_create: out of host memory");
  c->device = device;
  c->forced = (fc_family)env;
  if (device == FC_DEVICE_CPU) {
    strcpy(c->device_name, "CPU");
  } else {
    fc_status st = fc_gpu_query_device(c, device);
    if (st != FC_SUCCESS) {
      free(c);
      return st; /* fc_gpu_query_device recorded the sentence against NULL */
    }
  }
  fc_clear_error(NULL);
  *ctx = c;
  return FC_SUCCESS;
}

void fc_context_destroy(fc_context *ctx) {
  if (!ctx) return;
  fc_clear_error(ctx);
  free(ctx);
}

fc_status fc_context_set_family(fc_context *ctx, fc_family family) {
  if (!ctx) return fc_fail(NULL, FC_ERR_NULL_POINTER, "fc_context_set_family: ctx is NULL");
  if ((int)family < 0 || family >= FC_FAMILY_COUNT)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE, "fc_context_set_family: family = %d is not an fc_family",
                   (int)family);
  ctx->forced = family;
  return FC_SUCCESS;
}

fc_status fc_context_set_num_threads(fc_context *ctx, int num_threads) {
  if (!ctx) return fc_fail(NULL, FC_ERR_NULL_POINTER, "fc_context_set_num_threads: ctx is NULL");
  if (num_threads < 0 || num_threads > 4096)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "fc_context_set_num_threads: num_threads = %d; use 0 (all CPUs) to 4096",
                   num_threads);
  ctx->num_threads = num_threads;
  return FC_SUCCESS;
}

int fc_context_device(const fc_context *ctx) { return ctx ? ctx->device : FC_DEVICE_CPU; }
