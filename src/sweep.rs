//! The final sweep: signal every process left, so nothing outlives the container's init unreaped.
//!
//! As PID 1, `kill(-1, sig)` reaches every process of the namespace but ourselves. As a subreaper
//! (not PID 1) only our descendants are ours to kill; they are found in /proc.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::procfs;

/// Whether rcinit is the namespace's init or a subreaper below another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pid1,
    Subreaper,
}

impl Role {
    pub fn detect() -> Self {
        if std::process::id() == 1 {
            Role::Pid1
        } else {
            Role::Subreaper
        }
    }
}

/// Sends `sig` to every process rcinit is responsible for; returns how many were signalled
/// (as PID 1: 1 when `kill(-1)` reached anything, 0 when nothing is left).
pub fn signal_all(role: Role, sig: Signal) -> usize {
    match role {
        Role::Pid1 => {
            let hit = kill(Pid::from_raw(-1), sig).is_ok();
            if sig == Signal::SIGTERM {
                let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
            }
            usize::from(hit)
        }
        Role::Subreaper => {
            let me = std::process::id() as i32;
            // Two passes: a process forking while we read /proc leaves a child the first pass
            // missed. Each process is signalled once: a second TERM means "hurry" to many
            // programs (a nested rcinit among them). A stopped process gets SIGCONT too, so it
            // can act on the SIGTERM.
            let mut done = std::collections::HashSet::new();
            for _ in 0..2 {
                for pid in procfs::descendants(me) {
                    if !done.insert(pid) {
                        continue;
                    }
                    let _ = kill(Pid::from_raw(pid), sig);
                    if sig == Signal::SIGTERM {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
                    }
                }
            }
            done.len()
        }
    }
}
