//! The one place that waits on pids.
//!
//! On every SIGCHLD the event loop calls [`Reaper::reap`], which drains `waitpid(-1, WNOHANG)` until
//! no zombie is left and routes each exit to the owner that asked to [`Reaper::watch`] the pid.
//! Everything else is an orphan re-parented to us: reaped, logged at debug level, forgotten.
//!
//! Nothing else may wait (clippy's `disallowed-methods` enforces it): a second waiter either steals
//! an exit status from its owner or gets ECHILD, and `std` panics on ECHILD in places.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
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
            #[allow(clippy::disallowed_methods)] // this is the reaper
            let status = nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG));
            let (pid, exit) = match status {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Exit::Signal(sig as i32)),
                // Stopped/continued children are not exits; WNOHANG without WUNTRACED never
                // reports them, but be exact about what ends the loop.
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => {
                    out.no_children = true;
                    break;
                }
                Err(e) => {
                    tracing::error!("waitpid(-1) failed: {e}");
                    break;
                }
            };
            out.reaped += 1;
            match self.owners.remove(&pid.as_raw()) {
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
