//! The child between clone and exec: it shares rcinit's memory (CLONE_VM) and allocates
//! nothing, so everything here is raw system calls on data prepared before the clone.

use super::*;

/// The identity and limit calls of a child between clone and exec, as raw system calls: musl's
/// wrappers of setgroups, setgid, setuid and setrlimit apply the change to every thread of the
/// process (__synccall, which signals them), and a CLONE_VM child shares rcinit's threads'
/// memory without being one of them.
pub(super) mod raw {
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
pub(super) struct Child {
    pub(super) grouping: Grouping,
    pub(super) setup: Option<Setup>,
    pub(super) chroot: Option<CString>,
    pub(super) fds: Vec<(i32, i32)>,
    /// Sources for fds 0, 1, 2; -1 keeps rcinit's.
    pub(super) stdio: [i32; 3],
    /// Paths to try, in PATH order.
    pub(super) candidates: Vec<CString>,
    pub(super) argv: Vec<*const libc::c_char>,
    pub(super) envp: Vec<*const libc::c_char>,
    /// The errno of the failed step, written by the child before it exits.
    pub(super) error: AtomicI32,
    /// Which step the child was at ([`Step`]), so a failure names the path that failed.
    pub(super) step: AtomicI32,
}

/// The steps of a daemon's setup a failure is named by.
pub(super) mod step {
    pub const OTHER: i32 = 0;
    pub const CHROOT: i32 = 1;
    pub const DIRECTORY: i32 = 2;
    pub const USER: i32 = 3;
    /// FILE + k: the k-th file of the setup.
    pub const FILE: i32 = 16;
}

/// The child's side of [`spawn_with`]: setup, then exec, or `_exit(127)` with the errno stored.
pub(super) extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
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

pub(super) fn check(r: libc::c_int) -> std::io::Result<()> {
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
pub(super) unsafe fn daemon_setup_early(s: &Setup) -> std::io::Result<()> {
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
pub(super) unsafe fn daemon_setup_late(s: &Setup, at: &AtomicI32) -> std::io::Result<()> {
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
pub(super) unsafe fn set_caps(
    inheritable: u64,
    ambient: u64,
    non_root: bool,
) -> std::io::Result<()> {
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
pub(super) fn child_setup(grouping: Grouping) -> std::io::Result<()> {
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
pub(super) unsafe fn reset_signals() {
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
