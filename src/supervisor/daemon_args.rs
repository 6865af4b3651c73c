//! `start_stop_daemon_args` / `supervise_daemon_args`: the helpers' own options inside a script
//! variable (openrc-compat.md V-03, V-04), parsed as getopt_long would (pure).
//!
//! The two helpers disagree on some short options (`-m`, `-P`, `-a`), so the parse depends on
//! which one the script's `supervisor` selects.

/// Which helper's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    StartStopDaemon,
    SuperviseDaemon,
}

/// Options rcinit acts on; the rest are kept in `ignored` for a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonArgs {
    pub user: Option<String>,
    pub group: Option<String>,
    pub chdir: Option<String>,
    pub chroot: Option<String>,
    pub env: Vec<(String, String)>,
    pub umask: Option<u32>,
    pub nicelevel: Option<i32>,
    pub ionice: Option<String>,
    pub oom_score_adj: Option<i32>,
    pub wait_ms: Option<u64>,
    pub background: bool,
    pub make_pidfile: bool,
    pub pidfile: Option<String>,
    pub name: Option<String>,
    pub stdin: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub stdout_logger: Option<String>,
    pub stderr_logger: Option<String>,
    pub capabilities: Option<String>,
    pub secbits: Option<String>,
    pub no_new_privs: bool,
    pub notify: Option<String>,
    pub retry: Option<String>,
    pub signal: Option<String>,
    pub startas: Option<String>,
    pub respawn_delay: Option<String>,
    pub respawn_max: Option<String>,
    pub respawn_period: Option<String>,
    /// 0.62+: `--respawn-delay-step`, `--respawn-delay-cap` (long options only).
    pub respawn_delay_step: Option<String>,
    pub respawn_delay_cap: Option<String>,
    pub healthcheck_delay: Option<String>,
    pub healthcheck_timer: Option<String>,
    /// Options understood but without effect here (progress, interpreted, scheduler...).
    pub ignored: Vec<String>,
}

/// (short, long, takes a value, key)
type Opt = (Option<char>, &'static str, bool, &'static str);

const COMMON: &[Opt] = &[
    (Some('u'), "user", true, "user"),
    (Some('c'), "chuid", true, "user"),
    (Some('g'), "group", true, "group"),
    (Some('d'), "chdir", true, "chdir"),
    (Some('r'), "chroot", true, "chroot"),
    (Some('e'), "env", true, "env"),
    (Some('k'), "umask", true, "umask"),
    (Some('N'), "nicelevel", true, "nicelevel"),
    (Some('I'), "ionice", true, "ionice"),
    (None, "oom-score-adj", true, "oom"),
    (Some('w'), "wait", true, "wait"),
    (Some('p'), "pidfile", true, "pidfile"),
    (Some('n'), "name", true, "name"),
    (Some('0'), "stdin", true, "stdin"),
    (Some('1'), "stdout", true, "stdout"),
    (Some('2'), "stderr", true, "stderr"),
    (Some('3'), "stdout-logger", true, "stdout-logger"),
    (Some('4'), "stderr-logger", true, "stderr-logger"),
    (None, "capabilities", true, "capabilities"),
    (None, "secbits", true, "secbits"),
    (None, "no-new-privs", false, "no-new-privs"),
    (None, "notify", true, "notify"),
    (Some('R'), "retry", true, "retry"),
    (Some('s'), "signal", true, "signal"),
    (None, "scheduler", true, "ignored"),
    (None, "scheduler-priority", true, "ignored"),
    (Some('i'), "interpreted", false, "ignored"),
    (Some('b'), "background", false, "background"),
    (Some('q'), "quiet", false, "ignored"),
    (Some('v'), "verbose", false, "ignored"),
    (Some('C'), "nocolor", false, "ignored"),
];

const SSD: &[Opt] = &[
    (Some('m'), "make-pidfile", false, "make-pidfile"),
    (Some('a'), "startas", true, "startas"),
    (Some('P'), "progress", false, "ignored"),
    (Some('o'), "oknodo", false, "ignored"),
    (Some('t'), "test", false, "ignored"),
    (Some('x'), "exec", true, "ignored"),
];

const SD: &[Opt] = &[
    (Some('D'), "respawn-delay", true, "respawn-delay"),
    (Some('m'), "respawn-max", true, "respawn-max"),
    (Some('P'), "respawn-period", true, "respawn-period"),
    (None, "respawn-delay-step", true, "respawn-delay-step"),
    (None, "respawn-delay-cap", true, "respawn-delay-cap"),
    (Some('a'), "healthcheck-timer", true, "healthcheck-timer"),
    (Some('A'), "healthcheck-delay", true, "healthcheck-delay"),
];

fn find(helper: Helper, short: Option<char>, long: Option<&str>) -> Option<&'static Opt> {
    let own = match helper {
        Helper::StartStopDaemon => SSD,
        Helper::SuperviseDaemon => SD,
    };
    own.iter()
        .chain(COMMON)
        .find(|(s, l, _, _)| match (short, long) {
            (Some(c), _) => *s == Some(c),
            (_, Some(name)) => *l == name,
            _ => false,
        })
}

/// Whether an option word (`-p`, `--pidfile`, `--pidfile=x`, `-bm`) of `helper` consumes the
/// next word as its value; None for an unknown option.
pub fn takes_next(helper: Helper, word: &str) -> Option<bool> {
    if let Some(long) = word.strip_prefix("--") {
        if long.contains('=') {
            return find(helper, None, long.split('=').next()).map(|_| false);
        }
        return find(helper, None, Some(long)).map(|o| o.2);
    }
    let shorts: Vec<char> = word.strip_prefix('-')?.chars().collect();
    for (j, c) in shorts.iter().enumerate() {
        let o = find(helper, Some(*c), None)?;
        if o.2 {
            // The rest of the word is the value, or the next word is.
            return Some(j + 1 == shorts.len());
        }
    }
    Some(false)
}

impl DaemonArgs {
    fn set(&mut self, key: &str, flag_or_word: &str, value: Option<String>) -> Result<(), String> {
        let v = || value.clone().unwrap_or_default();
        let num = |what: &str| -> Result<i64, String> {
            v().trim()
                .parse::<i64>()
                .map_err(|_| format!("{flag_or_word}: {:?} is not a number ({what})", v()))
        };
        match key {
            "user" => match v().split_once(':') {
                Some((u, g)) => {
                    self.user = Some(u.to_owned());
                    self.group = Some(g.to_owned());
                }
                None => self.user = Some(v()),
            },
            "group" => self.group = Some(v()),
            "chdir" => self.chdir = Some(v()),
            "chroot" => self.chroot = Some(v()),
            "env" => match v().split_once('=') {
                Some((k, val)) => self.env.push((k.to_owned(), val.to_owned())),
                None => return Err(format!("{flag_or_word}: {:?} is not VAR=VALUE", v())),
            },
            "umask" => {
                self.umask = Some(
                    u32::from_str_radix(v().trim(), 8)
                        .map_err(|_| format!("{flag_or_word}: {:?} is not an octal umask", v()))?,
                )
            }
            "nicelevel" => self.nicelevel = Some(num("niceness")? as i32),
            "ionice" => self.ionice = Some(v()),
            "oom" => self.oom_score_adj = Some(num("OOM score")? as i32),
            "wait" => self.wait_ms = Some(num("milliseconds")?.max(0) as u64),
            "pidfile" => self.pidfile = Some(v()),
            "name" => self.name = Some(v()),
            "stdin" => self.stdin = Some(v()),
            "stdout" => self.stdout = Some(v()),
            "stderr" => self.stderr = Some(v()),
            "stdout-logger" => self.stdout_logger = Some(v()),
            "stderr-logger" => self.stderr_logger = Some(v()),
            "capabilities" => self.capabilities = Some(v()),
            "secbits" => self.secbits = Some(v()),
            "no-new-privs" => self.no_new_privs = true,
            "notify" => self.notify = Some(v()),
            "retry" => self.retry = Some(v()),
            "signal" => self.signal = Some(v()),
            "startas" => self.startas = Some(v()),
            "background" => self.background = true,
            "make-pidfile" => self.make_pidfile = true,
            "respawn-delay" => self.respawn_delay = Some(v()),
            "respawn-max" => self.respawn_max = Some(v()),
            "respawn-period" => self.respawn_period = Some(v()),
            "respawn-delay-step" => self.respawn_delay_step = Some(v()),
            "respawn-delay-cap" => self.respawn_delay_cap = Some(v()),
            "healthcheck-timer" => self.healthcheck_timer = Some(v()),
            "healthcheck-delay" => self.healthcheck_delay = Some(v()),
            _ => self.ignored.push(flag_or_word.to_owned()),
        }
        Ok(())
    }
}

/// Parses the words of `*_daemon_args` (already split by the shell).
pub fn parse(helper: Helper, words: &[String]) -> Result<DaemonArgs, String> {
    let mut out = DaemonArgs::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        i += 1;
        if let Some(long) = w.strip_prefix("--") {
            if long.is_empty() {
                return Err(
                    "`--` ends the options: the command's arguments belong in command_args".into(),
                );
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let Some(&(_, _, takes, key)) = find(helper, None, Some(name)) else {
                return Err(format!("unknown option --{name}"));
            };
            let value = if takes {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        let v = words
                            .get(i)
                            .cloned()
                            .ok_or(format!("--{name} needs a value"))?;
                        i += 1;
                        Some(v)
                    }
                }
            } else {
                None
            };
            out.set(key, w, value)?;
        } else if let Some(shorts) = w.strip_prefix('-').filter(|s| !s.is_empty()) {
            // getopt: flags may be grouped; an option that takes a value takes the rest of the
            // word, or the next word.
            let chars: Vec<char> = shorts.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let Some(&(_, _, takes, key)) = find(helper, Some(c), None) else {
                    return Err(format!("unknown option -{c}"));
                };
                let flag = format!("-{c}");
                if takes {
                    let rest: String = chars[j..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else {
                        let v = words.get(i).cloned().ok_or(format!("-{c} needs a value"))?;
                        i += 1;
                        v
                    };
                    out.set(key, &flag, Some(value))?;
                    break;
                }
                out.set(key, &flag, None)?;
            }
        } else {
            return Err(format!(
                "{w:?} is not an option: daemon arguments belong in command_args"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn getopt_forms_and_helper_specific_letters() {
        let a = parse(
            Helper::SuperviseDaemon,
            &words("-u web:www --chdir=/srv -e 'GREETING=hello world' -k 027 -N5 --oom-score-adj -100 -m 3 -P 60 --no-new-privs"),
        )
        .unwrap();
        assert_eq!(a.user.as_deref(), Some("web"));
        assert_eq!(a.group.as_deref(), Some("www"));
        assert_eq!(a.chdir.as_deref(), Some("/srv"));
        assert_eq!(a.env, vec![("GREETING".into(), "hello world".into())]);
        assert_eq!(a.umask, Some(0o027));
        assert_eq!(a.nicelevel, Some(5));
        assert_eq!(a.oom_score_adj, Some(-100));
        assert_eq!(a.respawn_max.as_deref(), Some("3"));
        assert_eq!(a.respawn_period.as_deref(), Some("60"));
        assert!(a.no_new_privs);
        // The same -m is make-pidfile for start-stop-daemon, a flag that groups with -b.
        let b = parse(Helper::StartStopDaemon, &words("-bm -p /run/x.pid -P")).unwrap();
        assert!(b.background && b.make_pidfile);
        assert_eq!(b.pidfile.as_deref(), Some("/run/x.pid"));
        assert_eq!(b.ignored, vec!["-P".to_string()]);
        let q = parse(Helper::StartStopDaemon, &words("--quiet -x /bin/true -o")).unwrap();
        assert_eq!(q.ignored.len(), 3);
    }

    #[test]
    fn bad_arguments_say_what() {
        assert!(
            parse(Helper::StartStopDaemon, &words("--frobnicate"))
                .unwrap_err()
                .contains("--frobnicate")
        );
        assert!(
            parse(Helper::StartStopDaemon, &words("-u"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(Helper::StartStopDaemon, &words("-k 999"))
                .unwrap_err()
                .contains("octal")
        );
        assert!(
            parse(Helper::StartStopDaemon, &words("-e NOEQUALS"))
                .unwrap_err()
                .contains("VAR=VALUE")
        );
        assert!(
            parse(Helper::StartStopDaemon, &words("/usr/bin/x"))
                .unwrap_err()
                .contains("command_args")
        );
        assert!(parse(Helper::StartStopDaemon, &words("-- -x")).is_err());
    }
}
