//! `checkpath` for init scripts (L-34), run by the shim as `rcinit checkpath ...`: root creates
//! and corrects paths that often sit in a directory the service user owns, so it follows
//! OpenRC's own rule (SECURITY.md): the directory part follows only root's symlinks, the last
//! component is opened with O_NOFOLLOW and everything is done on that descriptor (fchmod,
//! fchown, ftruncate), and a file with more than one hard link is neither chmodded, chowned nor
//! truncated. `-D` does not empty the directory: neither OpenRC 0.45 nor 0.64 does.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::safepath;
use crate::supervisor::user;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Unknown,
    Dir,
    File,
    Fifo,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opts {
    pub kind: Kind,
    pub trunc: bool,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub writable: bool,
    pub quiet: bool,
    pub paths: Vec<String>,
}

/// getopt_long's rules: short options may be bundled (`-qd`), values attached (`-m0755`,
/// `--mode=0755`) or next, options may follow the paths, `--` ends them.
pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    let mut only_paths = false;
    while let Some(a) = it.next() {
        if only_paths || a == "-" || !a.starts_with('-') {
            o.paths.push(a.clone());
            continue;
        }
        if a == "--" {
            only_paths = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or(format!("option --{name} needs a value"))
            };
            match name {
                "directory" => o.kind = Kind::Dir,
                "directory-truncate" => (o.kind, o.trunc) = (Kind::Dir, true),
                "file" => o.kind = Kind::File,
                "file-truncate" => (o.kind, o.trunc) = (Kind::File, true),
                "pipe" => o.kind = Kind::Fifo,
                "mode" => o.mode = Some(parse_mode(&value()?)?),
                "owner" => o.owner = Some(value()?),
                "writable" => o.writable = true,
                "quiet" => o.quiet = true,
                "symlinks" | "verbose" | "nocolor" => {}
                _ => return Err(format!("unrecognized option '--{name}'")),
            }
            continue;
        }
        let flags: Vec<char> = a[1..].chars().collect();
        let mut i = 0;
        while let Some(&c) = flags.get(i) {
            i += 1;
            match c {
                'd' => o.kind = Kind::Dir,
                'D' => (o.kind, o.trunc) = (Kind::Dir, true),
                'f' => o.kind = Kind::File,
                'F' => (o.kind, o.trunc) = (Kind::File, true),
                'p' => o.kind = Kind::Fifo,
                'W' => o.writable = true,
                'q' => o.quiet = true,
                's' | 'v' | 'C' => {}
                'm' | 'o' => {
                    let attached: String = flags.get(i..).unwrap_or_default().iter().collect();
                    i = flags.len();
                    let v = if attached.is_empty() {
                        it.next()
                            .cloned()
                            .ok_or(format!("option -{c} needs a value"))?
                    } else {
                        attached
                    };
                    if c == 'm' {
                        o.mode = Some(parse_mode(&v)?);
                    } else {
                        o.owner = Some(v);
                    }
                }
                _ => return Err(format!("invalid option -- '{c}'")),
            }
        }
    }
    if o.paths.is_empty() {
        return Err("no path given".into());
    }
    Ok(o)
}

/// An octal mode up to 07777, as OpenRC takes it.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let bad = || format!("invalid mode '{s}'");
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(bad()),
    }
}

/// `user`, `user:group`, `:group` -> uid and gid: the user's own group unless one is named, `me`
/// for what is unset. Names must exist; a number that /etc/passwd or /etc/group lacks is taken
/// as it is (OpenRC's getpwuid would refuse it, but an image without passwd entries still has
/// to be able to say `-o 0:0`).
pub fn owner_ids(
    spec: &str,
    passwd: &str,
    group: &str,
    me: (u32, u32),
) -> Result<(u32, u32), String> {
    let not_found = || format!("owner '{spec}' not found");
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let (mut uid, mut gid) = me;
    if !u.is_empty() {
        match (user::resolve(u, passwd, group), u.parse::<u32>()) {
            (Ok(id), _) => (uid, gid) = (id.uid, id.gid),
            (Err(_), Ok(n)) => uid = n,
            (Err(_), Err(_)) => return Err(not_found()),
        }
    }
    if !g.is_empty() {
        gid = user::group_id(g, group)
            .or_else(|| g.parse().ok())
            .ok_or_else(not_found)?;
    }
    Ok((uid, gid))
}

fn einfo(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!(" * {msg}");
    }
}

fn eerror(msg: &str) {
    eprintln!(" * checkpath: {msg}");
}

/// Runs the applet; returns its exit code.
pub fn run(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eerror(&e);
            return 1;
        }
    };
    let quiet = o.quiet || std::env::var("EINFO_QUIET").is_ok_and(|v| v == "yes" || v == "YES");
    let ids = match &o.owner {
        Some(spec) => {
            let (passwd, group) = user::databases();
            let me = (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            );
            match owner_ids(spec, &passwd, &group, me) {
                Ok(ids) => Some(ids),
                Err(e) => {
                    eerror(&e);
                    return 1;
                }
            }
        }
        None => None,
    };
    // The modes asked for are the modes made.
    // SAFETY: umask(2) only sets this short-lived process's mask.
    unsafe { libc::umask(0) };
    let mut rc = 0;
    for p in &o.paths {
        let path = safepath::clean(p);
        if let Err(e) = check(&path, &o, ids, quiet) {
            eerror(&format!("{path}: {e}"));
            rc = 1;
        }
    }
    rc
}

fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn writable(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: access(2) on a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(last_err())
    }
}

fn check(path: &str, o: &Opts, ids: Option<(u32, u32)>, quiet: bool) -> Result<(), String> {
    if o.writable {
        match writable(path) {
            Ok(()) => return Ok(()),
            Err(e) if o.kind == Kind::Unknown => return Err(format!("not writable: {e}")),
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                return Err(format!("not writable: {e}"));
            }
            Err(_) => {}
        }
    }
    let (dir, name) = safepath::open_parent(path).map_err(|e| e.to_string())?;
    let file_trunc = o.trunc && o.kind == Kind::File;
    let access = if file_trunc {
        libc::O_RDWR
    } else {
        libc::O_RDONLY
    };
    let flags = access | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let (fd, created) = match safepath::open_at_mode(&dir, &name, flags, 0) {
        Ok(fd) => (fd, false),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            (create(&dir, &name, path, o, quiet)?, true)
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("is a symbolic link: checkpath does not follow it".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    let st = safepath::fstat(&fd).map_err(|e| format!("fstat: {e}"))?;
    let fmt = st.st_mode & libc::S_IFMT;
    if o.kind != Kind::Dir && fmt == libc::S_IFDIR {
        return Err("is a directory".into());
    }
    if o.kind != Kind::File && fmt == libc::S_IFREG {
        return Err("is a file".into());
    }
    if o.kind != Kind::Fifo && fmt == libc::S_IFIFO {
        return Err("is a fifo".into());
    }
    let linked = fmt != libc::S_IFDIR && st.st_nlink > 1;
    if file_trunc && !created {
        if linked {
            return Err("truncate: too many hard links".into());
        }
        // SAFETY: ftruncate on the regular file just opened for writing.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), 0) } != 0 {
            return Err(format!("truncate: {}", last_err()));
        }
    }
    if let Some(mode) = o.mode
        && st.st_mode & 0o7777 != mode
    {
        if linked {
            return Err("chmod: too many hard links".into());
        }
        einfo(quiet, &format!("{path}: correcting mode"));
        // SAFETY: fchmod on the descriptor just opened.
        if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } != 0 {
            return Err(format!("chmod: {}", last_err()));
        }
    }
    if let Some((uid, gid)) = ids
        && (st.st_uid != uid || st.st_gid != gid)
    {
        if linked {
            return Err("chown: too many hard links".into());
        }
        einfo(quiet, &format!("{path}: correcting owner"));
        // SAFETY: fchown on the descriptor just opened.
        if unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) } != 0 {
            return Err(format!("chown: {}", last_err()));
        }
    }
    Ok(())
}

/// A mkdirat/mkfifoat result, its errno taken at once.
fn made(r: libc::c_int) -> std::io::Result<()> {
    if r == 0 { Ok(()) } else { Err(last_err()) }
}

/// Creates what is missing (parents are not made), umask 0, and opens it without following.
fn create(
    dir: &OwnedFd,
    name: &std::ffi::CStr,
    path: &str,
    o: &Opts,
    quiet: bool,
) -> Result<OwnedFd, String> {
    let d = dir.as_raw_fd();
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    // What to call it, how it is made (None: by the open itself), and how it is opened.
    let (what, made, flags, mode) = match o.kind {
        Kind::File => ("file", None, base | libc::O_RDWR | libc::O_CREAT, 0o664),
        Kind::Dir => (
            "directory",
            // SAFETY: mkdirat with a valid directory fd and a NUL-terminated name.
            Some(made(unsafe {
                libc::mkdirat(d, name.as_ptr(), o.mode.unwrap_or(0o775))
            })),
            base | libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        ),
        Kind::Fifo => (
            "fifo",
            // SAFETY: mkfifoat with a valid directory fd and a NUL-terminated name.
            Some(made(unsafe {
                libc::mkfifoat(d, name.as_ptr(), o.mode.unwrap_or(0o600))
            })),
            base | libc::O_RDONLY,
            0,
        ),
        Kind::Unknown => {
            return Err("does not exist (and no -d, -f or -p says what to create)".into());
        }
    };
    einfo(quiet, &format!("{path}: creating {what}"));
    // Made meanwhile by someone else is fine: it is checked like any existing path.
    if let Some(Err(e)) = made
        && e.raw_os_error() != Some(libc::EEXIST)
    {
        return Err(format!("creating the {what}: {e}"));
    }
    safepath::open_at_mode(dir, name, flags, o.mode.unwrap_or(mode))
        .map_err(|e| format!("opening the {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_as_getopt_long_takes_them() {
        let o = parse(&args("-qd -m0755 -o web:www /run/a /run/b")).unwrap();
        assert_eq!(o.kind, Kind::Dir);
        assert!(o.quiet && !o.trunc);
        assert_eq!(o.mode, Some(0o755));
        assert_eq!(o.owner.as_deref(), Some("web:www"));
        assert_eq!(o.paths, ["/run/a", "/run/b"]);
        let o = parse(&args("/run/x --file-truncate --mode=0640 --owner nobody")).unwrap();
        assert_eq!((o.kind, o.trunc, o.mode), (Kind::File, true, Some(0o640)));
        assert_eq!(o.paths, ["/run/x"]);
        let o = parse(&args("-D -- -odd")).unwrap();
        assert_eq!((o.kind, o.trunc), (Kind::Dir, true));
        assert_eq!(o.paths, ["-odd"]);
        assert!(parse(&args("-d")).is_err());
        assert!(parse(&args("-x /a")).is_err());
        assert!(parse(&args("-m")).is_err());
        assert!(parse(&args("--bogus /a")).is_err());
    }

    #[test]
    fn modes_are_octal_up_to_07777() {
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("1777"), Ok(0o1777));
        for bad in ["", "0x1", "u+rw", "8", "17777", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_resolve_like_getpwnam() {
        let passwd = "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n";
        let group = "root:x:0:\nweb:x:1001:\nlog:x:4:\n";
        let me = (0, 0);
        assert_eq!(owner_ids("web", passwd, group, me), Ok((1000, 1001)));
        assert_eq!(owner_ids("web:log", passwd, group, me), Ok((1000, 4)));
        assert_eq!(owner_ids("1000:4", passwd, group, me), Ok((1000, 4)));
        assert_eq!(owner_ids(":log", passwd, group, me), Ok((0, 4)));
        assert!(owner_ids("ghost", passwd, group, me).is_err());
        assert!(owner_ids("web:ghosts", passwd, group, me).is_err());
        assert_eq!(owner_ids("4242", "", "", me), Ok((4242, 0)));
        assert_eq!(owner_ids("0:0", "", "", (5, 5)), Ok((0, 0)));
    }
}
