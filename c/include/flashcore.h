/*
 * flashcore.h — fused attention for NVIDIA GPUs and the CPU, callable from C.
 *
 * This header is the whole public contract. It includes no CUDA header: streams are passed
 * as `struct CUstream_st *`, which is the same type as `cudaStream_t` and `CUstream`.
 *
 * Read it top to bottom:
 *   1. versions           fc_version(), FLASHCORE_VERSION_*
 *   2. status codes       fc_status, fc_status_string(), fc_last_error()
 *   3. contexts           one per device, or FC_DEVICE_CPU for the CPU backend
 *   4. tensors            strided 4-D views [batch, seq, heads, head_dim]
 *   5. forward attention  options, semantics, fc_attention_forward()
 *   6. kernel selection   which family and tile configuration a problem would use
 *
 * Thread safety: every function may be called from any thread. One context may be used by
 * several threads at the same time; fc_last_error() reports the last failure of the calling
 * thread on that context. Calls on the same context and the same stream are ordered by the
 * stream, as with any CUDA library.
 */
#ifndef FLASHCORE_H
#define FLASHCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FC_API
#elif defined(__GNUC__) || defined(__clang__)
#define FC_API __attribute__((visibility("default")))
#else
#define FC_API
#endif

/* The CUDA stream type, declared so that no CUDA header is needed (cudaStream_t is a
 * pointer to this struct). */
struct CUstream_st;

/* ---------------------------------------------------------------- 1. versions ---------- */

#define FLASHCORE_VERSION_MAJOR 0
#define FLASHCORE_VERSION_MINOR 1
#define FLASHCORE_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, comparable with fc_version(). */
#define FLASHCORE_VERSION_NUMBER \
  (FLASHCORE_VERSION_MAJOR * 10000 + FLASHCORE_VERSION_MINOR * 100 + FLASHCORE_VERSION_PATCH)

/* Version of the library actually linked (may differ from the header's). */
FC_API unsigned fc_version(void);
/* "MAJOR.MINOR.PATCH" plus the kernel families compiled in, e.g. "0.1.0 (cpu sm80)". */
FC_API const char *fc_version_string(void);

/* ---------------------------------------------------------------- 2. status codes ------ */

/* Every entry point returns one of these. Values are pinned: they never change meaning. */
typedef enum fc_status {
  FC_SUCCESS = 0,
  FC_ERR_NULL_POINTER = 1,     /* a required pointer argument or tensor data pointer is NULL  */
  FC_ERR_INVALID_VALUE = 2,    /* a size, option or enum value is out of its range            */
  FC_ERR_SHAPE_MISMATCH = 3,   /* tensors disagree on batch, sequence, heads or head_dim     */
  FC_ERR_BAD_STRIDES = 4,      /* a view overlaps itself or its last dimension is not unit   */
  FC_ERR_OVERFLOW = 5,         /* a size or offset computation does not fit in int64         */
  FC_ERR_UNSUPPORTED = 6,      /* valid, but no kernel family here can run it                */
  FC_ERR_WRONG_MEMORY = 7,     /* host memory given to a GPU context, or the reverse; another
                                  GPU's memory; or the output overlaps an input              */
  FC_ERR_OUT_OF_MEMORY = 8,    /* host or device allocation failed                           */
  FC_ERR_NO_DEVICE = 9,        /* the requested GPU does not exist or CUDA is unavailable    */
  FC_ERR_CUDA = 10,            /* a CUDA runtime call or kernel launch failed                */
  FC_ERR_INTERNAL = 11,        /* a bug in flashcore: please report it                       */
  FC_STATUS_COUNT              /* number of codes; not a status                               */
} fc_status;

/* A fixed sentence for each status ("unknown status" for values out of range). */
FC_API const char *fc_status_string(fc_status status);

/* ---------------------------------------------------------------- 3. contexts ---------- */

typedef struct fc_context fc_context; /* opaque */

/* Device id for the CPU backend. */
#define FC_DEVICE_CPU (-1)

/* Kernel families. FC_FAMILY_AUTO lets the selector choose; any other value forces it.
 * The environment variable FLASHCORE_FAMILY (cpu, sm80, sm89, sm90, auto) is read when a
 * context is created and acts as fc_context_set_family(). */
typedef enum fc_family {
  FC_FAMILY_AUTO = 0,
  FC_FAMILY_CPU = 1,  /* tiled online softmax in float32 on host threads                   */
  FC_FAMILY_SM80 = 2, /* mma.sync, ldmatrix, cp.async; every GPU from sm_80 on (PTX)         */
  FC_FAMILY_SM89 = 3, /* Ada FP8 path                                                       */
  FC_FAMILY_SM90 = 4, /* Hopper TMA + wgmma                                                 */
  FC_FAMILY_COUNT
} fc_family;

/* Short name of a family ("auto", "cpu", "sm80", ...), or "unknown". */
FC_API const char *fc_family_name(fc_family family);

/* Create a context for CUDA device `device` (0, 1, ...) or FC_DEVICE_CPU. On failure *ctx is
 * set to NULL and fc_last_error(NULL) says why. A GPU context does not change the calling
 * thread's current device. */
FC_API fc_status fc_context_create(int device, fc_context **ctx);
/* Destroy a context. Accepts NULL. Work already enqueued on streams is not waited for. */
FC_API void fc_context_destroy(fc_context *ctx);

/* The sentence for the calling thread's last failure on `ctx` (on context creation when
 * ctx is NULL), naming the argument and value at fault; "" when there was none. The pointer
 * stays valid until this thread's next call into flashcore. */
FC_API const char *fc_last_error(const fc_context *ctx);

/* Force a family for every later call on this context (FC_FAMILY_AUTO restores selection).
 * This and fc_context_set_num_threads() configure the context: call them before sharing it
 * between threads. */
FC_API fc_status fc_context_set_family(fc_context *ctx, fc_family family);
/* Host threads the CPU backend may use (0 = one per online CPU, the default). */
FC_API fc_status fc_context_set_num_threads(fc_context *ctx, int num_threads);
/* The device the context was created for (FC_DEVICE_CPU for the CPU backend). */
FC_API int fc_context_device(const fc_context *ctx);

/* ---------------------------------------------------------------- 4. tensors ----------- */

typedef enum fc_dtype {
  FC_DTYPE_F32 = 0,  /* CPU backend only                                                    */
  FC_DTYPE_F16 = 1,  /* IEEE half                                                           */
  FC_DTYPE_BF16 = 2, /* bfloat16                                                            */
  FC_DTYPE_COUNT
} fc_dtype;

/* Size in bytes of one element (0 for an unknown dtype). */
FC_API size_t fc_dtype_size(fc_dtype dtype);

/* A strided 4-D view. Dimensions are [batch, seq, heads, head_dim]; strides are in elements.
 * BSHD memory is stride {S*H*D, H*D, D, 1}; BHSD is {H*S*D, D, S*D, 1}. Every stride must be
 * positive (a dimension of size 1 may have any stride), the last dimension must have stride 1,
 * and no two elements of one view may share an address. Pointers are device pointers for a
 * GPU context and host pointers for the CPU context, aligned to the element size (the GPU
 * families want 16 bytes, and fall back or decline otherwise). */
typedef struct fc_tensor {
  void *data;
  fc_dtype dtype;
  int64_t shape[4];
  int64_t stride[4];
} fc_tensor;

/* A dense BSHD view of `data` with the given shape. A stride that does not fit in int64 is
 * set to INT64_MAX, which the calls reject (FC_ERR_OVERFLOW) unless its dimension has size 1. */
FC_API fc_tensor fc_tensor_bshd(void *data, fc_dtype dtype, int64_t batch, int64_t seq,
                                int64_t heads, int64_t head_dim);

/* ---------------------------------------------------------------- 5. forward ----------- */

/* Options of the forward call. Always start from FC_ATTN_OPTIONS_INIT; `size` lets later
 * versions add fields at the end without breaking callers compiled against this header.
 *
 * Semantics. For query row i of a sequence with Sq queries and Sk keys, key j is visible when
 *     j <= i + (Sk - Sq) + right   and   j >= i + (Sk - Sq) - left,
 * where right = 0 if causal (else window_right, or +inf when -1) and left = window_left (+inf
 * when -1). The diagonal is aligned to the bottom-right corner (FlashAttention's convention):
 * with Sq < Sk the last query sees every key; with Sq > Sk the first Sq - Sk queries see none.
 * Scores are s = softmax_scale * q.k; with softcap c > 0 they become c * tanh(s / c). A row
 * that sees no key is written as zeros and its LSE is -INFINITY. NaN in an input propagates
 * to the rows it reaches. */
typedef struct fc_attn_options {
  size_t size;          /* sizeof(fc_attn_options), set by FC_ATTN_OPTIONS_INIT          */
  float softmax_scale;  /* 0 means 1/sqrt(head_dim); otherwise finite and > 0            */
  int causal;           /* 0 or 1; bottom-right aligned                                  */
  int64_t window_left;  /* keys to the left of the diagonal that stay visible; -1 = all   */
  int64_t window_right; /* keys to the right of the diagonal; -1 = all; must be 0 or -1
                           when causal                                                   */
  float softcap;        /* 0 = off; otherwise finite and > 0                             */
  /* Variable-length batches. When set, q/out/lse have batch 1 and seq = total query tokens,
   * k/v have batch 1 and seq = total key tokens; sequence b owns query rows
   * [cu_seqlens_q[b], cu_seqlens_q[b+1]) and key rows [cu_seqlens_k[b], cu_seqlens_k[b+1]).
   * Both arrays have num_seqs + 1 int32 entries, start at 0 and never decrease; they live in
   * the context's memory (for a GPU context that GPU's memory, or managed memory: host memory
   * and another GPU's are refused, as for the tensors). A GPU context cannot read them
   * before the kernel runs: there max_seqlen_q must bound every query length, and the kernel
   * clamps each sequence to the tensors so that it never reads or writes outside them. */
  const int32_t *cu_seqlens_q;
  const int32_t *cu_seqlens_k;
  int64_t num_seqs;     /* number of sequences (> 0) when cu_seqlens are set             */
  int64_t max_seqlen_q; /* longest query sequence; required on a GPU context with varlen */
  fc_family family;     /* FC_FAMILY_AUTO, or force a family for this call               */
  /* Extra destinations of the output, for tensor parallelism: out_copies[i], for i below
   * num_out_copies, is the data pointer of a tensor with out's shape, dtype and strides,
   * typically the same buffer on a peer GPU mapped into this device's address space (P2P,
   * CUDA IPC or NCCL symmetric memory). Every output element is stored there too, as the
   * kernel writes it, so gathering the output costs no pass after the kernel. At most
   * FC_MAX_OUT_COPIES; none may overlap an input, out, lse or another copy. The sm90 family
   * and the CPU backend offer it (the sm80 family declines). A peer sees the stores once the
   * kernel has completed on `stream`, or as out_signals says; synchronising the GPUs is the
   * caller's. Callers built against a header without these two fields pass the shorter size
   * and get no copies. */
  void *const *out_copies;
  int num_out_copies;
  /* NULL, or one counter per copy: out_signals[i] (NULL for none) is a 32-bit word that the
   * owner of out_copies[i] can read, typically beside that copy on the peer GPU, 4-byte
   * aligned, overlapping no tensor and no copy. The call adds to it the number of output rows
   * it stores into copy i (B * Sq * H; total query tokens * H with cu_seqlens), each part
   * only once those rows are visible to every device (a system-scope release), in parts, as
   * the kernel's CTAs finish: the peer can wait for the sum (cuStreamWaitValue32 with
   * CU_STREAM_WAIT_VALUE_GEQ; the comparison wraps) instead of for this kernel's end. The
   * sm90 family and the CPU backend offer it. Callers built against a header without this
   * field pass the shorter size and get no signals. */
  uint32_t *const *out_signals;
  /* With cu_seqlens: the longest key sequence, or 0 when unknown (then taken as the key rows
   * k holds). Only the choice of kernel depends on it: with a short bound, sm90 runs a
   * variable-length batch on its persistent grid, as it does a fixed-length batch of that
   * length. A CPU context checks it against the offsets; a GPU context cannot read them, and
   * a sequence longer than the bound is still computed in full there. In 0..k's rows; ignored
   * without cu_seqlens. Callers built against a header without this field pass the shorter
   * size and get 0. */
  int64_t max_seqlen_k;
  /* NULL, or memory for the pieces of a launch that splits its keys over the SMs (see
   * fc_attention_forward): device memory of the context's GPU (or managed memory), 16-byte
   * aligned, workspace_bytes long, overlapping no tensor and no copy. A launch that splits
   * takes fc_kernel_info.workspace_bytes of it (fc_select_kernel says how many; fewer given
   * is an error) instead of the library's pool, and so splits captured into a CUDA graph too,
   * where without it a launch keeps its keys whole. The caller must not let two calls use it
   * at once: calls ordered on one stream, and every replay of one graph on one stream, may
   * share it. A launch that does not split ignores it. Callers built against a header
   * without these two fields pass the shorter size and get the pool. */
  void *workspace;
  size_t workspace_bytes;
} fc_attn_options;

#define FC_MAX_OUT_COPIES 7

#define FC_ATTN_OPTIONS_INIT \
  { sizeof(fc_attn_options), 0.0f, 0, -1, -1, 0.0f, NULL, NULL, 0, 0, FC_FAMILY_AUTO, NULL, 0, NULL, 0, NULL, 0 }

/* out = softmax(mask(scale * q k^T)) v, per batch and head.
 *
 *   q    [B, Sq, H,  D]     k, v  [B, Sk, Hk, D]     out  [B, Sq, H, D]
 *   lse  NULL, or an FC_DTYPE_F32 view [B, Sq, H, 1]: natural log of the softmax denominator
 *        of each row (scaled, softcapped scores), -INFINITY for a row that sees no key.
 *
 * Query head h reads key/value head h / (H / Hk) (GQA; MQA when Hk = 1). q, k, v and out
 * share one dtype; D is one of 32, 64, 96, 128, 192, 256. `opts` may be NULL for defaults.
 * The work is enqueued on `stream` (NULL = the legacy default stream; ignored by the CPU
 * backend, which returns when the output is written); a stream of another GPU than the
 * context's is refused (FC_ERR_INVALID_VALUE). On any error nothing is written.
 * A decode under GQA (Sq = 1, H > Hk; with cu_seqlens, max_seqlen_q = 1 and no left window
 * or out_copies) runs as the H / Hk query heads of each key/value head taken as that many
 * query rows of it: a view through strides whose rows get the arithmetic of their own heads,
 * so a tile reads each K/V head once; the selector's description ends in "[decode: G query
 * heads a KV head as rows]". A GQA launch of 2-16 query rows a sequence (fixed lengths, or
 * cu_seqlens with max_seqlen_q 2-16; G x Sq <= 64, no out_copies), and a variable-length
 * GQA decode with a left window, run the same way, by query position (every family and the
 * CPU backend): "[rows: G query heads a KV head as rows]".
 * A launch of at most 16 query rows a sequence on sm90, or of at most 64 on sm80, that would
 * leave most SMs idle splits its keys over the SMs and merges the pieces in a second kernel
 * (the description says "keys split N ways"); captured into a graph, or with the library's
 * two workspaces held by other streams, it runs unsplit, with the same result up to
 * rounding, unless opts->workspace holds its pieces (then it splits there too). */
FC_API fc_status fc_attention_forward(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                                      const fc_tensor *v, const fc_tensor *out,
                                      const fc_tensor *lse, const fc_attn_options *opts,
                                      struct CUstream_st *stream);

/* ---------------------------------------------------------------- 6. selection --------- */

/* What fc_select_kernel() chose. Start from FC_KERNEL_INFO_INIT. */
typedef struct fc_kernel_info {
  size_t size;          /* sizeof(fc_kernel_info)                                        */
  fc_family family;     /* the family that would run                                     */
  int block_m;          /* query rows per tile (CPU: rows per task)                      */
  int block_n;          /* key rows per tile                                             */
  int num_warps;        /* warps per CTA (CPU: worker threads)                           */
  int stages;           /* shared-memory pipeline depth (CPU: 1)                         */
  char description[160];/* one line, e.g. "sm80 bf16 D=128 causal: 128x64 tile, 8 warps" */
  int persistent;       /* 1: a persistent grid (at most one CTA per SM, taking tiles in
                           turn; it runs one CTA per tile when no tile counter is free);
                           0: one CTA per tile, or the CPU backend. With out_signals a
                           persistent grid waits for its copies' stores once a CTA, one
                           CTA per tile once a tile (its SM's next CTA waits too). Callers
                           built against a header without it pass the shorter size.      */
  size_t workspace_bytes; /* the bytes of fc_attn_options.workspace a launch that splits its
                           keys takes; 0 where it does not split. Callers built against a
                           header without it pass the shorter size.                       */
} fc_kernel_info;

#define FC_KERNEL_INFO_INIT { sizeof(fc_kernel_info), FC_FAMILY_AUTO, 0, 0, 0, 0, { 0 }, 0, 0 }

/* Validate a problem exactly as fc_attention_forward() would and say which family and
 * configuration it would use, writing nothing but *info. Returns FC_ERR_UNSUPPORTED, with
 * fc_last_error() saying why, when no family can run it. Tensor data pointers are inspected
 * (alignment, memory kind) but never dereferenced. */
FC_API fc_status fc_select_kernel(fc_context *ctx, const fc_tensor *q, const fc_tensor *k,
                                  const fc_tensor *v, const fc_tensor *out,
                                  const fc_tensor *lse, const fc_attn_options *opts,
                                  fc_kernel_info *info);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FLASHCORE_H */
