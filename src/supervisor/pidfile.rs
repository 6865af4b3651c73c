//! A forking daemon's pidfile, read as the hostile input it is (SECURITY.md): the file lives
//! where the service user may write, so it could be a FIFO (an open that never returns), a link
//! to /dev/zero (a read that never ends) or name any process at all. It is opened without
//! following a link and without blocking, must be a regular file of at most [`MAX_BYTES`]
//! bytes holding one decimal pid, and the process it names is accepted only when it is the
//! daemon this start made: started since, not PID 1 or rcinit, not followed for another
//! service, running as `command_user`, and named as the script names it (start-stop-daemon's
//! `--stop` matching: the process name against `procname` or the command's base name).

use std::io::Read;

/// A pid is at most 7 digits (pid_max is 2^22); 64 leaves room for whitespace and nothing else.
pub const MAX_BYTES: usize = 64;

/// The kernel's command name is the first 15 bytes of the executable's name.
const COMM_LEN: usize = 15;

/// Reads the pid a pidfile names, or says why it names none.
pub fn read(path: &str) -> Result<i32, String> {
    read_with_owner(path).map(|(pid, _)| pid)
}

/// [`read`], with the uid owning the file: a pidfile a service user wrote may name only that
/// user's processes to be signalled.
pub fn read_with_owner(path: &str) -> Result<(i32, u32), String> {
    // The directory part walked as root walks the user's directories (only root's links), the
    // last component never followed; O_NONBLOCK: a FIFO opens at once and reads nothing.
    let fd = crate::safepath::open_read(path, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)
        .map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => "is a symbolic link: not followed".to_owned(),
        Some(libc::ENOENT) => "does not exist".to_owned(),
        _ => e.to_string(),
    })?;
    let st = crate::safepath::fstat(&fd).map_err(|e| format!("fstat: {e}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err("is not a regular file".to_owned());
    }
    let mut buf = Vec::with_capacity(MAX_BYTES + 1);
    std::fs::File::from(fd)
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    parse(&buf).map(|pid| (pid, st.st_uid))
}

/// One decimal pid above 1, with surrounding whitespace (pure).
pub fn parse(bytes: &[u8]) -> Result<i32, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!("holds more than {MAX_BYTES} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "is not text".to_owned())?;
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        return Err("is empty".to_owned());
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "does not hold one pid ({:?})",
            t.get(..20).unwrap_or(t)
        ));
    }
    match t.parse::<i32>() {
        Ok(p) if p > 1 => Ok(p),
        Ok(p) => Err(format!("names pid {p}")),
        Err(_) => Err(format!("names no possible pid ({t})")),
    }
}

/// What /proc says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Start time, clock ticks since boot (stat field 22).
    pub start: u64,
    /// Its parent: it must be rcinit (PID 1, or the subreaper), which alone can see it end.
    pub ppid: i32,
    /// Real uid (status `Uid:`).
    pub uid: u32,
    pub comm: String,
    /// Base name of /proc/PID/exe, when it could be read.
    pub exe: Option<String>,
}

/// What the start expects of its daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The start time of the command this start ran: the daemon is it or came after it.
    pub since: u64,
    /// rcinit's own pid: a daemon left by its command is re-parented to it.
    pub me: i32,
    /// The processes there were just before that command: start times count in clock ticks
    /// (10 ms), so a process of the same tick is older only if it was already there.
    pub before: std::collections::HashSet<i32>,
    pub uid: Option<u32>,
    /// `procname`, else the command: compared by base name.
    pub name: String,
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Whether the process is this start's daemon (pure).
pub fn judge(pid: i32, info: &ProcInfo, w: &Wanted) -> Result<(), String> {
    // Another live parent would reap it unseen: rcinit would then signal a pid that may be
    // anyone's by then.
    if info.ppid != w.me {
        return Err(format!(
            "pid {pid} ({}) is not rcinit's child (its parent is {}): its end could not be seen",
            info.comm, info.ppid
        ));
    }
    if info.start < w.since || (info.start == w.since && w.before.contains(&pid)) {
        return Err(format!(
            "pid {pid} ({}) was running before this start began",
            info.comm
        ));
    }
    if let Some(uid) = w.uid
        && info.uid != uid
    {
        return Err(format!(
            "pid {pid} ({}) runs as uid {}, not the service's uid {uid}",
            info.comm, info.uid
        ));
    }
    let want = base(&w.name);
    let comm_want: String = want.bytes().take(COMM_LEN).map(char::from).collect();
    let by_comm = info.comm == comm_want || info.comm == want;
    let by_exe = info.exe.as_deref().is_some_and(|e| base(e) == want);
    if !by_comm && !by_exe {
        return Err(format!(
            "pid {pid} is {:?}, not {want:?} (set procname if the daemon has another name)",
            info.comm
        ));
    }
    Ok(())
}

/// `/proc/PID/status`'s real uid (pure).
pub fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reads /proc for `pid` (bounded reads: these files are the kernel's).
pub fn info(pid: i32) -> Result<ProcInfo, String> {
    let crate::procfs::Stat {
        comm, ppid, start, ..
    } = crate::procfs::stat(pid).ok_or(format!("pid {pid}: no /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("pid {pid}: /proc/{pid}/status: {e}"))?;
    let uid = parse_uid(&status).ok_or(format!("pid {pid}: no Uid in status"))?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| {
            let s = p.to_string_lossy().into_owned();
            s.strip_suffix(" (deleted)").unwrap_or(&s).to_owned()
        });
    Ok(ProcInfo {
        start,
        ppid,
        uid,
        comm,
        exe,
    })
}

/// The start time of a process, for [`Wanted::since`].
pub fn start_time(pid: i32) -> Option<u64> {
    crate::procfs::stat(pid).map(|s| s.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_parse_totally() {
        assert_eq!(parse(b"1234\n"), Ok(1234));
        assert_eq!(parse(b"  42  "), Ok(42));
        for bad in [
            &b""[..],
            b"\n",
            b"1",
            b"0",
            b"-5",
            b"+5",
            b"12 13",
            b"abc",
            b"99999999999999999999",
            b"2147483648",
            b"\xff\xfe",
            b"0x10",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&[b'1'; 65]).is_err());
        assert!(parse(&vec![b' '; 1 << 20]).is_err());
        assert_eq!(parse(b"2147483647"), Ok(i32::MAX));
    }

    #[test]
    fn stat_and_status_fields() {
        let stat = "77 (a) b (c)) S 1 77 77 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 100 10";
        let s = crate::procfs::parse_stat(stat).unwrap();
        assert_eq!(
            (s.comm.as_str(), s.ppid, s.session, s.start),
            ("a) b (c)", 1, 77, 123456)
        );
        assert_eq!(crate::procfs::parse_stat("garbage"), None);
        assert_eq!(crate::procfs::parse_stat("1 (x) S"), None);
        assert_eq!(
            parse_uid("Name:\tx\nUid:\t65534\t65534\t65534\t65534\n"),
            Some(65534)
        );
        assert_eq!(parse_uid("Name:\tx\n"), None);
    }

    fn info(start: u64, uid: u32, comm: &str, exe: Option<&str>) -> ProcInfo {
        ProcInfo {
            start,
            ppid: 1,
            uid,
            comm: comm.into(),
            exe: exe.map(String::from),
        }
    }

    #[test]
    fn only_this_starts_daemon_is_accepted() {
        let w = Wanted {
            since: 1000,
            me: 1,
            before: [7].into(),
            uid: Some(33),
            name: "/usr/sbin/nginx".into(),
        };
        assert!(judge(9, &info(1000, 33, "nginx", Some("/usr/sbin/nginx")), &w).is_ok());
        assert!(judge(9, &info(2000, 33, "nginx", None), &w).is_ok());
        // Renamed comm, same executable.
        assert!(judge(9, &info(2000, 33, "worker", Some("/usr/sbin/nginx")), &w).is_ok());
        let old = judge(9, &info(999, 33, "nginx", None), &w).unwrap_err();
        assert!(old.contains("before this start"), "{old}");
        // The same tick: older only if it was there before the command.
        let tick = judge(7, &info(1000, 33, "nginx", None), &w).unwrap_err();
        assert!(tick.contains("before this start"), "{tick}");
        let uid = judge(9, &info(2000, 0, "nginx", None), &w).unwrap_err();
        assert!(uid.contains("uid 0"), "{uid}");
        let name = judge(9, &info(2000, 33, "sshd", Some("/usr/sbin/sshd")), &w).unwrap_err();
        assert!(name.contains("procname"), "{name}");
        // Another process's child is not followed: its parent would reap it unseen.
        let mut adopted_elsewhere = info(2000, 33, "nginx", None);
        adopted_elsewhere.ppid = 4242;
        let other = judge(9, &adopted_elsewhere, &w).unwrap_err();
        assert!(other.contains("not rcinit's child"), "{other}");
        // A long name is compared as the kernel truncates it.
        let long = Wanted {
            since: 0,
            me: 1,
            before: Default::default(),
            uid: None,
            name: "/opt/a-very-long-daemon-name".into(),
        };
        assert!(judge(9, &info(5, 0, "a-very-long-dae", None), &long).is_ok());
    }
}
