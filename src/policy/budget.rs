//! Time limits of a start and shares of the stop budget (pure).
//!
//! A start has a limit of rcinit's own (OpenRC has none, L-06): `RCINIT_START_TIMEOUT`, or the
//! script's `rcinit_start_timeout`, off with `keyword -timeout`. The stop budget
//! (`RCINIT_SERVICES_GRACETIME`) is shared by one rule: the CMD first, capped so the services keep
//! what they ask for; then each stop level in turn gets what its scripts' `retry` asks for, as
//! far as the levels after it keep a floor each; what a level does not use passes on.

use std::time::Duration;

use super::retry::Step;

/// RCINIT_START_TIMEOUT when unset.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a dependent waits for a service still starting before it goes on without it (D-34).
pub const DEPENDENT_WAIT: Duration = Duration::from_secs(60);

/// What each later stop level keeps of the budget while an earlier one stops, at most.
pub const LEVEL_FLOOR: Duration = Duration::from_secs(1);

/// A schedule that waits without limit (`forever`) asks for this: everything there is.
pub const UNBOUNDED: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A start limit: whole or decimal seconds; `0` turns the limit off.
pub fn parse_seconds(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    let secs: f64 = t
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| format!("{t:?} is not a number of seconds"))?;
    if secs == 0.0 {
        return Ok(None);
    }
    // Anything past a century is no limit at all; the conversion cannot fail below it.
    Ok(Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(UNBOUNDED)
            .min(UNBOUNDED),
    ))
}

/// Whether the keywords turn time limits off for the service (D-34, D-41).
pub fn no_timeout(keywords: &[String]) -> bool {
    keywords.iter().any(|k| k == "-timeout" || k == "notimeout")
}

/// Whether the keywords keep the shutdown from stopping the service by its script (D-41).
pub fn no_stop_at_shutdown(keywords: &[String]) -> bool {
    keywords
        .iter()
        .any(|k| matches!(k.as_str(), "-stop" | "nostop" | "-shutdown" | "noshutdown"))
}

/// The start limit of one service: none with `keyword -timeout`; else its own
/// `rcinit_start_timeout` when that reads; else the container's. A value that does not read
/// is said, and the container's applies.
pub fn start_limit(
    no_timeout: bool,
    own: Option<&str>,
    container: Option<Duration>,
) -> (Option<Duration>, Option<String>) {
    if no_timeout {
        return (None, None);
    }
    match own.map(parse_seconds) {
        None => (container, None),
        Some(Ok(l)) => (l, None),
        Some(Err(e)) => (container, Some(format!("rcinit_start_timeout: {e}"))),
    }
}

/// Why a start failed that its limit ended.
pub fn start_too_long(limit: Duration) -> String {
    format!("start did not finish in {}", secs(limit))
}

/// What a stop schedule asks for: its waits up to the first SIGKILL (what follows a SIGKILL
/// is only the reaping); a schedule without SIGKILL is killed at its end, so all its waits.
pub fn ask(steps: &[Step]) -> Duration {
    let mut total = Duration::ZERO;
    for s in steps {
        match s {
            Step::Signal(libc::SIGKILL) => break,
            Step::Signal(_) => {}
            Step::Wait(d) => total = total.saturating_add(*d),
            Step::Forever => return UNBOUNDED,
        }
    }
    total.min(UNBOUNDED)
}

/// The CMD's share of `budget` when services stop after it that ask `services` in all: what
/// they do not ask, but at least half. Without services to stop, all of it.
pub fn cmd_share(budget: Duration, services: Option<Duration>) -> Duration {
    match services {
        None => budget,
        Some(asked) => budget.saturating_sub(asked.min(budget / 2)),
    }
}

/// How long a service may take to stop when its turn comes, with `left` of the budget and
/// `levels` stop levels still to go, its own included: what its schedule asks, as far as each
/// later level keeps a floor; never less than an equal share of what is left.
pub fn share(left: Duration, levels: u32, ask: Duration) -> Duration {
    let levels = levels.max(1);
    let fair = left / levels;
    let reserve = LEVEL_FLOOR.min(fair).saturating_mul(levels - 1);
    ask.min(left.saturating_sub(reserve)).max(fair).min(left)
}

/// What the whole stop asks: the largest ask of each level, added up.
pub fn total(levels: &[Vec<Duration>]) -> Duration {
    levels
        .iter()
        .map(|l| l.iter().copied().max().unwrap_or(Duration::ZERO))
        .fold(Duration::ZERO, Duration::saturating_add)
        .min(UNBOUNDED)
}

/// The budget a stop needs so every service gets what it asks, the CMD included (which may
/// take up to half when the services ask for that much).
pub fn needed(total: Duration, cmd: bool) -> Duration {
    if cmd { total.saturating_mul(2) } else { total }
}

/// Seconds for a message: `5 s`, `2.5 s`, `without limit`.
pub fn secs(d: Duration) -> String {
    if d >= UNBOUNDED {
        return "without limit".into();
    }
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn start_limits_read_as_seconds_and_zero_is_off() {
        assert_eq!(parse_seconds("90"), Ok(Some(s(90))));
        assert_eq!(
            parse_seconds(" 2.5 "),
            Ok(Some(Duration::from_millis(2500)))
        );
        assert_eq!(parse_seconds("0"), Ok(None));
        assert!(parse_seconds("2s").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert_eq!(parse_seconds("1e300"), Ok(Some(UNBOUNDED)));
    }

    #[test]
    fn a_service_limit_comes_from_its_keyword_its_variable_or_the_container() {
        let kw = |w: &[&str]| no_timeout(&w.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(kw(&["-docker", "-timeout"]));
        assert!(kw(&["notimeout"]));
        assert!(!kw(&["-stop"]));
        let ns =
            |w: &[&str]| no_stop_at_shutdown(&w.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(ns(&["-shutdown"]) && ns(&["nostop"]) && ns(&["-docker", "-stop"]));
        assert!(!ns(&["-timeout", "-docker"]));
        assert_eq!(start_limit(true, Some("5"), Some(s(90))), (None, None));
        assert_eq!(
            start_limit(false, Some("5"), Some(s(90))),
            (Some(s(5)), None)
        );
        assert_eq!(start_limit(false, Some("0"), Some(s(90))), (None, None));
        assert_eq!(start_limit(false, None, Some(s(90))), (Some(s(90)), None));
        let (l, w) = start_limit(false, Some("soon"), Some(s(90)));
        assert_eq!(l, Some(s(90)));
        assert!(w.is_some_and(|w| w.contains("rcinit_start_timeout")));
    }

    #[test]
    fn a_schedule_asks_for_its_waits_until_sigkill() {
        use Step::*;
        let term = libc::SIGTERM;
        assert_eq!(ask(&[Signal(term), Wait(s(5))]), s(5));
        assert_eq!(
            ask(&[Signal(term), Wait(s(30)), Signal(libc::SIGKILL), Wait(s(5))]),
            s(30)
        );
        assert_eq!(ask(&[Signal(term), Forever]), UNBOUNDED);
        assert_eq!(ask(&[Signal(libc::SIGKILL), Forever]), Duration::ZERO);
    }

    #[test]
    fn the_cmd_leaves_the_services_what_they_ask_up_to_half() {
        assert_eq!(cmd_share(s(7), None), s(7));
        assert_eq!(cmd_share(s(7), Some(s(1))), s(6));
        assert_eq!(cmd_share(s(7), Some(s(5))), Duration::from_millis(3500));
        assert_eq!(
            cmd_share(s(7), Some(UNBOUNDED)),
            Duration::from_millis(3500)
        );
    }

    #[test]
    fn a_level_gets_what_it_asks_while_later_levels_keep_a_floor() {
        // A worker (SIGTERM/5) before one fast level, default budget: its whole 5 s.
        assert_eq!(share(s(7), 2, s(5)), s(5));
        // retry=60 with 7 s left and one level after it: all but that level's floor.
        assert_eq!(share(s(7), 2, s(60)), s(6));
        // Asking little takes little: the rest passes on.
        assert_eq!(share(s(7), 3, Duration::from_millis(200)), s(7) / 3);
        // A tight budget: equal shares, never less.
        assert_eq!(share(s(2), 4, s(30)), Duration::from_millis(500));
        // The last level may take all that is left.
        assert_eq!(share(s(3), 1, UNBOUNDED), s(3));
        assert_eq!(share(Duration::ZERO, 0, s(5)), Duration::ZERO);
    }

    #[test]
    fn the_whole_stop_asks_the_slowest_of_each_level() {
        assert_eq!(total(&[vec![s(5), s(60)], vec![s(5)], vec![]]), s(65));
        assert_eq!(needed(s(65), true), s(130));
        assert_eq!(needed(s(65), false), s(65));
        assert_eq!(secs(s(5)), "5 s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(secs(UNBOUNDED), "without limit");
    }
}
