//! `mountinfo` (L-35): the mounts of /proc/mounts a script asks about, filtered by regular
//! expressions, printed last mounted first, exit 0 when any is printed (or would be, quiet).

use super::fstab;
use super::getopt::{self, Spec, eerror};
use crate::ere::Regex;

const SPEC: Spec = Spec {
    applet: "mountinfo",
    short: "f:F:n:N:o:O:p:P:iste:E:",
    long: &[
        ("fstype-regex", true, 'f'),
        ("skip-fstype-regex", true, 'F'),
        ("node-regex", true, 'n'),
        ("skip-node-regex", true, 'N'),
        ("options-regex", true, 'o'),
        ("skip-options-regex", true, 'O'),
        ("point-regex", true, 'p'),
        ("skip-point-regex", true, 'P'),
        ("options", false, 'i'),
        ("fstype", false, 's'),
        ("node", false, 't'),
        ("netdev", false, 'e'),
        ("nonetdev", false, 'E'),
    ],
    operands: "[mount1] [mount2] ...",
};

/// /proc/mounts is the kernel's; still, a helper reads a bounded amount.
const MAX_MOUNTS: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    To,
    Fstype,
    Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Ignore,
    Yes,
    No,
}

#[derive(Default)]
struct Filters {
    node: Option<Regex>,
    skip_node: Option<Regex>,
    fstype: Option<Regex>,
    skip_fstype: Option<Regex>,
    options: Option<Regex>,
    skip_options: Option<Regex>,
    point: Option<Regex>,
    skip_point: Option<Regex>,
}

/// One line of /proc/mounts: its first four fields as they are written (escapes kept).
pub struct Mount<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub fstype: &'a str,
    pub options: &'a str,
}

/// Splits a /proc/mounts line on single spaces, as OpenRC does (a missing field is empty).
pub fn split(line: &str) -> Mount<'_> {
    let mut f = line.split(' ');
    let mut next = || f.next().unwrap_or("");
    Mount {
        from: next(),
        to: next(),
        fstype: next(),
        options: next(),
    }
}

pub fn run(args: &[String]) -> i32 {
    let parsed = match getopt::parse(&SPEC, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some((field, net, f)) = read_options(&parsed.opts) else {
        return 1;
    };
    let Some(wanted) = mount_points(&parsed.operands) else {
        return 1;
    };
    let text = match super::read_bounded("/proc/mounts", MAX_MOUNTS) {
        Ok(t) => t,
        Err(e) => {
            eerror(&format!("getmntinfo: {e}"));
            return 1;
        }
    };
    let found = matching(&text, field, net, &f, &wanted);
    print_found(&found, &f)
}

/// The field to print, the network sense and the filters; None when a regex does not compile
/// (already said).
fn read_options(opts: &[(char, String)]) -> Option<(Field, Net, Filters)> {
    let mut field = Field::To;
    let mut net = Net::Ignore;
    let mut f = Filters::default();
    for (c, v) in opts {
        let slot = match c {
            'e' => {
                net = Net::Yes;
                continue;
            }
            'E' => {
                net = Net::No;
                continue;
            }
            'i' | 's' | 't' => {
                field = match c {
                    'i' => Field::Options,
                    's' => Field::Fstype,
                    _ => Field::From,
                };
                continue;
            }
            'f' => &mut f.fstype,
            'F' => &mut f.skip_fstype,
            'n' => &mut f.node,
            'N' => &mut f.skip_node,
            'o' => &mut f.options,
            'O' => &mut f.skip_options,
            'p' => &mut f.point,
            _ => &mut f.skip_point,
        };
        match Regex::new(v) {
            Ok(r) => *slot = Some(r),
            Err(e) => {
                eerror(&format!("mountinfo: invalid regex `{e}'"));
                return None;
            }
        }
    }
    Some((field, net, f))
}

/// The mount points named, resolved as OpenRC resolves them; None when one is not absolute
/// (already said).
fn mount_points(operands: &[String]) -> Option<Vec<String>> {
    let mut wanted = Vec::new();
    for m in operands {
        if !m.starts_with('/') {
            eerror(&format!("mountinfo: `{m}' is not a mount point"));
            return None;
        }
        wanted.push(
            std::fs::canonicalize(m)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| m.clone()),
        );
    }
    Some(wanted)
}

/// The field of every mount that passes the filters, in the order of /proc/mounts.
fn matching<'a>(
    text: &'a str,
    field: Field,
    net: Net,
    f: &Filters,
    wanted: &[String],
) -> Vec<&'a str> {
    let fstab = fstab::read().unwrap_or_default();
    let mut found: Vec<&str> = Vec::new();
    for line in text.lines() {
        let m = split(line);
        // Whether fstab calls it a network mount: 0 yes, 1 no, -1 not in fstab (OpenRC's
        // inverted sense, kept so the rule below reads as OpenRC's).
        let netdev = match fstab.iter().find(|e| e.dir == m.to) {
            Some(e) if e.opts.contains("_netdev") => 0,
            Some(_) => 1,
            None => -1,
        };
        if let Some(v) = pick(&m, field, net, netdev, f, wanted) {
            found.push(v);
        }
    }
    found
}

/// Last mounted first, as OpenRC prints them; the point filters apply to what is printed.
fn print_found(found: &[&str], f: &Filters) -> i32 {
    let quiet = getopt::quiet();
    let mut out = String::new();
    let mut any = false;
    for v in found.iter().rev() {
        let b = v.as_bytes();
        if f.point.as_ref().is_some_and(|r| !r.is_match(b))
            || f.skip_point.as_ref().is_some_and(|r| r.is_match(b))
        {
            continue;
        }
        any = true;
        if !quiet {
            out.push_str(v);
            out.push('\n');
        }
    }
    print!("{out}");
    if any { 0 } else { 1 }
}

/// OpenRC's process_mount: the field to print for mount `m`, or None when it is filtered out.
fn pick<'a>(
    m: &Mount<'a>,
    field: Field,
    net: Net,
    netdev: i32,
    f: &Filters,
    wanted: &[String],
) -> Option<&'a str> {
    if m.fstype == "rootfs" {
        return None;
    }
    let hit = |r: &Option<Regex>, s: &str| r.as_ref().map(|r| r.is_match(s.as_bytes()));
    match net {
        // With -e/-E a mount fstab does not know is judged only when mounts were named.
        Net::Yes if netdev != -1 || !wanted.is_empty() => {
            if netdev != 0 {
                return None;
            }
        }
        Net::No if netdev != -1 || !wanted.is_empty() => {
            if netdev != 1 {
                return None;
            }
        }
        _ => {
            if hit(&f.node, m.from) == Some(false)
                || hit(&f.skip_node, m.from) == Some(true)
                || hit(&f.fstype, m.fstype) == Some(false)
                || hit(&f.skip_fstype, m.fstype) == Some(true)
                || hit(&f.options, m.options) == Some(false)
                || hit(&f.skip_options, m.options) == Some(true)
            {
                return None;
            }
        }
    }
    if !wanted.is_empty() && !wanted.iter().any(|w| w == m.to) {
        return None;
    }
    Some(match field {
        Field::From => m.from,
        Field::To => m.to,
        Field::Fstype => m.fstype,
        Field::Options => m.options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_is_picked_as_openrc_picks_it() {
        let m = split("proc /proc proc rw,nosuid 0 0");
        let none = Filters::default();
        assert_eq!(
            pick(&m, Field::To, Net::Ignore, -1, &none, &[]),
            Some("/proc")
        );
        assert_eq!(
            pick(&m, Field::Fstype, Net::Ignore, -1, &none, &[]),
            Some("proc")
        );
        assert_eq!(
            pick(&m, Field::Options, Net::Ignore, -1, &none, &[]),
            Some("rw,nosuid")
        );
        let want = vec!["/sys".to_owned()];
        assert_eq!(pick(&m, Field::To, Net::Ignore, -1, &none, &want), None);
        let f = Filters {
            fstype: Some(Regex::new("^(sysfs|tmpfs)$").unwrap()),
            ..Filters::default()
        };
        assert_eq!(pick(&m, Field::To, Net::Ignore, -1, &f, &[]), None);
        // -e: a mount fstab does not know is judged by the regexes unless mounts are named.
        assert_eq!(pick(&m, Field::To, Net::Yes, -1, &none, &[]), Some("/proc"));
        assert_eq!(pick(&m, Field::To, Net::Yes, -1, &f, &[]), None);
        assert_eq!(
            pick(&m, Field::To, Net::Yes, -1, &none, &["/proc".into()]),
            None
        );
        assert_eq!(pick(&m, Field::To, Net::Yes, 1, &none, &[]), None);
        assert_eq!(pick(&m, Field::To, Net::No, 1, &none, &[]), Some("/proc"));
        let root = split("rootfs / rootfs rw 0 0");
        assert_eq!(pick(&root, Field::To, Net::Ignore, -1, &none, &[]), None);
        // A short line is not a panic.
        let short = split("x");
        assert_eq!(
            pick(&short, Field::To, Net::Ignore, -1, &none, &[]),
            Some("")
        );
    }
}
