//! Starting children clean.
//!
//! A child gets: an empty signal mask, every signal at its default disposition (SIGPIPE included:
//! Rust ignores it in rcinit), only fds 0-2, its own session (services) or its own process group made
//! the terminal's foreground group (the CMD), and the environment it should see. Between fork and
//! exec only async-signal-safe calls run (raw syscalls below).
//!
//! `std::process::Command` is used for the fork/exec and its exec-error pipe, never for waiting: the
//! exit goes through the reaper. (When exec fails, std waits for the failed child itself, inside
//! `spawn`; the event loop is single-threaded, so the reaper cannot race it there.)

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// How the child relates to the terminal and to rcinit's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// A new session (services: no controlling terminal, a group of their own to signal).
    Session,
    /// A new process group, made the foreground group of the terminal on stdin if there is one
    /// (the CMD: job control and Ctrl-C reach it, not PID 1).
    Foreground,
}

/// The environment children inherit: the container's, less rcinit's own `RCINIT_*` settings.
pub fn child_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(k, _)| !k.as_encoded_bytes().starts_with(b"RCINIT_"))
        .collect()
}

/// Spawns `argv` with the clean-child setup; returns its pid. The caller must `watch` the pid in
/// the reaper before the event loop runs again.
pub fn spawn(argv: &[OsString], grouping: Grouping, env: &[(OsString, OsString)]) -> Result<i32> {
    let child = spawn_with(argv, Options::new(grouping, env))?;
    Ok(child.pid)
}

/// Extra setup for [`spawn_with`].
pub struct Options<'a> {
    pub grouping: Grouping,
    pub env: &'a [(OsString, OsString)],
    /// chroot(2) into this directory, then chdir("/").
    pub chroot: Option<&'a std::path::Path>,
    /// (source, target) fd pairs: `source` is dup'ed onto `target` in the child.
    pub fds: Vec<(i32, i32)>,
    pub stdin: Option<std::process::Stdio>,
    pub stdout: Option<std::process::Stdio>,
    pub stderr: Option<std::process::Stdio>,
}

impl<'a> Options<'a> {
    pub fn new(grouping: Grouping, env: &'a [(OsString, OsString)]) -> Self {
        Self {
            grouping,
            env,
            chroot: None,
            fds: Vec::new(),
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }
}

/// A spawned child: its pid only. Waiting is the reaper's job.
#[derive(Debug, Clone, Copy)]
pub struct Spawned {
    pub pid: i32,
}

/// Spawns with [`Options`].
pub fn spawn_with(argv: &[OsString], opts: Options<'_>) -> Result<Spawned> {
    let Some((prog, args)) = argv.split_first() else {
        bail!("empty command");
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_clear()
        .envs(opts.env.iter().map(|(k, v)| (k, v)));
    let chroot = match opts.chroot {
        Some(p) => Some(
            std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
                .with_context(|| format!("chroot path {}", p.display()))?,
        ),
        None => None,
    };
    if chroot.is_some() {
        cmd.current_dir("/");
    }
    let grouping = opts.grouping;
    let fds = opts.fds.clone();
    // SAFETY: the closure makes only raw syscalls (setsid, setpgid, ioctl, sigaction, sigprocmask,
    // close_range, chroot, chdir, dup2, fcntl), which are async-signal-safe, and allocates nothing
    // (its captures were built before the fork).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(dir) = &chroot {
                if libc::chroot(dir.as_ptr()) < 0 || libc::chdir(c"/".as_ptr()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            child_setup(grouping)?;
            for &(src, dst) in &fds {
                if src == dst {
                    libc::fcntl(dst, libc::F_SETFD, 0);
                } else if libc::dup2(src, dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    if let Some(s) = opts.stdin {
        cmd.stdin(s);
    }
    if let Some(s) = opts.stdout {
        cmd.stdout(s);
    }
    if let Some(s) = opts.stderr {
        cmd.stderr(s);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", prog.to_string_lossy()))?;
    Ok(Spawned {
        pid: child.id() as i32,
    })
}

/// Runs in the child between fork and exec.
fn child_setup(grouping: Grouping) -> std::io::Result<()> {
    // SAFETY: plain syscalls on our own process; no memory is shared with the parent's state.
    unsafe {
        match grouping {
            Grouping::Session => {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Grouping::Foreground => {
                if libc::setpgid(0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Taking the terminal from a background group raises SIGTTOU; rcinit ignores it,
                // and the child inherited that. No terminal (ENOTTY) or not ours: nothing to take.
                if libc::isatty(0) == 1 {
                    let _ = libc::tcsetpgrp(0, libc::getpid());
                }
            }
        }
        reset_signals();
        // Every fd rcinit opens is close-on-exec already; this also covers any it inherited.
        // Kernels before 5.11 lack the flag: then `main` marked inherited fds close-on-exec.
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

/// Default disposition for every signal, empty mask. Async-signal-safe.
///
/// Raw syscalls, not libc's wrappers: musl and glibc refuse to touch the signals they reserve for
/// threads (32-34), yet an ignored 33 inherited by rcinit would otherwise reach every child.
///
/// # Safety
/// Only for a child between fork and exec.
unsafe fn reset_signals() {
    // The kernel's sigaction is {handler, flags, restorer, mask}: all zero is SIG_DFL, no flags,
    // empty mask, on every architecture rcinit builds for.
    let dfl = [0u64; 4];
    let empty = 0u64;
    // SAFETY: the kernel reads `dfl` and `empty` (8-byte sigset) and only changes this process's
    // signal state.
    unsafe {
        for sig in 1..65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl,
                    std::ptr::null_mut::<u64>(),
                    8,
                );
            }
        }
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty,
            std::ptr::null_mut::<u64>(),
            8,
        );
    }
}

/// Marks every inherited fd above 2 close-on-exec, so none leaks into a child. Called once at start,
/// before rcinit opens anything of its own.
pub fn cloexec_inherited_fds() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Kernels before 5.11: walk /proc/self/fd.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on an fd number; a stale number (the directory's own fd) gives EBADF.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}
