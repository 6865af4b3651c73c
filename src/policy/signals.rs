//! What each signal means to PID 1 (pure): one meaning per signal.

use libc::{SIGHUP, SIGINT, SIGPWR, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

use crate::signals::SIG_RTMIN3;

/// What to do with a signal that reached PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Begin the orderly shutdown; pass `forward` on to the CMD if one runs.
    Stop { forward: i32 },
    /// A second stop signal while stopping: skip to the final kill.
    KillNow,
    /// Pass the signal on to the CMD.
    Forward,
    /// Log it and carry on.
    Ignore,
}

/// `has_cmd`: a CMD is running. `stopping`: the shutdown has begun.
pub fn action(sig: i32, has_cmd: bool, stopping: bool) -> Action {
    match sig {
        SIGTERM | SIGINT if stopping => Action::KillNow,
        SIGTERM | SIGINT => Action::Stop { forward: sig },
        // Power failure and systemd's/Docker's SIGRTMIN+3 ask for a stop; the CMD gets the usual TERM.
        SIGPWR | SIG_RTMIN3 if stopping => Action::Ignore,
        SIGPWR | SIG_RTMIN3 => Action::Stop { forward: SIGTERM },
        // busybox halt / poweroff talk to PID 1 with these; with a CMD they belong to the CMD.
        SIGUSR1 | SIGUSR2 if has_cmd => Action::Forward,
        SIGUSR1 | SIGUSR2 if stopping => Action::Ignore,
        SIGUSR1 | SIGUSR2 => Action::Stop { forward: SIGTERM },
        SIGHUP | SIGQUIT | SIGWINCH if has_cmd => Action::Forward,
        _ => Action::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_has_one_meaning() {
        use Action::*;
        let table: &[(i32, bool, bool, Action)] = &[
            (SIGTERM, true, false, Stop { forward: SIGTERM }),
            (SIGTERM, false, false, Stop { forward: SIGTERM }),
            (SIGINT, true, false, Stop { forward: SIGINT }),
            (SIGTERM, true, true, KillNow),
            (SIGINT, false, true, KillNow),
            (SIGPWR, true, false, Stop { forward: SIGTERM }),
            (37, false, false, Stop { forward: SIGTERM }),
            (37, false, true, Ignore),
            (SIGUSR1, false, false, Stop { forward: SIGTERM }),
            (SIGUSR2, false, false, Stop { forward: SIGTERM }),
            (SIGUSR1, true, false, Forward),
            (SIGUSR2, true, true, Forward),
            (SIGHUP, true, false, Forward),
            (SIGQUIT, true, false, Forward),
            (SIGWINCH, true, false, Forward),
            (SIGHUP, false, false, Ignore),
            (SIGQUIT, false, false, Ignore),
            (SIGWINCH, false, false, Ignore),
        ];
        for &(sig, has_cmd, stopping, want) in table {
            assert_eq!(
                action(sig, has_cmd, stopping),
                want,
                "sig {sig} cmd {has_cmd} stopping {stopping}"
            );
        }
    }
}
