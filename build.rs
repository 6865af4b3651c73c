//! The commit and target `rcinit --version` prints: taken from git when the build is from a
//! clone ("unknown" from a crate download), the target from cargo.

// A build script, not PID 1: waiting on its own child is right here.
#![allow(clippy::disallowed_methods)]

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RCINIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=RCINIT_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    // Run again when the commit moves; a path that does not exist would make every build run it.
    println!("cargo:rerun-if-changed=build.rs");
    for p in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
