//! Container-wide settings from `RCINIT_*` environment variables (durations in milliseconds).

use std::time::Duration;

/// Settings of the boot.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `RCINIT_SERVICES_GRACETIME`: how long the CMD and services get, all together, to stop.
    pub services_grace: Duration,
    /// `RCINIT_KILL_GRACETIME`: how long the final SIGTERM sweep waits before SIGKILL.
    pub kill_grace: Duration,
    /// `RCINIT_EVAL_TIMEOUT`: how long one script's evaluation may take.
    pub eval_timeout: Duration,
    /// RCINIT_READY_TIMEOUT: how long a `notify` daemon may take to say it is ready.
    pub ready_timeout: Duration,
    /// `RCINIT_START_TIMEOUT` (seconds, 0 for none): how long a start may take, unless the
    /// script says otherwise (`rcinit_start_timeout`, `keyword -timeout`).
    pub start_timeout: Option<Duration>,
    /// RCINIT_CRITICAL: services whose failure stops the container (with `rcinit_critical=yes`).
    pub critical: Vec<String>,
    /// `RCINIT_RUNLEVEL`: the runlevel to boot when none is named on the command line.
    pub runlevel: Option<String>,
    /// `RCINIT_PROVIDE`: the virtual names the container provides (replaces the built-in list).
    pub provide: Option<Vec<String>>,
    /// Problems found while reading the settings, to log once logging is up.
    pub warnings: Vec<String>,
}

pub const DEFAULT_SERVICES_GRACE_MS: u64 = 7000;
pub const DEFAULT_KILL_GRACE_MS: u64 = 2000;
pub const DEFAULT_EVAL_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_READY_TIMEOUT_MS: u64 = 60_000;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (pure, for tests). A malformed value is a warning and the
    /// default applies: PID 1 does not refuse to boot over a typo, but it says so loudly.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut warnings = Vec::new();
        let mut ms = |name: &str, default: u64| -> Duration {
            match get(name) {
                None => Duration::from_millis(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) => Duration::from_millis(n),
                    Err(_) => {
                        warnings.push(format!(
                            "{name}={v:?} is not a whole number of milliseconds; using {default}"
                        ));
                        Duration::from_millis(default)
                    }
                },
            }
        };
        let services_grace = ms("RCINIT_SERVICES_GRACETIME", DEFAULT_SERVICES_GRACE_MS);
        let kill_grace = ms("RCINIT_KILL_GRACETIME", DEFAULT_KILL_GRACE_MS);
        let eval_timeout = ms("RCINIT_EVAL_TIMEOUT", DEFAULT_EVAL_TIMEOUT_MS);
        let ready_timeout = ms("RCINIT_READY_TIMEOUT", DEFAULT_READY_TIMEOUT_MS);
        let default_start = Some(crate::policy::budget::DEFAULT_START_TIMEOUT);
        let start_timeout = match get("RCINIT_START_TIMEOUT") {
            None => default_start,
            Some(v) => crate::policy::budget::parse_seconds(&v).unwrap_or_else(|e| {
                warnings.push(format!("RCINIT_START_TIMEOUT: {e}; using 90 s"));
                default_start
            }),
        };
        Self {
            services_grace,
            kill_grace,
            eval_timeout,
            ready_timeout,
            start_timeout,
            critical: get("RCINIT_CRITICAL")
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            runlevel: get("RCINIT_RUNLEVEL").filter(|v| !v.is_empty()),
            provide: get("RCINIT_PROVIDE")
                .map(|v| v.split_whitespace().map(str::to_owned).collect()),
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_defaults_and_warnings() {
        let s = Settings::from_lookup(|_| None);
        assert_eq!(s.services_grace, Duration::from_millis(7000));
        assert_eq!(s.kill_grace, Duration::from_millis(2000));
        assert!(s.warnings.is_empty());
        assert_eq!(s.start_timeout, Some(Duration::from_secs(90)));

        let s = Settings::from_lookup(|k| (k == "RCINIT_START_TIMEOUT").then(|| "2".into()));
        assert_eq!(s.start_timeout, Some(Duration::from_secs(2)));
        let s = Settings::from_lookup(|k| (k == "RCINIT_START_TIMEOUT").then(|| "0".into()));
        assert_eq!(s.start_timeout, None);

        let s = Settings::from_lookup(|k| (k == "RCINIT_KILL_GRACETIME").then(|| " 250 ".into()));
        assert_eq!(s.kill_grace, Duration::from_millis(250));

        let s = Settings::from_lookup(|k| (k == "RCINIT_KILL_GRACETIME").then(|| "2s".into()));
        assert_eq!(s.kill_grace, Duration::from_millis(2000));
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains("RCINIT_KILL_GRACETIME=\"2s\""),
            "{:?}",
            s.warnings
        );
    }
}
