//! Spawning below an intermediate (start-stop-daemon's shape for a command that forks): a plain
//! fork that starts the command, reports its pid, and waits for it.

use super::*;

/// What an intermediate reports once its child has exec'd (or failed to): the child's pid, the
/// errno of its failed step (0: it runs) and that step.
pub(super) const REPORT: usize = 12;

/// [`spawn_with`] below an intermediate: a plain fork of rcinit (its memory a copy, so it may
/// outlive this call) that starts the command as [`spawn_with`] would, reports the command's
/// pid and errno on a pipe, closes every descriptor, waits for the command and exits with its
/// status. It runs raw syscalls only on data prepared before the fork.
pub(super) fn spawn_below(child: Child, starting: impl Fn() -> String) -> Result<Spawned> {
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

/// The intermediate's data: the command's, where to report, and the stack of its vfork.
pub(super) struct Below {
    pub(super) child: Child,
    pub(super) report: i32,
    pub(super) stack: Stack,
    pub(super) max_fd: i32,
}

/// The intermediate: start the command, report, wait, exit with its status.
pub(super) extern "C" fn intermediate_main(arg: *mut libc::c_void) -> libc::c_int {
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
