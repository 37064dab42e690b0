//! Finds or builds the flashcore C library, in this order:
//! 1. `FLASHCORE_LIB_DIR`: a directory holding a prebuilt `libflashcore.a` (and `flashcore.pc`
//!    beside it or in `pkgconfig/`, which tells whether it needs the CUDA runtime);
//! 2. `pkg-config flashcore` (an installed flashcore);
//! 3. a CMake build of the repository this crate sits in, honouring `CUDA_COMPUTE_CAP`
//!    (e.g. `80`, `89`, `90`) to compile only the kernel families that GPU needs, and
//!    `FLASHCORE_HEAD_DIMS` (e.g. `64;128`) to prune head dims.
//!
//! Nothing is downloaded. With `DOCS_RS` set no native work is done.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest.parent().unwrap().to_path_buf();
    for p in ["c/include/flashcore.h", "c/src", "kernels", "CMakeLists.txt"] {
        println!("cargo:rerun-if-changed={}", repo.join(p).display());
    }
    for v in ["FLASHCORE_LIB_DIR", "CUDA_COMPUTE_CAP", "FLASHCORE_HEAD_DIMS", "DOCS_RS"] {
        println!("cargo:rerun-if-env-changed={}", v);
    }
    if env::var_os("DOCS_RS").is_some() {
        return;
    }
    let (lib_dir, pc) = if let Some(dir) = env::var_os("FLASHCORE_LIB_DIR") {
        let dir = PathBuf::from(dir);
        let pc = [dir.join("flashcore.pc"), dir.join("pkgconfig/flashcore.pc")]
            .into_iter()
            .find(|p| p.exists());
        (dir, pc)
    } else if let Some(dir) = pkg_config_libdir() {
        (dir, None)
    } else {
        let dir = cmake_build(&repo);
        let pc = Some(dir.join("flashcore.pc"));
        (dir, pc)
    };
    if pc.is_none() || env::var_os("FLASHCORE_LIB_DIR").is_some() {
        // A prebuilt library: relink when it is rebuilt. (The third case's CMake build is
        // tracked by its sources above; its output would look changed after every run.)
        println!("cargo:rerun-if-changed={}", lib_dir.join("libflashcore.a").display());
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=static=flashcore");
    println!("cargo:lib_dir={}", lib_dir.display());
    // The static library's own dependencies: pthread, libm and, for a CUDA build, cudart.
    let private = match &pc {
        Some(p) => libs_private(p),
        None => pkg_config_static_libs(),
    };
    let mut cuda = false;
    for tok in private.split_whitespace() {
        if let Some(d) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", d);
        } else if let Some(l) = tok.strip_prefix("-l") {
            if l == "flashcore" {
                continue;
            }
            cuda |= l == "cudart";
            println!("cargo:rustc-link-lib={}", l);
        }
    }
    if cuda {
        // nvcc's host objects of the kernel families use the C++ runtime.
        println!("cargo:rustc-link-lib=stdc++");
        println!("cargo:rustc-cfg=flashcore_cuda");
    }
    println!("cargo:rustc-check-cfg=cfg(flashcore_cuda)");
}

fn pkg_config_libdir() -> Option<PathBuf> {
    let out = Command::new("pkg-config").args(["--variable=libdir", "flashcore"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if dir.is_empty() {
        None
    } else {
        Some(PathBuf::from(dir))
    }
}

fn pkg_config_static_libs() -> String {
    Command::new("pkg-config")
        .args(["--static", "--libs", "flashcore"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "-lpthread -lm".to_string())
}

fn libs_private(pc: &Path) -> String {
    let text = std::fs::read_to_string(pc).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .unwrap_or("-lpthread -lm")
        .to_string()
}

/// Families for CUDA_COMPUTE_CAP (e.g. "90" or "8.9"); all families when unset.
fn families(repo: &Path) -> Option<String> {
    let cap = env::var("CUDA_COMPUTE_CAP").ok()?;
    let cap: u32 = cap.replace('.', "").trim().parse().ok()?;
    let mut fams = Vec::new();
    if cap >= 80 {
        fams.push("sm80"); // the portable family, and the fallback of the others
    }
    if cap == 89 {
        fams.push("sm89");
    }
    if cap == 90 {
        fams.push("sm90");
    }
    let fams: Vec<&str> = fams
        .into_iter()
        .filter(|f| repo.join("kernels").join(f).join("CMakeLists.txt").exists())
        .collect();
    Some(fams.join(";"))
}

fn cmake_build(repo: &Path) -> PathBuf {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("flashcore-build");
    let mut cfg = Command::new("cmake");
    cfg.arg("-S").arg(repo).arg("-B").arg(&out);
    cfg.args(["-DCMAKE_BUILD_TYPE=Release", "-DFLASHCORE_TESTS=OFF", "-DFLASHCORE_SCALING=OFF"]);
    if let Some(f) = families(repo) {
        cfg.arg(format!("-DFLASHCORE_FAMILIES={}", f));
    }
    if let Ok(d) = env::var("FLASHCORE_HEAD_DIMS") {
        cfg.arg(format!("-DFLASHCORE_HEAD_DIMS={}", d));
    }
    run(&mut cfg, "cmake configure (is cmake installed?)");
    let jobs = env::var("NUM_JOBS").unwrap_or_else(|_| "2".into());
    run(
        Command::new("cmake").arg("--build").arg(&out).args(["--target", "flashcore_static", "-j", &jobs]),
        "cmake build",
    );
    out
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{}: could not start: {}", what, e));
    if !status.success() {
        panic!("{} failed with {}", what, status);
    }
}
