/* Shard planner and argument parsing (see plan.h). */
#define _POSIX_C_SOURCE 200809L /* strtok_r, also under a strict -std=c11 */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [lo, hi) of part i when n items are split into k nearly equal contiguous parts. */
static void split(int n, int k, int i, int *lo, int *hi) {
  *lo = (int)((int64_t)n * i / k);
  *hi = (int)((int64_t)n * (i + 1) / k);
}

int fc_plan_shards(int H, int Hk, int ranks, fc_shard *shards, char *err, size_t err_len) {
  if (H <= 0 || Hk <= 0 || H % Hk != 0) {
    snprintf(err, err_len, "heads H=%d and KV heads Hk=%d: both must be > 0 and Hk must divide H", H, Hk);
    return -1;
  }
  if (ranks <= 0 || ranks > FC_SCALE_MAX_RANKS) {
    snprintf(err, err_len, "ranks = %d: use 1 to %d", ranks, FC_SCALE_MAX_RANKS);
    return -1;
  }
  if (ranks > H) {
    snprintf(err, err_len, "ranks = %d exceeds the %d query heads: a rank would hold no head", ranks, H);
    return -1;
  }
  const int G = H / Hk;
  for (int r = 0; r < ranks; r++) {
    fc_shard *s = &shards[r];
    memset(s, 0, sizeof *s);
    if (Hk >= ranks) {
      int lo, hi;
      split(Hk, ranks, r, &lo, &hi);
      s->kv_head0 = lo, s->kv_heads = hi - lo;
      s->q_head0 = lo * G, s->q_heads = (hi - lo) * G;
      s->num_segments = 1;
      s->seg[0] = (fc_segment){0, s->q_heads, 0, s->kv_heads};
      continue;
    }
    int lo, hi;
    split(H, ranks, r, &lo, &hi);
    s->q_head0 = lo, s->q_heads = hi - lo;
    s->kv_head0 = lo / G;
    s->kv_heads = (hi - 1) / G - lo / G + 1;
    /* Segments: a partial group at the start, whole groups, a partial group at the end. */
    int h = lo;
    while (h < hi) {
      int kv = h / G, group_end = (kv + 1) * G;
      fc_segment seg;
      if (h % G == 0 && group_end <= hi) { /* whole groups from here */
        int whole = (hi - h) / G;
        seg = (fc_segment){h - lo, whole * G, kv - s->kv_head0, whole};
      } else { /* part of one group */
        int end = group_end < hi ? group_end : hi;
        seg = (fc_segment){h - lo, end - h, kv - s->kv_head0, 1};
      }
      if (s->num_segments == FC_SCALE_MAX_SEGMENTS) {
        snprintf(err, err_len, "internal: shard %d needs more than %d segments", r, FC_SCALE_MAX_SEGMENTS);
        return -1;
      }
      s->seg[s->num_segments++] = seg;
      h += seg.q_heads;
    }
  }
  return 0;
}

int fc_scale_rank_counts(int max, int *counts, int cap) {
  int n = 0;
  for (int r = 1; r < max && n < cap; r *= 2) counts[n++] = r;
  if (n < cap && max >= 1) counts[n++] = max;
  return n;
}

static int parse_family(const char *s, fc_family *f) {
  for (int i = 0; i < FC_FAMILY_COUNT; i++)
    if (!strcmp(s, fc_family_name((fc_family)i))) {
      *f = (fc_family)i;
      return 0;
    }
  return -1;
}

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int fc_plan_chunks(int64_t S, int causal, int chunks, int64_t align, int64_t *bounds) {
  if (S <= 0 || chunks < 1 || align < 1) return -1;
  int n = 0;
  bounds[0] = 0;
  if (chunks > 1) {
    const int64_t rest = (int64_t)llround((double)S * 7 / 8 / (double)align) * align; /* rows before the last chunk */
    for (int i = 1; i < chunks - 1; i++) {
      const double work = (double)i / (chunks - 1);
      const int64_t r = (int64_t)llround((causal ? sqrt(work) : work) * (double)rest / (double)align) * align;
      if (r > bounds[n] && r < rest) bounds[++n] = r; /* else too short: merged into the next */
    }
    if (rest > bounds[n] && rest < S) bounds[++n] = rest;
  }
  bounds[++n] = S;
  return n;
}

int fc_plan_head_split(const fc_shard *sh, int hmax, int causal, int chunks) {
  if (!sh || !causal || chunks != 2 || hmax < 8) return 0;
  int k = hmax / 4; /* heads of the last chunk */
  for (; k >= 2; k--) {
    const int split = hmax - k;
    int ok = 1;
    for (int g = 0; g < sh->num_segments && ok; g++) {
      const fc_segment *seg = &sh->seg[g];
      const int group = seg->kv_heads > 0 ? seg->q_heads / seg->kv_heads : 1;
      if (split > seg->q0 && split < seg->q0 + seg->q_heads && (split - seg->q0) % group) ok = 0;
    }
    if (ok) return split;
  }
  return 0;
}

static const char *const gather_names[] = {"ce", "sm", "store", "ce-store"};
const char *fc_gather_name(fc_gather_engine e) {
  return (unsigned)e < sizeof gather_names / sizeof gather_names[0] ? gather_names[e] : "?";
}

int fc_auto_chunks(int64_t ctas, int64_t sms, double keys_per_row, int causal, int ranks) {
  if (sms < 1) sms = 132;
  if (ranks > 2) return ctas < 3 * sms ? 1 : 4;
  const double last = causal ? 0.25 : 0.125;                 /* the last chunk's share   */
  const double keys = (1 - last) / last * 600e12 / (2 * 378e9); /* its attention hides the gather */
  return ctas < 4 * sms || keys_per_row < keys ? 1 : 2;
}

static const char *usage =
    "usage: flashcore-scale [options]\n"
    "  --shape B,H,Hk,S,D[,causal]  a problem (repeatable; default 2,16,16,8192,128,1 and 1,16,16,16384,128,1)\n"
    "  --sweep strong|weak          strong: fixed problem on 1..N GPUs; weak: H and Hk scale with N\n"
    "  --gpus N                     at most N ranks (default: all GPUs, or all MPI ranks)\n"
    "  --collective allgather|none  assemble the output (default) or pure compute scaling\n"
    "  --gather ce|sm|store|ce-store  all-gather by copy engines (NCCL >= 2.28, zero-CTA policy,\n"
    "                               symmetric windows), by NCCL's kernels on the SMs, by the\n"
    "                               attention kernel's own stores into every rank's window\n"
    "                               (NCCL >= 2.28, one NVLink domain, <= 8 ranks, sm90 family),\n"
    "                               or (default) ce-store: copy engines for every chunk but the\n"
    "                               last, whose kernel stores (copy engines alone where a rank\n"
    "                               cannot; NCCL's kernels before NCCL 2.28)\n"
    "  --chunks C|auto              sequence chunks whose all-gather overlaps compute (default auto:\n"
    "                               2 from 4 waves of CTAs per rank where the earlier chunk's\n"
    "                               gather fits under the last one's attention, else 1; beyond\n"
    "                               2 ranks 1 below 3 waves, else 4)\n"
    "  --families F1,F2,...         kernel family per rank, round-robin (default auto)\n"
    "  --reps N --warmup N          timed and warm-up iterations (default 20, 3)\n"
    "  --no-check                   skip the float64 check of every shard\n"
    "  --no-bind                    do not bind ranks to the CPUs near their GPU\n"
    "  --json FILE --csv FILE       write results\n"
    "environment: FC_SCALE_BARRIER=events|memops  how the ranks meet after a storing launch\n"
    "  (default events: cross-GPU event waits; memops: stream writes and waits on flags);\n"
    "  FC_SCALE_GATE=0  rounds enqueued without their gate;\n"
    "  FC_SCALE_SKIP_CHUNK=C  a self-test: every rank leaves chunk C's launches out (one the\n"
    "  all-gather assembles), so #wrong must count every rank's slot of it\n";

int fc_scale_parse_args(int argc, char **argv, fc_scale_args *a, char *err, size_t err_len) {
  memset(a, 0, sizeof *a);
  a->sweep = FC_SWEEP_STRONG;
  a->collective = FC_COLL_ALLGATHER;
  a->engine = FC_GATHER_CE_STORE;
  a->chunks = 0; /* auto */
  a->reps = 20;
  a->warmup = 3;
  a->check = 1;
  a->bind = 1;
  a->num_families = 1;
  a->families[0] = FC_FAMILY_AUTO;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      snprintf(err, err_len, "%s", usage);
      return 1;
    }
    if (!strcmp(k, "--no-check")) { a->check = 0; continue; }
    if (!strcmp(k, "--no-bind")) { a->bind = 0; continue; }
    if (i + 1 >= argc) {
      snprintf(err, err_len, "%s needs a value\n%s", k, usage);
      return -1;
    }
    const char *v = argv[++i];
    int64_t x;
    if (!strcmp(k, "--shape")) {
      long long b, h, hk, s, d;
      int c = 1, n = 0;
      if (a->num_shapes == FC_SCALE_MAX_SHAPES) {
        snprintf(err, err_len, "--shape: at most %d shapes", FC_SCALE_MAX_SHAPES);
        return -1;
      }
      if ((sscanf(v, "%lld,%lld,%lld,%lld,%lld%n,%d%n", &b, &h, &hk, &s, &d, &n, &c, &n) < 5) ||
          v[n] != '\0' || b <= 0 || h <= 0 || hk <= 0 || s <= 0 || d <= 0 || h % hk || (c != 0 && c != 1)) {
        snprintf(err, err_len, "--shape %s: expected B,H,Hk,S,D[,causal] with positive sizes, Hk dividing H, causal 0 or 1", v);
        return -1;
      }
      /* Sizes the ranks' int arithmetic and byte counts hold: each below 2^31, a tensor's
       * elements below 2^58 (strtoll saturates what does not fit, so this catches that too). */
      long long elems = 0;
      if (b > INT32_MAX || h > INT32_MAX || s > INT32_MAX || d > INT32_MAX || __builtin_mul_overflow(b, s, &elems) ||
          __builtin_mul_overflow(elems, h, &elems) || __builtin_mul_overflow(elems, d, &elems) || elems >= (1ll << 58)) {
        snprintf(err, err_len, "--shape %s: sizes must be below 2^31 each and B*S*H*D below 2^58", v);
        return -1;
      }
      a->shapes[a->num_shapes++] = (fc_scale_shape){b, h, hk, s, d, c};
    } else if (!strcmp(k, "--sweep")) {
      if (!strcmp(v, "strong")) a->sweep = FC_SWEEP_STRONG;
      else if (!strcmp(v, "weak")) a->sweep = FC_SWEEP_WEAK;
      else { snprintf(err, err_len, "--sweep %s: use strong or weak", v); return -1; }
    } else if (!strcmp(k, "--collective")) {
      if (!strcmp(v, "allgather")) a->collective = FC_COLL_ALLGATHER;
      else if (!strcmp(v, "none")) a->collective = FC_COLL_NONE;
      else { snprintf(err, err_len, "--collective %s: use allgather or none", v); return -1; }
    } else if (!strcmp(k, "--gather")) {
      a->engine_set = 1;
      int found = -1;
      for (int e = 0; e < (int)(sizeof gather_names / sizeof gather_names[0]); e++)
        if (!strcmp(v, gather_names[e])) found = e;
      if (found >= 0) a->engine = (fc_gather_engine)found;
      else {
        snprintf(err, err_len,
                 "--gather %s: use ce (copy engines), sm (NCCL kernels), store (the kernel's stores) or ce-store "
                 "(copy engines, the last chunk by the kernel's stores)", v);
        return -1;
      }
    } else if (!strcmp(k, "--gpus")) {
      if (parse_int(v, 1, FC_SCALE_MAX_RANKS, &x)) { snprintf(err, err_len, "--gpus %s: use 1 to %d", v, FC_SCALE_MAX_RANKS); return -1; }
      a->max_gpus = (int)x;
    } else if (!strcmp(k, "--chunks")) {
      if (!strcmp(v, "auto")) a->chunks = 0;
      else if (parse_int(v, 1, 64, &x)) { snprintf(err, err_len, "--chunks %s: use 1 to 64, or auto", v); return -1; }
      else a->chunks = (int)x;
    } else if (!strcmp(k, "--reps")) {
      if (parse_int(v, 1, 1000, &x)) { snprintf(err, err_len, "--reps %s: use 1 to 1000", v); return -1; }
      a->reps = (int)x;
    } else if (!strcmp(k, "--warmup")) {
      if (parse_int(v, 0, 100, &x)) { snprintf(err, err_len, "--warmup %s: use 0 to 100", v); return -1; }
      a->warmup = (int)x;
    } else if (!strcmp(k, "--families")) {
      char buf[128];
      snprintf(buf, sizeof buf, "%s", v);
      a->num_families = 0;
      for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (a->num_families == 8 || parse_family(t, &a->families[a->num_families]) ||
            a->families[a->num_families] == FC_FAMILY_CPU) {
          snprintf(err, err_len, "--families %s: \"%s\" is not a GPU family (auto, sm80, sm89, sm90; at most 8)", v, t);
          return -1;
        }
        a->num_families++;
      }
      if (!a->num_families) { snprintf(err, err_len, "--families: empty list"); return -1; }
    } else if (!strcmp(k, "--json")) {
      a->json = v;
    } else if (!strcmp(k, "--csv")) {
      a->csv = v;
    } else {
      snprintf(err, err_len, "unknown argument %s\n%s", k, usage);
      return -1;
    }
  }
  if (!a->num_shapes) {
    a->shapes[a->num_shapes++] = (fc_scale_shape){2, 16, 16, 8192, 128, 1};
    a->shapes[a->num_shapes++] = (fc_scale_shape){1, 16, 16, 16384, 128, 1};
  }
  return 0;
}

size_t fc_bf16_count_nan(const uint16_t *x, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++) count += (x[i] & 0x7fffu) > 0x7f80u;
  return count;
}

int fc_scale_skip_chunk(const char *env, int chunks, int gathered, char *err, size_t err_len) {
  if (!env || !*env) return -1;
  int64_t c;
  if (parse_int(env, 0, chunks - 1, &c)) {
    snprintf(err, err_len, "FC_SCALE_SKIP_CHUNK=%s: this point has %d chunk%s; use 0 to %d", env, chunks,
             chunks == 1 ? "" : "s", chunks - 1);
    return -2;
  }
  if (gathered < 1) {
    snprintf(err, err_len,
             "FC_SCALE_SKIP_CHUNK=%s: every chunk's launch here stores into the other ranks' windows, which would "
             "wait for its stores for ever; skip one under --gather ce, sm or ce-store",
             env);
    return -2;
  }
  if (c >= gathered) {
    snprintf(err, err_len,
             "FC_SCALE_SKIP_CHUNK=%s: chunk %lld's launch stores into the other ranks' windows, which would wait "
             "for its stores for ever; skip a chunk the all-gather assembles (below %d)",
             env, (long long)c, gathered);
    return -2;
  }
  return (int)c;
}
