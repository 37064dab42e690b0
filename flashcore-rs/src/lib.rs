//! Safe Rust bindings to **flashcore**, fused (FlashAttention-style) attention for NVIDIA GPUs
//! and the CPU.
//!
//! The C library does the work; this crate gives it Rust types: a [`Context`] per device
//! that frees itself, [`Error`] carrying the library's sentence, tensor views over host
//! slices or raw device pointers ([`TensorView`], [`TensorViewMut`]), and a builder for the
//! forward call ([`Forward`]) with every option of the C API.
//!
//! ```
//! use flashcore::{Context, Forward, TensorView, TensorViewMut};
//!
//! // Two sequences of 16 tokens, 4 heads of dim 64, on the CPU backend.
//! let (b, s, h, d) = (2, 16, 4, 64);
//! let q: Vec<f32> = (0..b * s * h * d).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
//! let k = q.clone();
//! let v = q.clone();
//! let mut out = vec![0f32; q.len()];
//!
//! let ctx = Context::cpu()?;
//! let shape = [b as i64, s as i64, h as i64, d as i64];
//! Forward::new(
//!     TensorView::from_slice(&q, shape)?,
//!     TensorView::from_slice(&k, shape)?,
//!     TensorView::from_slice(&v, shape)?,
//! )
//! .causal(true)
//! .run(&ctx, TensorViewMut::from_slice(&mut out, shape)?)?;
//! assert!(out.iter().all(|x| x.is_finite()));
//! # Ok::<(), flashcore::Error>(())
//! ```
//!
//! # Thread safety
//! [`Context`] is `Send` and `Sync`: the C library allows one context to be used from several
//! threads at once (errors are recorded per thread). [`TensorView`] borrows its memory like a
//! `&[T]` and is `Send`/`Sync` when built from slices; views built from raw device pointers
//! are `Send`/`Sync` too, under the contract of their `unsafe` constructors (the caller keeps
//! the memory alive and unaliased for the view's lifetime). [`Stream`] is a plain handle.

#![warn(missing_docs)]

use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::ptr::NonNull;

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod sys;

/// Status of a failed call, one variant per `fc_status` of the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// A required pointer is NULL.
    NullPointer,
    /// A size, option or enum value is out of range.
    InvalidValue,
    /// Tensors disagree on batch, sequence, heads or head_dim.
    ShapeMismatch,
    /// A view overlaps itself or its last dimension is not contiguous.
    BadStrides,
    /// A size or offset overflows int64.
    Overflow,
    /// Valid, but no kernel family can run the problem here.
    Unsupported,
    /// Host memory given to a GPU context (or the reverse), or the output overlaps an input.
    WrongMemory,
    /// A host or device allocation failed.
    OutOfMemory,
    /// The requested GPU does not exist or CUDA is unavailable.
    NoDevice,
    /// A CUDA call or kernel launch failed.
    Cuda,
    /// A bug in flashcore.
    Internal,
    /// A status this version of the crate does not know.
    Unknown(u32),
}

impl Status {
    fn from_raw(s: sys::fc_status) -> Status {
        match s {
            sys::FC_ERR_NULL_POINTER => Status::NullPointer,
            sys::FC_ERR_INVALID_VALUE => Status::InvalidValue,
            sys::FC_ERR_SHAPE_MISMATCH => Status::ShapeMismatch,
            sys::FC_ERR_BAD_STRIDES => Status::BadStrides,
            sys::FC_ERR_OVERFLOW => Status::Overflow,
            sys::FC_ERR_UNSUPPORTED => Status::Unsupported,
            sys::FC_ERR_WRONG_MEMORY => Status::WrongMemory,
            sys::FC_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::FC_ERR_NO_DEVICE => Status::NoDevice,
            sys::FC_ERR_CUDA => Status::Cuda,
            sys::FC_ERR_INTERNAL => Status::Internal,
            other => Status::Unknown(other),
        }
    }
}

/// An error from flashcore: the status and the library's sentence, which names the argument
/// and value at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// The library's explanation (`fc_last_error`), or the crate's for checks done in Rust.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flashcore: {:?}: {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library returns NUL-terminated strings that live until the next call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn check(status: sys::fc_status, ctx: *const sys::fc_context) -> Result<()> {
    if status == sys::FC_SUCCESS {
        return Ok(());
    }
    // SAFETY: fc_last_error accepts any context pointer the library handed out, or NULL.
    let mut message = cstr(unsafe { sys::fc_last_error(ctx) });
    if message.is_empty() {
        message = cstr(unsafe { sys::fc_status_string(status) });
    }
    Err(Error { status: Status::from_raw(status), message })
}

fn rust_error(status: Status, message: String) -> Error {
    Error { status, message }
}

/// The version of the linked C library, e.g. `"0.1.0 (cpu sm80)"` (with its kernel families).
pub fn version() -> String {
    cstr(unsafe { sys::fc_version_string() })
}

/// Where a [`Context`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The multi-threaded float32 CPU backend.
    Cpu,
    /// A CUDA device by ordinal.
    Cuda(i32),
}

/// A kernel family; [`Family::Auto`] lets the library choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Let the selector choose the best family for the device and problem.
    Auto,
    /// The CPU backend.
    Cpu,
    /// mma.sync family, every GPU from sm_80 on.
    Sm80,
    /// Ada FP8 family.
    Sm89,
    /// Hopper TMA + wgmma family.
    Sm90,
}

impl Family {
    fn raw(self) -> sys::fc_family {
        match self {
            Family::Auto => sys::FC_FAMILY_AUTO,
            Family::Cpu => sys::FC_FAMILY_CPU,
            Family::Sm80 => sys::FC_FAMILY_SM80,
            Family::Sm89 => sys::FC_FAMILY_SM89,
            Family::Sm90 => sys::FC_FAMILY_SM90,
        }
    }
    fn from_raw(f: sys::fc_family) -> Family {
        match f {
            sys::FC_FAMILY_CPU => Family::Cpu,
            sys::FC_FAMILY_SM80 => Family::Sm80,
            sys::FC_FAMILY_SM89 => Family::Sm89,
            sys::FC_FAMILY_SM90 => Family::Sm90,
            _ => Family::Auto,
        }
    }
}

/// A flashcore context for one device. Frees itself when dropped.
///
/// ```
/// let ctx = flashcore::Context::cpu()?;
/// assert_eq!(ctx.device(), flashcore::Device::Cpu);
/// # Ok::<(), flashcore::Error>(())
/// ```
#[derive(Debug)]
pub struct Context {
    raw: NonNull<sys::fc_context>,
}

// SAFETY: the C library documents a context as usable from any thread, concurrently; it holds
// no thread-affine state (errors are kept per calling thread).
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Context {
    /// A context for `device`. Fails with [`Status::NoDevice`] where the GPU is absent.
    ///
    /// ```
    /// let err = flashcore::Context::new(flashcore::Device::Cuda(4096)).unwrap_err();
    /// assert_eq!(err.status, flashcore::Status::NoDevice);
    /// ```
    pub fn new(device: Device) -> Result<Context> {
        let ordinal = match device {
            Device::Cpu => sys::FC_DEVICE_CPU,
            Device::Cuda(i) => i,
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: raw is a valid out-pointer.
        check(unsafe { sys::fc_context_create(ordinal, &mut raw) }, std::ptr::null())?;
        NonNull::new(raw)
            .map(|raw| Context { raw })
            .ok_or_else(|| rust_error(Status::Internal, "fc_context_create returned NULL".into()))
    }

    /// The CPU backend.
    pub fn cpu() -> Result<Context> {
        Context::new(Device::Cpu)
    }

    /// CUDA device `ordinal`.
    pub fn cuda(ordinal: i32) -> Result<Context> {
        Context::new(Device::Cuda(ordinal))
    }

    /// The device this context runs on.
    pub fn device(&self) -> Device {
        match unsafe { sys::fc_context_device(self.raw.as_ptr()) } {
            sys::FC_DEVICE_CPU => Device::Cpu,
            i => Device::Cuda(i),
        }
    }

    /// Force a kernel family for every later call (`Family::Auto` restores selection).
    /// Configure before sharing the context between threads.
    pub fn set_family(&mut self, family: Family) -> Result<()> {
        check(unsafe { sys::fc_context_set_family(self.raw.as_ptr(), family.raw()) }, self.raw.as_ptr())
    }

    /// Host threads the CPU backend may use (0: one per online CPU).
    pub fn set_num_threads(&mut self, threads: i32) -> Result<()> {
        check(unsafe { sys::fc_context_set_num_threads(self.raw.as_ptr(), threads) }, self.raw.as_ptr())
    }

    /// The raw handle, for calling the C API directly.
    pub fn as_raw(&self) -> *mut sys::fc_context {
        self.raw.as_ptr()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: raw came from fc_context_create and is destroyed once.
        unsafe { sys::fc_context_destroy(self.raw.as_ptr()) }
    }
}

/// Element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// float32 (CPU backend only).
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    fn raw(self) -> sys::fc_dtype {
        match self {
            DType::F32 => sys::FC_DTYPE_F32,
            DType::F16 => sys::FC_DTYPE_F16,
            DType::BF16 => sys::FC_DTYPE_BF16,
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            _ => 2,
        }
    }
}

/// A bfloat16 value (the bits), convertible to and from `f32` with round-to-nearest-even.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// An IEEE half value (the bits), convertible to and from `f32` with round-to-nearest-even.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct F16(pub u16);

impl Bf16 {
    /// Round an `f32`.
    pub fn from_f32(x: f32) -> Bf16 {
        let u = x.to_bits();
        if (u & 0x7fff_ffff) > 0x7f80_0000 {
            return Bf16(((u >> 16) | 0x40) as u16);
        }
        Bf16((u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16)
    }
    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

impl F16 {
    /// Round an `f32`.
    pub fn from_f32(x: f32) -> F16 {
        let u = x.to_bits();
        let sign = ((u >> 16) & 0x8000) as u16;
        let a = u & 0x7fff_ffff;
        if a > 0x7f80_0000 {
            return F16(sign | 0x7e00);
        }
        if a >= 0x477f_f000 {
            return F16(sign | 0x7c00);
        }
        if a < 0x3880_0000 {
            let v = f32::from_bits(a) * 16_777_216.0;
            let mut r = v as u32;
            let frac = v - r as f32;
            if frac > 0.5 || (frac == 0.5 && r & 1 == 1) {
                r += 1;
            }
            return F16(sign | r as u16);
        }
        let mut h = (((a >> 23) - 112) << 10) | ((a & 0x7f_ffff) >> 13);
        let rest = a & 0x1fff;
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
            h += 1;
        }
        F16(sign | h as u16)
    }
    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        let h = self.0 as u32;
        let sign = (h & 0x8000) << 16;
        let (e, m) = ((h >> 10) & 0x1f, h & 0x3ff);
        let bits = if e == 0x1f {
            sign | 0x7f80_0000 | (m << 13)
        } else if e == 0 {
            let f = m as f32 * 5.960_464_5e-8;
            return if sign != 0 { -f } else { f };
        } else {
            sign | ((e + 112) << 23) | (m << 13)
        };
        f32::from_bits(bits)
    }
}

/// Element types a host slice can hold.
pub trait Element: Copy + sealed::Sealed {
    /// The matching dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for F16 {
    const DTYPE: DType = DType::F16;
}
impl Element for Bf16 {
    const DTYPE: DType = DType::BF16;
}
mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}
}

/// Dense BSHD strides of a `[batch, seq, heads, head_dim]` shape. A stride past `i64` is
/// `i64::MAX` (as the C helper makes it), which the views and the call refuse as an overflow
/// wherever its dimension has more than one element; no shape makes this panic.
pub fn bshd_strides(shape: [i64; 4]) -> [i64; 4] {
    let head = shape[2].checked_mul(shape[3]).unwrap_or(i64::MAX);
    let seq = if head == i64::MAX { i64::MAX } else { shape[1].checked_mul(head).unwrap_or(i64::MAX) };
    [seq, head, shape[3], 1]
}

/// Number of elements a strided view reaches (largest offset + 1), or an error.
fn extent(shape: [i64; 4], strides: [i64; 4]) -> Result<usize> {
    let mut last: i64 = 0;
    for i in 0..4 {
        if shape[i] <= 0 || strides[i] < 0 {
            return Err(rust_error(
                Status::InvalidValue,
                format!("shape {:?} with strides {:?}: sizes must be > 0, strides >= 0", shape, strides),
            ));
        }
        let term = (shape[i] - 1).checked_mul(strides[i]);
        last = match term.and_then(|t| last.checked_add(t)) {
            Some(v) => v,
            None => return Err(rust_error(Status::Overflow, format!("shape {:?} overflows", shape))),
        };
    }
    Ok(last as usize + 1)
}

/// Every element a view reaches must lie inside a slice of `len` elements.
fn fits(shape: [i64; 4], strides: [i64; 4], len: usize) -> Result<()> {
    let n = extent(shape, strides)?;
    if n > len {
        return Err(rust_error(
            Status::ShapeMismatch,
            format!("view {:?} / {:?} reaches {} elements, the slice has {}", shape, strides, n, len),
        ));
    }
    Ok(())
}

/// A read-only 4-D view `[batch, seq, heads, head_dim]` of host or device memory.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    raw: sys::fc_tensor,
    _borrow: PhantomData<&'a ()>,
}

/// A writable 4-D view, for the output and the log-sum-exp.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    raw: sys::fc_tensor,
    _borrow: PhantomData<&'a mut ()>,
}

// SAFETY: a view is a borrowed pointer with a shape, like `&[T]` / `&mut [T]`; views over raw
// device memory are Send/Sync under the contract of their unsafe constructors.
unsafe impl Send for TensorView<'_> {}
unsafe impl Sync for TensorView<'_> {}
unsafe impl Send for TensorViewMut<'_> {}
unsafe impl Sync for TensorViewMut<'_> {}

fn make_raw(data: *mut c_void, dtype: DType, shape: [i64; 4], strides: [i64; 4]) -> sys::fc_tensor {
    sys::fc_tensor { data, dtype: dtype.raw(), shape, stride: strides }
}

impl<'a> TensorView<'a> {
    /// A dense BSHD view of a host slice (CPU context). The slice must hold exactly the shape.
    pub fn from_slice<T: Element>(data: &'a [T], shape: [i64; 4]) -> Result<Self> {
        Self::from_slice_strided(data, shape, bshd_strides(shape))
    }

    /// A strided view of a host slice; every element it reaches must lie inside the slice.
    /// ```
    /// // BHSD memory seen as [batch, seq, heads, head_dim]
    /// let x = vec![0f32; 2 * 3 * 5 * 32];
    /// let v = flashcore::TensorView::from_slice_strided(&x, [2, 5, 3, 32], [3 * 5 * 32, 32, 5 * 32, 1])?;
    /// assert_eq!(v.shape(), [2, 5, 3, 32]);
    /// # Ok::<(), flashcore::Error>(())
    /// ```
    pub fn from_slice_strided<T: Element>(data: &'a [T], shape: [i64; 4], strides: [i64; 4]) -> Result<Self> {
        fits(shape, strides, data.len())?;
        Ok(TensorView { raw: make_raw(data.as_ptr() as *mut c_void, T::DTYPE, shape, strides), _borrow: PhantomData })
    }

    /// A view of raw memory, typically a device pointer from cudarc, candle or any allocator.
    ///
    /// # Safety
    /// `ptr` must point to memory of the context's kind that holds every element the shape and
    /// strides reach, and stay valid and unmodified by others while the view is used.
    pub unsafe fn from_raw(ptr: *const c_void, dtype: DType, shape: [i64; 4], strides: [i64; 4]) -> Self {
        TensorView { raw: make_raw(ptr as *mut c_void, dtype, shape, strides), _borrow: PhantomData }
    }

    /// `[batch, seq, heads, head_dim]`.
    pub fn shape(&self) -> [i64; 4] {
        self.raw.shape
    }
    /// Element strides.
    pub fn strides(&self) -> [i64; 4] {
        self.raw.stride
    }
}

impl<'a> TensorViewMut<'a> {
    /// A dense BSHD view of a mutable host slice.
    pub fn from_slice<T: Element>(data: &'a mut [T], shape: [i64; 4]) -> Result<Self> {
        Self::from_slice_strided(data, shape, bshd_strides(shape))
    }

    /// A strided view of a mutable host slice.
    pub fn from_slice_strided<T: Element>(data: &'a mut [T], shape: [i64; 4], strides: [i64; 4]) -> Result<Self> {
        fits(shape, strides, data.len())?;
        Ok(TensorViewMut { raw: make_raw(data.as_mut_ptr() as *mut c_void, T::DTYPE, shape, strides), _borrow: PhantomData })
    }

    /// A writable view of raw (device) memory.
    ///
    /// # Safety
    /// As [`TensorView::from_raw`], and nothing else may read or write the memory while the
    /// view is used.
    pub unsafe fn from_raw(ptr: *mut c_void, dtype: DType, shape: [i64; 4], strides: [i64; 4]) -> Self {
        TensorViewMut { raw: make_raw(ptr, dtype, shape, strides), _borrow: PhantomData }
    }

    /// `[batch, seq, heads, head_dim]`.
    pub fn shape(&self) -> [i64; 4] {
        self.raw.shape
    }
}

/// A CUDA stream handle (`cudaStream_t`), e.g. from cudarc's `CudaStream::stream()`.
#[derive(Debug, Clone, Copy)]
pub struct Stream(*mut sys::CUstream_st);

// SAFETY: a stream handle may be used from any thread; CUDA orders work on it.
unsafe impl Send for Stream {}
unsafe impl Sync for Stream {}

impl Stream {
    /// The legacy default stream.
    pub fn default_stream() -> Stream {
        Stream(std::ptr::null_mut())
    }
    /// Wrap a raw `cudaStream_t`.
    ///
    /// # Safety
    /// `raw` must be a valid stream of the context's device for as long as it is used.
    pub unsafe fn from_raw(raw: *mut c_void) -> Stream {
        Stream(raw as *mut sys::CUstream_st)
    }
    /// The raw `cudaStream_t`.
    pub fn as_raw(&self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

/// Cumulative sequence offsets of a variable-length batch (int32, `num_seqs + 1` entries).
#[derive(Debug, Clone, Copy)]
struct Varlen {
    cu_q: *const i32,
    cu_k: *const i32,
    num_seqs: i64,
    max_seqlen_q: i64,
    max_seqlen_k: i64,
}

/// What the selector chose for a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    /// The family that would run.
    pub family: Family,
    /// Query rows per tile (CPU: rows per task).
    pub block_m: i32,
    /// Key rows per tile.
    pub block_n: i32,
    /// Warps per CTA (CPU: worker threads).
    pub num_warps: i32,
    /// Pipeline stages.
    pub stages: i32,
    /// One line, e.g. `"sm80 bf16 D=128 causal: 128x32 tile, 4 warps, ..."`.
    pub description: String,
    /// A persistent grid (at most one CTA per SM, taking tiles in turn), not one CTA per tile.
    pub persistent: bool,
    /// Bytes of workspace a launch that splits its keys takes (0: no split); see
    /// `Forward::workspace`.
    pub workspace_bytes: usize,
}

/// The forward call, as a builder: `out = softmax(mask(scale * q k^T)) v`.
///
/// Semantics are the C header's: the causal diagonal is aligned bottom-right when
/// `Sq != Sk`; a row that sees no key is zeros with LSE = -inf; query head `h` reads key/value
/// head `h / (H / Hk)`.
///
/// ```
/// use flashcore::{Context, Forward, TensorView, TensorViewMut};
/// let q = vec![0.5f32; 8 * 2 * 32];
/// let kv = vec![0.25f32; 8 * 1 * 32];
/// let mut out = vec![0f32; q.len()];
/// let mut lse = vec![0f32; 8 * 2];
/// let ctx = Context::cpu()?;
/// let info = Forward::new(
///     TensorView::from_slice(&q, [1, 8, 2, 32])?,
///     TensorView::from_slice(&kv, [1, 8, 1, 32])?, // GQA: 2 query heads share 1 KV head
///     TensorView::from_slice(&kv, [1, 8, 1, 32])?,
/// )
/// .window(4, 0)
/// .softcap(30.0)
/// .lse(TensorViewMut::from_slice(&mut lse, [1, 8, 2, 1])?)
/// .run(&ctx, TensorViewMut::from_slice(&mut out, [1, 8, 2, 32])?)?;
/// assert_eq!(info.family, flashcore::Family::Cpu);
/// assert!((out[0] - 0.25).abs() < 1e-6);
/// # Ok::<(), flashcore::Error>(())
/// ```
#[derive(Debug)]
pub struct Forward<'a> {
    q: TensorView<'a>,
    k: TensorView<'a>,
    v: TensorView<'a>,
    lse: Option<TensorViewMut<'a>>,
    opts: sys::fc_attn_options,
    varlen: Option<Varlen>,
    stream: Stream,
    pending: Option<Error>, // a builder argument rejected before reaching the library
}

impl<'a> Forward<'a> {
    /// A forward call over `q [B, Sq, H, D]`, `k` and `v [B, Sk, Hk, D]` with default options.
    pub fn new(q: TensorView<'a>, k: TensorView<'a>, v: TensorView<'a>) -> Self {
        let opts = sys::fc_attn_options {
            size: std::mem::size_of::<sys::fc_attn_options>(),
            softmax_scale: 0.0,
            causal: 0,
            window_left: -1,
            window_right: -1,
            softcap: 0.0,
            cu_seqlens_q: std::ptr::null(),
            cu_seqlens_k: std::ptr::null(),
            num_seqs: 0,
            max_seqlen_q: 0,
            family: sys::FC_FAMILY_AUTO,
            // Peer-memory copies of the output and their counters are raw addresses outside
            // any borrow: the safe API leaves them off (sys::fc_attn_options offers them).
            out_copies: std::ptr::null(),
            num_out_copies: 0,
            out_signals: std::ptr::null(),
            max_seqlen_k: 0,
            // The caller's workspace for split pieces (for CUDA graph capture): `workspace`.
            workspace: std::ptr::null_mut(),
            workspace_bytes: 0,
        };
        Forward { q, k, v, lse: None, opts, varlen: None, stream: Stream::default_stream(), pending: None }
    }
    /// Softmax scale (default `1/sqrt(head_dim)`).
    pub fn scale(mut self, scale: f32) -> Self {
        self.opts.softmax_scale = scale;
        self
    }
    /// Causal mask, aligned bottom-right.
    pub fn causal(mut self, causal: bool) -> Self {
        self.opts.causal = causal as i32;
        self
    }
    /// Sliding window: keys `left` before and `right` after the diagonal stay visible
    /// (`-1` = unbounded).
    pub fn window(mut self, left: i64, right: i64) -> Self {
        self.opts.window_left = left;
        self.opts.window_right = right;
        self
    }
    /// Logit softcap `c * tanh(s / c)` (0 = off).
    pub fn softcap(mut self, cap: f32) -> Self {
        self.opts.softcap = cap;
        self
    }
    /// Force a family for this call.
    pub fn family(mut self, family: Family) -> Self {
        self.opts.family = family.raw();
        self
    }
    /// Also write the float32 log-sum-exp of each row into an `[B, Sq, H, 1]` view.
    pub fn lse(mut self, lse: TensorViewMut<'a>) -> Self {
        self.lse = Some(lse);
        self
    }
    /// Variable-length batch with host offsets (CPU context; a GPU context refuses them with
    /// `Status::WrongMemory`, see `varlen_device`). Tensors then have batch 1 and seq = total
    /// tokens; `cu_seqlens_q` and `cu_seqlens_k` have one more entry than there are sequences.
    pub fn varlen(mut self, cu_seqlens_q: &'a [i32], cu_seqlens_k: &'a [i32]) -> Self {
        if cu_seqlens_k.len() != cu_seqlens_q.len() || cu_seqlens_q.len() < 2 {
            self.pending = Some(rust_error(
                Status::InvalidValue,
                format!(
                    "varlen: cu_seqlens_q has {} entries and cu_seqlens_k {}; both need num_seqs + 1 >= 2",
                    cu_seqlens_q.len(),
                    cu_seqlens_k.len()
                ),
            ));
            return self;
        }
        let num_seqs = (cu_seqlens_q.len() - 1) as i64;
        // The library checks the offsets themselves (start at 0, never decrease, in bounds).
        let longest = |cu: &[i32]| cu.windows(2).map(|w| (w[1] as i64 - w[0] as i64).max(0)).max().unwrap_or(0);
        self.varlen = Some(Varlen {
            cu_q: cu_seqlens_q.as_ptr(),
            cu_k: cu_seqlens_k.as_ptr(),
            num_seqs,
            max_seqlen_q: longest(cu_seqlens_q),
            max_seqlen_k: longest(cu_seqlens_k),
        });
        self
    }
    /// Variable-length batch with offsets in device memory (GPU context).
    ///
    /// # Safety
    /// Both pointers must be device arrays of `num_seqs + 1` int32 offsets that stay valid
    /// until the call's work on the stream has finished; `max_seqlen_q` must bound every
    /// query length. The longest key length, where known, goes to `max_seqlen_k`.
    pub unsafe fn varlen_device(mut self, cu_seqlens_q: *const i32, cu_seqlens_k: *const i32, num_seqs: i64, max_seqlen_q: i64) -> Self {
        self.varlen = Some(Varlen { cu_q: cu_seqlens_q, cu_k: cu_seqlens_k, num_seqs, max_seqlen_q, max_seqlen_k: 0 });
        self
    }
    /// The longest key sequence of a variable-length batch, in any order with `varlen_device`
    /// (the host-slice `varlen` finds it itself; a value given here wins). Only the choice of
    /// kernel depends on it: with a short bound sm90 runs the batch on its persistent grid.
    /// 0 (the default) means unknown; without a variable-length batch it is ignored.
    pub fn max_seqlen_k(mut self, max_seqlen_k: i64) -> Self {
        self.opts.max_seqlen_k = max_seqlen_k;
        self
    }
    /// Device memory of the call's own for the pieces of a launch that splits its keys over
    /// the SMs (`KernelInfo::workspace_bytes` from `select` says how much), so that the call
    /// splits when captured into a CUDA graph too; without it the library's pool serves
    /// called launches and a captured one keeps its keys whole.
    ///
    /// # Safety
    /// `ptr` must be `bytes` of device memory of the context's GPU (16-byte aligned; the call
    /// refuses otherwise), overlapping no tensor, and no other call may use it while this
    /// one's work (or a graph's replay of it) may run; calls ordered on one stream may share it.
    pub unsafe fn workspace(mut self, ptr: *mut c_void, bytes: usize) -> Self {
        self.opts.workspace = ptr;
        self.opts.workspace_bytes = bytes;
        self
    }
    /// Enqueue on this CUDA stream (GPU contexts; default: the legacy default stream).
    pub fn stream(mut self, stream: Stream) -> Self {
        self.stream = stream;
        self
    }

    fn options(&self) -> sys::fc_attn_options {
        let mut o = self.opts;
        if let Some(v) = self.varlen {
            o.cu_seqlens_q = v.cu_q;
            o.cu_seqlens_k = v.cu_k;
            o.num_seqs = v.num_seqs;
            o.max_seqlen_q = v.max_seqlen_q;
            if o.max_seqlen_k == 0 {
                o.max_seqlen_k = v.max_seqlen_k;
            }
        }
        o
    }

    /// Which family and tile would run this problem (validating it fully, writing nothing).
    pub fn select(&self, ctx: &Context, out: &TensorViewMut<'_>) -> Result<KernelInfo> {
        if let Some(e) = &self.pending {
            return Err(e.clone());
        }
        let mut info = sys::fc_kernel_info {
            size: std::mem::size_of::<sys::fc_kernel_info>(),
            family: sys::FC_FAMILY_AUTO,
            block_m: 0,
            block_n: 0,
            num_warps: 0,
            stages: 0,
            description: [0; 160],
            persistent: 0,
            workspace_bytes: 0,
        };
        let o = self.options();
        let lse = self.lse.as_ref().map_or(std::ptr::null(), |l| &l.raw as *const _);
        // SAFETY: every pointer is a live view or NULL; select never dereferences tensor data.
        check(
            unsafe { sys::fc_select_kernel(ctx.as_raw(), &self.q.raw, &self.k.raw, &self.v.raw, &out.raw, lse, &o, &mut info) },
            ctx.as_raw(),
        )?;
        Ok(KernelInfo {
            family: Family::from_raw(info.family),
            block_m: info.block_m,
            block_n: info.block_n,
            num_warps: info.num_warps,
            stages: info.stages,
            description: cstr(info.description.as_ptr()),
            persistent: info.persistent != 0,
            workspace_bytes: info.workspace_bytes,
        })
    }

    /// Run the call, writing `out` (and the LSE view if given). On a CPU context the result is
    /// ready on return; on a GPU context the work is enqueued on the stream. Returns what ran.
    pub fn run(self, ctx: &Context, out: TensorViewMut<'_>) -> Result<KernelInfo> {
        let info = self.select(ctx, &out)?;
        let o = self.options();
        let lse = self.lse.as_ref().map_or(std::ptr::null(), |l| &l.raw as *const _);
        // SAFETY: views borrow live memory of the right extent (checked at construction, or
        // promised by the unsafe constructors); the library validates everything else.
        check(
            unsafe { sys::fc_attention_forward(ctx.as_raw(), &self.q.raw, &self.k.raw, &self.v.raw, &out.raw, lse, &o, self.stream.0) },
            ctx.as_raw(),
        )?;
        Ok(info)
    }
}
