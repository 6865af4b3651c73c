//! Signal intake for PID 1.
//!
//! Every signal rcinit cares about is blocked in the first lines of `main` ([`block_early`]), then
//! handlers are registered and only then unblocked ([`Intake::install`]). A signal that arrives in
//! between stays pending in the kernel and is delivered to the handler: a `docker stop` during startup
//! is never lost. (For a namespace's init, a signal with the default disposition is discarded, so
//! unblocking before the handlers exist would drop it.)
//!
//! Handlers only set a per-signal flag and write a byte to a non-blocking socket (both
//! async-signal-safe; one socket for all signals); the event loop wakes on it and takes the flags.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

/// What Docker (`STOPSIGNAL SIGRTMIN+3`) and systemd call SIGRTMIN+3. glibc's SIGRTMIN is 34, musl's
/// is 35, so `SIGRTMIN()+3` would differ between builds; the number is what senders use.
pub const SIG_RTMIN3: i32 = 37;

/// Signals PID 1 handles. SIGCHLD drives the reaper; the rest are described in `policy::signals`.
pub const HANDLED: &[i32] = &[
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGPWR,
    SIG_RTMIN3,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
];

/// Largest signal number + 1 on Linux.
const NSIG: usize = 65;

/// Raw sigset of [`HANDLED`]. `nix::Signal` has no variant for real-time signals, so the set is built
/// with libc.
fn handled_set() -> SigSet {
    let mut raw = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given, sigaddset adds valid signal numbers,
    // so the set handed to nix is initialised and valid.
    unsafe {
        libc::sigemptyset(raw.as_mut_ptr());
        for &sig in HANDLED {
            libc::sigaddset(raw.as_mut_ptr(), sig);
        }
        SigSet::from_sigset_t_unchecked(raw.assume_init())
    }
}

/// Blocks every handled signal. Called first thing in `main`, before anything can fail.
pub fn block_early() {
    // Failure is impossible with a valid set; nothing to do about it anyway.
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None);
}

/// Undoes [`block_early`] for client commands, which are ordinary processes: Ctrl-C must work.
pub fn unblock_early() {
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&handled_set()), None);
}

/// The registered handlers: flags plus the socket that wakes the event loop.
pub struct Intake {
    flags: Arc<[AtomicBool; NSIG]>,
    wake: UnixStream,
    /// The handlers' end: open for as long as they may run.
    _notify: OwnedFd,
}

impl Intake {
    /// Registers the handlers, then unblocks the signals (pending ones are delivered now).
    /// For an init (`as_init`), job-control stop signals are ignored: when rcinit is not PID 1 a
    /// background write to the terminal must not stop it. Children get every disposition reset
    /// (see `spawn`). Client commands keep job control.
    pub fn install(as_init: bool) -> Result<Self> {
        let flags: Arc<[AtomicBool; NSIG]> =
            Arc::new(std::array::from_fn(|_| AtomicBool::new(false)));
        let (wake, notify) = UnixStream::pair().context("creating the signal wake-up socket")?;
        wake.set_nonblocking(true)
            .context("signal socket: non-blocking")?;
        notify
            .set_nonblocking(true)
            .context("signal socket: non-blocking")?;
        let notify: OwnedFd = notify.into();
        // One descriptor wakes the loop for every signal (a descriptor each would take a tenth
        // of a low RLIMIT_NOFILE for nothing).
        let raw = notify.as_raw_fd();
        for &sig in HANDLED {
            let flags = Arc::clone(&flags);
            // SAFETY: the action stores to an atomic and writes one byte to a non-blocking
            // socket (both async-signal-safe), keeping the interrupted code's errno.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    flags[sig as usize].store(true, Ordering::SeqCst);
                    let errno = *libc::__errno_location();
                    libc::write(raw, b"\x01".as_ptr().cast(), 1);
                    *libc::__errno_location() = errno;
                })
            }
            .with_context(|| format!("registering a handler for signal {sig}"))?;
        }
        if as_init {
            for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
                // SAFETY: SIG_IGN installs no code.
                let _ =
                    unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
            }
        }
        sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&handled_set()), None)
            .context("unblocking signals")?;
        Ok(Self {
            flags,
            wake,
            _notify: notify,
        })
    }

    /// Signals that arrived since the last call, in ascending number order (SIGCHLD is 17, after the
    /// stop signals 2 and 15, so a stop is seen before the exits it caused).
    pub fn take(&self) -> Vec<i32> {
        let mut buf = [0u8; 256];
        while matches!(std::io::Read::read(&mut &self.wake, &mut buf), Ok(n) if n > 0) {}
        (1..NSIG)
            .filter(|&s| self.flags[s].swap(false, Ordering::SeqCst))
            .map(|s| s as i32)
            .collect()
    }

    /// Moves the wake-up socket into the async runtime.
    pub fn into_async(self) -> Result<AsyncIntake> {
        let wake = tokio::net::UnixStream::from_std(self.wake.try_clone()?)
            .context("registering the signal socket with the event loop")?;
        Ok(AsyncIntake { inner: self, wake })
    }
}

/// [`Intake`] inside the tokio runtime.
pub struct AsyncIntake {
    inner: Intake,
    wake: tokio::net::UnixStream,
}

impl AsyncIntake {
    /// Waits until at least one signal arrived, then returns what arrived.
    pub async fn next(&self) -> Vec<i32> {
        loop {
            let got = self.take();
            if !got.is_empty() {
                return got;
            }
            if self.wake.readable().await.is_err() {
                // The socket cannot fail while we hold both ends; never spin if it somehow does.
                std::future::pending::<()>().await;
            }
            let mut buf = [0u8; 256];
            while matches!(self.wake.try_read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    /// Signals pending right now, without waiting.
    pub fn take(&self) -> Vec<i32> {
        self.inner.take()
    }
}

/// A signal's name for messages ("SIGTERM", "SIGRTMIN+3", or the number).
pub fn name(sig: i32) -> String {
    if sig == SIG_RTMIN3 {
        return "SIGRTMIN+3".into();
    }
    Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {sig}"))
}
