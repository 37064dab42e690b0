/* Status strings, versions, and the per-thread last-error record. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FC_FAMILIES_STRING
#define FC_FAMILIES_STRING "cpu"
#endif
#define FC_STR2(x) #x
#define FC_STR(x) FC_STR2(x)

unsigned fc_version(void) { return FLASHCORE_VERSION_NUMBER; }

const char *fc_version_string(void) {
  return FC_STR(FLASHCORE_VERSION_MAJOR) "." FC_STR(FLASHCORE_VERSION_MINOR) "." FC_STR(
      FLASHCORE_VERSION_PATCH) " (" FC_FAMILIES_STRING ")";
}

const char *fc_status_string(fc_status status) {
  switch (status) {
  case FC_SUCCESS: return "success";
  case FC_ERR_NULL_POINTER: return "a required pointer is NULL";
  case FC_ERR_INVALID_VALUE: return "an argument or option is out of range";
  case FC_ERR_SHAPE_MISMATCH: return "tensor shapes do not agree";
  case FC_ERR_BAD_STRIDES: return "a tensor view has unsupported or overlapping strides";
  case FC_ERR_OVERFLOW: return "a size or offset overflows int64";
  case FC_ERR_UNSUPPORTED: return "no kernel family can run this problem";
  case FC_ERR_WRONG_MEMORY: return "a pointer is in the wrong kind of memory, or the output overlaps an input";
  case FC_ERR_OUT_OF_MEMORY: return "out of memory";
  case FC_ERR_NO_DEVICE: return "the requested device is not available";
  case FC_ERR_CUDA: return "a CUDA call failed";
  case FC_ERR_INTERNAL: return "internal error in flashcore";
  case FC_STATUS_COUNT: break;
  }
  return "unknown status";
}

const char *fc_family_name(fc_family family) {
  switch (family) {
  case FC_FAMILY_AUTO: return "auto";
  case FC_FAMILY_CPU: return "cpu";
  case FC_FAMILY_SM80: return "sm80";
  case FC_FAMILY_SM89: return "sm89";
  case FC_FAMILY_SM90: return "sm90";
  case FC_FAMILY_COUNT: break;
  }
  return "unknown";
}

size_t fc_dtype_size(fc_dtype dtype) {
  switch (dtype) {
  case FC_DTYPE_F32: return 4;
  case FC_DTYPE_F16: return 2;
  case FC_DTYPE_BF16: return 2;
  case FC_DTYPE_COUNT: break;
  }
  return 0;
}

/* One record per thread: the context of the last failing call and its sentence. A context
 * shared by threads therefore never mixes their messages. */
static _Thread_local struct {
  const fc_context *ctx;
  int set;
  char msg[FC_ERRMSG_LEN];
} tl_error;

fc_status fc_fail(const fc_context *ctx, fc_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tl_error.msg, sizeof tl_error.msg, fmt, ap);
  va_end(ap);
  tl_error.ctx = ctx;
  tl_error.set = 1;
  return status;
}

void fc_clear_error(const fc_context *ctx) {
  if (tl_error.ctx == ctx) tl_error.set = 0;
}

const char *fc_last_error(const fc_context *ctx) {
  return (tl_error.set && tl_error.ctx == ctx) ? tl_error.msg : "";
}

int64_t fc_env_family(void) {
  const char *s = getenv("FLASHCORE_FAMILY");
  if (!s || !*s) return FC_FAMILY_AUTO;
  for (int f = 0; f < FC_FAMILY_COUNT; f++)
    if (strcmp(s, fc_family_name((fc_family)f)) == 0) return f;
  return -1;
}
