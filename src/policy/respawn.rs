//! supervise-daemon's respawn rule, exactly (openrc-compat.md S-10, S-11, 0.6x defaults) (pure).

use std::time::Duration;

/// The respawn parameters of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `respawn_delay`.
    pub delay: Duration,
    /// `respawn_max`: respawns allowed per window; 0 = unlimited.
    pub max: u32,
    /// `respawn_period`: the window, from the first exit; zero = no window (never resets).
    pub period: Duration,
    /// `--respawn-delay-step`: added per respawn already counted.
    pub step: Duration,
    /// `--respawn-delay-cap`: the most delay + step * count may reach (only when step > 0).
    pub cap: Duration,
}

impl Default for Policy {
    /// 0.62+ defaults: delay 0, max 10, period 12 s, step 128 ms, cap 30 s.
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            max: 10,
            period: Duration::from_secs(12),
            step: Duration::from_millis(128),
            cap: Duration::from_secs(30),
        }
    }
}

/// What to do after the daemon exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Spawn again after this delay; `count` is the respawn counter (supervise-daemon's
    /// `start_count`).
    Respawn { after: Duration, count: u32 },
    /// The limit is reached: the service becomes `failed` ("gave up after N respawns").
    GiveUp { respawns: u32 },
}

/// The counting state of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Start of the current window (ms on a monotonic clock), if one is open.
    first: Option<u64>,
    count: u32,
}

impl Counter {
    /// One exit at `now_ms` (monotonic). S-11 step by step: the window opens at the first exit;
    /// an exit after the window closed resets the count and is itself not counted.
    pub fn on_exit(&mut self, now_ms: u64, p: &Policy) -> Decision {
        let first = *self.first.get_or_insert(now_ms);
        let period = p.period.as_millis() as u64;
        if period > 0 && now_ms.saturating_sub(first) > period {
            self.count = 0;
            self.first = None;
        } else {
            self.count = self.count.saturating_add(1);
        }
        if p.max > 0 && self.count > p.max {
            return Decision::GiveUp {
                respawns: self.count - 1,
            };
        }
        // Script-given durations: the sum may not fit (a huge step, thousands of respawns).
        let mut after = p
            .step
            .checked_mul(self.count)
            .and_then(|s| s.checked_add(p.delay))
            .unwrap_or(Duration::MAX);
        if !p.step.is_zero() {
            after = after.min(p.cap);
        }
        Decision::Respawn {
            after,
            count: self.count,
        }
    }
}

/// A 0.62+ duration: an integer with an optional unit `ms`, `s`/`sec`/`seconds` (the default),
/// `m`/`min`/`minutes`, `h`/`hour`/`hours`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (a whole number, then ms, s, m or h)"))?;
    let per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        u => return Err(format!("{text:?}: unknown unit {u:?} (ms, s, m or h)")),
    };
    let ms = n
        .checked_mul(per_unit)
        .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    Ok(Duration::from_millis(ms))
}

/// The policy from a script's variables (unset ones keep the defaults).
pub fn from_vars(
    delay: Option<&str>,
    max: Option<&str>,
    period: Option<&str>,
) -> Result<Policy, String> {
    let mut p = Policy::default();
    if let Some(d) = delay.filter(|v| !v.trim().is_empty()) {
        p.delay = parse_duration(d).map_err(|e| format!("respawn_delay: {e}"))?;
    }
    if let Some(m) = max.filter(|v| !v.trim().is_empty()) {
        p.max = m
            .trim()
            .parse()
            .map_err(|_| format!("respawn_max: {m:?} is not a whole number"))?;
    }
    if let Some(per) = period.filter(|v| !v.trim().is_empty()) {
        p.period = parse_duration(per).map_err(|e| format!("respawn_period: {e}"))?;
    }
    Ok(p)
}

/// supervise-daemon's backoff (0.62+, `--respawn-delay-step`, `--respawn-delay-cap`) over a
/// policy; unset ones keep 0.6x's defaults (128 ms, 30 s).
pub fn with_backoff(
    mut p: Policy,
    step: Option<&str>,
    cap: Option<&str>,
) -> Result<Policy, String> {
    if let Some(s) = step.filter(|v| !v.trim().is_empty()) {
        p.step = parse_duration(s).map_err(|e| format!("--respawn-delay-step: {e}"))?;
    }
    if let Some(c) = cap.filter(|v| !v.trim().is_empty()) {
        p.cap = parse_duration(c).map_err(|e| format!("--respawn-delay-cap: {e}"))?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_step_times_many_respawns_is_capped_not_a_panic() {
        let p = Policy {
            max: 0,
            period: Duration::ZERO,
            step: Duration::from_millis(u64::MAX),
            delay: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        };
        let mut c = Counter::default();
        for k in 0..2000u64 {
            assert_eq!(
                c.on_exit(k, &p),
                Decision::Respawn {
                    after: Duration::from_secs(30),
                    count: u32::try_from(k + 1).unwrap()
                }
            );
        }
        // No step: the delay alone, however large.
        let p = Policy {
            step: Duration::ZERO,
            delay: Duration::MAX,
            ..p
        };
        assert!(matches!(
            Counter::default().on_exit(0, &p),
            Decision::Respawn { after, .. } if after == Duration::MAX
        ));
    }

    fn run(p: &Policy, exits_at: &[u64]) -> Vec<Decision> {
        let mut c = Counter::default();
        exits_at.iter().map(|&t| c.on_exit(t, p)).collect()
    }

    #[test]
    fn respawn_max_n_allows_n_respawns_then_gives_up_s12() {
        let p = Policy {
            max: 2,
            period: Duration::ZERO,
            step: Duration::ZERO,
            ..Policy::default()
        };
        let d = run(&p, &[100, 200, 300]);
        assert!(matches!(d[0], Decision::Respawn { count: 1, .. }));
        assert!(matches!(d[1], Decision::Respawn { count: 2, .. }));
        assert_eq!(d[2], Decision::GiveUp { respawns: 2 });
    }

    #[test]
    fn defaults_respawn_ten_times_with_a_growing_delay_then_give_up() {
        let p = Policy::default();
        let mut c = Counter::default();
        let mut now = 1_000;
        let mut delays = Vec::new();
        loop {
            match c.on_exit(now, &p) {
                Decision::Respawn { after, .. } => {
                    delays.push(after.as_millis() as u64);
                    now += after.as_millis() as u64 + 1;
                }
                Decision::GiveUp { respawns } => {
                    assert_eq!(respawns, 10);
                    break;
                }
            }
        }
        assert_eq!(delays, (1..=10).map(|i| 128 * i).collect::<Vec<_>>());
        // About 7 s in all, as S-12 says of a daemon dying at once.
        assert!(now - 1_000 < 7_100, "{now}");
    }

    #[test]
    fn the_window_opens_at_the_first_exit_and_the_resetting_exit_is_not_counted() {
        let p = Policy {
            max: 1,
            period: Duration::from_secs(10),
            step: Duration::ZERO,
            ..Policy::default()
        };
        // Exits at 0 s and 5 s: count 1; the third at 10.001 s closes the window: not counted.
        let d = run(&p, &[1, 5_000, 10_002, 10_003, 10_004]);
        assert!(matches!(d[0], Decision::Respawn { count: 1, .. }));
        assert_eq!(d[1], Decision::GiveUp { respawns: 1 });
        // (after giving up the service stays failed; the counter itself would go on:)
        assert!(matches!(d[2], Decision::Respawn { count: 0, .. }));
        assert!(matches!(d[3], Decision::Respawn { count: 1, .. }));
        assert_eq!(d[4], Decision::GiveUp { respawns: 1 });
    }

    #[test]
    fn unlimited_and_capped() {
        let p = Policy {
            max: 0,
            step: Duration::from_secs(1),
            cap: Duration::from_secs(3),
            period: Duration::ZERO,
            ..Policy::default()
        };
        let d = run(&p, &[1, 2, 3, 4, 5, 6]);
        let after: Vec<u64> = d
            .iter()
            .map(|x| match x {
                Decision::Respawn { after, .. } => after.as_secs(),
                Decision::GiveUp { .. } => u64::MAX,
            })
            .collect();
        assert_eq!(after, [1, 2, 3, 3, 3, 3]);
    }

    #[test]
    fn durations_and_variables() {
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert_eq!(parse_duration("12sec"), Ok(Duration::from_secs(12)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2 min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        assert!(
            parse_duration("18446744073709551615h")
                .unwrap_err()
                .contains("too long")
        );
        let p = from_vars(Some("2"), Some("5"), Some("1800")).unwrap();
        assert_eq!(
            (p.delay, p.max, p.period),
            (Duration::from_secs(2), 5, Duration::from_secs(1800))
        );
        assert!(
            from_vars(None, Some("many"), None)
                .unwrap_err()
                .contains("respawn_max")
        );
        assert_eq!(from_vars(None, None, None).unwrap(), Policy::default());
    }
}
