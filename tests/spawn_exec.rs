//! What a spawned child gets now that it shares rcinit's memory until exec (clone with CLONE_VM
//! and CLONE_VFORK, not fork): the lookup and errors `execvp` would give, the environment with
//! the last setting of a name winning, its standard streams, an empty signal mask while rcinit
//! keeps its own, and no zombie left by a failed exec.

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
use std::os::unix::fs::PermissionsExt;

use rcinit::spawn::{Grouping, Io, Options, spawn_with};

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

/// Runs argv with stdout on a pipe; returns (what it printed, its exit code).
fn run(argv: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<(String, i32)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let e = env(vars);
    let mut opts = Options::new(Grouping::Session, &e);
    opts.stdin = Some(Io::Null);
    opts.stdout = Some(Io::Fd(w));
    let child = spawn_with(&os(argv), opts)?;
    let mut out = String::new();
    std::fs::File::from(r)
        .read_to_string(&mut out)
        .expect("read");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child.pid, &mut status, 0) };
    Ok((out, libc::WEXITSTATUS(status)))
}

fn temp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rcinit-spawn-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_bare_name_is_looked_up_on_the_childs_path_with_execvps_errors() {
    let d = temp("path");
    let (a, b) = (d.join("a"), d.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("tool"), "#!/bin/sh\necho from-a\n").unwrap();
    std::fs::write(b.join("tool"), "#!/bin/sh\necho from-b\n").unwrap();
    std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", a.display(), b.display());
    // a/tool is not executable: the lookup goes on to b/tool, as execvp does.
    let (out, code) = run(&["tool"], &[("PATH", &path)]).expect("spawn");
    assert_eq!((out.as_str(), code), ("from-b\n", 0));
    // Only a non-executable one on the path: EACCES, not ENOENT.
    let only_a = a.display().to_string();
    let e = run(&["tool"], &[("PATH", &only_a)]).expect_err("not executable");
    assert!(format!("{e:#}").contains("Permission denied"), "{e:#}");
    let e = run(&["no-such-tool-here"], &[("PATH", &path)]).expect_err("missing");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("starting no-such-tool-here") && msg.contains("No such file"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_last_setting_of_a_name_wins_and_streams_and_mask_are_the_childs() {
    // Blocked here, in the spawning thread: the child must start with an empty mask, and this
    // thread must keep its own.
    // SAFETY: sigset_t is plain data; these calls fill and read our own sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let (out, code) = run(
        &[
            "/bin/sh",
            "-c",
            "echo \"$X\"; grep SigBlk /proc/self/status; read -r l; echo \"in=[$l]\"",
        ],
        &[("X", "first"), ("PATH", "/usr/bin:/bin"), ("X", "last")],
    )
    .expect("spawn");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out, "last\nSigBlk:\t0000000000000000\nin=[]\n",
        "the later X, an empty mask, stdin from /dev/null"
    );
    // SAFETY: reads this thread's mask into our own set.
    let still = unsafe {
        let mut cur: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
        libc::sigismember(&cur, libc::SIGUSR1)
    };
    assert_eq!(still, 1, "the spawning thread keeps SIGUSR1 blocked");
}

#[test]
fn a_failed_exec_leaves_no_zombie() {
    let d = temp("zombie");
    let e = run(&[d.join("nothing").to_str().unwrap()], &[]).expect_err("missing");
    assert!(format!("{e:#}").contains("No such file"), "{e:#}");
    // The failed child was waited for inside spawn_with. It never exec'd, so its name is this
    // test thread's: a zombie of that name would be it (other tests' children have others).
    let me = std::process::id();
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| {
            let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.first() == Some(&"Z")
                && f.get(1) == Some(&me.to_string().as_str())
                && s.contains("(a_failed_exec")
        })
        .collect();
    assert!(zombies.is_empty(), "zombies of ours: {zombies:?}");
    let _ = std::fs::remove_dir_all(&d);
}
