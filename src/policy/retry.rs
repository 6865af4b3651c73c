//! Stop schedules: `retry` and `stopsig` (openrc-compat.md V-20, V-21; HEAD's stopsig rule) (pure).

use std::time::Duration;

/// One item of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send this signal.
    Signal(i32),
    /// Wait up to this long for the process to be gone.
    Wait(Duration),
    /// Wait without limit (at most once per schedule).
    Forever,
}

/// The schedule when the script sets neither: SIGTERM, then 5 s (no SIGKILL, V-21). rcinit's own
/// stop budget escalates past it at shutdown.
pub fn default_schedule() -> Vec<Step> {
    vec![
        Step::Signal(libc::SIGTERM),
        Step::Wait(Duration::from_secs(5)),
    ]
}

/// A signal name (`TERM`, `SIGTERM`, `-TERM`) or `-NUMBER`; a bare number is not a signal.
pub fn parse_signal(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = t.strip_prefix('-').unwrap_or(t);
    if let Ok(n) = t.parse::<i32>() {
        return (text.trim().starts_with('-') && (1..65).contains(&n)).then_some(n);
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "ALRM" => libc::SIGALRM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "PWR" => libc::SIGPWR,
        "WINCH" => libc::SIGWINCH,
        "ABRT" => libc::SIGABRT,
        _ => return None,
    })
}

/// The schedule of a service: `retry` if set; else, as OpenRC HEAD does, `$stopsig/5`; else the
/// default. A single number N means `<stopsig or TERM>/N`.
pub fn parse(retry: Option<&str>, stopsig: Option<&str>) -> Result<Vec<Step>, String> {
    let sig = match stopsig.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s)
            .or_else(|| parse_signal(&format!("-{s}")))
            .ok_or_else(|| format!("stopsig={s:?} is not a signal"))?,
        None => libc::SIGTERM,
    };
    let Some(retry) = retry.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(if stopsig.is_some_and(|s| !s.trim().is_empty()) {
            vec![Step::Signal(sig), Step::Wait(Duration::from_secs(5))]
        } else {
            default_schedule()
        });
    };
    if let Ok(n) = retry.parse::<u64>() {
        return Ok(vec![Step::Signal(sig), Step::Wait(Duration::from_secs(n))]);
    }
    let mut out = Vec::new();
    for item in retry.split('/') {
        let item = item.trim();
        let step = if item.starts_with(|c: char| c.is_ascii_digit()) {
            Step::Wait(Duration::from_secs(item.parse().map_err(|_| {
                format!("retry={retry:?}: {item:?} is not a number of seconds")
            })?))
        } else if item == "forever" {
            if out.contains(&Step::Forever) {
                return Err(format!("retry={retry:?}: forever may appear only once"));
            }
            Step::Forever
        } else {
            Step::Signal(
                parse_signal(item)
                    .ok_or_else(|| format!("retry={retry:?}: {item:?} is not a signal"))?,
            )
        };
        out.push(step);
    }
    if !out.iter().any(|s| matches!(s, Step::Signal(_))) {
        return Err(format!("retry={retry:?} sends no signal"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{SIGHUP, SIGINT, SIGKILL, SIGTERM};

    fn s(n: u64) -> Step {
        Step::Wait(Duration::from_secs(n))
    }

    #[test]
    fn schedules_v20() {
        use Step::*;
        let table: &[(Option<&str>, Option<&str>, Vec<Step>)] = &[
            (None, None, vec![Signal(SIGTERM), s(5)]),
            (
                Some("TERM/30/KILL/5"),
                None,
                vec![Signal(SIGTERM), s(30), Signal(SIGKILL), s(5)],
            ),
            (Some("SIGINT/60"), None, vec![Signal(SIGINT), s(60)]),
            (
                Some("-HUP/5/-9/2"),
                None,
                vec![Signal(SIGHUP), s(5), Signal(SIGKILL), s(2)],
            ),
            (
                Some("TERM/5/KILL/forever"),
                None,
                vec![Signal(SIGTERM), s(5), Signal(SIGKILL), Forever],
            ),
            (Some("10"), None, vec![Signal(SIGTERM), s(10)]),
            (Some("10"), Some("INT"), vec![Signal(SIGINT), s(10)]),
            // HEAD: stopsig alone becomes retry=$stopsig/5.
            (None, Some("SIGHUP"), vec![Signal(SIGHUP), s(5)]),
            (Some("KILL/1"), Some("HUP"), vec![Signal(SIGKILL), s(1)]),
        ];
        for (retry, stopsig, want) in table {
            assert_eq!(
                parse(*retry, *stopsig).as_ref(),
                Ok(want),
                "{retry:?} {stopsig:?}"
            );
        }
    }

    #[test]
    fn bad_schedules_say_why() {
        assert!(
            parse(Some("TERM/soon"), None)
                .unwrap_err()
                .contains("\"soon\" is not a signal")
        );
        assert!(
            parse(Some("TERM/forever/KILL/forever"), None)
                .unwrap_err()
                .contains("only once")
        );
        assert!(
            parse(Some("5/5"), None)
                .unwrap_err()
                .contains("sends no signal")
        );
        assert!(parse(None, Some("LOUD")).unwrap_err().contains("stopsig"));
        // A bare number is a timeout, never a signal.
        assert_eq!(parse_signal("9"), None);
        assert_eq!(parse_signal("-9"), Some(SIGKILL));
        assert_eq!(parse_signal("sigterm"), Some(SIGTERM));
    }
}
