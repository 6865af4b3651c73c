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

/// The stack a child runs on between clone and exec: a mapping of its own whose lowest page is
/// inaccessible, so a child that overflows it faults instead of writing over rcinit's memory
/// (which, with CLONE_VM, it shares).
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

impl Stack {
    fn new(size: usize) -> std::io::Result<Stack> {
        // SAFETY: sysconf reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        let len = size
            .div_ceil(page)
            .checked_add(1)
            .and_then(|pages| pages.checked_mul(page))
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the first page of the mapping made above, which only `stack` owns.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// Where the child's stack pointer starts: the stack grows down on every architecture rcinit
    /// builds for, and the top is kept 16-byte aligned.
    fn top(&self) -> *mut libc::c_void {
        ((self.base as usize + self.len) & !15) as *mut libc::c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made, unmapped once (no child runs on it any more: the
        // callers drop it after the child exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// The identity and limit calls of a child between clone and exec, as raw system calls: musl's
/// wrappers of setgroups, setgid, setuid and setrlimit apply the change to every thread of the
/// process (__synccall, which signals them), and a CLONE_VM child shares rcinit's threads'
/// memory without being one of them.
mod raw {
    /// # Safety
    /// A process-wide change of this process's supplementary groups.
    pub unsafe fn setgroups(groups: &[libc::gid_t]) -> libc::c_int {
        // SAFETY: the kernel reads `groups.len()` ids from the slice.
        unsafe {
            libc::syscall(
                libc::SYS_setgroups,
                groups.len() as libc::c_long,
                groups.as_ptr(),
            ) as libc::c_int
        }
    }

    /// # Safety
    /// Changes this process's real, effective and saved group id.
    pub unsafe fn setresgid(gid: libc::gid_t) -> libc::c_int {
        let g = libc::c_long::from(gid);
        // SAFETY: three ids by value.
        unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) as libc::c_int }
    }

    /// # Safety
    /// Changes this process's real, effective and saved user id.
    pub unsafe fn setresuid(uid: libc::uid_t) -> libc::c_int {
        let u = libc::c_long::from(uid);
        // SAFETY: three ids by value.
        unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) as libc::c_int }
    }

    /// prlimit64 on this process: sets `new` when given, reads the old value into `old` when given.
    ///
    /// # Safety
    /// Changes this process's limits.
    pub unsafe fn prlimit(
        resource: libc::c_int,
        new: Option<&libc::rlimit>,
        old: Option<&mut libc::rlimit>,
    ) -> libc::c_int {
        let new = new.map_or(std::ptr::null(), |n| n as *const libc::rlimit);
        let old = old.map_or(std::ptr::null_mut(), |o| o as *mut libc::rlimit);
        // SAFETY: the kernel reads `new` and writes `old`, each an rlimit64 (libc's rlimit on
        // every 64-bit target rcinit builds for) or null.
        unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                0 as libc::c_long,
                libc::c_long::from(resource),
                new,
                old,
            ) as libc::c_int
        }
    }
}

/// Everything the child needs, built before the clone: it allocates nothing afterwards.
struct Child {
    grouping: Grouping,
    setup: Option<Setup>,
    chroot: Option<CString>,
    fds: Vec<(i32, i32)>,
    /// Sources for fds 0, 1, 2; -1 keeps rcinit's.
    stdio: [i32; 3],
    /// Paths to try, in PATH order.
    candidates: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The errno of the failed step, written by the child before it exits.
    error: AtomicI32,
    /// Which step the child was at ([`Step`]), so a failure names the path that failed.
    step: AtomicI32,
}

/// The steps of a daemon's setup a failure is named by.
mod step {
    pub const OTHER: i32 = 0;
    pub const CHROOT: i32 = 1;
    pub const DIRECTORY: i32 = 2;
    pub const USER: i32 = 3;
    /// FILE + k: the k-th file of the setup.
    pub const FILE: i32 = 16;
}

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
#[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
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
    // Later settings of a name win, as with std's Command.
    let mut env: Vec<(&[u8], &[u8])> = Vec::with_capacity(opts.env.len());
    for (k, v) in opts.env {
        let (k, v) = (k.as_bytes(), v.as_bytes());
        match env.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
    let env = env
        .iter()
        .map(|(k, v)| c_string(&[*k, b"=", *v].concat(), "environment entry"))
        .collect::<Result<Vec<_>>>()
        .with_context(starting)?;
    let prog = prog.as_bytes();
    let candidates = if prog.contains(&b'/') {
        vec![c_string(prog, "program").with_context(starting)?]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(|&c| c == b':')
            .map(|dir| {
                let dir = if dir.is_empty() { b".".as_slice() } else { dir };
                c_string(&[dir, b"/", prog].concat(), "program")
            })
            .collect::<Result<Vec<_>>>()
            .with_context(starting)?
    };
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
    let stack = Stack::new(CHILD_STACK).with_context(starting)?;
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
        return Err(std::io::Error::last_os_error()).with_context(starting);
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
        return Err(failure(&child, errno)).with_context(starting);
    }
    Ok(Spawned { pid, group: pid })
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

/// What an intermediate reports once its child has exec'd (or failed to): the child's pid, the
/// errno of its failed step (0: it runs) and that step.
const REPORT: usize = 12;

/// [`spawn_with`] below an intermediate: a plain fork of rcinit (its memory a copy, so it may
/// outlive this call) that starts the command as [`spawn_with`] would, reports the command's
/// pid and errno on a pipe, closes every descriptor, waits for the command and exits with its
/// status. It runs raw syscalls only on data prepared before the fork.
fn spawn_below(child: Child, starting: impl Fn() -> String) -> Result<Spawned> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(std::io::Error::from)
        .with_context(&starting)?;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let below = Below {
        child,
        report: w.as_raw_fd(),
        stack: Stack::new(CHILD_STACK).with_context(&starting)?,
        // Where close_range is missing (before 5.9, or a seccomp profile older than it), each
        // descriptor below the limit is closed one by one.
        max_fd: i32::try_from(limit.rlim_cur.min(1 << 20)).unwrap_or(1 << 20),
    };
    let stack = Stack::new(CHILD_STACK).with_context(&starting)?;
    // SAFETY: a plain fork (no CLONE_VM): the intermediate gets a copy of our memory, `below`
    // and both stacks included, and runs intermediate_main on its copy. Every signal stays
    // blocked in it (it only waits; the command resets its own mask).
    let pid = unsafe {
        clone_blocked(
            intermediate_main,
            &stack,
            libc::SIGCHLD,
            (&below as *const Below).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).with_context(starting);
    }
    drop(w);
    let mut buf = [0u8; REPORT];
    let mut got = 0;
    while got < REPORT {
        match nix::unistd::read(&r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    let [a, b, c, d, e, f, g, h, i, j, k, l] = buf;
    let cmd = i32::from_ne_bytes([a, b, c, d]);
    let errno = i32::from_ne_bytes([e, f, g, h]);
    below
        .child
        .step
        .store(i32::from_ne_bytes([i, j, k, l]), Ordering::SeqCst);
    if got < REPORT || cmd <= 0 || errno != 0 {
        #[allow(clippy::disallowed_methods)]
        // SAFETY: waits for our own child, which exits at once after a failed report.
        unsafe {
            libc::waitpid(pid, std::ptr::null_mut(), 0)
        };
        let errno = if errno != 0 { errno } else { libc::ECHILD };
        return Err(failure(&below.child, errno)).with_context(starting);
    }
    drop(stack);
    Ok(Spawned { pid, group: cmd })
}

/// clone(2) with every signal blocked around it: no handler of ours may run in a child that
/// shares or copies our memory before it has reset them (child_setup); our mask is restored
/// after. Returns the pid, or -1.
///
/// # Safety
/// `entry` runs with `arg` on `stack` in the child: both must stay valid for as long as `flags`
/// make the child use them.
unsafe fn clone_blocked(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack: &Stack,
    flags: libc::c_int,
    arg: *mut libc::c_void,
) -> i32 {
    let top = stack.top();
    // SAFETY: sigset_t is plain data, filled and read by sigfillset and pthread_sigmask; clone
    // as the caller vouches.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(entry, top, flags, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        pid
    }
}

/// The intermediate's data: the command's, where to report, and the stack of its vfork.
struct Below {
    child: Child,
    report: i32,
    stack: Stack,
    max_fd: i32,
}

/// The intermediate: start the command, report, wait, exit with its status.
extern "C" fn intermediate_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is this process's own copy of the parent's `Below` (a plain fork).
    let b = unsafe { &mut *(arg as *mut Below) };
    // SAFETY: raw syscalls on this process's own copy of the data; the command's vfork child
    // runs child_main on it as spawn_with's does.
    unsafe {
        // Out of rcinit's process group: what is sent to that group is not for it.
        libc::setpgid(0, 0);
        let pid = clone_blocked(
            child_main,
            &b.stack,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&b.child as *const Child).cast_mut().cast(),
        );
        let errno = if pid < 0 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL)
        } else {
            b.child.error.load(Ordering::SeqCst)
        };
        let step = b.child.step.load(Ordering::SeqCst);
        let mut msg = [0u8; REPORT];
        msg[..4].copy_from_slice(&pid.to_ne_bytes());
        msg[4..8].copy_from_slice(&errno.to_ne_bytes());
        msg[8..].copy_from_slice(&step.to_ne_bytes());
        libc::write(b.report, msg.as_ptr().cast(), REPORT);
        // Nothing of rcinit's stays open here while the command runs (it may run for ever).
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..b.max_fd {
                libc::close(fd);
            }
        }
        if pid < 0 {
            libc::_exit(127);
        }
        let mut status = 0;
        loop {
            #[allow(clippy::disallowed_methods)]
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        // Killed: die of the same signal, so rcinit sees the command's real end (without a
        // core of this copy of rcinit).
        let sig = libc::WTERMSIG(status);
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        raw::prlimit(libc::RLIMIT_CORE as libc::c_int, Some(&none), None);
        libc::signal(sig, libc::SIG_DFL);
        let mut one: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig)
    }
}

/// The child's side of [`spawn_with`]: setup, then exec, or `_exit(127)` with the errno stored.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Child`, alive until this child execs or exits (CLONE_VFORK).
    let c = unsafe { &*(arg as *const Child) };
    // SAFETY: between clone and exec, as these functions require.
    let errno = match unsafe { c.setup_and_exec() } {
        Ok(()) => libc::EINVAL,
        Err(e) => e.raw_os_error().unwrap_or(libc::EINVAL),
    };
    c.error.store(errno, Ordering::SeqCst);
    // SAFETY: ends the child without running anything of the parent's (atexit, buffers).
    unsafe { libc::_exit(127) }
}

impl Child {
    /// Returns only on failure.
    ///
    /// # Safety
    /// Only in the child between clone and exec: raw syscalls on data prepared before the clone.
    unsafe fn setup_and_exec(&self) -> std::io::Result<()> {
        // SAFETY: raw, async-signal-safe syscalls on this process's fds, identity and signals.
        unsafe {
            // Standard streams first (a later setup file may replace one of them): sources below 3
            // are moved out of the way so that placing one does not overwrite another.
            let mut src = self.stdio;
            for s in src.iter_mut() {
                if (0..3).contains(s) {
                    *s = libc::fcntl(*s, libc::F_DUPFD_CLOEXEC, 3);
                    check(*s)?;
                }
            }
            for (target, &s) in src.iter().enumerate() {
                if s >= 0 && libc::dup2(s, target as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            child_setup(self.grouping)?;
            if let Some(s) = &self.setup {
                daemon_setup_early(s)?;
            }
            self.step.store(step::CHROOT, Ordering::SeqCst);
            if let Some(dir) = &self.chroot
                && (libc::chroot(dir.as_ptr()) < 0 || libc::chdir(c"/".as_ptr()) < 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // A source may be another pair's target (the records pipe on fd 8 while the answers
            // go to 8): move every source above all targets first, then place them.
            let fds = &self.fds;
            let base = fds.iter().map(|f| f.1).max().unwrap_or(2) + 1;
            let mut moved = [-1i32; MAX_FD_PAIRS];
            for (k, &(src, dst)) in fds.iter().enumerate().take(moved.len()) {
                if src != dst {
                    moved[k] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, base);
                    check(moved[k])?;
                }
            }
            for (k, &(src, dst)) in fds.iter().enumerate().take(moved.len()) {
                if src == dst {
                    libc::fcntl(dst, libc::F_SETFD, 0);
                } else if libc::dup2(moved[k], dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            self.step.store(step::OTHER, Ordering::SeqCst);
            if let Some(s) = &self.setup {
                daemon_setup_late(s, &self.step)?;
            }
            self.step.store(step::OTHER, Ordering::SeqCst);
            // execvp's rule: EACCES anywhere on the path is the error to report, else the last.
            let mut denied = false;
            let mut last = libc::ENOENT;
            for path in &self.candidates {
                libc::execve(path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
                last = std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::ENOENT);
                match last {
                    libc::EACCES => denied = true,
                    libc::ENOENT | libc::ENOTDIR => {}
                    _ => break,
                }
            }
            let errno = if denied && matches!(last, libc::ENOENT | libc::ENOTDIR) {
                libc::EACCES
            } else {
                last
            };
            Err(std::io::Error::from_raw_os_error(errno))
        }
    }
}

fn check(r: libc::c_int) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Before the chroot: priorities and limits (V-19).
///
/// # Safety
/// Only for a child between fork and exec.
unsafe fn daemon_setup_early(s: &Setup) -> std::io::Result<()> {
    // SAFETY: plain syscalls on our own process, with buffers prepared before the fork.
    unsafe {
        if let Some(n) = s.nice {
            check(libc::setpriority(libc::PRIO_PROCESS, 0, n))?;
        }
        if let Some((class, data)) = s.ionice {
            // IOPRIO_WHO_PROCESS = 1; the class sits above 13 bits of data.
            check(libc::syscall(libc::SYS_ioprio_set, 1, 0, (class << 13) | data) as libc::c_int)?;
        }
        if let Some(v) = &s.oom_score_adj {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            check(fd)?;
            let bytes = v.as_bytes();
            let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            libc::close(fd);
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for &(res, soft, hard) in &s.rlimits {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            check(raw::prlimit(res as _, None, Some(&mut cur)))?;
            let keep = u64::MAX - 1;
            if soft != keep {
                cur.rlim_cur = soft as _;
            }
            if hard != keep {
                cur.rlim_max = hard as _;
            }
            check(raw::prlimit(res as _, Some(&cur), None))?;
        }
    }
    Ok(())
}

/// After the chroot: directory, umask, identity, no_new_privs, then the files opened as the
/// daemon's user (V-19).
///
/// # Safety
/// Only for a child between fork and exec.
unsafe fn daemon_setup_late(s: &Setup, at: &AtomicI32) -> std::io::Result<()> {
    // SAFETY: plain syscalls on our own process, with buffers prepared before the fork.
    unsafe {
        if let Some(d) = &s.directory {
            at.store(step::DIRECTORY, Ordering::SeqCst);
            check(libc::chdir(d.as_ptr()))?;
        }
        at.store(step::OTHER, Ordering::SeqCst);
        if let Some(m) = s.umask {
            libc::umask(m as libc::mode_t);
        }
        if let Some((_, _, drop)) = s.caps {
            for cap in (0..64).filter(|c| drop & (1u64 << c) != 0) {
                check(libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0))?;
            }
        }
        let keep = s.caps.is_some_and(|(i, a, _)| i | a != 0);
        if let Some((uid, gid, groups)) = &s.ids {
            at.store(step::USER, Ordering::SeqCst);
            if keep {
                // The capabilities asked for must survive the change of user.
                check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0))?;
            }
            check(raw::setgroups(groups))?;
            check(raw::setresgid(*gid))?;
            check(raw::setresuid(*uid))?;
            at.store(step::OTHER, Ordering::SeqCst);
        }
        if let Some((inheritable, ambient, _)) = s.caps.filter(|_| keep) {
            set_caps(
                inheritable,
                ambient,
                s.ids.as_ref().is_some_and(|i| i.0 != 0),
            )?;
        }
        if s.no_new_privs {
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        for (k, (path, flags, mode, target)) in s.files.iter().enumerate() {
            at.store(step::FILE.saturating_add(k as i32), Ordering::SeqCst);
            // Non-blocking open: a FIFO without a peer must not hold the fork (and rcinit, which
            // waits for the exec) forever; a FIFO with no reader fails with ENXIO instead.
            let fd = libc::open(
                path.as_ptr(),
                *flags | libc::O_CLOEXEC | libc::O_NONBLOCK,
                *mode as libc::c_uint,
            );
            check(fd)?;
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
            check(libc::dup2(fd, *target))?;
            libc::close(fd);
        }
    }
    Ok(())
}

/// Sets the inheritable set and raises the ambient capabilities (which exec turns into the
/// daemon's permitted and effective sets). For a non-root user, permitted and effective shrink
/// to exactly what was asked: nothing else of root's survives.
///
/// # Safety
/// Only for a child between fork and exec.
unsafe fn set_caps(inheritable: u64, ambient: u64, non_root: bool) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget/capset read and write the header and two data structs we own; prctl
    // changes only this process's ambient set.
    unsafe {
        check(libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) as libc::c_int)?;
        for (k, w) in d.iter_mut().enumerate() {
            let part = |m: u64| (m >> (32 * k)) as u32;
            w.inheritable = part(inheritable);
            if non_root {
                w.permitted &= part(inheritable);
                w.effective = w.permitted;
            }
        }
        check(libc::syscall(libc::SYS_capset, &h, d.as_ptr()) as libc::c_int)?;
        for cap in (0..64).filter(|c| ambient & (1u64 << c) != 0) {
            check(libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                cap,
                0,
                0,
            ))?;
        }
    }
    Ok(())
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
