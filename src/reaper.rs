//! The one place that waits on pids.
//!
//! On every SIGCHLD the event loop calls [`Reaper::reap`], which drains `waitpid(-1, WNOHANG)` until
//! no zombie is left and routes each exit to the owner that asked to [`Reaper::watch`] the pid.
//! Everything else is an orphan re-parented to us: reaped, logged at debug level, forgotten.
//!
//! Nothing else may wait (clippy's `disallowed-methods` enforces it): a second waiter either steals
//! an exit status from its owner or gets ECHILD, and `std` panics on ECHILD in places.

use std::collections::HashMap;

use tokio::sync::oneshot;

use crate::policy::exit::Exit;

/// How one drain ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Processes reaped in this drain (watched ones and orphans).
    pub reaped: usize,
    /// `waitpid` said ECHILD: we have no child at all any more.
    pub no_children: bool,
}

/// Routes exit statuses to their owners.
#[derive(Default)]
pub struct Reaper {
    owners: HashMap<i32, oneshot::Sender<Exit>>,
    /// Orphans reaped since start, for diagnostics.
    pub orphans: u64,
}

impl Reaper {
    /// Asks to be told when `pid` exits. Call it right after spawning, before the event loop runs
    /// again: the loop is single-threaded, so the exit cannot have been reaped in between.
    pub fn watch(&mut self, pid: i32) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.owners.insert(pid, tx);
        rx
    }

    /// Whether someone waits for `pid` already (a pidfile must not name a process of rcinit's
    /// own that is another service's).
    pub fn is_watched(&self, pid: i32) -> bool {
        self.owners.contains_key(&pid)
    }

    /// Reaps every zombie we have now; never blocks.
    pub fn reap(&mut self) -> Drained {
        let mut out = Drained::default();
        loop {
            let (pid, exit) = match wait_any() {
                Waited::Exit(pid, exit) => (pid, exit),
                Waited::Nothing => break,
                Waited::NotAnExit => continue,
                Waited::NoChildren => {
                    out.no_children = true;
                    break;
                }
                Waited::Failed(e) => {
                    // Only bad arguments make waitpid fail so; nothing would change on retry.
                    tracing::error!("waitpid(-1) failed: {e}");
                    break;
                }
            };
            out.reaped += 1;
            match self.owners.remove(&pid) {
                // The owner may have gone away (its task ended); the exit is then simply dropped.
                Some(tx) => {
                    let _ = tx.send(exit);
                }
                None => {
                    self.orphans += 1;
                    tracing::debug!("reaped orphan {pid}: {exit}");
                }
            }
        }
        out
    }
}

/// What one `waitpid(-1, WNOHANG)` said.
#[derive(Debug)]
enum Waited {
    Exit(i32, Exit),
    /// Children, none of them a zombie.
    Nothing,
    /// A stop or continue report (not asked for; never an exit).
    NotAnExit,
    NoChildren,
    Failed(std::io::Error),
}

/// One wait, the raw status decoded here as tini and catatonit do: a library's own decoding
/// may not know a signal (a real-time one, 34..64) and fail after the zombie is gone, losing
/// the exit and stopping the drain.
fn wait_any() -> Waited {
    loop {
        let mut status: libc::c_int = 0;
        #[allow(clippy::disallowed_methods)] // this is the reaper
        // SAFETY: waitpid with a valid out-pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            return match decode(status) {
                Some(exit) => Waited::Exit(pid, exit),
                None => Waited::NotAnExit,
            };
        }
        if pid == 0 {
            return Waited::Nothing;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Waited::NoChildren,
            _ => return Waited::Failed(e),
        }
    }
}

/// A raw wait status as an exit: any exit code, any signal 1..=64 (pure).
pub fn decode(status: libc::c_int) -> Option<Exit> {
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_statuses_decode_for_every_signal_and_code() {
        for code in 0..=255 {
            assert_eq!(decode(code << 8), Some(Exit::Code(code)));
        }
        for sig in 1..=64 {
            // Killed, with and without a core dump.
            assert_eq!(decode(sig), Some(Exit::Signal(sig)), "signal {sig}");
            assert_eq!(
                decode(sig | 0x80),
                Some(Exit::Signal(sig)),
                "signal {sig} (core)"
            );
        }
        // Stopped by SIGSTOP (0x137f) and continued (0xffff): not exits.
        assert_eq!(decode(0x137f), None);
        assert_eq!(decode(0xffff), None);
        assert_eq!(Exit::Signal(40).shell_code(), 168);
    }
}
