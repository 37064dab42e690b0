//! GPU tests: run on a machine with a CUDA GPU and a CUDA build of the library; elsewhere each
//! test says why it is skipped and passes.
#[cfg(flashcore_cuda)]
mod cuda {
    use flashcore::*;
    use std::os::raw::{c_int, c_void};

    #[link(name = "cudart")]
    extern "C" {
        fn cudaMalloc(p: *mut *mut c_void, n: usize) -> c_int;
        fn cudaFree(p: *mut c_void) -> c_int;
        fn cudaMemcpy(dst: *mut c_void, src: *const c_void, n: usize, kind: c_int) -> c_int;
        fn cudaDeviceSynchronize() -> c_int;
        fn cudaStreamCreate(s: *mut *mut c_void) -> c_int;
        fn cudaStreamSynchronize(s: *mut c_void) -> c_int;
        fn cudaStreamDestroy(s: *mut c_void) -> c_int;
    }
    const H2D: c_int = 1;
    const D2H: c_int = 2;

    /// Device buffer that frees itself.
    struct DevBuf(*mut c_void, usize);
    impl DevBuf {
        fn from<T>(host: &[T]) -> DevBuf {
            let n = std::mem::size_of_val(host);
            let mut p = std::ptr::null_mut();
            assert_eq!(unsafe { cudaMalloc(&mut p, n) }, 0);
            assert_eq!(unsafe { cudaMemcpy(p, host.as_ptr() as *const c_void, n, H2D) }, 0);
            DevBuf(p, n)
        }
        fn read<T: Copy>(&self, host: &mut [T]) {
            assert_eq!(unsafe { cudaMemcpy(host.as_mut_ptr() as *mut c_void, self.0, self.1, D2H) }, 0);
        }
    }
    impl Drop for DevBuf {
        fn drop(&mut self) {
            unsafe { cudaFree(self.0) };
        }
    }

    pub fn gpu() -> Option<Context> {
        match Context::cuda(0) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("skipped: no usable CUDA GPU ({})", e);
                None
            }
        }
    }

    fn rand(n: usize, mut s: u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Run on the GPU in bf16 and on the CPU in f32 from the same (rounded) inputs.
    #[allow(clippy::too_many_arguments)] // the shape's six numbers, the family and the stream
    fn compare(family: Family, causal: bool, b: i64, s: i64, h: i64, hk: i64, d: i64, stream: Option<Stream>) {
        let gpu = match gpu() {
            Some(g) => g,
            None => return,
        };
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
        let qs = [b, s, h, d];
        let ks = [b, s, hk, d];
        let nq = (b * s * h * d) as usize;
        let nk = (b * s * hk * d) as usize;
        let to16 = |v: Vec<f32>| v.into_iter().map(Bf16::from_f32).collect::<Vec<_>>();
        let (q, k, v) = (to16(rand(nq, seed)), to16(rand(nk, seed ^ 7)), to16(rand(nk, seed ^ 11)));
        let (dq, dk, dv) = (DevBuf::from(&q), DevBuf::from(&k), DevBuf::from(&v));
        let dout = DevBuf::from(&vec![Bf16(0x7fc0); nq]); // NaN poison
        let info = unsafe {
            let mut f = Forward::new(
                TensorView::from_raw(dq.0, DType::BF16, qs, bshd_strides(qs)),
                TensorView::from_raw(dk.0, DType::BF16, ks, bshd_strides(ks)),
                TensorView::from_raw(dv.0, DType::BF16, ks, bshd_strides(ks)),
            )
            .causal(causal)
            .family(family);
            if let Some(st) = stream {
                f = f.stream(st);
            }
            f.run(&gpu, TensorViewMut::from_raw(dout.0, DType::BF16, qs, bshd_strides(qs))).unwrap()
        };
        match stream {
            Some(st) => assert_eq!(unsafe { cudaStreamSynchronize(st.as_raw()) }, 0),
            None => assert_eq!(unsafe { cudaDeviceSynchronize() }, 0),
        }
        let mut out = vec![Bf16::default(); nq];
        dout.read(&mut out);
        let f = |x: &Vec<Bf16>| x.iter().map(|y| y.to_f32()).collect::<Vec<f32>>();
        let (qf, kf, vf) = (f(&q), f(&k), f(&v));
        let mut reference = vec![0f32; nq];
        Forward::new(TensorView::from_slice(&qf, qs).unwrap(), TensorView::from_slice(&kf, ks).unwrap(), TensorView::from_slice(&vf, ks).unwrap())
            .causal(causal)
            .family(Family::Cpu) // FLASHCORE_FAMILY=sm90 (a forced GPU family) would refuse the CPU context
            .run(&Context::cpu().unwrap(), TensorViewMut::from_slice(&mut reference, qs).unwrap())
            .unwrap();
        let (mut e2, mut r2) = (0f64, 0f64);
        for (o, r) in out.iter().zip(&reference) {
            let o = o.to_f32();
            assert!(o.is_finite(), "unwritten or non-finite output ({}, seed {})", info.description, seed);
            e2 += ((o - r) as f64).powi(2);
            r2 += (*r as f64).powi(2);
        }
        let rel = (e2 / r2).sqrt();
        assert!(rel < 1e-2, "relative L2 {} > 1e-2 ({}, seed {})", rel, info.description, seed);
        eprintln!("ok: {} rel L2 {:.2e}", info.description, rel);
    }

    #[test]
    fn bf16_causal_gqa_auto_family() {
        compare(Family::Auto, true, 2, 300, 8, 2, 128, None);
    }
    #[test]
    fn bf16_dense_sm80_forced_on_a_stream() {
        if gpu().is_none() {
            return;
        }
        let mut s = std::ptr::null_mut();
        assert_eq!(unsafe { cudaStreamCreate(&mut s) }, 0);
        compare(Family::Sm80, false, 1, 257, 4, 4, 64, Some(unsafe { Stream::from_raw(s) }));
        unsafe { cudaStreamDestroy(s) };
    }
    /// Host offsets (`Forward::varlen`'s slices) with device tensors on a GPU context: the
    /// kernel would read host addresses, so the library refuses them and names the argument.
    #[test]
    fn host_offsets_on_gpu_context_are_refused() {
        let gpu = match gpu() {
            Some(g) => g,
            None => return,
        };
        let shape = [1i64, 64, 2, 64];
        let x = vec![Bf16::from_f32(0.5); 64 * 2 * 64];
        let (dq, dout) = (DevBuf::from(&x), DevBuf::from(&x));
        let cu = [0i32, 20, 64];
        let t = unsafe { TensorView::from_raw(dq.0, DType::BF16, shape, bshd_strides(shape)) };
        let e = unsafe {
            Forward::new(t, t, t).varlen(&cu, &cu).run(&gpu, TensorViewMut::from_raw(dout.0, DType::BF16, shape, bshd_strides(shape)))
        }
        .unwrap_err();
        assert_eq!(e.status, Status::WrongMemory, "{}", e);
        assert!(e.to_string().contains("cu_seqlens_q"), "{}", e);
        let mut back = vec![Bf16::default(); x.len()];
        dout.read(&mut back);
        assert!(back.iter().zip(&x).all(|(a, b)| a.0 == b.0), "the output was written");
        eprintln!("ok: {}", e);
    }
    /// `Forward::workspace`: a GQA decode whose keys split (B=1, H=32, Hk=8, 8192 keys, D=128)
    /// in the caller's workspace gives the pool's split output bit for bit; a workspace 16
    /// bytes short is refused (InvalidValue) and writes nothing.
    #[test]
    fn decode_in_the_callers_workspace() {
        let gpu = match gpu() {
            Some(g) => g,
            None => return,
        };
        let (qs, ks) = ([1i64, 1, 32, 128], [1i64, 8192, 8, 128]);
        let to16 = |v: Vec<f32>| v.into_iter().map(Bf16::from_f32).collect::<Vec<_>>();
        let (q, kv) = (to16(rand(32 * 128, 3)), to16(rand(8192 * 8 * 128, 5)));
        let (dq, dkv) = (DevBuf::from(&q), DevBuf::from(&kv));
        let poison = vec![Bf16(0x7fc0); 32 * 128];
        let (pool_out, ws_out) = (DevBuf::from(&poison), DevBuf::from(&poison));
        // SAFETY: every view is a live device buffer of its shape; the workspace below is a
        // live device buffer used by these calls alone, which synchronise before it is freed.
        let forward = || unsafe {
            let k = TensorView::from_raw(dkv.0, DType::BF16, ks, bshd_strides(ks));
            Forward::new(TensorView::from_raw(dq.0, DType::BF16, qs, bshd_strides(qs)), k, k)
        };
        let out = |b: &DevBuf| unsafe { TensorViewMut::from_raw(b.0, DType::BF16, qs, bshd_strides(qs)) };
        let info = forward().select(&gpu, &out(&pool_out)).unwrap();
        assert!(info.workspace_bytes > 0, "no split: {}", info.description);
        forward().run(&gpu, out(&pool_out)).unwrap();
        let ws = DevBuf::from(&vec![0u8; info.workspace_bytes]);
        let e = unsafe { forward().workspace(ws.0, info.workspace_bytes - 16) }.run(&gpu, out(&ws_out)).unwrap_err();
        assert_eq!(e.status, Status::InvalidValue, "{}", e);
        assert!(e.to_string().contains("workspace_bytes"), "{}", e);
        unsafe { forward().workspace(ws.0, info.workspace_bytes) }.run(&gpu, out(&ws_out)).unwrap();
        assert_eq!(unsafe { cudaDeviceSynchronize() }, 0);
        let (mut a, mut b) = (vec![Bf16::default(); 32 * 128], vec![Bf16::default(); 32 * 128]);
        pool_out.read(&mut a);
        ws_out.read(&mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| x.0 == y.0), "the workspace's output differs from the pool's");
        eprintln!("ok: {} in a workspace of {} bytes", info.description, info.workspace_bytes);
    }
    #[test]
    fn host_slice_on_gpu_context_is_refused() {
        let gpu = match gpu() {
            Some(g) => g,
            None => return,
        };
        let x = vec![0.5f32; 4 * 64];
        let mut o = vec![0f32; 4 * 64];
        let t = TensorView::from_slice(&x, [1, 4, 1, 64]).unwrap();
        let e = Forward::new(t, t, t).run(&gpu, TensorViewMut::from_slice(&mut o, [1, 4, 1, 64]).unwrap()).unwrap_err();
        assert!(e.status == Status::WrongMemory || e.status == Status::Unsupported, "{}", e);
    }
}

#[cfg(not(flashcore_cuda))]
#[test]
fn gpu_tests_skipped() {
    eprintln!("skipped: this flashcore was built without CUDA");
}
