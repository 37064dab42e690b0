//! `cargo run --example cpu_attention`: causal GQA attention in bf16 on the CPU backend,
//! printing which kernel ran and how long it took.
use flashcore::{Bf16, Context, Forward, TensorView, TensorViewMut};

fn main() -> Result<(), flashcore::Error> {
    let (b, s, h, hk, d) = (1i64, 512i64, 8i64, 2i64, 128i64);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = |n: i64| -> Vec<Bf16> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                Bf16::from_f32(((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
            })
            .collect()
    };
    let q = rand(b * s * h * d);
    let k = rand(b * s * hk * d);
    let v = rand(b * s * hk * d);
    let mut out = vec![Bf16::default(); q.len()];
    let ctx = Context::cpu()?;
    let t0 = std::time::Instant::now();
    let info = Forward::new(
        TensorView::from_slice(&q, [b, s, h, d])?,
        TensorView::from_slice(&k, [b, s, hk, d])?,
        TensorView::from_slice(&v, [b, s, hk, d])?,
    )
    .causal(true)
    .run(&ctx, TensorViewMut::from_slice(&mut out, [b, s, h, d])?)?;
    println!("flashcore {}: {}", flashcore::version(), info.description);
    println!("{:.1} ms, out[0..4] = {:?}", t0.elapsed().as_secs_f64() * 1e3,
             out[..4].iter().map(|x| x.to_f32()).collect::<Vec<_>>());
    Ok(())
}
