//! OpenRC's state directory kept current (R-20..R-28), so that the real `rc-status` and
//! `rc-service NAME status` in an image with OpenRC report what rcinit does.

use std::path::{Path, PathBuf};

use crate::state::State;

/// The state words of R-23 that rcinit writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Starting,
    Started,
    Stopping,
    /// `mark_service_inactive` (L-22): up as far as OpenRC's tools are concerned.
    Inactive,
    Stopped,
    /// Stopped, plus the `failed/` link (R-27: a start failed, or respawning gave up).
    Failed,
}

impl Mark {
    /// The mark for an rcinit state; a crash keeps OpenRC's `started` (the daemon record tells
    /// rc-status whether the daemon is gone, R-25).
    pub fn of(state: State) -> Option<Mark> {
        Some(match state {
            State::Starting => Mark::Starting,
            State::Started => Mark::Started,
            State::Stopping => Mark::Stopping,
            State::Stopped => Mark::Stopped,
            State::Failed => Mark::Failed,
            State::Inactive => Mark::Inactive,
            State::Crashed => return None,
        })
    }
}

const MAIN: &[&str] = &["started", "starting", "stopping", "inactive", "wasinactive"];

/// The mirror of one state directory.
#[derive(Debug, Clone)]
pub struct Mirror {
    dir: PathBuf,
}

/// A service's `exclusive/` lock, as rcinit tried to take it.
#[derive(Debug)]
pub enum Lock {
    /// Taken: held until this is dropped (the descriptor closed).
    Held(std::os::fd::OwnedFd),
    /// Someone else (OpenRC's openrc-run) holds it: that one is starting or stopping it.
    Busy,
    /// No lock to take (no state directory, a name that is no file name).
    Unavailable,
}

/// What rc-status needs to know of a daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonRecord {
    pub exec: String,
    pub argv: Vec<String>,
    /// The pidfile naming a live process while the service runs.
    pub pidfile: Option<String>,
    /// Options written with it: pidfile, child_pid, start_time, start_count...
    pub options: Vec<(String, String)>,
}

impl Mirror {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn link(&self, sub: &str, name: &str, script: &str) {
        let d = self.dir.join(sub);
        let l = d.join(name);
        // Tried first as it usually works: the directory exists and the link does not. A service
        // starts with a few of these, so the mkdir and unlink that are usually in vain count.
        let r = match std::os::unix::fs::symlink(script, &l) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&l);
                std::os::unix::fs::symlink(script, &l)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::create_dir_all(&d);
                std::os::unix::fs::symlink(script, &l)
            }
            r => r,
        };
        if let Err(e) = r {
            tracing::debug!("{}: {e}", l.display());
        }
    }

    fn unlink(&self, sub: &str, name: &str) {
        let _ = std::fs::remove_file(self.dir.join(sub).join(name));
    }

    /// Writes `mark` for service `name` exactly as OpenRC's rc_service_mark would.
    pub fn mark(&self, name: &str, script: &str, mark: Mark) {
        match mark {
            Mark::Starting | Mark::Started | Mark::Stopping | Mark::Inactive => {
                let sub = match mark {
                    Mark::Starting => "starting",
                    Mark::Started => "started",
                    Mark::Inactive => "inactive",
                    _ => "stopping",
                };
                self.link(sub, name, script);
                for other in MAIN.iter().chain(&["failed"]).filter(|o| **o != sub) {
                    self.unlink(other, name);
                }
                if matches!(mark, Mark::Started | Mark::Inactive) {
                    self.unlink("exclusive", name);
                    self.unschedule(name);
                }
            }
            Mark::Stopped | Mark::Failed => {
                for other in MAIN.iter().chain(&["failed"]) {
                    self.unlink(other, name);
                }
                for sub in ["options", "daemons", "scheduled"] {
                    let _ = std::fs::remove_dir_all(self.dir.join(sub).join(name));
                }
                self.unlink("exclusive", name);
                self.unschedule(name);
                if mark == Mark::Failed {
                    self.link("failed", name, script);
                }
            }
        }
    }

    fn unschedule(&self, name: &str) {
        let Ok(rd) = std::fs::read_dir(self.dir.join("scheduled")) else {
            return;
        };
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path().join(name));
            let _ = std::fs::remove_dir(e.path());
        }
    }

    /// Replaces the service's daemon record (`daemons/NAME/001`) and writes its options.
    pub fn daemon(&self, name: &str, rec: &DaemonRecord) {
        let d = self.dir.join("daemons").join(name);
        let _ = std::fs::remove_dir_all(&d);
        let mut text = format!("exec={}\n", rec.exec);
        for (i, a) in rec.argv.iter().enumerate() {
            text.push_str(&format!("argv_{i}={a}\n"));
        }
        text.push_str(&format!(
            "pidfile={}\n",
            rec.pidfile.as_deref().unwrap_or("")
        ));
        if let Err(e) =
            std::fs::create_dir_all(&d).and_then(|_| std::fs::write(d.join("001"), text))
        {
            tracing::debug!("{}: {e}", d.display());
        }
        let d = self.dir.join("options").join(name);
        let _ = std::fs::create_dir_all(&d);
        for (k, v) in &rec.options {
            if std::fs::write(d.join(k), v).is_err() {
                self.option(name, k, v);
            }
        }
    }

    /// `options/NAME/KEY`: the raw value, no newline.
    pub fn option(&self, name: &str, key: &str, value: &str) {
        let d = self.dir.join("options").join(name);
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(d.join(key), value);
    }

    pub fn remove_option(&self, name: &str, key: &str) {
        let _ = std::fs::remove_file(self.dir.join("options").join(name).join(key));
    }

    /// Takes `exclusive/NAME` as openrc-run does around a start or a stop: flock(LOCK_EX),
    /// without waiting. Opened without following a link and closed on exec (no spawned
    /// process keeps it).
    pub fn exclusive(&self, name: &str) -> Lock {
        use std::os::unix::ffi::OsStrExt;
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Lock::Unavailable;
        }
        let dir = self.dir.join("exclusive");
        if std::fs::create_dir_all(&dir).is_err() || private_dir(&dir).is_err() {
            return Lock::Unavailable;
        }
        let Ok(path) = std::ffi::CString::new(dir.join(name).as_os_str().as_bytes()) else {
            return Lock::Unavailable;
        };
        // The file may be unlinked between its open and the lock (OpenRC removes it when a
        // service is marked started or stopped): a lock on a file no longer there is none.
        for _ in 0..3 {
            match lock_file(&path) {
                Some(Lock::Held(fd)) if !same_file(&fd, &path) => continue,
                Some(l) => return l,
                None => return Lock::Unavailable,
            }
        }
        Lock::Unavailable
    }

    /// 0.64's `environ/NAME/VAR`: what a started service handed on, where openrc-run reads it
    /// for the services it starts after it. Names that are no file name are left out.
    pub fn environ(&self, name: &str, vars: &[(String, String)]) {
        let ok = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
        if !ok(name) {
            return;
        }
        let d = self.dir.join("environ").join(name);
        if std::fs::create_dir_all(&d).is_err() {
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        for (k, v) in vars.iter().filter(|(k, _)| ok(k)) {
            if let Err(e) = std::fs::write(d.join(k), v) {
                tracing::debug!("{}: {e}", d.join(k).display());
            }
        }
    }

    pub fn remove_environ(&self, name: &str) {
        if !name.is_empty() && name != "." && name != ".." && !name.contains('/') {
            let _ = std::fs::remove_dir_all(self.dir.join("environ").join(name));
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Local time as OpenRC writes `start_time`: `YYYY-MM-DD HH:MM:SS`.
pub fn local_time_now() -> String {
    // SAFETY: time(NULL) only returns the clock; localtime_r writes into our own struct.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

/// The lock directory is root's alone: flock(2) needs no more than an open descriptor, so a
/// file a service user could open for reading is a lock that user could hold for ever.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() || m.uid() != 0 {
        return Err(std::io::Error::other("not root's directory"));
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// One try at the lock: None when the file cannot be opened or locked for another reason.
fn lock_file(path: &std::ffi::CStr) -> Option<Lock> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let flags = libc::O_WRONLY
        | libc::O_CREAT
        | libc::O_NONBLOCK
        | libc::O_CLOEXEC
        | libc::O_NOFOLLOW
        | libc::O_NOCTTY;
    // SAFETY: open(2) with a NUL-terminated path and a mode.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600 as libc::c_uint) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // A lock is a regular file; anything else there (a FIFO, a device) is not one to hold.
    if !crate::safepath::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG) {
        return None;
    }
    // SAFETY: flock(2) on a descriptor this function owns.
    match unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
        0 => Some(Lock::Held(fd)),
        _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK) => {
            Some(Lock::Busy)
        }
        _ => None,
    }
}

/// Whether the locked descriptor is still the file the path names.
fn same_file(fd: &std::os::fd::OwnedFd, path: &std::ffi::CStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let Ok(held) = crate::safepath::fstat(fd) else {
        return false;
    };
    let Ok(now) = std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(path.to_bytes())) else {
        return false;
    };
    held.st_ino == now.ino() && held.st_dev == now.dev()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::OpenOptionsExt;

    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rcinit-mirror-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn has(d: &Path, sub: &str, name: &str) -> bool {
        d.join(sub).join(name).symlink_metadata().is_ok()
    }

    #[test]
    fn marks_move_a_service_between_state_dirs_as_openrc_does() {
        let d = tmp("marks");
        let m = Mirror::new(&d);
        m.mark("web", "/etc/init.d/web", Mark::Starting);
        assert!(has(&d, "starting", "web"));
        m.mark("web", "/etc/init.d/web", Mark::Started);
        assert!(has(&d, "started", "web") && !has(&d, "starting", "web"));
        // Marked again over a link that is there (and points elsewhere): replaced.
        std::fs::remove_file(d.join("started/web")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", d.join("started/web")).unwrap();
        m.mark("web", "/etc/init.d/web", Mark::Started);
        assert_eq!(
            std::fs::read_link(d.join("started/web")).unwrap(),
            PathBuf::from("/etc/init.d/web")
        );
        m.daemon(
            "web",
            &DaemonRecord {
                exec: "/bin/web".into(),
                argv: vec!["/bin/web".into(), "-x".into()],
                pidfile: Some("/run/web.pid".into()),
                options: vec![("child_pid".into(), "42".into())],
            },
        );
        assert_eq!(
            std::fs::read_to_string(d.join("daemons/web/001")).unwrap(),
            "exec=/bin/web\nargv_0=/bin/web\nargv_1=-x\npidfile=/run/web.pid\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("options/web/child_pid")).unwrap(),
            "42"
        );
        // Failed: stopped (records and options gone) plus the failed link.
        m.mark("web", "/etc/init.d/web", Mark::Failed);
        assert!(!has(&d, "started", "web") && has(&d, "failed", "web"));
        assert!(!d.join("daemons/web").exists() && !d.join("options/web").exists());
        // A new start clears failed.
        m.mark("web", "/etc/init.d/web", Mark::Starting);
        assert!(!has(&d, "failed", "web"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn only_a_regular_file_is_taken_for_a_lock() {
        let d = tmp("lockkinds");
        let m = Mirror::new(&d);
        assert!(
            matches!(m.exclusive("web"), Lock::Held(_)),
            "a fresh lock file"
        );
        // Something else where the lock file goes (a FIFO with a reader: its open would not
        // fail) is no lock, and taking it neither blocks nor succeeds.
        nix::unistd::mkfifo(
            &d.join("exclusive/db"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(d.join("exclusive/db"))
            .unwrap();
        assert!(matches!(m.exclusive("db"), Lock::Unavailable));
        let _ = std::fs::remove_dir_all(&d);
    }
}
