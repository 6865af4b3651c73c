//! Starting children clean.
//!
//! A child gets: an empty signal mask, every signal at its default disposition (SIGPIPE included:
//! Rust ignores it in rcinit), only fds 0-2, its own session (services) or its own process group made
//! the terminal's foreground group (the CMD), and the environment it should see. Between clone and
//! exec only async-signal-safe calls run (raw syscalls below).
//!
//! Nothing here waits for a child that ran: exits go through the reaper. (When exec fails,
//! `spawn_with` waits for the failed child itself; the event loop is single-threaded, so the
//! reaper cannot race it there.)

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result, bail};

mod below;
mod child;
mod stack;

use below::*;
use child::*;
use stack::*;

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
    /// None: rcinit's own stream.
    pub stdin: Option<Io>,
    pub stdout: Option<Io>,
    pub stderr: Option<Io>,
    /// What a daemon's settings ask for, applied in the child (V-19's order).
    pub setup: Option<Setup>,
    /// Start it below a short-lived parent of its own, as start-stop-daemon does: its parent is
    /// not PID 1, so a daemon's "already daemonized?" check (parent init and session leader:
    /// OpenSSH's) answers no and it forks. The parent waits for it and exits with its status.
    pub intermediate: bool,
}

/// Per-daemon process settings, prepared before the fork (no allocation after it).
#[derive(Debug, Default)]
pub struct Setup {
    pub nice: Option<i32>,
    /// (class, data) for ioprio_set.
    pub ionice: Option<(i32, i32)>,
    /// The value to write to /proc/self/oom_score_adj.
    pub oom_score_adj: Option<std::ffi::CString>,
    /// (resource, soft, hard); `RLIMIT_KEEP` keeps that half.
    pub rlimits: Vec<(i32, u64, u64)>,
    /// chdir after the chroot.
    pub directory: Option<std::ffi::CString>,
    pub umask: Option<u32>,
    /// (uid, gid, supplementary groups).
    pub ids: Option<(u32, u32, Vec<u32>)>,
    pub no_new_privs: bool,
    /// (inheritable, ambient, bounding drops) as capability bit masks.
    pub caps: Option<(u64, u64, u64)>,
    /// Files opened after dropping privileges, so permissions are the user's (V table):
    /// (path, open flags, mode, target fd).
    pub files: Vec<(std::ffi::CString, i32, u32, i32)>,
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
            setup: None,
            intermediate: false,
        }
    }
}

/// A spawned child: its pid only. Waiting is the reaper's job.
#[derive(Debug, Clone, Copy)]
pub struct Spawned {
    /// The child (with [`Options::intermediate`], the intermediate, whose exit is the
    /// command's).
    pub pid: i32,
    /// The command's own process group (its session): the child's, or below an intermediate
    /// the command's pid.
    pub group: i32,
}

/// A child's standard stream other than rcinit's own.
#[derive(Debug)]
pub enum Io {
    /// /dev/null, read and write.
    Null,
    /// This fd (dup'ed onto the stream; the caller's copy is closed when `Options` drops).
    Fd(OwnedFd),
}

impl From<OwnedFd> for Io {
    fn from(fd: OwnedFd) -> Self {
        Io::Fd(fd)
    }
}

/// Where an unqualified program name is looked up when the child's environment has no PATH.
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Bytes of stack for the child between clone and exec: the setup below needs a few KiB.
const CHILD_STACK: usize = 128 * 1024;

/// The most descriptor pairs a child places: it has no allocator between clone and exec, so
/// the room for them is a fixed array.
const MAX_FD_PAIRS: usize = 8;

fn c_string(bytes: &[u8], what: &str) -> Result<CString> {
    CString::new(bytes).with_context(|| {
        format!(
            "{what} {:?} holds a NUL byte",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Spawns with [`Options`].
///
/// The child shares rcinit's memory until it execs (`clone(CLONE_VM | CLONE_VFORK)`, what
/// posix_spawn does): no page table is copied and rcinit's heap is not write-protected behind its
/// back, which made `fork` cost about half a millisecond per service. The calling thread waits
/// until the child has exec'd or failed; the child only makes raw syscalls on data prepared here.
pub fn spawn_with(argv: &[OsString], opts: Options<'_>) -> Result<Spawned> {
    let Some(prog) = argv.first() else {
        bail!("empty command");
    };
    let starting = || format!("starting {}", prog.to_string_lossy());
    if opts.fds.len() > MAX_FD_PAIRS {
        return Err(anyhow::anyhow!(
            "{} descriptors to place in the child; at most {MAX_FD_PAIRS}",
            opts.fds.len()
        ))
        .with_context(starting);
    }
    let args = argv
        .iter()
        .map(|a| c_string(a.as_bytes(), "argument"))
        .collect::<Result<Vec<_>>>()
        .with_context(starting)?;
    let env = env_entries(opts.env).with_context(starting)?;
    let candidates = candidates(prog.as_bytes(), &env).with_context(starting)?;
    let chroot = match opts.chroot {
        Some(p) => Some(
            c_string(p.as_os_str().as_bytes(), "chroot path")
                .with_context(|| format!("chroot path {}", p.display()))?,
        ),
        None => None,
    };
    let null = if [&opts.stdin, &opts.stdout, &opts.stderr]
        .iter()
        .any(|s| matches!(s, Some(Io::Null)))
    {
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .context("opening /dev/null")?,
        )
    } else {
        None
    };
    let source = |io: &Option<Io>| match io {
        None => -1,
        Some(Io::Null) => null.as_ref().map_or(-1, |f| f.as_raw_fd()),
        Some(Io::Fd(fd)) => fd.as_raw_fd(),
    };
    let child = Child {
        grouping: opts.grouping,
        stdio: [
            source(&opts.stdin),
            source(&opts.stdout),
            source(&opts.stderr),
        ],
        setup: opts.setup,
        chroot,
        fds: opts.fds,
        candidates,
        argv: args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        envp: env
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        error: AtomicI32::new(0),
        step: AtomicI32::new(step::OTHER),
    };
    if opts.intermediate {
        return spawn_below(child, starting);
    }
    spawn_here(child, starting)
}

/// [`spawn_with`]'s clone, as posix_spawn does it: the child shares rcinit's memory until it
/// has exec'd or failed, and this thread waits meanwhile.
fn spawn_here(child: Child, starting: impl Fn() -> String) -> Result<Spawned> {
    let stack = Stack::new(CHILD_STACK).with_context(&starting)?;
    // SAFETY: the child shares our memory (CLONE_VM) and we wait until it has exec'd or exited
    // (CLONE_VFORK): `child` and `stack` outlive it.
    let pid = unsafe {
        clone_blocked(
            child_main,
            &stack,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&child as *const Child).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).with_context(&starting);
    }
    // CLONE_VFORK: the child has exec'd or exited by now.
    let errno = child.error.load(Ordering::SeqCst);
    drop(stack);
    if errno != 0 {
        // It exited without exec'ing: take its status here, as std's Command does, so no exit of
        // a process that never ran reaches the reaper. The event loop runs on this thread, so the
        // reaper cannot take it first.
        #[allow(clippy::disallowed_methods)]
        // SAFETY: waits for our own child, which has exited.
        unsafe {
            libc::waitpid(pid, std::ptr::null_mut(), 0)
        };
        return Err(failure(&child, errno)).with_context(&starting);
    }
    Ok(Spawned { pid, group: pid })
}

/// The child's environment entries, `NAME=value`; a later setting of a name wins, as with
/// std's Command.
fn env_entries(env: &[(OsString, OsString)]) -> Result<Vec<CString>> {
    let mut last: Vec<(&[u8], &[u8])> = Vec::with_capacity(env.len());
    for (k, v) in env {
        let (k, v) = (k.as_bytes(), v.as_bytes());
        match last.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => last.push((k, v)),
        }
    }
    last.iter()
        .map(|(k, v)| c_string(&[*k, b"=", *v].concat(), "environment entry"))
        .collect()
}

/// The paths to try for `prog`, in the order of the child's PATH (execvp's rule).
fn candidates(prog: &[u8], env: &[CString]) -> Result<Vec<CString>> {
    if prog.contains(&b'/') {
        return Ok(vec![c_string(prog, "program")?]);
    }
    let path = env
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(|&c| c == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            c_string(&[dir, b"/", prog].concat(), "program")
        })
        .collect()
}

/// The error of a child that did not exec, naming the setup step that failed.
fn failure(child: &Child, errno: i32) -> anyhow::Error {
    let err = std::io::Error::from_raw_os_error(errno);
    let setup = child.setup.as_ref();
    let at = match child.step.load(Ordering::SeqCst) {
        step::CHROOT => child
            .chroot
            .as_ref()
            .map(|c| format!("chroot {}", c.to_string_lossy())),
        step::DIRECTORY => setup
            .and_then(|s| s.directory.as_ref())
            .map(|d| format!("directory {}", d.to_string_lossy())),
        step::USER => setup
            .and_then(|s| s.ids.as_ref())
            .map(|(u, g, _)| format!("switching to uid {u} gid {g}")),
        n if n >= step::FILE => usize::try_from(n - step::FILE)
            .ok()
            .and_then(|k| setup?.files.get(k))
            .map(|f| f.0.to_string_lossy().into_owned()),
        _ => None,
    };
    match at {
        Some(at) => anyhow::Error::new(err).context(at),
        None => anyhow::Error::new(err),
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

/// This binary by a path the scripts can run: its own, or /proc's view of it where that path
/// is gone or hidden.
pub fn own_exe() -> String {
    std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("/proc/{}/exe", std::process::id()))
}

/// Kills a process group (SIGKILL) when dropped: what a wait cut short leaves of a child's
/// session (a script run, an evaluation batch) goes with it. Groups 0 and 1 are never signalled.
pub struct KillGroup(pub i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if self.0 > 1 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping of /proc/self/maps that starts at `addr`: its end and its permissions.
    fn mapping_at(addr: usize) -> Option<(usize, String)> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        maps.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let (a, b) = range.split_once('-')?;
            let a = usize::from_str_radix(a, 16).ok()?;
            let b = usize::from_str_radix(b, 16).ok()?;
            (a == addr).then(|| (b, perms.to_string()))
        })
    }

    #[test]
    fn a_childs_stack_ends_in_a_page_it_cannot_touch() {
        let s = Stack::new(CHILD_STACK).unwrap();
        let base = s.base as usize;
        let (guard_end, perms) = mapping_at(base).expect("the stack's first page is mapped");
        assert_eq!(perms, "---p", "the lowest page is inaccessible");
        let (end, perms) = mapping_at(guard_end).expect("the stack above the guard");
        assert_eq!(perms, "rw-p");
        assert!(
            end - guard_end >= CHILD_STACK,
            "the whole stack is usable above it"
        );
        assert!(s.top() as usize <= end && (s.top() as usize).is_multiple_of(16));
    }
}
