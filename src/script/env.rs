//! The environment scripts and daemons get (pure).
//!
//! One rule: the container's environment (less rcinit's own `RCINIT_*`) reaches them, as users of
//! a container expect; when rc.conf sets `rc_env_allow`, it filters exactly as OpenRC does (E-20).
//! On top come OpenRC's variables (E-21) and, for a `command_user`, that user's HOME and USER.

/// Names OpenRC's filter always keeps (E-20, 0.6x).
const ALWAYS: &[&str] = &[
    "EERROR_QUIET",
    "EINFO_QUIET",
    "IN_BACKGROUND",
    "IN_DRYRUN",
    "IN_HOTPLUG",
    "RC_DEBUG",
    "RC_NODEPS",
    "LANG",
    "LC_MESSAGES",
    "TERM",
    "EINFO_COLOR",
    "EINFO_VERBOSE",
    "RC_USER_SERVICES",
];

/// Filters `env` by `rc_env_allow` (None: rc.conf does not set it, everything but `RCINIT_*`
/// passes). With a filter, `/etc/profile.env` assignments (`profile_env`) are added for names
/// not already set, as OpenRC does.
pub fn filter(
    env: &[(String, String)],
    rc_env_allow: Option<&str>,
    profile_env: &str,
) -> Vec<(String, String)> {
    let own = |k: &str| k.starts_with("RCINIT_");
    let Some(allow) = rc_env_allow else {
        return env.iter().filter(|(k, _)| !own(k)).cloned().collect();
    };
    let listed: Vec<&str> = allow.split_whitespace().collect();
    let keep_all = listed.contains(&"*");
    let mut out: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| {
            !own(k) && (keep_all || ALWAYS.contains(&k.as_str()) || listed.contains(&k.as_str()))
        })
        .cloned()
        .collect();
    for (k, v) in parse_assignments(profile_env) {
        if !out.iter().any(|(have, _)| *have == k) {
            out.push((k, v));
        }
    }
    out
}

/// `KEY=VALUE` lines (with an optional `export `, quotes removed by the shell's rules), as in
/// /etc/profile.env or the output of `export -p` (dash and busybox: `export K='v'`; a value may
/// span lines inside its quotes). Names declared without a value are skipped.
pub fn parse_assignments(text: &str) -> Vec<(String, String)> {
    let Ok(words) = shell_words::split(text) else {
        // Unbalanced quotes: fall back to one plain assignment per line; a quoted value that
        // does not close is skipped rather than guessed.
        return text
            .lines()
            .filter_map(|l| {
                let l = l.trim().strip_prefix("export ").unwrap_or(l.trim());
                let (k, v) = l.split_once('=')?;
                let quoted = v.starts_with(['\'', '"']);
                (valid_name(k) && !quoted).then(|| (k.to_owned(), v.to_owned()))
            })
            .collect();
    };
    words
        .into_iter()
        .filter(|w| w != "export")
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            valid_name(k).then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn valid_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Sets (or replaces) `key` in `env`.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_owned(),
        None => env.push((key.to_owned(), value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_container_environment_passes_unless_rc_env_allow_filters_it() {
        let e = env(&[
            ("PATH", "/bin"),
            ("DB_HOST", "db"),
            ("TERM", "xterm"),
            ("RCINIT_LOG", "debug"),
        ]);
        assert_eq!(
            filter(&e, None, ""),
            env(&[("PATH", "/bin"), ("DB_HOST", "db"), ("TERM", "xterm")])
        );
        assert_eq!(
            filter(&e, Some("DB_HOST"), ""),
            env(&[("DB_HOST", "db"), ("TERM", "xterm")])
        );
        assert_eq!(
            filter(&e, Some("*"), ""),
            env(&[("PATH", "/bin"), ("DB_HOST", "db"), ("TERM", "xterm")])
        );
        assert_eq!(
            filter(&e, Some(""), "export LANG='C.UTF-8'\nTERM='vt100'\n"),
            env(&[("TERM", "xterm"), ("LANG", "C.UTF-8")])
        );
    }

    #[test]
    fn export_p_output_of_dash_and_busybox() {
        let text = "export HOME='/root'\nexport MULTI='a\nb'\nexport QUOTE='it'\"'\"'s'\nexport DECLARED\nexport X=1\n";
        assert_eq!(
            parse_assignments(text),
            env(&[
                ("HOME", "/root"),
                ("MULTI", "a\nb"),
                ("QUOTE", "it's"),
                ("X", "1")
            ])
        );
        assert_eq!(
            parse_assignments("export BAD='unterminated\nOK=1\n"),
            env(&[("OK", "1")])
        );
    }

    #[test]
    fn set_replaces_or_adds() {
        let mut e = env(&[("HOME", "/root")]);
        set(&mut e, "HOME", "/home/web");
        set(&mut e, "USER", "web");
        assert_eq!(e, env(&[("HOME", "/home/web"), ("USER", "web")]));
    }
}
