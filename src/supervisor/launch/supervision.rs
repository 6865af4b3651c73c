//! How rcinit keeps and stops the daemon: supervise-daemon's respawn policy and health checks
//! (S-11, S-30), and the stop sequence of `retry` and `stopsig`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Health, nonempty, pick};
use crate::policy::respawn::{self, Policy};
use crate::policy::retry::{self, Step};
use crate::supervisor::daemon_args::DaemonArgs;

/// Only supervise-daemon respawns and checks health; start-stop-daemon gets the defaults.
pub(super) fn respawn_and_health(
    vars: &BTreeMap<String, String>,
    supervised: bool,
    da: &DaemonArgs,
    warnings: &mut Vec<String>,
) -> Result<(Policy, Option<Health>), String> {
    if !supervised {
        return Ok((Policy::default(), None));
    }
    let policy = respawn::from_vars(
        pick(&da.respawn_delay, vars, "respawn_delay").as_deref(),
        pick(&da.respawn_max, vars, "respawn_max").as_deref(),
        pick(&da.respawn_period, vars, "respawn_period").as_deref(),
    )
    .and_then(|p| {
        respawn::with_backoff(
            p,
            da.respawn_delay_step.as_deref(),
            da.respawn_delay_cap.as_deref(),
        )
    })?;
    let health = health(vars, da)?;
    if health.is_some()
        && !vars
            .get("extra_commands")
            .is_some_and(|e| e.split_whitespace().any(|w| w == "healthcheck"))
    {
        // T-01: OpenRC then fails every check as an unknown command; so does rcinit.
        warnings.push(
            "healthcheck_timer is set but extra_commands no longer lists healthcheck: every check will fail (T-01)".into(),
        );
    }
    Ok((policy, health))
}

/// Without a delay the first check waits one timer period, as supervise-daemon does.
fn health(vars: &BTreeMap<String, String>, da: &DaemonArgs) -> Result<Option<Health>, String> {
    let delay = secs(
        pick(&da.healthcheck_delay, vars, "healthcheck_delay"),
        "healthcheck_delay",
    )?;
    let timer = secs(
        pick(&da.healthcheck_timer, vars, "healthcheck_timer"),
        "healthcheck_timer",
    )?;
    Ok(match (delay, timer) {
        (None, None) => None,
        (d, t) => Some(Health {
            delay: d.or(t).unwrap_or_default(),
            timer: t,
        }),
    })
}

/// Health check periods are whole seconds, at least one, as supervise-daemon takes them.
fn secs(v: Option<String>, what: &str) -> Result<Option<Duration>, String> {
    match v {
        None => Ok(None),
        Some(t) => match t.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(Duration::from_secs(n))),
            _ => Err(format!(
                "{what}={t:?} is not a whole number of seconds >= 1"
            )),
        },
    }
}

/// `--retry` and `--signal` win over `retry` and `stopsig`, as on the helper's command line.
pub(super) fn stop(vars: &BTreeMap<String, String>, da: &DaemonArgs) -> Result<Vec<Step>, String> {
    retry::parse(
        da.retry
            .as_deref()
            .or(nonempty(vars, "retry").map(String::as_str)),
        da.signal
            .as_deref()
            .or(nonempty(vars, "stopsig").map(String::as_str)),
    )
}
