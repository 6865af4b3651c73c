//! How one daemon is to be run, from what the script reported when it asked for its start
//! (openrc-compat.md V table, V-02..V-04, V-19, S-10, S-30) (pure).
//!
//! The shim reports the variables, the argv and `export -p` after `start_pre` ran; this turns
//! them into one [`Launch`]. `*_daemon_args` come after the variables on the helpers' command
//! line, so their options win, as getopt would have it.
//!
//! The planning is split by concern: `identity` (who the daemon runs as, and where), `limits`
//! (resources), `io` (its streams and readiness), `supervision` (respawn, health, stop).

use std::collections::BTreeMap;
use std::time::Duration;

use super::daemon_args::{self, DaemonArgs, Helper};
use super::user::Identity;
use crate::policy::respawn::Policy;
use crate::policy::retry::Step;

mod identity;
mod io;
mod limits;
mod supervision;

pub use limits::{RLIMIT_KEEP, parse_ulimit};

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

/// The helper's option when given, else the variable: options come later on the command line.
fn pick(a: &Option<String>, vars: &BTreeMap<String, String>, k: &str) -> Option<String> {
    a.clone().or_else(|| nonempty(vars, k).cloned())
}

/// Builds the launch, or says why the daemon cannot start.
pub fn plan(r: &Reported<'_>) -> Result<Launch, String> {
    let vars = r.vars;
    let supervised = vars.get("supervisor").map(String::as_str) == Some("supervise-daemon");
    let da = helper_args(vars, supervised)?;
    let mut warnings = Vec::new();
    if !da.ignored.is_empty() {
        warnings.push(format!(
            "{} options without effect under rcinit: {}",
            arg_var(supervised, vars),
            da.ignored.join(" ")
        ));
    }
    let argv = command_line(r, &da)?;
    let kind = kind_of(vars, supervised, &da)?;
    // In this order, so that a script wrong in two ways is always told of the same one.
    let who = identity::who(r, &da)?;
    let env = identity::environment(r.exported, &da, who.user.as_ref());
    let limits = limits::resources(r, &da)?;
    let capabilities = identity::capabilities(vars, &da, &mut warnings)?;
    let streams = io::streams(vars, &da)?;
    let (respawn, health) = supervision::respawn_and_health(vars, supervised, &da, &mut warnings)?;
    let stop = supervision::stop(vars, &da)?;
    Ok(Launch {
        kind,
        argv,
        env,
        user: who.user,
        chroot: who.chroot,
        directory: who.directory,
        umask: who.umask,
        rlimits: limits.rlimits,
        nice: limits.nice,
        ionice: limits.ionice,
        oom_score_adj: limits.oom_score_adj,
        no_new_privs: who.no_new_privs,
        capabilities,
        stdin: streams.stdin,
        stdout: streams.stdout,
        stderr: streams.stderr,
        notify: streams.notify,
        pidfile: pick(&da.pidfile, vars, "pidfile"),
        procname: pick(&da.name, vars, "procname"),
        respawn,
        health,
        stop,
        warnings,
    })
}

/// The helper's own options in `*_daemon_args`, parsed as that helper would parse them.
fn helper_args(vars: &BTreeMap<String, String>, supervised: bool) -> Result<DaemonArgs, String> {
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
    daemon_args::parse(helper, &words).map_err(|e| format!("{}: {e}", arg_var(supervised, vars)))
}

/// The script's argv, `--startas` in place of its first word; refused when there is no command.
fn command_line(r: &Reported<'_>, da: &DaemonArgs) -> Result<Vec<String>, String> {
    let Some(command) = nonempty(r.vars, "command") else {
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
    Ok(argv)
}

/// How rcinit follows the daemon; a background daemon needs a pidfile, as with OpenRC.
fn kind_of(
    vars: &BTreeMap<String, String>,
    supervised: bool,
    da: &DaemonArgs,
) -> Result<Kind, String> {
    Ok(if supervised {
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
    })
}

fn arg_var(supervised: bool, vars: &BTreeMap<String, String>) -> &'static str {
    if supervised && vars.contains_key("supervise_daemon_args") {
        "supervise_daemon_args"
    } else {
        "start_stop_daemon_args"
    }
}

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
