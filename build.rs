//! The commit and target `rcinit --version` prints: the commit from git when the crate is built
//! from its own clone ("unknown" from a crate download, even inside someone else's repository),
//! the target from cargo.

// A build script, not PID 1: waiting on its own child is right here.
#![allow(clippy::disallowed_methods)]

fn git(dir: &str, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let own = git(&dir, &["rev-parse", "--show-toplevel"])
        .is_some_and(|top| std::fs::canonicalize(&top).ok() == std::fs::canonicalize(&dir).ok());
    let commit = own
        .then(|| git(&dir, &["describe", "--always", "--dirty", "--abbrev=12"]))
        .flatten()
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RCINIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=RCINIT_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    // Run again when the commit moves (HEAD, and the branch it names); only existing paths:
    // a missing one would make every build run it.
    println!("cargo:rerun-if-changed=build.rs");
    if own {
        let mut watch = vec![git(&dir, &["rev-parse", "--git-path", "HEAD"])];
        if let Some(r) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
            watch.push(git(&dir, &["rev-parse", "--git-path", &r]));
        }
        watch.push(git(&dir, &["rev-parse", "--git-path", "packed-refs"]));
        for p in watch.into_iter().flatten() {
            let p = std::path::Path::new(&dir).join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}
