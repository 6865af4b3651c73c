//! What `rcinit status` shows, as data and as a table (pure).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::state::State;

/// The status of the runlevel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub runlevel: String,
    pub services: Vec<Service>,
}

/// One service's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub state: State,
    pub pid: Option<i32>,
    /// Seconds in the current state.
    pub since: u64,
    pub restarts: u32,
    /// "ok" or "failing" when the service has health checks and one ran.
    pub health: Option<String>,
    /// Why it is in its state: the last exit, "gave up after 3 respawns", "healthcheck failed"...
    pub why: Option<String>,
    /// Part of the booted runlevel (else only started by hand).
    pub in_runlevel: bool,
}

/// `3s`, `2m05s`, `1h02m`, `3d04h`: short and exact enough for a glance.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if d > 0 => format!("{d}d{h:02}h"),
        _ if h > 0 => format!("{h}h{m:02}m"),
        _ if m > 0 => format!("{m}m{s:02}s"),
        _ => format!("{s}s"),
    }
}

/// The table: a header naming the runlevel, then one aligned line per service.
pub fn table(r: &Report) -> String {
    let head = [
        "SERVICE", "STATE", "PID", "FOR", "RESTARTS", "HEALTH", "WHY",
    ];
    let rows: Vec<[String; 7]> = r
        .services
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.state.to_string(),
                s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                duration(s.since),
                s.restarts.to_string(),
                s.health.clone().unwrap_or_else(|| "-".into()),
                s.why.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = format!("Runlevel: {}\n", r.runlevel);
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&head.map(String::from), &mut out);
    for row in &rows {
        line(row, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, state: State) -> Service {
        Service {
            name: name.into(),
            state,
            pid: None,
            since: 0,
            restarts: 0,
            health: None,
            why: None,
            in_runlevel: true,
        }
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(3600 + 120), "1h02m");
        assert_eq!(duration(3 * 86400 + 4 * 3600 + 59), "3d04h");
    }

    #[test]
    fn table_aligns_columns_and_names_the_runlevel() {
        let mut web = svc("webapp", State::Started);
        web.pid = Some(42);
        web.since = 65;
        web.restarts = 2;
        web.health = Some("ok".into());
        let mut db = svc("db", State::Failed);
        db.why = Some("gave up after 3 respawns".into());
        let t = table(&Report {
            runlevel: "default".into(),
            services: vec![web, db],
        });
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Runlevel: default");
        assert_eq!(
            lines[1],
            "SERVICE  STATE    PID  FOR    RESTARTS  HEALTH  WHY"
        );
        assert_eq!(lines[2], "webapp   started  42   1m05s  2         ok");
        assert_eq!(
            lines[3],
            "db       failed   -    0s     0         -       gave up after 3 respawns"
        );
    }
}
