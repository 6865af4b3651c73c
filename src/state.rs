//! The status model: one state per service, named as OpenRC names them, each with why (pure).
//! `status`, the critical-service policy and `check` read this one model.

use std::fmt;

use serde::Serialize;

use crate::policy::exit::Exit;

/// A service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Stopped,
    /// start_pre/start running, or waiting for readiness.
    Starting,
    Started,
    Stopping,
    /// Started, but its daemon is dead while a respawn is pending.
    Crashed,
    /// A start failed, or respawning gave up.
    Failed,
    Inactive,
}

impl State {
    /// Up: started, crashed (a respawn pending) or inactive (its start marked it so, L-22). Not
    /// started again; what it runs is supervised.
    pub fn is_up(self) -> bool {
        matches!(self, State::Started | State::Crashed | State::Inactive)
    }

    /// Up or still starting: a stop has something to end.
    pub fn has_work_to_stop(self) -> bool {
        self.is_up() || self == State::Starting
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::Started => "started",
            State::Stopping => "stopping",
            State::Crashed => "crashed",
            State::Failed => "failed",
            State::Inactive => "inactive",
        };
        f.write_str(s)
    }
}

/// Why a service is in its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its daemon ended.
    Exited(Exit),
    GaveUp {
        respawns: u32,
    },
    HealthcheckFailed,
    /// A need of it did not start.
    Needs {
        service: String,
        reason: String,
    },
    /// Anything else, said in words (command not found, unknown user, ...).
    Said(String),
    /// Stopped on request (not a failure).
    Requested,
    /// Started, but its daemon is not one rcinit can see (why): readiness does not vouch for it.
    Untracked(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Exited(e) => write!(f, "{e}"),
            Why::GaveUp { respawns } => write!(f, "gave up after {respawns} respawns"),
            Why::HealthcheckFailed => f.write_str("healthcheck failed"),
            Why::Needs { service, reason } => write!(f, "needs {service}, which {reason}"),
            Why::Said(s) => f.write_str(s),
            Why::Requested => f.write_str("stopped on request"),
            Why::Untracked(why) => write!(f, "untracked: {why}"),
        }
    }
}

/// What `check` answers for one service (Docker's HEALTHCHECK, Kubernetes' exec probe): a
/// service an administrator stopped on purpose is fine; failed and crashed are not, nor is a
/// failing healthcheck.
pub fn healthy(state: State, why: Option<&Why>, health_ok: bool) -> bool {
    match state {
        State::Failed | State::Crashed => false,
        State::Stopped => matches!(why, None | Some(Why::Requested)),
        _ => health_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_reasons_read_as_status_prints_them() {
        assert_eq!(State::Crashed.to_string(), "crashed");
        assert_eq!(
            serde_json::to_string(&State::Started).unwrap(),
            "\"started\""
        );
        assert_eq!(
            Why::GaveUp { respawns: 3 }.to_string(),
            "gave up after 3 respawns"
        );
        assert_eq!(
            Why::Exited(Exit::Signal(9)).to_string(),
            "killed by SIGKILL"
        );
        assert_eq!(
            Why::Needs {
                service: "db".into(),
                reason: "failed".into()
            }
            .to_string(),
            "needs db, which failed"
        );
    }

    #[test]
    fn check_counts_failures_not_deliberate_stops() {
        assert!(healthy(State::Started, None, true));
        assert!(!healthy(State::Started, None, false));
        assert!(healthy(State::Stopped, Some(&Why::Requested), true));
        assert!(!healthy(
            State::Stopped,
            Some(&Why::Exited(Exit::Code(1))),
            true
        ));
        assert!(!healthy(State::Failed, None, true));
        assert!(!healthy(State::Crashed, None, true));
        assert!(healthy(State::Starting, None, true));
    }
}
