//! How a process ended, and which code rcinit exits with (pure).

use std::fmt;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by {}", crate::signals::name(s)),
        }
    }
}

/// Why the container is going down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A stop was asked for (SIGTERM, SIGINT, SIGPWR, SIGRTMIN+3, or busybox's halt/poweroff).
    /// `forwarded` is the signal passed on to the CMD, if there was one running.
    Requested { forwarded: Option<i32> },
    /// The CMD ended by itself.
    CmdEnded(Exit),
    /// The boot could not proceed: the init scripts name a runlevel that does not exist, or
    /// stacked runlevels loop.
    BootFailed,
    /// A critical service failed (its start failed, or respawning gave up).
    CriticalFailed,
}

/// A critical service failed: the orchestrator sees a failure, distinct from a CMD's usual
/// codes and from a bug (daemontools' "system failure" code).
pub const EXIT_CRITICAL: i32 = 111;

/// A configuration error stopped the boot.
pub const EXIT_CONFIG: i32 = 1;

/// EX_OSERR: too few file descriptors (RLIMIT_NOFILE) for rcinit to run at all; said before
/// anything starts.
pub const EXIT_NOFILE: i32 = 71;

/// EX_SOFTWARE: a bug in rcinit (a panic). Distinct from every code a CMD or a stop gives.
pub const EXIT_BUG: i32 = 70;

/// The code rcinit exits with.
///
/// - The CMD ended by itself: its code (128 + N when killed by signal N), as tini does.
/// - A requested stop: 0, as long as the CMD (if any) ended because of the stop: by the forwarded
///   signal, by the 128 + that signal a shell exits with, by a clean exit, or by rcinit's own final
///   SIGKILL when it ignored the signal. A CMD that answers the stop with its own error code
///   (`exit 3` from its trap) keeps that code: it is telling something.
pub fn exit_code(cause: StopCause, cmd: Option<Exit>) -> i32 {
    match cause {
        StopCause::CmdEnded(e) => e.shell_code(),
        StopCause::BootFailed => EXIT_CONFIG,
        StopCause::CriticalFailed => EXIT_CRITICAL,
        StopCause::Requested { forwarded } => match (cmd, forwarded) {
            (None, _) | (Some(Exit::Code(0)), _) => 0,
            (Some(Exit::Signal(libc::SIGKILL)), _) => 0,
            (Some(Exit::Signal(s)), Some(f)) if s == f || s == libc::SIGTERM => 0,
            (Some(Exit::Code(c)), Some(f)) if c == 128 + f || c == 128 + libc::SIGTERM => 0,
            (Some(e), _) => e.shell_code(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{SIGINT, SIGKILL, SIGSEGV, SIGTERM};

    #[test]
    fn exit_codes_table() {
        let req = |f| StopCause::Requested { forwarded: f };
        let table: &[(StopCause, Option<Exit>, i32)] = &[
            // The CMD ended on its own: its code passes through.
            (StopCause::CmdEnded(Exit::Code(0)), None, 0),
            (StopCause::CmdEnded(Exit::Code(7)), None, 7),
            (StopCause::CmdEnded(Exit::Signal(SIGKILL)), None, 137),
            (StopCause::CmdEnded(Exit::Signal(SIGSEGV)), None, 139),
            (StopCause::BootFailed, None, 1),
            (StopCause::CriticalFailed, None, 111),
            (StopCause::CriticalFailed, Some(Exit::Code(0)), 111),
            // docker stop without a CMD.
            (req(None), None, 0),
            // docker stop, the CMD died of the forwarded signal or exited as a shell does.
            (req(Some(SIGTERM)), Some(Exit::Signal(SIGTERM)), 0),
            (req(Some(SIGTERM)), Some(Exit::Code(143)), 0),
            (req(Some(SIGINT)), Some(Exit::Signal(SIGINT)), 0),
            (req(Some(SIGINT)), Some(Exit::Code(130)), 0),
            (req(Some(SIGTERM)), Some(Exit::Code(0)), 0),
            // It ignored the signal and rcinit killed it: still the stop that was asked for.
            (req(Some(SIGTERM)), Some(Exit::Signal(SIGKILL)), 0),
            // It answered the stop with an error of its own, or crashed: say so.
            (req(Some(SIGTERM)), Some(Exit::Code(3)), 3),
            (req(Some(SIGTERM)), Some(Exit::Signal(SIGSEGV)), 139),
        ];
        for &(cause, cmd, want) in table {
            assert_eq!(exit_code(cause, cmd), want, "{cause:?} {cmd:?}");
        }
    }

    #[test]
    fn display_names_the_signal() {
        assert_eq!(Exit::Signal(SIGKILL).to_string(), "killed by SIGKILL");
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
    }
}
