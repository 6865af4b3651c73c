//! The daemon's resources: `rc_ulimit`, its nice level, I/O class and OOM score.

use super::{Reported, nonempty};
use crate::supervisor::daemon_args::DaemonArgs;

/// The resource settings, for the launch.
pub(super) struct Limits {
    pub(super) nice: Option<i32>,
    pub(super) oom_score_adj: Option<i32>,
    pub(super) ionice: Option<(i32, i32)>,
    pub(super) rlimits: Vec<(i32, u64, u64)>,
}

/// The helper's options first, else what the script exported as OpenRC's SSD_* variables.
pub(super) fn resources(r: &Reported<'_>, da: &DaemonArgs) -> Result<Limits, String> {
    let vars = r.vars;
    let exported = |k: &str| {
        r.exported
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let nice = match da.nicelevel {
        Some(n) => Some(n),
        None => int("SSD_NICELEVEL", exported("SSD_NICELEVEL"))?,
    };
    let oom_score_adj = match da.oom_score_adj {
        Some(n) => Some(n),
        None => int("SSD_OOM_SCORE_ADJ", exported("SSD_OOM_SCORE_ADJ"))?,
    };
    let ionice = match da.ionice.clone().or_else(|| exported("SSD_IONICELEVEL")) {
        Some(t) if !t.trim().is_empty() => Some(parse_ionice(&t)?),
        _ => None,
    };
    let rlimits = parse_ulimit(
        nonempty(vars, "rc_ulimit")
            .or(nonempty(vars, "RC_ULIMIT"))
            .map(String::as_str)
            .unwrap_or(""),
    )?;
    Ok(Limits {
        nice,
        oom_score_adj,
        ionice,
        rlimits,
    })
}

/// A blank value counts as unset, as it does for OpenRC.
fn int(what: &str, v: Option<String>) -> Result<Option<i32>, String> {
    match v.filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{what}={v:?} is not a number")),
    }
}

/// `class[:data]`, class by number (0-3) or name.
fn parse_ionice(t: &str) -> Result<(i32, i32), String> {
    let (c, d) = t.trim().split_once(':').unwrap_or((t.trim(), "0"));
    let class = match c {
        "0" | "none" => 0,
        "1" | "rt" | "realtime" => 1,
        "2" | "be" | "best-effort" => 2,
        "3" | "idle" => 3,
        _ => return Err(format!("ionice {t:?}: unknown class {c:?}")),
    };
    let data: i32 = d
        .parse()
        .ok()
        .filter(|d| (0..8).contains(d))
        .ok_or_else(|| format!("ionice {t:?}: priority must be 0-7"))?;
    Ok((class, data))
}

/// `rc_ulimit` as pairs of ulimit option and value (E-10 step 12, 0.56+): `-n 1024 -u 50`,
/// `-H`/`-S` before a letter pick one limit (`-Sn 512`), `unlimited` allowed.
pub fn parse_ulimit(text: &str) -> Result<Vec<(i32, u64, u64)>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<(i32, u64, u64)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let opt = words[i];
        let Some(flags) = opt.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("rc_ulimit: expected an option, found {opt:?}"));
        };
        let (mut soft, mut hard) = (false, false);
        let mut letter = None;
        for c in flags.chars() {
            match c {
                'S' => soft = true,
                'H' => hard = true,
                c => letter = Some(c),
            }
        }
        if !soft && !hard {
            (soft, hard) = (true, true);
        }
        let Some(letter) = letter else {
            return Err(format!("rc_ulimit: {opt:?} names no limit"));
        };
        #[allow(clippy::useless_conversion)] // the resource type differs between libcs
        let res: i32 = match letter {
            'c' => libc::RLIMIT_CORE,
            'd' => libc::RLIMIT_DATA,
            'f' => libc::RLIMIT_FSIZE,
            'l' => libc::RLIMIT_MEMLOCK,
            'm' => libc::RLIMIT_RSS,
            'n' => libc::RLIMIT_NOFILE,
            's' => libc::RLIMIT_STACK,
            't' => libc::RLIMIT_CPU,
            'u' => libc::RLIMIT_NPROC,
            'v' => libc::RLIMIT_AS,
            'e' => libc::RLIMIT_NICE,
            'r' => libc::RLIMIT_RTPRIO,
            'i' => libc::RLIMIT_SIGPENDING,
            'q' => libc::RLIMIT_MSGQUEUE,
            _ => return Err(format!("rc_ulimit: unknown limit -{letter}")),
        } as i32;
        let Some(value) = words.get(i + 1) else {
            return Err(format!("rc_ulimit: {opt} needs a value"));
        };
        let mut v: u64 = if *value == "unlimited" {
            libc::RLIM_INFINITY
        } else {
            value
                .parse()
                .map_err(|_| format!("rc_ulimit: {opt} {value:?} is not a number"))?
        };
        // The shell counts these in KiB (or 512-byte blocks for -f).
        if *value != "unlimited" {
            v = match letter {
                'c' | 'd' | 'l' | 'm' | 's' | 'v' => v.saturating_mul(1024),
                'f' => v.saturating_mul(512),
                _ => v,
            };
        }
        // One entry per resource; a later option for the same one updates it. u64::MAX - 1 marks
        // "keep the current value" for the half not given.
        let keep = u64::MAX - 1;
        let (s, h) = (if soft { v } else { keep }, if hard { v } else { keep });
        match out.iter_mut().find(|e| e.0 == res) {
            Some(e) => {
                if soft {
                    e.1 = s;
                }
                if hard {
                    e.2 = h;
                }
            }
            None => out.push((res, s, h)),
        }
        i += 2;
    }
    Ok(out)
}

/// The marker in [`parse_ulimit`]'s output for "leave this half as it is".
pub const RLIMIT_KEEP: u64 = u64::MAX - 1;
