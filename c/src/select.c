/* The one place that chooses a kernel family and configuration, and so also the one place
 * that answers "is this supported?". fc_attention_forward runs exactly what this returns,
 * on the problem as fc_select leaves it (a GQA decode folded into rows, below). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *dtype_str(int dt) {
  return dt == FC_DTYPE_F32 ? "f32" : dt == FC_DTYPE_F16 ? "f16" : "bf16";
}

/* The G query heads of each KV head as rows of it (both folds below): q, out and lse get the
 * head stride as their seq stride and G x it as their head stride, and the heads are Hk. */
static void heads_into_rows(fc_problem *p, int64_t G) {
  int64_t *rows[3] = {p->q_stride, p->o_stride, p->lse_stride};
  for (int i = 0; i < 3; i++) rows[i][1] = rows[i][2], rows[i][2] *= G;
  p->heads = p->heads_k;
}

/* Decode under GQA: one query row a sequence (Sq = 1) and G = H / Hk > 1 query heads a
 * key/value head run as G query rows of Hk heads: row g of KV head j is query head j * G + g,
 * a view through strides (q, out and lse, whose seq stride becomes the head stride). A tile
 * then reads each K/V head once for its G query heads instead of once for each, and fills G
 * of its rows instead of one (the GPU tiles hold 64 to 192 rows). The view is exact: that
 * single row sits at key Sk - 1 (bottom-right) and sees keys Sk - 1 - window_left up to
 * Sk - 1 whatever causal and window_right say, so the keys before are cut off the K and V
 * views and the rows run unmasked, each with the arithmetic it had as its own head's row.
 * With variable lengths (max_seqlen_q = 1) each sequence's K and V start at their own
 * offsets, so only a decode without a left window folds here (fold_rows() takes one with a
 * window); the offsets of q, out and lse keep the unfolded seq strides (offset_stride) and
 * each counted row stands for G (fold). Not with out_copies there, whose copy loops walk
 * the output by its strides and rows.
 * Returns G, or 1 where p stays as it is. */
static int64_t fold_decode(fc_problem *p) {
  const int64_t G = p->heads_k > 0 ? p->heads / p->heads_k : 1;
  if (p->seqlen_q != 1 || G < 2 || p->seqlen_k < 1) return 1;
  if (p->cu_seqlens_q) {
    if (p->window_left >= 0 || p->num_out_copies > 0) return 1;
    p->fold = G;
  } else {
    if (p->window_left >= 0 && p->window_left + 1 < p->seqlen_k) {
      const int64_t first = p->seqlen_k - 1 - p->window_left;
      const size_t es = fc_dtype_size((fc_dtype)p->dtype);
      p->k = (const char *)p->k + (size_t)(first * p->k_stride[1]) * es;
      p->v = (const char *)p->v + (size_t)(first * p->v_stride[1]) * es;
      p->seqlen_k = p->total_k = p->window_left + 1;
    }
    p->total_q = G;
  }
  p->causal = 0;
  p->window_left = p->window_right = -1;
  p->seqlen_q = G;
  heads_into_rows(p, G);
  return G;
}

/* A GQA launch of 2 to 16 query rows a sequence (speculative decoding, short chunks; fixed or
 * variable lengths, max_seqlen_q for the latter) whose G x Sq rows fit 64 (G = H / Hk, any
 * G): query position s of query head j * G + g runs as row s * G + g of KV head j, so a
 * tile reads each K/V head once for its G query heads. The rows are not one stride apart (a
 * position's G heads are, and positions are the seq stride apart):
 * fc_problem.pos_group and pos_stride say how, and masks go by the position. With variable
 * lengths the offsets count positions (offset_stride, the seq strides) and each stands for G
 * rows (fold). Only a family whose planner takes pos_group runs it (fc_select tries each
 * family on this view first, then on the problem as it is). Not with out_copies (their copy
 * loops walk the output by its strides). The same view takes a variable-length GQA decode
 * with a left window (max_seqlen_q = 1, which fold_decode() leaves): its G rows are position
 * 0 of their sequence (pos_stride 0), the window stays and goes by the position. Returns G,
 * or 1 where no view was made. */
static int64_t fold_rows(fc_problem *p) {
  const int64_t G = p->heads_k > 0 ? p->heads / p->heads_k : 1;
  const int varlen_decode = p->cu_seqlens_q && p->seqlen_q == 1 && p->window_left >= 0;
  if (p->seqlen_q > 16 || (!varlen_decode && p->seqlen_q < 2) || G < 2 || G * p->seqlen_q > 64 ||
      p->seqlen_k < 1 || p->num_out_copies > 0)
    return 1;
  p->pos_group = G;
  const int64_t seq[3] = {p->q_stride[1], p->o_stride[1], p->lse_stride[1]};
  for (int i = 0; i < 3; i++) p->pos_stride[i] = varlen_decode ? 0 : seq[i]; /* the positions' stride */
  heads_into_rows(p, G);
  if (p->cu_seqlens_q) p->fold = G; /* total_q still counts positions */
  else p->total_q = G * p->seqlen_q;
  p->seqlen_q = G * p->seqlen_q;
  return G;
}

fc_status fc_select(fc_context *ctx, fc_problem *p, fc_family requested, fc_kernel_info *info) {
  const int64_t folded = fold_decode(p);
  fc_problem view = *p; /* the rows view, where fold_rows makes one */
  const int64_t rows_folded = folded > 1 ? 1 : fold_rows(&view);
  int use_view = 0;
  fc_kernel_info chosen = FC_KERNEL_INFO_INIT;
  if (ctx->device == FC_DEVICE_CPU) {
    if (requested != FC_FAMILY_AUTO && requested != FC_FAMILY_CPU)
      return fc_fail(ctx, FC_ERR_UNSUPPORTED,
                     "family %s was forced, but the context is the CPU backend, which runs only "
                     "family cpu",
                     fc_family_name(requested));
    use_view = rows_folded > 1; /* the CPU backend takes pos_group */
    fc_cpu_plan(ctx, use_view ? &view : p, &chosen);
  } else {
    if (requested == FC_FAMILY_CPU)
      return fc_fail(ctx, FC_ERR_UNSUPPORTED,
                     "family cpu was forced on a GPU context; create an FC_DEVICE_CPU context "
                     "for the CPU backend");
    int n = 0;
    const fc_family_entry *fam = fc_gpu_families(&n);
    fc_device_caps caps = {ctx->cc_major, ctx->cc_minor, ctx->num_sms, ctx->smem_optin};
    char why[FC_ERRMSG_LEN] = "";
    size_t used = 0;
    int found = 0, tried = 0;
    for (int i = 0; i < n && !found; i++) {
      if (requested != FC_FAMILY_AUTO && fam[i].family != requested) continue;
      tried++;
      char reason[256] = "";
      if (rows_folded > 1 && fam[i].plan(&view, &caps, &chosen, reason, sizeof reason)) {
        chosen.family = fam[i].family;
        found = use_view = 1;
      } else if (fam[i].plan(p, &caps, &chosen, reason, sizeof reason)) {
        chosen.family = fam[i].family;
        found = 1;
      } else if (used < sizeof why) {
        used += (size_t)snprintf(why + used, sizeof why - used, "%s%s: %s", used ? "; " : "",
                                 fc_family_name(fam[i].family), reason);
      }
    }
    if (!found) {
      if (!tried)
        return fc_fail(ctx, FC_ERR_UNSUPPORTED,
                       "no kernel family%s%s is built into this flashcore (%s) for %s (sm_%d%d)",
                       requested ? " " : "", requested ? fc_family_name(requested) : "",
                       fc_version_string(), ctx->device_name, ctx->cc_major, ctx->cc_minor);
      return fc_fail(ctx, FC_ERR_UNSUPPORTED, "%s D=%lld on %s (sm_%d%d): %s",
                     dtype_str(p->dtype), (long long)p->head_dim, ctx->device_name, ctx->cc_major,
                     ctx->cc_minor, why);
    }
    /* A fallback says which better family declined and why (cut to the field's length). */
    if (used) {
      size_t len = strlen(chosen.description);
      snprintf(chosen.description + len, sizeof chosen.description - len, " [fallback; %s]", why);
    }
  }
  /* A caller's workspace for split pieces must hold what the plan splits into. */
  if (p->workspace && chosen.workspace_bytes > p->workspace_bytes)
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "opts->workspace_bytes = %zu, but this launch splits its keys and takes %zu bytes "
                   "(fc_kernel_info.workspace_bytes): %s",
                   p->workspace_bytes, chosen.workspace_bytes, chosen.description);
  if (use_view) *p = view;
  if (folded > 1 || use_view) {
    /* The note ends the description (the header promises it), so a long one is cut before it. */
    char note[64];
    const size_t n = (size_t)snprintf(note, sizeof note, " [%s: %lld query heads a KV head as rows]",
                                      use_view ? "rows" : "decode", (long long)(use_view ? rows_folded : folded));
    size_t len = strlen(chosen.description);
    if (len + n >= sizeof chosen.description) {
      len = sizeof chosen.description - 1 - n - 3;
      memcpy(chosen.description + len, "...", 3), len += 3;
    }
    memcpy(chosen.description + len, note, n + 1);
  }
  if (info) {
    size_t keep = info->size < sizeof chosen ? info->size : sizeof chosen;
    chosen.size = info->size;
    memcpy(info, &chosen, keep);
  }
  return FC_SUCCESS;
}

fc_status fc_select_kernel(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                           const fc_tensor *v, const fc_tensor *out, const fc_tensor *lse,
                           const fc_attn_options *opts, fc_kernel_info *info) {
  if (!ctx) return fc_fail(NULL, FC_ERR_NULL_POINTER, "fc_select_kernel: ctx is NULL");
  if (!info) return fc_fail(ctx, FC_ERR_NULL_POINTER, "fc_select_kernel: info is NULL");
  if (info->size < offsetof(fc_kernel_info, description))
    return fc_fail(ctx, FC_ERR_INVALID_VALUE,
                   "info->size = %zu; initialise it with FC_KERNEL_INFO_INIT", info->size);
  fc_problem p;
  fc_family requested;
  fc_status st = fc_validate_forward(ctx, q, k, v, out, lse, opts, &p, &requested);
  if (st) return st;
  st = fc_select(ctx, &p, requested, info);
  if (st == FC_SUCCESS) fc_clear_error(ctx);
  return st;
}
