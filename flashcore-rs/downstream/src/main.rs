//! Proves the crate works as a dependency: builds against it and runs one CPU forward.
fn main() {
    let x = vec![0.25f32; 16 * 64];
    let mut out = vec![0f32; x.len()];
    let ctx = flashcore::Context::cpu().expect("CPU context");
    let t = flashcore::TensorView::from_slice(&x, [1, 16, 1, 64]).unwrap();
    let info = flashcore::Forward::new(t, t, t)
        .causal(true)
        .run(&ctx, flashcore::TensorViewMut::from_slice(&mut out, [1, 16, 1, 64]).unwrap())
        .expect("forward");
    assert!((out[0] - 0.25).abs() < 1e-6);
    println!("downstream ok: {}", info.description);
}
