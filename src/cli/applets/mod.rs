//! OpenRC's helper programs that scripts call (L-32, L-35), answered by this binary: the shim
//! defines each as a function running `rcinit NAME ARGS...`, at evaluation and at run time,
//! whether or not OpenRC is in the image. Each follows its OpenRC namesake's options, output
//! and exit codes (tests/helpers.rs compares them with Debian's real ones).

use std::io::Read;

pub mod crashed;
pub mod fstab;
pub mod fstabinfo;
pub mod getopt;
pub mod mountinfo;
pub mod mtime;

const NAMES: &[&str] = &[
    "mountinfo",
    "fstabinfo",
    "is_newer_than",
    "is_older_than",
    "service_crashed",
];

/// Whether `name` is one of the helpers.
pub fn run_name(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The helpers, by the name scripts call them.
pub fn run(name: &str, args: &[String]) -> Option<i32> {
    Some(match name {
        "mountinfo" => mountinfo::run(args),
        "fstabinfo" => fstabinfo::run(args),
        "is_newer_than" => mtime::is_newer_than(args),
        "is_older_than" => mtime::is_older_than(args),
        "service_crashed" => crashed::run(args),
        _ => return None,
    })
}

/// A file's text, at most `max` bytes of it, never waiting on a FIFO or a terminal.
pub fn read_bounded(path: impl AsRef<std::path::Path>, max: u64) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
