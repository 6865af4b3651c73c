//! The control socket: one JSON request and one JSON reply per line, between `rcinit status`
//! (and the applets) and PID 1.

use serde::{Deserialize, Serialize};

pub mod client;
pub mod gate;
mod handlers;
pub mod report;
pub mod server;

/// Where the socket is looked for, in order: `RCINIT_SOCKET`, then `/run/rcinit`, then
/// `/tmp/rcinit` (the fallback when `/run` is not writable for rcinit: read-only, or a
/// non-root USER). Server and client share this list, so neither needs configuring.
pub fn socket_candidates() -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("RCINIT_SOCKET").filter(|p| !p.is_empty()) {
        v.push(p.into());
        return v;
    }
    v.push("/run/rcinit/control.sock".into());
    v.push("/tmp/rcinit/control.sock".into());
    v
}

/// A request. Reading ones (status, check) are open to every user; the rest need root or the
/// user rcinit runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Status {
        #[serde(default)]
        services: Vec<String>,
    },
    /// Readiness; with `alive`, liveness.
    Check {
        #[serde(default)]
        alive: bool,
    },
    Start {
        services: Vec<String>,
    },
    Stop {
        services: Vec<String>,
    },
    Restart {
        services: Vec<String>,
    },
    /// A command of the script (`reload`, extra commands); its output goes to the stdout and
    /// stderr passed with the request (SCM_RIGHTS), or to the container log.
    Run {
        service: String,
        command: String,
    },
    /// OpenRC's start-stop-daemon or supervise-daemon, called by OpenRC's own openrc-run.
    Helper {
        service: String,
        argv: Vec<String>,
        #[serde(default)]
        env: Vec<(String, String)>,
    },
    /// Stop the container cleanly (exit 0).
    Shutdown,
}

impl Request {
    /// Whether the request changes anything.
    pub fn changes(&self) -> bool {
        !matches!(self, Request::Status { .. } | Request::Check { .. })
    }
}

/// A reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// What the client should exit with.
    pub code: i32,
    /// Lines for the client's stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<report::Report>,
    /// Not the reply yet: what the server is waiting for meanwhile (sent every
    /// [`HEARTBEAT`] while a start, stop or command runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// What a request waits for, and how long the server's own limits still let it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub what: String,
    /// Milliseconds until the server's limit for what it waits for; None: no limit (a start
    /// with `keyword -timeout`, a script command, a schedule with `forever`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_ms: Option<u64>,
}

/// How often a long request says what it waits for.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// The client's exit code when it gives up waiting (the server went silent, or its own limit
/// for what it waited for passed long ago).
pub const GAVE_UP: i32 = 7;

impl Reply {
    pub fn error(code: i32, message: impl Into<String>) -> Self {
        Reply {
            code,
            messages: vec![message.into()],
            ..Reply::default()
        }
    }
}

/// The longest request line the server reads.
pub const MAX_REQUEST: usize = 64 * 1024;

/// The reply code (and the client's exit code) of a connection refused for want of a slot.
pub const BUSY: i32 = 6;
