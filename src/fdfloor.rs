//! How many file descriptors PID 1 may open (RLIMIT_NOFILE), checked before anything starts:
//! below [`FLOOR`] it cannot run at all and says so (exit [`EXIT_NOFILE`]); below [`ENOUGH`]
//! it runs, and says once what that costs.
//!
//! What the floor holds: stdin, stdout, stderr; the signal wake-up pair and the event loop's
//! copy; the event loop's epoll and eventfd; the output writer's; the control socket; the
//! initctl FIFO; /dev/null; and one evaluation shell's channel and stderr pipe.
//!
//! [`EXIT_NOFILE`]: crate::policy::exit::EXIT_NOFILE

pub const FLOOR: u64 = 16;
/// Room for a few services starting at once (each takes 2 to 4 while it starts).
pub const ENOUGH: u64 = 64;

/// What to do with this soft limit (pure).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Fine,
    /// Runs; the message says what is given up.
    Degraded(String),
    /// Cannot run: the message says why and how to fix it.
    Refuse(String),
}

pub fn judge(soft: u64) -> Verdict {
    if soft < FLOOR {
        Verdict::Refuse(format!(
            "RLIMIT_NOFILE is {soft}: rcinit needs at least {FLOOR} file descriptors to run, \
             and more for its services (docker run --ulimit nofile=1024:1024, or ulimit -n 1024)"
        ))
    } else if soft < ENOUGH {
        Verdict::Degraded(format!(
            "RLIMIT_NOFILE is {soft}: each service takes 2 to 4 descriptors while it starts \
             and each evaluation shell 4, so only a few can start at once; a start that gets no \
             descriptor fails (EMFILE), rcinit itself runs on (at least {ENOUGH} is better)"
        ))
    } else {
        Verdict::Fine
    }
}

/// The soft limit now (unlimited reads as u64::MAX).
pub fn soft_limit() -> u64 {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => soft,
        Err(_) => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_enough() {
        assert!(matches!(judge(0), Verdict::Refuse(_)));
        assert!(matches!(judge(FLOOR - 1), Verdict::Refuse(m) if m.contains("at least 16")));
        assert!(matches!(judge(FLOOR), Verdict::Degraded(_)));
        assert!(matches!(judge(ENOUGH - 1), Verdict::Degraded(_)));
        assert_eq!(judge(ENOUGH), Verdict::Fine);
        assert_eq!(judge(u64::MAX), Verdict::Fine);
    }
}
