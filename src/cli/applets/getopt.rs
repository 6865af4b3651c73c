//! Options as OpenRC's C helpers read them (glibc `getopt_long`): operands may come between
//! options, `--` ends the options, short options cluster (`-qs`), an option's value is the rest
//! of its word or the next word, long options take `=value` and may be abbreviated to any
//! unique prefix. The options every helper has (OpenRC's `getoptstring_COMMON`) are handled here.

/// A long option: its name, whether it takes a value, the short letter it stands for.
pub type Long = (&'static str, bool, char);

use std::sync::atomic::{AtomicU32, Ordering};

/// How many `-q` the command line gave: OpenRC's helpers are quiet after one, and say no
/// error after two (it sets EINFO_QUIET, then EERROR_QUIET).
static QUIET: AtomicU32 = AtomicU32::new(0);

/// Whether the helper prints nothing but errors: `-q`, or EINFO_QUIET from the caller.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed) >= 1 || env_yes("EINFO_QUIET")
}

/// Whether `-q` was given (fstabinfo ignores the caller's EINFO_QUIET).
pub fn quiet_here() -> bool {
    QUIET.load(Ordering::Relaxed) >= 1
}

/// The options shared by every OpenRC helper.
const COMMON_SHORT: &str = "ChqVv";
const COMMON_LONG: &[Long] = &[
    ("help", false, 'h'),
    ("nocolor", false, 'C'),
    ("version", false, 'V'),
    ("verbose", false, 'v'),
    ("quiet", false, 'q'),
];

/// The options of one helper.
pub struct Spec {
    pub applet: &'static str,
    /// getopt's string: a letter, `:` after it when it takes a value.
    pub short: &'static str,
    pub long: &'static [Long],
    /// What follows `[options]` in the usage line.
    pub operands: &'static str,
}

/// What the command line says: the helper's own options in order, and the operands.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub opts: Vec<(char, String)>,
    pub operands: Vec<String>,
}

/// Parses `args` (without the program name). `Err(code)` means the helper must exit with
/// it now (help, version, a wrong option: already said).
pub fn parse(spec: &Spec, args: &[String]) -> Result<Parsed, i32> {
    let mut out = Parsed::default();
    let mut quiet = 0;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        i += 1;
        if word == "--" {
            out.operands.extend(args[i..].iter().cloned());
            break;
        }
        let (letter, value) = if let Some(long) = word.strip_prefix("--") {
            long_option(spec, args, &mut i, long)?
        } else if word.len() > 1 && word.starts_with('-') {
            match cluster(spec, args, &mut i, word, &mut out, &mut quiet)? {
                Some(f) => f,
                None => continue,
            }
        } else {
            out.operands.push(word.clone());
            continue;
        };
        quiet += handle(
            spec,
            letter,
            args.len(),
            &mut out,
            value.unwrap_or_default(),
        )?;
    }
    QUIET.fetch_add(quiet, Ordering::Relaxed);
    Ok(out)
}

/// `--name[=value]`, the value in the next word when not inline; `i` moves past a value taken.
fn long_option(
    spec: &Spec,
    args: &[String],
    i: &mut usize,
    long: &str,
) -> Result<(char, Option<String>), i32> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (long, None),
    };
    let Some((full, takes, letter)) = find_long(spec, name) else {
        return Err(wrong(spec, &format!("unrecognized option '--{name}'")));
    };
    let value = match (takes, inline) {
        (false, Some(_)) => {
            return Err(wrong(
                spec,
                &format!("option '--{full}' doesn't allow an argument"),
            ));
        }
        (false, None) => None,
        (true, Some(v)) => Some(v),
        (true, None) => match args.get(*i) {
            Some(v) => {
                *i += 1;
                Some(v.clone())
            }
            None => {
                return Err(wrong(
                    spec,
                    &format!("option '--{full}' requires an argument"),
                ));
            }
        },
    };
    Ok((letter, value))
}

/// A cluster: every letter but one taking a value is an option of its own, handled here;
/// the one taking a value is returned, with the rest of the word or the next word.
fn cluster(
    spec: &Spec,
    args: &[String],
    i: &mut usize,
    word: &str,
    out: &mut Parsed,
    quiet: &mut u32,
) -> Result<Option<(char, Option<String>)>, i32> {
    let mut found = None;
    for (k, c) in word[1..].char_indices() {
        let Some(takes) = takes_value(spec, c) else {
            return Err(wrong(spec, &format!("invalid option -- '{c}'")));
        };
        if !takes {
            *quiet += handle(spec, c, args.len(), out, String::new())?;
            continue;
        }
        let rest = &word[1 + k + c.len_utf8()..];
        let value = if !rest.is_empty() {
            rest.to_owned()
        } else if let Some(v) = args.get(*i) {
            *i += 1;
            v.clone()
        } else {
            return Err(wrong(
                spec,
                &format!("option requires an argument -- '{c}'"),
            ));
        };
        found = Some((c, Some(value)));
        break;
    }
    Ok(found)
}

/// A common option acted on, or the helper's own kept; returns 1 for a `-q`.
fn handle(spec: &Spec, c: char, argc: usize, out: &mut Parsed, v: String) -> Result<u32, i32> {
    match c {
        'q' => return Ok(1),
        'h' => {
            usage(spec);
            return Err(0);
        }
        // As OpenRC: the version only when it is the one argument.
        'V' if argc == 1 => {
            let sys = std::env::var("RC_SYS")
                .ok()
                .filter(|s| !s.is_empty())
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            println!("{} (OpenRC{sys}) {}", spec.applet, crate::OPENRC_VERSION);
            return Err(0);
        }
        'V' => {}
        // Verbosity and colour change nothing these helpers print.
        'v' | 'C' => {}
        _ => out.opts.push((c, v)),
    }
    Ok(0)
}

fn takes_value(spec: &Spec, c: char) -> Option<bool> {
    if COMMON_SHORT.contains(c) {
        return Some(false);
    }
    let at = spec.short.find(c)?;
    if c == ':' {
        return None;
    }
    Some(spec.short[at + c.len_utf8()..].starts_with(':'))
}

fn find_long(spec: &Spec, name: &str) -> Option<Long> {
    let all = || spec.long.iter().chain(COMMON_LONG);
    if let Some(l) = all().find(|l| l.0 == name) {
        return Some(*l);
    }
    let mut prefixed = all().filter(|l| !name.is_empty() && l.0.starts_with(name));
    match (prefixed.next(), prefixed.next()) {
        (Some(l), None) => Some(*l),
        _ => None,
    }
}

fn wrong(spec: &Spec, msg: &str) -> i32 {
    eprintln!("{}: {msg}", spec.applet);
    usage(spec);
    1
}

/// The usage text, on stdout as OpenRC's helpers print it.
pub fn usage(spec: &Spec) {
    let mut text = format!(
        "Usage: {} [options] {}\n\nOptions:\n",
        spec.applet, spec.operands
    );
    for (name, takes, c) in spec.long.iter().chain(COMMON_LONG) {
        let value = if *takes { " <arg>" } else { "" };
        text.push_str(&format!("  -{c}, --{name}{value}\n"));
    }
    print!("{text}");
}

/// `rc_yesno`: whether a variable says yes.
pub fn env_yes(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| crate::words::rc_yes(&v))
}

/// `eerror`: ` * msg` on stderr, unless EERROR_QUIET.
pub fn eerror(msg: &str) {
    if QUIET.load(Ordering::Relaxed) < 2 && !env_yes("EERROR_QUIET") {
        eprintln!(" * {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        applet: "t",
        short: "f:Ms",
        long: &[
            ("fstype-regex", true, 'f'),
            ("mount", false, 'M'),
            ("fstype", false, 's'),
        ],
        operands: "",
    };

    fn p(a: &[&str]) -> Result<Parsed, i32> {
        parse(&SPEC, &a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_and_operands_as_getopt_long_permutes_them() {
        let r = p(&["/a", "-sf^x", "/b", "--fstype-r=y", "-f", "z", "--", "-M"]).unwrap();
        assert_eq!(
            r.opts,
            vec![
                ('s', String::new()),
                ('f', "^x".into()),
                ('f', "y".into()),
                ('f', "z".into())
            ]
        );
        assert_eq!(r.operands, vec!["/a", "/b", "-M"]);
        // Ambiguous prefix, unknown option, missing value, value on a flag: wrong.
        assert_eq!(p(&["--fstype"]).unwrap().opts, vec![('s', String::new())]);
        assert_eq!(p(&["--fs"]), Err(1));
        assert_eq!(p(&["-z"]), Err(1));
        assert_eq!(p(&["-f"]), Err(1));
        assert_eq!(p(&["--mount=1"]), Err(1));
    }
}
