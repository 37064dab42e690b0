// The sm80 family's answers to the selector: can it run a problem here, with which tile,
// and the launch that follows. Compiled once per build; the kernels live in fwd_d*.cu.
#include <stdio.h>

#include "config.h"
#include "fc_problem.h"
#include "flashcore.h"

#define FC_DECLARE(D)                                                                 \
  extern "C" int fc_sm80_launch_d##D(const fc_problem *, const fc_kernel_info *, void *, \
                                     char *, size_t);
FC_DECLARE(32)
FC_DECLARE(64)
FC_DECLARE(96)
FC_DECLARE(128)
FC_DECLARE(192)
FC_DECLARE(256)

typedef int (*launch_fn)(const fc_problem *, const fc_kernel_info *, void *, char *, size_t);

// Head dims compiled into this build (FLASHCORE_HEAD_DIMS prunes them).
static launch_fn launcher(int64_t d) {
  switch (d) {
#ifdef FC_SM80_HAS_D32
  case 32: return fc_sm80_launch_d32;
#endif
#ifdef FC_SM80_HAS_D64
  case 64: return fc_sm80_launch_d64;
#endif
#ifdef FC_SM80_HAS_D96
  case 96: return fc_sm80_launch_d96;
#endif
#ifdef FC_SM80_HAS_D128
  case 128: return fc_sm80_launch_d128;
#endif
#ifdef FC_SM80_HAS_D192
  case 192: return fc_sm80_launch_d192;
#endif
#ifdef FC_SM80_HAS_D256
  case 256: return fc_sm80_launch_d256;
#endif
  default: return nullptr;
  }
}

extern "C" int fc_sm80_plan(const fc_problem *p, const fc_device_caps *caps,
                            fc_kernel_info *info, char *why, size_t why_len) {
  using namespace fc::sm80;
  if (caps->cc_major < 8) {
    snprintf(why, why_len, "needs compute capability 8.0 or newer, the device has %d.%d",
             caps->cc_major, caps->cc_minor);
    return 0;
  }
  if (p->dtype != FC_DTYPE_BF16 && p->dtype != FC_DTYPE_F16) {
    snprintf(why, why_len, "dtype f32 runs only on the CPU backend; GPU families take bf16 and f16");
    return 0;
  }
  if (!launcher(p->head_dim)) {
    snprintf(why, why_len, "head_dim %lld was pruned from this build (FLASHCORE_HEAD_DIMS)",
             (long long)p->head_dim);
    return 0;
  }
  if (p->num_out_copies > 0) {
    snprintf(why, why_len, "out_copies is offered by the sm90 family and the CPU backend only");
    return 0;
  }
  // Query heads folded into rows by position: the 64-row tile's kernels.
  if (p->pos_group > 1 && p->seqlen_q > 64) {
    snprintf(why, why_len, "query heads folded into rows by position take at most 64 rows");
    return 0;
  }
  if (const char *bad = fc_problem_misaligned(p)) {
    snprintf(why, why_len,
             "%s is not 16-byte aligned (data pointer and the batch, seq and head strides must "
             "be multiples of 8 elements)",
             bad);
    return 0;
  }
  if ((p->seqlen_q + 63) / 64 > INT32_MAX) {
    snprintf(why, why_len, "seqlen_q %lld needs more query blocks than a grid holds",
             (long long)p->seqlen_q);
    return 0;
  }
  if (p->batch > 65535 || p->heads > 65535) {
    snprintf(why, why_len, "batch %lld or heads %lld exceeds the grid limit of 65535",
             (long long)p->batch, (long long)p->heads);
    return 0;
  }
  const int d = (int)p->head_dim;
  Config c = big_smem(d);
  if (smem_bytes(c) > caps->smem_optin) c = small_smem(d);
  if (smem_bytes(c) > caps->smem_optin) {
    snprintf(why, why_len, "the D=%d tile needs %d bytes of shared memory, the device allows %d",
             d, smem_bytes(c), caps->smem_optin);
    return 0;
  }
  // At most 64 query rows a sequence: the 64-row tile of short_config() (config.h). The launch
  // tells the shared-memory class from block_n.
  const Config run = short_rows(p->seqlen_q, c) ? short_config(c) : c;
  info->block_m = run.block_m;
  info->block_n = run.block_n;
  info->num_warps = warps(run);
  info->stages = 1;
  // As the launch splits keys (key_splits_for()), unless no workspace is free or the stream is
  // being captured: it then runs whole.
  const int splits = key_splits_for(p, c, caps->num_sms);
  // The pieces' records, from the caller's workspace or the pool (fwd_launch.cuh)
  info->workspace_bytes = (size_t)fc::key_split_workspace_bytes(p->heads * p->batch, splits, p->seqlen_q, d);
  char how[32] = "";
  if (splits > 1) snprintf(how, sizeof how, ", keys split %d ways", splits);
  snprintf(info->description, sizeof info->description,
           "sm80 %s D=%d%s: %dx%d tile, %d warps, %d KB smem, mma.sync%s%s",
           p->dtype == FC_DTYPE_BF16 ? "bf16" : "f16", d, p->causal ? " causal" : "", run.block_m,
           run.block_n, warps(run), (smem_bytes(run) + 1023) / 1024, caps->cc_major >= 9 ? " (PTX, JIT)" : "", how);
  return 1;
}

extern "C" int fc_sm80_launch(const fc_problem *p, const fc_kernel_info *info, void *stream,
                              char *err, size_t err_len) {
  launch_fn f = launcher(p->head_dim);
  if (!f) {
    snprintf(err, err_len, "no sm80 kernel for head_dim %lld", (long long)p->head_dim);
    return 1;
  }
  return f(p, info, stream, err, err_len);
}
