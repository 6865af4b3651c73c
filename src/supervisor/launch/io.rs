//! What the daemon reads and writes, and how it says it is ready: `input_file`, the output and
//! error logs or loggers, `notify`.

use std::collections::BTreeMap;

use super::{Notify, Sink, pick};
use crate::supervisor::daemon_args::DaemonArgs;

/// The daemon's streams and readiness, for the launch.
pub(super) struct Streams {
    pub(super) stdin: Option<String>,
    pub(super) stdout: Sink,
    pub(super) stderr: Sink,
    pub(super) notify: Option<Notify>,
}

/// The helper's options first, as for the rest; stdout is checked before stderr, then notify.
pub(super) fn streams(vars: &BTreeMap<String, String>, da: &DaemonArgs) -> Result<Streams, String> {
    let stdout = file_or_logger(
        da.stdout
            .clone()
            .or_else(|| vars.get("output_log").cloned()),
        da.stdout_logger
            .clone()
            .or_else(|| vars.get("output_logger").cloned()),
        "output",
    )?;
    let stderr = file_or_logger(
        da.stderr.clone().or_else(|| vars.get("error_log").cloned()),
        da.stderr_logger
            .clone()
            .or_else(|| vars.get("error_logger").cloned()),
        "error",
    )?;
    let notify = match pick(&da.notify, vars, "notify") {
        None => None,
        Some(n) => Some(parse_notify(&n)?),
    };
    Ok(Streams {
        stdin: pick(&da.stdin, vars, "input_file"),
        stdout,
        stderr,
        notify,
    })
}

/// A stream goes to a file or to a logger, not both: OpenRC refuses the pair.
fn file_or_logger(
    file: Option<String>,
    logger: Option<String>,
    what: &str,
) -> Result<Sink, String> {
    match (
        file.filter(|f| !f.is_empty()),
        logger.filter(|l| !l.is_empty()),
    ) {
        (Some(_), Some(_)) => Err(format!(
            "{what}_log and {what}_logger cannot be used together"
        )),
        (Some(f), None) => Ok(Sink::File(f)),
        (None, Some(l)) => Ok(Sink::Logger(l)),
        (None, None) => Ok(Sink::Forward),
    }
}

fn parse_notify(n: &str) -> Result<Notify, String> {
    if n == "socket:ready" {
        return Ok(Notify::Socket);
    }
    match n.strip_prefix("fd:").map(|f| f.parse::<i32>()) {
        Some(Ok(fd)) if fd > 2 => Ok(Notify::Fd(fd)),
        _ => Err(format!(
            "notify={n:?}: expected fd:N (N > 2) or socket:ready"
        )),
    }
}
