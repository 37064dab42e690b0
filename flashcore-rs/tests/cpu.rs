//! End to end through the CPU backend against a Rust-side float64 reference, and every error
//! path of the safe API.
use flashcore::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn seed() -> u64 {
    std::env::var("FC_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    })
}

/// Float64 attention of dense BSHD inputs; (out, lse).
#[allow(clippy::too_many_arguments)]
fn reference(q: &[f32], k: &[f32], v: &[f32], b: usize, sq: usize, sk: usize, h: usize, hk: usize, d: usize,
             causal: bool, wl: i64, wr: i64, cap: f32) -> (Vec<f64>, Vec<f64>) {
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0.0; b * sq * h * d];
    let mut lse = vec![f64::NEG_INFINITY; b * sq * h];
    let right = if causal { 0 } else { wr };
    for bi in 0..b {
        for hi in 0..h {
            let kh = hi / (h / hk);
            for i in 0..sq {
                let diag = i as i64 + sk as i64 - sq as i64;
                let vis = |j: usize| (right < 0 || j as i64 <= diag + right) && (wl < 0 || j as i64 >= diag - wl);
                let qrow = &q[((bi * sq + i) * h + hi) * d..][..d];
                let scores: Vec<(usize, f64)> = (0..sk)
                    .filter(|&j| vis(j))
                    .map(|j| {
                        let krow = &k[((bi * sk + j) * hk + kh) * d..][..d];
                        let mut s = scale * qrow.iter().zip(krow).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
                        if cap > 0.0 {
                            s = cap as f64 * (s / cap as f64).tanh();
                        }
                        (j, s)
                    })
                    .collect();
                if scores.is_empty() {
                    continue;
                }
                let m = scores.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
                let l: f64 = scores.iter().map(|x| (x.1 - m).exp()).sum();
                let o = &mut out[((bi * sq + i) * h + hi) * d..][..d];
                for &(j, s) in &scores {
                    let p = (s - m).exp() / l;
                    let vrow = &v[((bi * sk + j) * hk + kh) * d..][..d];
                    for x in 0..d {
                        o[x] += p * vrow[x] as f64;
                    }
                }
                lse[(bi * sq + i) * h + hi] = m + l.ln();
            }
        }
    }
    (out, lse)
}

#[allow(clippy::too_many_arguments)]
fn check_case(b: usize, sq: usize, sk: usize, h: usize, hk: usize, d: usize, causal: bool, wl: i64, wr: i64, cap: f32) {
    let s = seed();
    let mut rng = Rng(s);
    let q = rng.vec(b * sq * h * d);
    let k = rng.vec(b * sk * hk * d);
    let v = rng.vec(b * sk * hk * d);
    let mut out = vec![f32::NAN; q.len()];
    let mut lse = vec![f32::NAN; b * sq * h];
    let ctx = Context::cpu().unwrap();
    let (qs, ks) = ([b as i64, sq as i64, h as i64, d as i64], [b as i64, sk as i64, hk as i64, d as i64]);
    let info = Forward::new(
        TensorView::from_slice(&q, qs).unwrap(),
        TensorView::from_slice(&k, ks).unwrap(),
        TensorView::from_slice(&v, ks).unwrap(),
    )
    .causal(causal)
    .window(wl, wr)
    .softcap(cap)
    .lse(TensorViewMut::from_slice(&mut lse, [b as i64, sq as i64, h as i64, 1]).unwrap())
    .run(&ctx, TensorViewMut::from_slice(&mut out, qs).unwrap())
    .unwrap();
    assert_eq!(info.family, Family::Cpu);
    let (r, rl) = reference(&q, &k, &v, b, sq, sk, h, hk, d, causal, wl, wr, cap);
    let (mut e2, mut r2, mut emax) = (0.0f64, 0.0f64, 0.0f64);
    for (o, x) in out.iter().zip(&r) {
        assert!(o.is_finite(), "non-finite output (seed {})", s);
        let e = (*o as f64 - x).abs();
        emax = emax.max(e);
        e2 += e * e;
        r2 += x * x;
    }
    let rel = (e2 / r2.max(1e-30)).sqrt();
    assert!(rel <= 1e-5 && emax <= 1e-5, "rel L2 {} max {} (seed {})", rel, emax, s);
    for (a, x) in lse.iter().zip(&rl) {
        if x.is_infinite() {
            assert!(a.is_infinite() && *a < 0.0, "lse {} for an empty row (seed {})", a, s);
        } else {
            assert!((*a as f64 - x).abs() <= 1e-3, "lse {} vs {} (seed {})", a, x, s);
        }
    }
}

#[test]
fn dense() {
    check_case(2, 65, 65, 4, 4, 64, false, -1, -1, 0.0);
}
#[test]
fn causal_gqa_sq_lt_sk() {
    check_case(1, 33, 100, 8, 2, 128, true, -1, -1, 0.0);
}
#[test]
fn causal_sq_gt_sk_has_empty_rows() {
    check_case(1, 40, 7, 2, 1, 32, true, -1, -1, 0.0);
}
#[test]
fn window_and_softcap() {
    check_case(1, 90, 90, 2, 1, 96, false, 10, 3, 20.0);
}

#[test]
fn varlen_matches_separate_calls() {
    let mut rng = Rng(seed());
    let (h, d) = (2usize, 64usize);
    let lens = [5usize, 17, 1];
    let total: usize = lens.iter().sum();
    let q = rng.vec(total * h * d);
    let k = rng.vec(total * h * d);
    let v = rng.vec(total * h * d);
    let cu: Vec<i32> = std::iter::once(0).chain(lens.iter().scan(0, |a, &l| { *a += l as i32; Some(*a) })).collect();
    let ctx = Context::cpu().unwrap();
    let shape = [1, total as i64, h as i64, d as i64];
    let mut out = vec![0f32; q.len()];
    Forward::new(TensorView::from_slice(&q, shape).unwrap(), TensorView::from_slice(&k, shape).unwrap(), TensorView::from_slice(&v, shape).unwrap())
        .causal(true)
        .varlen(&cu, &cu)
        .run(&ctx, TensorViewMut::from_slice(&mut out, shape).unwrap())
        .unwrap();
    for (i, &l) in lens.iter().enumerate() {
        let r0 = cu[i] as usize * h * d;
        let n = l * h * d;
        let (r, _) = reference(&q[r0..r0 + n], &k[r0..r0 + n], &v[r0..r0 + n], 1, l, l, h, h, d, true, -1, -1, 0.0);
        for (o, x) in out[r0..r0 + n].iter().zip(&r) {
            assert!((*o as f64 - x).abs() < 1e-5);
        }
    }
}

#[test]
fn bf16_and_f16_round_trip() {
    for x in [0.0f32, 1.0, -2.5, 3.140625, 65504.0, 1e-6] {
        assert_eq!(Bf16::from_f32(Bf16::from_f32(x).to_f32()), Bf16::from_f32(x));
        assert_eq!(F16::from_f32(F16::from_f32(x).to_f32()), F16::from_f32(x));
    }
    assert_eq!(F16::from_f32(1.0).0, 0x3c00);
    assert_eq!(Bf16::from_f32(1.0).0, 0x3f80);
    assert!(F16::from_f32(1e6).to_f32().is_infinite());
}

#[test]
fn bf16_forward_runs() {
    let mut rng = Rng(seed());
    let q: Vec<Bf16> = rng.vec(16 * 2 * 64).into_iter().map(Bf16::from_f32).collect();
    let mut out = vec![Bf16::default(); q.len()];
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&q, [1, 16, 2, 64]).unwrap();
    Forward::new(t, t, t).run(&ctx, TensorViewMut::from_slice(&mut out, [1, 16, 2, 64]).unwrap()).unwrap();
    assert!(out.iter().all(|x| x.to_f32().is_finite()));
}

// ---- error paths ------------------------------------------------------------------------

fn small() -> (Vec<f32>, Vec<f32>) {
    (vec![0.5; 4 * 2 * 64], vec![0.0; 4 * 2 * 64])
}

fn status_of(r: Result<KernelInfo>) -> (Status, String) {
    let e = r.unwrap_err();
    assert!(!e.message.is_empty());
    let shown = e.to_string();
    assert!(shown.contains(&e.message));
    (e.status, e.message)
}

#[test]
fn error_invalid_value() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    let (s, m) = status_of(Forward::new(t, t, t).softcap(-1.0).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue);
    assert!(m.contains("softcap"), "{}", m);
    assert!(o.iter().all(|&y| y == 0.0), "written on error");
}

#[test]
fn workspace_is_checked_and_the_cpu_backend_splits_nothing() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    let mut ws = vec![0u8; 512];
    let skip = ws.as_ptr().align_offset(16); // 16-byte aligned, 256 bytes in the buffer
    let base = ws[skip..].as_mut_ptr() as *mut std::ffi::c_void;
    let info = Forward::new(t, t, t).select(&ctx, &TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()).unwrap();
    assert_eq!(info.workspace_bytes, 0, "{}", info.description);
    // SAFETY: 8 bytes into a live host buffer, which the CPU context accepts as memory; the call
    // refuses the alignment before it uses it.
    let bad = unsafe { Forward::new(t, t, t).workspace((base as *mut u8).add(8) as *mut std::ffi::c_void, 64) };
    let (s, m) = status_of(bad.run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue);
    assert!(m.contains("16-byte aligned"), "{}", m);
    assert!(o.iter().all(|&y| y == 0.0), "written on error");
    // SAFETY: the whole live buffer, used by this call alone.
    let good = unsafe { Forward::new(t, t, t).workspace(base, 256) };
    good.run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()).unwrap();
}

#[test]
fn error_shape_mismatch() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let q = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    let k = TensorView::from_slice(&x[..4 * 64], [1, 4, 1, 64]).unwrap();
    let v = TensorView::from_slice(&x[..2 * 2 * 64], [1, 2, 2, 64]).unwrap();
    let (s, m) = status_of(Forward::new(q, k, v).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::ShapeMismatch, "{}", m);
}

#[test]
fn error_unsupported_head_dim() {
    let x = vec![0.5f32; 4 * 48];
    let mut o = vec![0f32; 4 * 48];
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 4, 1, 48]).unwrap();
    let (s, m) = status_of(Forward::new(t, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 1, 48]).unwrap()));
    assert_eq!(s, Status::Unsupported);
    assert!(m.contains("head_dim = 48"), "{}", m);
}

#[test]
fn error_bad_strides() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    let q = TensorView::from_slice_strided(&x, [1, 4, 2, 64], [512, 128, 32, 1]).unwrap(); // heads overlap
    let (s, _) = status_of(Forward::new(q, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::BadStrides);
}

#[test]
fn error_wrong_memory_aliasing() {
    let (mut x, _) = small();
    let ctx = Context::cpu().unwrap();
    let ptr = x.as_mut_ptr() as *mut std::os::raw::c_void;
    // SAFETY: x outlives both views; the library must refuse before writing.
    let (t, o) = unsafe {
        (TensorView::from_raw(ptr, DType::F32, [1, 4, 2, 64], [512, 128, 64, 1]), TensorViewMut::from_raw(ptr, DType::F32, [1, 4, 2, 64], [512, 128, 64, 1]))
    };
    let (s, m) = status_of(Forward::new(t, t, t).run(&ctx, o));
    assert_eq!(s, Status::WrongMemory, "{}", m);
}

#[test]
fn error_null_pointer() {
    let ctx = Context::cpu().unwrap();
    let mut o = vec![0f32; 4 * 2 * 64];
    // SAFETY: a NULL view is exactly what the library must reject.
    let t = unsafe { TensorView::from_raw(std::ptr::null(), DType::F32, [1, 4, 2, 64], [512, 128, 64, 1]) };
    let (s, _) = status_of(Forward::new(t, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::NullPointer);
}

#[test]
fn error_overflow() {
    let ctx = Context::cpu().unwrap();
    let (x, mut o) = small();
    let t = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    // SAFETY: never dereferenced: the offsets overflow and the call is refused.
    let q = unsafe { TensorView::from_raw(x.as_ptr() as *const _, DType::F32, [4, 4, 2, 64], [i64::MAX / 2, 128, 64, 1]) };
    let (s, _) = status_of(Forward::new(q, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::Overflow);
    // And in Rust, before the library: a slice view that does not fit.
    assert_eq!(TensorView::from_slice(&x, [1, 4, 4, 64]).unwrap_err().status, Status::ShapeMismatch);
    // Shapes whose dense strides pass i64: an error, not a panic (tests build with overflow checks).
    assert_eq!(flashcore::bshd_strides([2, 3, 1 << 60, 64])[..2], [i64::MAX, i64::MAX]);
    assert_eq!(TensorView::from_slice(&x, [2, 1 << 50, 1 << 8, 64]).unwrap_err().status, Status::Overflow);
    assert_eq!(TensorView::from_slice(&x, [1, 3, 1 << 60, 64]).unwrap_err().status, Status::Overflow);
}

#[test]
fn error_varlen_offsets() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 8, 1, 64]).unwrap();
    let bad = [0, 5, 3];
    let (s, m) = status_of(Forward::new(t, t, t).varlen(&bad, &bad).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue, "{}", m);
    let (s, _) = status_of(Forward::new(t, t, t).varlen(&[0, 8], &[0]).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue);
}

/// The longest key length: `varlen` finds it from the slices (so a CPU context's check of it
/// passes), and `max_seqlen_k` (before or after `varlen_device`) passes the caller's, which a
/// CPU context refuses when a sequence is longer (a GPU context only plans with it).
#[test]
fn varlen_max_seqlen_k() {
    let (x, mut o) = small();
    let ctx = Context::cpu().unwrap();
    let t = TensorView::from_slice(&x, [1, 8, 1, 64]).unwrap();
    let cu = [0, 3, 8];
    Forward::new(t, t, t).varlen(&cu, &cu).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()).unwrap();
    // SAFETY: host offsets that outlive the call, on a CPU context (its memory is the host's).
    let f = unsafe { Forward::new(t, t, t).varlen_device(cu.as_ptr(), cu.as_ptr(), 2, 5) };
    let (s, m) = status_of(f.max_seqlen_k(4).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue, "{}", m);
    assert!(m.contains("max_seqlen_k = 4"), "{}", m);
    let f = unsafe { Forward::new(t, t, t).varlen_device(cu.as_ptr(), cu.as_ptr(), 2, 5) };
    f.max_seqlen_k(5).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()).unwrap();
    // before varlen_device, and over the slices' own value
    let f = unsafe { Forward::new(t, t, t).max_seqlen_k(4).varlen_device(cu.as_ptr(), cu.as_ptr(), 2, 5) };
    let (s, m) = status_of(f.run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue, "{}", m);
    let (s, m) = status_of(Forward::new(t, t, t).max_seqlen_k(4).varlen(&cu, &cu).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()));
    assert_eq!(s, Status::InvalidValue, "{}", m);
}

#[test]
fn error_forced_gpu_family_on_cpu() {
    let (x, mut o) = small();
    let mut ctx = Context::cpu().unwrap();
    ctx.set_family(Family::Sm80).unwrap();
    let t = TensorView::from_slice(&x, [1, 4, 2, 64]).unwrap();
    let (s, m) = status_of(Forward::new(t, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 4, 2, 64]).unwrap()));
    assert_eq!(s, Status::Unsupported);
    assert!(m.contains("sm80"));
    assert_eq!(ctx.set_num_threads(-3).unwrap_err().status, Status::InvalidValue);
}

#[test]
fn error_no_device() {
    let e = Context::cuda(4096).unwrap_err();
    assert_eq!(e.status, Status::NoDevice);
    assert!(e.message.contains("4096"));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert!(boxed.to_string().contains("NoDevice"));
}

#[test]
fn context_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Context>();
    assert_send_sync::<Error>();
    let ctx = std::sync::Arc::new(Context::cpu().unwrap());
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let x = vec![0.1 * i as f32; 8 * 64];
                let mut o = vec![0f32; 8 * 64];
                let t = TensorView::from_slice(&x, [1, 8, 1, 64]).unwrap();
                Forward::new(t, t, t).run(&ctx, TensorViewMut::from_slice(&mut o, [1, 8, 1, 64]).unwrap()).unwrap();
                (o[0] - 0.1 * i as f32).abs() < 1e-6
            })
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
}

#[test]
fn version_names_the_families() {
    assert!(version().starts_with("0.1.0"));
    assert!(version().contains("cpu"));
}
