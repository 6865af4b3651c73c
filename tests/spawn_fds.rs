//! Regression: fds handed to a child at fixed numbers may cross (the source of one pair is the
//! target of another); each must still land where it was asked for.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own child is right here.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use rcinit::spawn::{Grouping, Options, spawn_with};

/// The tests place descriptors at fixed numbers (8, 9): one at a time, or one's pipe may be
/// opened on a number the other is about to overwrite.
static FIXED_FDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn crossed_fd_pairs_land_where_asked() {
    let _one = FIXED_FDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a_r, a_w) = nix::unistd::pipe().expect("pipe");
    let (b_r, b_w) = nix::unistd::pipe().expect("pipe");
    // Put A's write end on 8 and B's on 9, then ask for 8 -> 9 and 9 -> 8.
    // SAFETY: dup2 onto fds this single-test binary does not use otherwise.
    unsafe {
        assert!(libc::dup2(a_w.as_raw_fd(), 8) == 8);
        assert!(libc::dup2(b_w.as_raw_fd(), 9) == 9);
    }
    drop((a_w, b_w));
    let argv: Vec<OsString> = ["/bin/sh", "-c", "echo to9 >&9; echo to8 >&8"]
        .iter()
        .map(OsString::from)
        .collect();
    let env = rcinit::spawn::child_env();
    let mut opts = Options::new(Grouping::Session, &env);
    opts.fds = vec![(8, 9), (9, 8)];
    let child = spawn_with(&argv, opts).expect("spawn");
    // SAFETY: our fds 8 and 9, closed once the child has them.
    unsafe {
        drop(OwnedFd::from_raw_fd(8));
        drop(OwnedFd::from_raw_fd(9));
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child.pid, &mut status, 0) };
    let read = |fd: OwnedFd| {
        let mut s = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut s)
            .expect("read");
        s
    };
    assert_eq!(read(a_r), "to9\n", "A was on 8 and asked onto 9");
    assert_eq!(read(b_r), "to8\n", "B was on 9 and asked onto 8");
}

#[test]
fn more_than_eight_descriptor_pairs_fail_before_any_child_runs() {
    let _one = FIXED_FDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (r, w) = nix::unistd::pipe().expect("pipe");
    let argv: Vec<OsString> = ["/bin/sh", "-c", "echo ran >&20"]
        .iter()
        .map(OsString::from)
        .collect();
    let env = rcinit::spawn::child_env();
    let mut opts = Options::new(Grouping::Session, &env);
    // Nine pairs: the child has room for eight, and a ninth used to be dropped silently.
    opts.fds = (0..9).map(|k| (w.as_raw_fd(), 12 + k)).collect();
    let r_spawn = spawn_with(&argv, opts);
    drop(w);
    let e = match r_spawn {
        Ok(c) => panic!("spawned pid {} with a pair left out", c.pid),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains("9 descriptors") && e.contains("at most 8"),
        "{e}"
    );
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    assert_eq!(out, "", "no child ran");
}
