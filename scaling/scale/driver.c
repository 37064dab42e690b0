/* flashcore-scale: the driver. Bootstraps ranks (one thread per GPU by default; one process
 * per GPU under mpirun/srun when built with FC_USE_MPI), binds each rank near its GPU with
 * hwloc, creates NCCL communicators from a unique id broadcast by rank 0, runs the sweeps,
 * gathers every rank's result on rank 0 and prints the table, JSON and CSV. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scale.h"

#ifdef FC_USE_MPI
#include <mpi.h>
#endif
#ifdef FC_USE_HWLOC
#include <hwloc.h>
#include <hwloc/cudart.h>
#endif

/* ---- the team: ranks that barrier, broadcast and gather, as threads or MPI processes --- */
typedef struct team {
  int size;
#ifdef FC_USE_MPI
  MPI_Comm comm;
#endif
  pthread_barrier_t barrier;
  void *slot[FC_SCALE_MAX_RANKS]; /* threads: each rank's buffer for bcast/gather */
} team;

static int use_mpi;

static void team_barrier(team *t) {
#ifdef FC_USE_MPI
  if (use_mpi) {
    MPI_Barrier(t->comm);
    return;
  }
#endif
  pthread_barrier_wait(&t->barrier);
}

static void team_bcast(team *t, int rank, void *buf, size_t n) {
#ifdef FC_USE_MPI
  if (use_mpi) {
    MPI_Bcast(buf, (int)n, MPI_BYTE, 0, t->comm);
    return;
  }
#endif
  if (rank == 0) t->slot[0] = buf;
  pthread_barrier_wait(&t->barrier);
  if (rank != 0) memcpy(buf, t->slot[0], n);
  pthread_barrier_wait(&t->barrier);
}

static void team_gather(team *t, int rank, const void *send, void *recv, size_t n) {
#ifdef FC_USE_MPI
  if (use_mpi) {
    MPI_Gather(send, (int)n, MPI_BYTE, recv, (int)n, MPI_BYTE, 0, t->comm);
    return;
  }
#endif
  t->slot[rank] = (void *)send;
  pthread_barrier_wait(&t->barrier);
  if (rank == 0)
    for (int r = 0; r < t->size; r++) memcpy((char *)recv + (size_t)r * n, t->slot[r], n);
  pthread_barrier_wait(&t->barrier);
}

/* The team as attention.c sees it (fc_host_team). */
static void host_barrier(const fc_host_team *h) { team_barrier((team *)h->impl); }
static void host_allgather(const fc_host_team *h, int rank, const void *send, void *recv, size_t n) {
  team *t = (team *)h->impl;
  team_gather(t, rank, send, recv, n);
  team_bcast(t, rank, recv, n * (size_t)t->size);
}

/* ---- per-rank context ------------------------------------------------------------------- */
typedef struct rank_ctx {
  team *t;
  const fc_scale_args *args;
  int rank, device;
  char binding[96];
  fc_rank_result *all; /* rank 0: team->size results per point */
  int points;
  int rc;
} rank_ctx;

typedef struct point_row {
  fc_point pt;
  fc_rank_result r[FC_SCALE_MAX_RANKS];
} point_row;

static point_row *rows;
static int num_rows;

static void bind_near_gpu(rank_ctx *rc) {
#ifdef FC_USE_HWLOC
  if (!rc->args->bind) {
    snprintf(rc->binding, sizeof rc->binding, "off (--no-bind)");
    return;
  }
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) || hwloc_topology_load(topo)) {
    snprintf(rc->binding, sizeof rc->binding, "none (hwloc topology failed)");
    return;
  }
  hwloc_cpuset_t set = hwloc_bitmap_alloc();
  /* hwloc_cudart_get_device_cpuset reads the PCI device's local CPUs from sysfs; it needs no
   * CUDA component in hwloc itself. */
  if (hwloc_cudart_get_device_cpuset(topo, rc->device, set) == 0 && !hwloc_bitmap_iszero(set)) {
    int flags = use_mpi ? HWLOC_CPUBIND_PROCESS : HWLOC_CPUBIND_THREAD;
    int ok = hwloc_set_cpubind(topo, set, flags) == 0;
    int mem = hwloc_set_membind(topo, set, HWLOC_MEMBIND_BIND,
                                (use_mpi ? HWLOC_MEMBIND_PROCESS : HWLOC_MEMBIND_THREAD)) == 0;
    char *list = NULL;
    hwloc_bitmap_list_asprintf(&list, set);
    snprintf(rc->binding, sizeof rc->binding, "cpus %s%s%s", list ? list : "?",
             ok ? "" : " (cpubind failed)", mem ? ", memory bound" : ", memory not bound");
    free(list);
  } else {
    snprintf(rc->binding, sizeof rc->binding, "none (no CPU locality for GPU %d)", rc->device);
  }
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
#else
  snprintf(rc->binding, sizeof rc->binding, "off (built without hwloc)");
#endif
}

/* The points every rank walks through, in the same order. */
static int build_points(const fc_scale_args *a, int world, fc_point *pts, int cap) {
  int counts[16], nc = fc_scale_rank_counts(a->max_gpus && a->max_gpus < world ? a->max_gpus : world, counts, 16);
  int n = 0;
  for (int s = 0; s < a->num_shapes; s++)
    for (int i = 0; i < nc && n < cap; i++) {
      fc_point p = {a->shapes[s], counts[i], n};
      if (a->sweep == FC_SWEEP_WEAK) p.shape.H *= counts[i], p.shape.Hk *= counts[i];
      pts[n++] = p;
    }
  return n;
}

static void *rank_main(void *arg) {
  rank_ctx *rc = arg;
  const fc_scale_args *a = rc->args;
  team *t = rc->t;
  bind_near_gpu(rc);
  fc_point pts[256];
  const int np = build_points(a, t->size, pts, 256);
  for (int i = 0; i < np; i++) {
    const fc_point *pt = &pts[i];
    ncclUniqueId id;
    if (rc->rank == 0) ncclGetUniqueId(&id);
    team_bcast(t, rc->rank, &id, sizeof id);
    /* The point's ranks (0 .. pt->ranks - 1) as a team of their own, for attention.c's
     * barrier, which meets them alone while the others idle. */
    team *sub = NULL, *made = NULL;
#ifdef FC_USE_MPI
    team sub_mpi;
    if (use_mpi) {
      MPI_Comm c = MPI_COMM_NULL;
      MPI_Comm_split(t->comm, rc->rank < pt->ranks ? 0 : MPI_UNDEFINED, rc->rank, &c);
      if (c != MPI_COMM_NULL) {
        memset(&sub_mpi, 0, sizeof sub_mpi);
        sub_mpi.size = pt->ranks, sub_mpi.comm = c, sub = &sub_mpi;
      }
    } else
#endif
    {
      if (rc->rank == 0 && (made = calloc(1, sizeof *made)) != NULL) {
        made->size = pt->ranks;
        if (pthread_barrier_init(&made->barrier, NULL, (unsigned)pt->ranks)) free(made), made = NULL;
      }
      team_bcast(t, rc->rank, &made, sizeof made);
      if (rc->rank < pt->ranks) sub = made;
    }
    fc_rank_result res;
    memset(&res, 0, sizeof res);
    res.rank = rc->rank;
    res.device = rc->device;
    snprintf(res.binding, sizeof res.binding, "%s", rc->binding);
    if (rc->rank < pt->ranks) {
      res.active = 1;
      struct cudaDeviceProp prop;
      if (cudaSetDevice(rc->device) == cudaSuccess && cudaGetDeviceProperties(&prop, rc->device) == cudaSuccess) {
        snprintf(res.gpu, sizeof res.gpu, "%s", prop.name);
        res.cc_major = prop.major, res.cc_minor = prop.minor;
      }
      ncclComm_t comm;
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
#ifdef NCCL_CTA_POLICY_ZERO
      /* copy-engine all-gathers need the zero-CTA policy (and symmetric windows, attention.c) */
      if (a->engine == FC_GATHER_CE || a->engine == FC_GATHER_CE_STORE) config.CTAPolicy = NCCL_CTA_POLICY_ZERO;
#endif
      ncclResult_t nr = ncclCommInitRankConfig(&comm, pt->ranks, id, rc->rank, &config);
      if (nr != ncclSuccess) {
        snprintf(res.error, sizeof res.error, "%s:%d: ncclCommInitRankConfig: %s", __FILE__, __LINE__, ncclGetErrorString(nr));
      } else {
        const fc_host_team host = {sub ? sub->size : 0, !use_mpi, host_barrier, host_allgather, sub};
        fc_run_attention_point(a, pt, rc->rank, rc->device, comm, sub ? &host : NULL, &res);
        ncclCommDestroy(comm);
      }
    }
    team_gather(t, rc->rank, &res, rc->rank == 0 ? rows[i].r : NULL, sizeof res);
    if (rc->rank == 0) rows[i].pt = *pt;
    team_barrier(t);
#ifdef FC_USE_MPI
    if (use_mpi && sub) MPI_Comm_free(&sub->comm);
#endif
    if (rc->rank == 0 && made) { /* every rank is past the point (the barrier above) */
      pthread_barrier_destroy(&made->barrier);
      free(made);
    }
  }
  return NULL;
}

/* ---- output --------------------------------------------------------------------------- */
typedef struct summary {
  double total, attn, coll, exposed, algbw, busbw, tf_rank, tf_total, speedup, eff;
  long long wrong;
  int failed;
} summary;

/* With --gather store (and ce-store, for its last chunk) bytes move during attention, which no
 * separate phase times: the collective's time is the ranks' barrier's, timed alone (with
 * ce-store, and the earlier chunks' all-gathers), and algbw and busbw are not given (0). */
static summary summarize(const point_row *row, double t1, int store) {
  summary s = {0};
  double flops = 0, min_rank_tf = 1e30;
  for (int r = 0; r < row->pt.ranks; r++) {
    const fc_rank_result *x = &row->r[r];
    if (x->error[0]) s.failed = 1;
    if (x->t_total > s.total) s.total = x->t_total;
    if (x->t_attn > s.attn) s.attn = x->t_attn;
    if (x->t_coll > s.coll) s.coll = x->t_coll;
    flops += x->flops;
    if (x->t_attn > 0 && x->flops / x->t_attn < min_rank_tf) min_rank_tf = x->flops / x->t_attn;
    s.wrong += x->wrong;
  }
  const int n = row->pt.ranks;
  s.exposed = s.total - s.attn > 0 ? s.total - s.attn : 0;
  const double bytes = row->r[0].gathered_bytes;
  s.algbw = s.coll > 0 && !store ? bytes / (s.coll * 1e-3) / 1e9 : 0;
  s.busbw = s.algbw * (n - 1) / n;
  s.tf_rank = min_rank_tf < 1e30 ? min_rank_tf * 1e3 / 1e12 : 0;
  s.tf_total = s.total > 0 ? flops / (s.total * 1e-3) / 1e12 : 0;
  s.speedup = s.total > 0 ? t1 / s.total : 0;
  return s;
}

static void report(const fc_scale_args *a, int world, FILE *json, FILE *csv) {
  const char *sweep = a->sweep == FC_SWEEP_STRONG ? "strong" : "weak";
  static const char *const how[] = {"all-gather by copy engines", "all-gather by NCCL kernels",
                                    "all-gather by the kernel's stores into every rank's window",
                                    "all-gather by copy engines, the last chunk by the kernel's stores"};
  const char *engine = fc_gather_name(a->engine);
  int nv = 0;
  ncclGetVersion(&nv);
  char nccl[32];
  snprintf(nccl, sizeof nccl, "%d.%d.%d", nv / 10000, nv / 100 % 100, nv % 100);
  char chunks[16];
  if (a->chunks) snprintf(chunks, sizeof chunks, "%d", a->chunks);
  else snprintf(chunks, sizeof chunks, "auto");
  printf("# flashcore-scale: %s scaling, %s, collective %s (NCCL %s), chunks %s, %s, median of %d\n", sweep,
         use_mpi ? "MPI processes" : "threads",
         a->collective == FC_COLL_NONE ? "none" : how[a->engine],
         nccl, chunks, fc_version_string(), a->reps);
  printf("%5s %3s %4s %4s %6s %4s %2s %9s %9s %9s %9s %8s %8s %9s %9s %7s %6s %6s\n", "ranks", "B", "H", "Hk", "S", "D",
         "c", "time(ms)", "attn(ms)", "coll(ms)", "exposed", "algbw", "busbw", "TF/rank", "TF/total", "speedup",
         "eff", "#wrong");
  if (csv)
    fprintf(csv, "sweep,ranks,B,H,Hk,S,D,causal,time_ms,attn_ms,coll_ms,exposed_ms,algbw_gbps,busbw_gbps,"
                 "tflops_per_rank,tflops_total,speedup,efficiency,wrong\n");
  time_t now = time(NULL);
  char date[16];
  strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
  const char *commit = getenv("FC_COMMIT");
  if (json)
    fprintf(json, "{\"device\": \"%s\", \"gpus\": %d, \"commit\": \"%s\", \"date\": \"%s\", \"flashcore\": \"%s\",\n"
                  " \"mode\": \"%s\", \"sweep\": \"%s\", \"collective\": \"%s\", \"gather\": \"%s\", \"nccl\": \"%s\", \"chunks\": \"%s\", \"reps\": %d,\n \"rows\": [\n",
            rows[0].r[0].gpu, world, commit ? commit : "unknown", date, fc_version_string(), use_mpi ? "mpi" : "threads",
            sweep, a->collective == FC_COLL_ALLGATHER ? "allgather" : "none", engine, nccl, chunks, a->reps);
  double t1 = 0;
  for (int i = 0; i < num_rows; i++) {
    const point_row *row = &rows[i];
    const fc_scale_shape *sh = &row->pt.shape;
    if (row->pt.ranks == 1) t1 = row->r[0].t_total;
    summary s = summarize(row, t1, a->engine == FC_GATHER_STORE || a->engine == FC_GATHER_CE_STORE);
    const int n = row->pt.ranks;
    s.eff = a->sweep == FC_SWEEP_STRONG ? (s.total > 0 ? t1 / (n * s.total) : 0) : (s.total > 0 ? t1 / s.total : 0);
    if (a->sweep == FC_SWEEP_WEAK) s.speedup *= n; /* throughput relative to one GPU */
    printf("%5d %3lld %4lld %4lld %6lld %4lld %2d %9.3f %9.3f %9.3f %9.3f %8.1f %8.1f %9.1f %9.1f %7.2f %5.1f%% %6lld%s\n", n,
           (long long)sh->B, (long long)sh->H, (long long)sh->Hk, (long long)sh->S, (long long)sh->D, sh->causal,
           s.total, s.attn, s.coll, s.exposed, s.algbw, s.busbw, s.tf_rank, s.tf_total, s.speedup, 100 * s.eff, s.wrong,
           s.failed ? "  ERROR" : "");
    for (int r = 0; r < n; r++) {
      const fc_rank_result *x = &row->r[r];
      double ratio = x->naive_err > 0 ? x->max_err / x->naive_err : 0;
      printf("      rank %d: %s (sm_%d%d, device %d) family %s, heads %d..%d (%d kv), %s; time %.3f ms (last launch done at "
             "%.3f), attention %.3f ms%s%s; check %s max err %.3g (%.2fx naive)%s%s%s%s\n", r,
             x->gpu, x->cc_major, x->cc_minor, x->device, x->family, x->q_head0, x->q_head0 + x->q_heads - 1, x->kv_heads,
             x->binding, x->t_total, x->t_last, x->t_attn, x->barrier[0] ? "; barrier by " : "", x->barrier,
             !x->checked ? "skipped" : x->check_pass ? "pass" : "FAIL", x->max_err, ratio, x->cross[0] ? "; " : "", x->cross,
             x->error[0] ? "; error: " : "", x->error);
    }
    if (csv)
      fprintf(csv, "%s,%d,%lld,%lld,%lld,%lld,%lld,%d,%.4f,%.4f,%.4f,%.4f,%.1f,%.1f,%.2f,%.2f,%.3f,%.4f,%lld\n", sweep, n,
              (long long)sh->B, (long long)sh->H, (long long)sh->Hk, (long long)sh->S, (long long)sh->D, sh->causal, s.total,
              s.attn, s.coll, s.exposed, s.algbw, s.busbw, s.tf_rank, s.tf_total, s.speedup, s.eff, s.wrong);
    if (json) {
      fprintf(json, "  {\"ranks\": %d, \"B\": %lld, \"H\": %lld, \"Hk\": %lld, \"S\": %lld, \"D\": %lld, \"causal\": %s, "
                    "\"time_ms\": %.4f, \"attn_ms\": %.4f, \"coll_ms\": %.4f, \"exposed_ms\": %.4f, \"algbw_gbps\": %.1f, "
                    "\"busbw_gbps\": %.1f, \"tflops_per_rank\": %.2f, \"tflops_total\": %.2f, \"speedup\": %.3f, "
                    "\"efficiency\": %.4f, \"wrong\": %lld, \"chunks\": %d, \"counted_stores\": %s, \"error\": %s,\n   \"per_rank\": [",
              n, (long long)sh->B, (long long)sh->H, (long long)sh->Hk, (long long)sh->S, (long long)sh->D,
              sh->causal ? "true" : "false", s.total, s.attn, s.coll, s.exposed, s.algbw, s.busbw, s.tf_rank, s.tf_total,
              s.speedup, s.eff, s.wrong, row->r[0].chunks, row->r[0].counted ? "true" : "false", s.failed ? "true" : "false");
      for (int r = 0; r < n; r++) {
        const fc_rank_result *x = &row->r[r];
        fprintf(json, "%s\n    {\"rank\": %d, \"gpu\": \"%s\", \"cc\": \"%d.%d\", \"device\": %d, \"family\": \"%s\", "
                      "\"binding\": \"%s\", \"q_heads\": [%d, %d], \"kv_heads\": %d, \"time_ms\": %.4f, \"last_launch_ms\": %.4f, "
                      "\"attn_ms\": %.4f, \"coll_ms\": %.4f, \"check\": \"%s\", \"max_err\": %.4g, \"error_ratio\": %.3f, "
                      "\"barrier\": \"%s\", \"cross\": \"%s\", \"error\": \"%s\"}",
                r ? "," : "", r, x->gpu, x->cc_major, x->cc_minor, x->device, x->family, x->binding, x->q_head0,
                x->q_head0 + x->q_heads, x->kv_heads, x->t_total, x->t_last, x->t_attn, x->t_coll,
                !x->checked ? "skipped" : x->check_pass ? "pass" : "FAIL", x->max_err,
                x->naive_err > 0 ? x->max_err / x->naive_err : 0, x->barrier, x->cross, x->error);
      }
      fprintf(json, "]}%s\n", i + 1 < num_rows ? "," : "");
    }
  }
  if (json) fprintf(json, " ]}\n");
}

int main(int argc, char **argv) {
  fc_scale_args args;
  char err[4096];
  int pr = fc_scale_parse_args(argc, argv, &args, err, sizeof err);
  if (pr) {
    fprintf(pr > 0 ? stdout : stderr, "%s%s", err, pr > 0 ? "" : "\n");
    return pr > 0 ? 0 : 2;
  }
  /* Copy engines (the zero-CTA policy) and the kernel's stores (symmetric windows, the
   * load/store team) need NCCL 2.28; only the default (ce-store) falls back to sm. */
  if (args.engine != FC_GATHER_SM && args.collective == FC_COLL_ALLGATHER) {
    int v = 0;
    ncclGetVersion(&v);
#ifdef NCCL_CTA_POLICY_ZERO
    const int have_228 = v >= 22800;
#else
    const int have_228 = 0;
#endif
    if (!have_228) {
      if (args.engine_set) {
        fprintf(stderr, "--gather %s needs NCCL 2.28 or newer (built against %d.%d, running %d); use --gather sm\n",
                fc_gather_name(args.engine), NCCL_MAJOR, NCCL_MINOR, v);
        return 2;
      }
      fprintf(stderr, "flashcore-scale: copy-engine gathers need NCCL 2.28 or newer (built against %d.%d, running %d); "
                      "gathering with NCCL's kernels (--gather sm)\n", NCCL_MAJOR, NCCL_MINOR, v);
      args.engine = FC_GATHER_SM;
    }
  }
  int world = 0, world_rank = 0, local_rank = 0;
  team t;
  memset(&t, 0, sizeof t);
#ifdef FC_USE_MPI
  use_mpi = 1;
  MPI_Init(&argc, &argv);
  t.comm = MPI_COMM_WORLD;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_free(&local);
  if (world > FC_SCALE_MAX_RANKS) { /* every rank takes part in the team's gathers */
    if (world_rank == 0)
      fprintf(stderr, "flashcore-scale: %d MPI ranks; at most %d can run (start at most %d processes; --gpus runs fewer of them)\n",
              world, FC_SCALE_MAX_RANKS, FC_SCALE_MAX_RANKS);
    MPI_Finalize();
    return 2;
  }
  if (args.max_gpus && args.max_gpus < world && world_rank == 0)
    fprintf(stderr, "note: --gpus %d of %d MPI ranks: the others idle\n", args.max_gpus, world);
#endif
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    fprintf(stderr, "flashcore-scale: no CUDA GPU on this machine (rank %d)\n", world_rank);
#ifdef FC_USE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    return 1;
  }
  if (!use_mpi) world = args.max_gpus && args.max_gpus < devices ? args.max_gpus : devices;
  if (world > FC_SCALE_MAX_RANKS) world = FC_SCALE_MAX_RANKS;
  t.size = world;
  fc_point pts[256];
  num_rows = build_points(&args, world, pts, 256);
  rows = calloc((size_t)num_rows, sizeof(point_row));
  if (!rows) {
    fprintf(stderr, "flashcore-scale: out of host memory for %d points' results (rank %d)\n", num_rows, world_rank);
#ifdef FC_USE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    return 1;
  }
  int rc = 0;
  if (use_mpi) {
    rank_ctx r = {&t, &args, world_rank, local_rank % devices, "", NULL, 0, 0};
    rank_main(&r);
  } else {
    pthread_barrier_init(&t.barrier, NULL, (unsigned)world);
    pthread_t th[FC_SCALE_MAX_RANKS];
    rank_ctx rcs[FC_SCALE_MAX_RANKS];
    for (int r = 0; r < world; r++) {
      rcs[r] = (rank_ctx){&t, &args, r, r, "", NULL, 0, 0};
      pthread_create(&th[r], NULL, rank_main, &rcs[r]);
    }
    for (int r = 0; r < world; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&t.barrier);
  }
  if (world_rank == 0) {
    FILE *json = args.json ? fopen(args.json, "w") : NULL, *csv = args.csv ? fopen(args.csv, "w") : NULL;
    if ((args.json && !json) || (args.csv && !csv)) {
      fprintf(stderr, "flashcore-scale: cannot write %s\n", args.json && !json ? args.json : args.csv);
      rc = 1;
    }
    report(&args, world, json, csv);
    int bad = 0; /* points with an error or a wrong result */
    for (int i = 0; i < num_rows; i++) {
      summary s = summarize(&rows[i], 1, args.engine == FC_GATHER_STORE || args.engine == FC_GATHER_CE_STORE);
      bad += s.failed || s.wrong;
    }
    printf("%d passed, %d failed\n", num_rows - bad, bad);
    if (bad) rc = 1;
    if (json && (ferror(json) | fclose(json))) fprintf(stderr, "flashcore-scale: writing %s failed\n", args.json), rc = 1;
    if (csv && (ferror(csv) | fclose(csv))) fprintf(stderr, "flashcore-scale: writing %s failed\n", args.csv), rc = 1;
  }
  free(rows);
#ifdef FC_USE_MPI
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
#endif
  return rc;
}
