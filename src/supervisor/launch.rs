//! How one daemon is to be run, from what the script reported when it asked for its start
//! (openrc-compat.md V table, V-02..V-04, V-19, S-10, S-30) (pure).
//!
//! The shim reports the variables, the argv and `export -p` after `start_pre` ran; this turns
//! them into one [`Launch`]. `*_daemon_args` come after the variables on the helpers' command
//! line, so their options win, as getopt would have it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::daemon_args::{self, DaemonArgs, Helper};
use super::user::{self, Identity};
use crate::policy::respawn::{self, Policy};
use crate::policy::retry::{self, Step};
use crate::script::env;

/// How rcinit follows the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `supervisor=supervise-daemon`: rcinit's child, respawned by S-11.
    Supervised,
    /// start-stop-daemon with `command_background` (or `--background`): rcinit's child, not
    /// respawned; the pidfile is written for it.
    Background,
    /// start-stop-daemon without background: the command forks and returns; the daemon is
    /// followed through `pidfile` when there is one.
    Forking,
}

/// Where one output stream of the daemon goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// To rcinit's own stream, each line prefixed with `[service] `.
    Forward,
    /// Appended to a file (`output_log`, `error_log`).
    File(String),
    /// Piped into `sh -c CMD` (`output_logger`, `error_logger`).
    Logger(String),
}

/// Readiness (`notify`, 0.62+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// A line on this fd.
    Fd(i32),
    /// `READY=1` on `NOTIFY_SOCKET`.
    Socket,
}

/// A health check schedule (S-30): first check after `delay`, then every `timer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub delay: Duration,
    /// None: only the one check after the delay.
    pub timer: Option<Duration>,
}

/// Everything needed to spawn (and respawn) the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub kind: Kind,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<Identity>,
    pub chroot: Option<String>,
    pub directory: Option<String>,
    pub umask: u32,
    /// (resource, soft, hard) from `rc_ulimit`.
    pub rlimits: Vec<(i32, u64, u64)>,
    pub nice: Option<i32>,
    /// (class, data) for ioprio_set.
    pub ionice: Option<(i32, i32)>,
    pub oom_score_adj: Option<i32>,
    pub no_new_privs: bool,
    /// `capabilities` (cap_iab text), parsed.
    pub capabilities: Option<super::caps::Iab>,
    pub stdin: Option<String>,
    pub stdout: Sink,
    pub stderr: Sink,
    pub notify: Option<Notify>,
    pub pidfile: Option<String>,
    /// `procname` (or `--name`): the daemon's process name when it is not the command's.
    pub procname: Option<String>,
    pub respawn: Policy,
    pub health: Option<Health>,
    pub stop: Vec<Step>,
    /// Settings understood but not applied; each becomes a warning naming the service.
    pub warnings: Vec<String>,
}

/// What the script said.
pub struct Reported<'a> {
    pub vars: &'a BTreeMap<String, String>,
    pub argv: &'a [String],
    /// `export -p`, parsed.
    pub exported: &'a [(String, String)],
    pub passwd: &'a str,
    pub group: &'a str,
}

fn yes(v: Option<&String>) -> bool {
    v.is_some_and(|v| crate::words::yes(v))
}

fn nonempty<'a>(vars: &'a BTreeMap<String, String>, k: &str) -> Option<&'a String> {
    vars.get(k).filter(|v| !v.is_empty())
}

/// Builds the launch, or says why the daemon cannot start.
#[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
pub fn plan(r: &Reported<'_>) -> Result<Launch, String> {
    let vars = r.vars;
    let supervised = vars.get("supervisor").map(String::as_str) == Some("supervise-daemon");
    let helper = if supervised {
        Helper::SuperviseDaemon
    } else {
        Helper::StartStopDaemon
    };
    // supervise_daemon_args when set, even empty (0.46+), else start_stop_daemon_args.
    let raw_args = if supervised {
        vars.get("supervise_daemon_args")
            .or(vars.get("start_stop_daemon_args"))
    } else {
        vars.get("start_stop_daemon_args")
    };
    let words = match raw_args {
        Some(a) => {
            shell_words::split(a).map_err(|e| format!("{}: {e}", arg_var(supervised, vars)))?
        }
        None => Vec::new(),
    };
    let da: DaemonArgs = daemon_args::parse(helper, &words)
        .map_err(|e| format!("{}: {e}", arg_var(supervised, vars)))?;
    let mut warnings = Vec::new();
    if !da.ignored.is_empty() {
        warnings.push(format!(
            "{} options without effect under rcinit: {}",
            arg_var(supervised, vars),
            da.ignored.join(" ")
        ));
    }

    let Some(command) = nonempty(vars, "command") else {
        return Err("the command variable is undefined".into());
    };
    let mut argv = r.argv.to_vec();
    if let Some(a) = &da.startas
        && let Some(first) = argv.first_mut()
    {
        *first = a.clone();
    }
    if argv.is_empty() {
        return Err(format!("command={command:?} expands to nothing"));
    }

    let kind = if supervised {
        Kind::Supervised
    } else if yes(vars.get("command_background")) || da.background {
        if nonempty(vars, "pidfile").is_none() && da.pidfile.is_none() {
            return Err("command_background option used but no pidfile specified".into());
        }
        if vars.contains_key("command_args_background") && yes(vars.get("command_background")) {
            return Err(
                "command_background and command_args_background cannot be used together".into(),
            );
        }
        Kind::Background
    } else {
        Kind::Forking
    };

    let user_spec = match (&da.user, &da.group) {
        (Some(u), Some(g)) if !u.contains(':') => Some(format!("{u}:{g}")),
        (Some(u), _) => Some(u.clone()),
        (None, g) => nonempty(vars, "command_user").map(|u| match g {
            Some(g) => format!("{}:{g}", u.split(':').next().unwrap_or(u)),
            None => u.clone(),
        }),
    };
    let user = match user_spec {
        Some(spec) => Some(user::resolve(&spec, r.passwd, r.group)?),
        None => None,
    };

    let umask = match da.umask {
        Some(m) => m,
        None => match nonempty(vars, "umask") {
            Some(m) => u32::from_str_radix(m.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| format!("umask={m:?} is not an octal mask"))?,
            None => 0o022,
        },
    };

    // V-19: the daemon's environment is what the script exported, less OpenRC's own.
    let mut envv: Vec<(String, String)> = r
        .exported
        .iter()
        .filter(|(k, _)| {
            !(k.starts_with("RC_")
                || k.starts_with("SSD_")
                || k.starts_with("EINFO_")
                || k == "SVCNAME"
                || k.starts_with("RCINIT_"))
        })
        .cloned()
        .collect();
    let exported = |k: &str| {
        r.exported
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    match &user {
        Some(id) => {
            env::set(&mut envv, "HOME", &id.home);
            env::set(&mut envv, "USER", &id.name);
        }
        None => {
            if !envv.iter().any(|(k, _)| k == "HOME") {
                env::set(&mut envv, "HOME", "/root");
            }
            if !envv.iter().any(|(k, _)| k == "USER") {
                env::set(&mut envv, "USER", "root");
            }
        }
    }
    for (k, v) in &da.env {
        env::set(&mut envv, k, v);
    }

    let int = |what: &str, v: Option<String>| -> Result<Option<i32>, String> {
        match v.filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{what}={v:?} is not a number")),
        }
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

    let capabilities = match da
        .capabilities
        .clone()
        .or_else(|| nonempty(vars, "capabilities").cloned())
    {
        Some(t) => Some(super::caps::parse(&t)?),
        None => None,
    };
    if nonempty(vars, "secbits").is_some() || da.secbits.is_some() {
        warnings.push("secbits are not applied by rcinit yet".into());
    }

    let file_or_logger = |file: Option<String>, logger: Option<String>, what: &str| match (
        file.filter(|f| !f.is_empty()),
        logger.filter(|l| !l.is_empty()),
    ) {
        (Some(_), Some(_)) => Err(format!(
            "{what}_log and {what}_logger cannot be used together"
        )),
        (Some(f), None) => Ok(Sink::File(f)),
        (None, Some(l)) => Ok(Sink::Logger(l)),
        (None, None) => Ok(Sink::Forward),
    };
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

    let notify = match da
        .notify
        .clone()
        .or_else(|| nonempty(vars, "notify").cloned())
    {
        None => None,
        Some(n) => Some(parse_notify(&n)?),
    };

    let (respawn, health) = if supervised {
        let pick = |a: &Option<String>, k: &str| a.clone().or_else(|| nonempty(vars, k).cloned());
        let policy = respawn::from_vars(
            pick(&da.respawn_delay, "respawn_delay").as_deref(),
            pick(&da.respawn_max, "respawn_max").as_deref(),
            pick(&da.respawn_period, "respawn_period").as_deref(),
        )
        .and_then(|p| {
            respawn::with_backoff(
                p,
                da.respawn_delay_step.as_deref(),
                da.respawn_delay_cap.as_deref(),
            )
        })?;
        let secs = |v: Option<String>, what: &str| -> Result<Option<Duration>, String> {
            match v {
                None => Ok(None),
                Some(t) => match t.trim().parse::<u64>() {
                    Ok(n) if n >= 1 => Ok(Some(Duration::from_secs(n))),
                    _ => Err(format!(
                        "{what}={t:?} is not a whole number of seconds >= 1"
                    )),
                },
            }
        };
        let delay = secs(
            pick(&da.healthcheck_delay, "healthcheck_delay"),
            "healthcheck_delay",
        )?;
        let timer = secs(
            pick(&da.healthcheck_timer, "healthcheck_timer"),
            "healthcheck_timer",
        )?;
        let health = match (delay, timer) {
            (None, None) => None,
            (d, t) => Some(Health {
                delay: d.or(t).unwrap_or_default(),
                timer: t,
            }),
        };
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
        (policy, health)
    } else {
        (Policy::default(), None)
    };

    let stop = retry::parse(
        da.retry
            .as_deref()
            .or(nonempty(vars, "retry").map(String::as_str)),
        da.signal
            .as_deref()
            .or(nonempty(vars, "stopsig").map(String::as_str)),
    )?;

    Ok(Launch {
        kind,
        argv,
        env: envv,
        user,
        chroot: da
            .chroot
            .clone()
            .or_else(|| nonempty(vars, "chroot").cloned()),
        directory: da
            .chdir
            .clone()
            .or_else(|| nonempty(vars, "directory").cloned()),
        umask,
        rlimits,
        nice,
        ionice,
        oom_score_adj,
        no_new_privs: da.no_new_privs || nonempty(vars, "no_new_privs").is_some(),
        capabilities,
        stdin: da
            .stdin
            .clone()
            .or_else(|| nonempty(vars, "input_file").cloned()),
        stdout,
        stderr,
        notify,
        pidfile: da
            .pidfile
            .clone()
            .or_else(|| nonempty(vars, "pidfile").cloned()),
        procname: da
            .name
            .clone()
            .or_else(|| nonempty(vars, "procname").cloned()),
        respawn,
        health,
        stop,
        warnings,
    })
}

fn arg_var(supervised: bool, vars: &BTreeMap<String, String>) -> &'static str {
    if supervised && vars.contains_key("supervise_daemon_args") {
        "supervise_daemon_args"
    } else {
        "start_stop_daemon_args"
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

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nweb:x:1000:\nlog:x:4:web\n";

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn plan_of(
        pairs: &[(&str, &str)],
        argv: &[&str],
        exported: &[(&str, &str)],
    ) -> Result<Launch, String> {
        let v = vars(pairs);
        let a: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let e: Vec<(String, String)> = exported
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        plan(&Reported {
            vars: &v,
            argv: &a,
            exported: &e,
            passwd: PASSWD,
            group: GROUP,
        })
    }

    #[test]
    #[allow(clippy::unnecessary_cast)] // RLIMIT_* are u32 with glibc, i32 with musl
    fn supervised_daemon_with_user_limits_and_environment_v19() {
        let l = plan_of(
            &[
                ("supervisor", "supervise-daemon"),
                ("command", "/bin/httpd"),
                ("command_user", "web"),
                ("directory", "/srv"),
                ("umask", "027"),
                ("rc_ulimit", "-n 256 -Su 40"),
                ("respawn_max", "2"),
                ("healthcheck_timer", "5"),
                ("extra_commands", "healthcheck unhealthy"),
                ("retry", "TERM/2/KILL/1"),
            ],
            &["/bin/httpd", "-f"],
            &[
                ("PATH", "/bin"),
                ("RC_SVCNAME", "web"),
                ("SVCNAME", "web"),
                ("SSD_NICELEVEL", "5"),
                ("EINFO_LOG", "web"),
                ("DB", "x"),
            ],
        )
        .unwrap();
        assert_eq!(l.kind, Kind::Supervised);
        assert_eq!(l.argv, ["/bin/httpd", "-f"]);
        assert_eq!(l.user.as_ref().unwrap().groups, vec![1000, 4]);
        assert_eq!(l.umask, 0o27);
        assert_eq!(l.nice, Some(5));
        assert_eq!(l.directory.as_deref(), Some("/srv"));
        let keys: Vec<&str> = l.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["PATH", "DB", "HOME", "USER"]);
        assert!(l.env.contains(&("HOME".into(), "/home/web".into())));
        assert_eq!(
            l.rlimits,
            vec![
                (libc::RLIMIT_NOFILE as i32, 256, 256),
                (libc::RLIMIT_NPROC as i32, 40, RLIMIT_KEEP)
            ]
        );
        assert_eq!(l.respawn.max, 2);
        assert_eq!(
            l.health,
            Some(Health {
                delay: Duration::from_secs(5),
                timer: Some(Duration::from_secs(5))
            })
        );
        assert_eq!(
            l.stop,
            vec![
                Step::Signal(libc::SIGTERM),
                Step::Wait(Duration::from_secs(2)),
                Step::Signal(libc::SIGKILL),
                Step::Wait(Duration::from_secs(1))
            ]
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn daemon_args_win_over_variables_v04() {
        let l = plan_of(
            &[
                ("supervisor", "supervise-daemon"),
                ("command", "/bin/x"),
                ("command_user", "root"),
                (
                    "supervise_daemon_args",
                    "--user web --chdir /tmp -e A=1 --stdout /l",
                ),
            ],
            &["/bin/x"],
            &[],
        )
        .unwrap();
        assert_eq!(l.user.unwrap().uid, 1000);
        assert_eq!(l.directory.as_deref(), Some("/tmp"));
        assert!(l.env.contains(&("A".into(), "1".into())));
        assert_eq!(l.stdout, Sink::File("/l".into()));
    }

    #[test]
    fn start_stop_daemon_kinds_and_their_errors() {
        let l = plan_of(&[("command", "/bin/x")], &["/bin/x"], &[]).unwrap();
        assert_eq!(l.kind, Kind::Forking);
        let e = plan_of(
            &[("command", "/bin/x"), ("command_background", "yes")],
            &["/bin/x"],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("no pidfile"), "{e}");
        let l = plan_of(
            &[
                ("command", "/bin/x"),
                ("command_background", "true"),
                ("pidfile", "/run/x.pid"),
            ],
            &["/bin/x"],
            &[],
        )
        .unwrap();
        assert_eq!(l.kind, Kind::Background);
        assert!(plan_of(&[], &[], &[]).unwrap_err().contains("undefined"));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let base = [("supervisor", "supervise-daemon"), ("command", "/bin/x")];
        let with = |k: &'static str, v: &'static str| {
            let mut p = base.to_vec();
            p.push((k, v));
            plan_of(&p, &["/bin/x"], &[]).unwrap_err()
        };
        assert!(with("command_user", "ghost").contains("no user ghost"));
        assert!(with("umask", "999").contains("octal"));
        assert!(with("rc_ulimit", "-n").contains("needs a value"));
        assert!(with("rc_ulimit", "-z 1").contains("unknown limit"));
        assert!(with("notify", "fd:1").contains("fd:N"));
        assert!(with("healthcheck_timer", "0").contains(">= 1"));
        let e = plan_of(
            &[
                ("command", "/bin/x"),
                ("output_log", "/a"),
                ("output_logger", "logger"),
            ],
            &["/bin/x"],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("cannot be used together"), "{e}");
    }
}
