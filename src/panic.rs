//! If a bug panics anyway: stop everything, reap, exit 70 (EX_SOFTWARE).
//!
//! The release profile aborts on panic (Cargo.toml says why); this hook runs before the abort and
//! never returns, so the container ends the same way whatever the build and wherever the panic was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::policy::exit::EXIT_BUG;
use crate::sweep::{Role, signal_all};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Installs the hook for a booting rcinit (role and grace as the boot uses them).
pub fn install(role: Role, grace: Duration) {
    std::panic::set_hook(Box::new(move |info| {
        // A panic inside the hook itself (or on another thread at once) must not recurse.
        if PANICKING.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit ends the process at once; nothing is left to clean up here.
            unsafe { libc::_exit(EXIT_BUG) }
        }
        // Through the output thread: a stalled stderr must not stop the cleanup, and a closed
        // one must not panic again.
        crate::output::message(
            format!(
                "[rcinit] error: BUG: rcinit panicked: {info}\n[rcinit] error: stopping every process and exiting {EXIT_BUG}\n"
            )
            .into_bytes(),
        );
        signal_all(role, Signal::SIGTERM);
        if !reap_until(Instant::now() + grace) {
            signal_all(role, Signal::SIGKILL);
            reap_until(Instant::now() + Duration::from_secs(1));
        }
        crate::output::flush(Duration::from_millis(500));
        // SAFETY: _exit skips destructors and atexit handlers, which may hold the state that panicked.
        unsafe { libc::_exit(EXIT_BUG) }
    }));
}

/// Reaps until no child is left (true) or the deadline passes (false). The event loop is gone
/// here, so this polls; it only runs on the way out after a bug.
fn reap_until(deadline: Instant) -> bool {
    loop {
        #[allow(clippy::disallowed_methods)]
        // the event loop's reaper is gone; this is the last one
        match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(Errno::ECHILD) => return true,
            Ok(WaitStatus::StillAlive) | Err(_) => {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(_) => {}
        }
    }
}
