//! `start-stop-daemon --stop` for a daemon rcinit does not follow: the processes the call names
//! (its pidfile's pid, else every process running `--exec`, or named `--name`), as OpenRC's
//! start-stop-daemon finds them, stopped by the schedule. Without it a stop of a service whose
//! daemon escaped rcinit's notice said "[ ok ]" and left the daemon running.

use std::time::{Duration, Instant};

use super::pidfile::{self, ProcInfo};
use crate::policy::retry::Step;

/// What the call matches processes by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    /// `--exec`: the executable's path (compared with /proc/PID/exe).
    pub exec: Option<String>,
    /// `--name`: the process name (comm, 15 bytes).
    pub name: Option<String>,
    /// `--user`, resolved.
    pub uid: Option<u32>,
}

impl Criteria {
    /// Nothing to match by: start-stop-daemon refuses such a stop.
    pub fn is_empty(&self) -> bool {
        self.exec.is_none() && self.name.is_none()
    }
}

/// Whether the process is one the call names (pure). `exec` may be given as a link to the
/// executable: `exec_real` is where it leads.
pub fn matches(info: &ProcInfo, c: &Criteria, exec_real: Option<&str>) -> bool {
    if let Some(uid) = c.uid
        && info.uid != uid
    {
        return false;
    }
    if let Some(exec) = &c.exec {
        let Some(exe) = info.exe.as_deref() else {
            return false;
        };
        if exe != exec && Some(exe) != exec_real {
            return false;
        }
    }
    if let Some(name) = &c.name {
        let want: String = name.bytes().take(15).map(char::from).collect();
        if info.comm != want && info.comm != *name {
            return false;
        }
    }
    !c.is_empty()
}

/// One process found: its pid and start time (so a pid reused meanwhile is not signalled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub pid: i32,
    pub start: u64,
}

/// The processes the call names. With a pidfile, only the pid it names (if it matches the
/// other criteria); `skip` leaves out rcinit's own and those it follows for other services.
pub fn find(c: &Criteria, pidfile: Option<&str>, skip: impl Fn(i32) -> bool) -> Vec<Found> {
    let exec_real = c.exec.as_deref().and_then(real_path);
    let ok = |pid: i32| -> Option<Found> {
        if pid <= 1 || skip(pid) {
            return None;
        }
        let info = pidfile::info(pid).ok()?;
        let zombie = crate::procfs::stat(pid).is_none_or(|s| s.state == 'Z');
        let named = c.is_empty() || matches(&info, c, exec_real.as_deref());
        (!zombie && named).then_some(Found {
            pid,
            start: info.start,
        })
    };
    match pidfile {
        // Written by a user other than root, it names only that user's processes: a service
        // user must not get a stop to signal anyone else's.
        Some(p) => pidfile::read_with_owner(p)
            .ok()
            .filter(|&(pid, owner)| owner == 0 || pidfile::info(pid).is_ok_and(|i| i.uid == owner))
            .and_then(|(pid, _)| ok(pid))
            .into_iter()
            .collect(),
        None if c.is_empty() => Vec::new(),
        None => {
            let mut v: Vec<Found> = crate::procfs::pids().into_iter().filter_map(ok).collect();
            v.sort_unstable_by_key(|f| (f.start, f.pid));
            v
        }
    }
}

/// Where `exec` is, its directories' links followed only where root owns them (/sbin ->
/// /usr/sbin): a link a service user made must not turn a stop of its command into one of
/// another program. The last component is taken as it is. Nothing is opened but a path.
fn real_path(exec: &str) -> Option<String> {
    use std::os::fd::AsRawFd;
    let fd = crate::safepath::open_read(exec, libc::O_PATH).ok()?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn alive(f: &Found) -> bool {
    crate::procfs::stat(f.pid).is_some_and(|s| s.start == f.start && s.state != 'Z')
}

fn send(found: &[Found], sig: i32) {
    for f in found.iter().filter(|f| alive(f)) {
        // SAFETY: kill(2) with a pid just checked to be the process found (same start time).
        unsafe { libc::kill(f.pid, sig) };
    }
}

/// Stops what was found by the schedule (SIGKILL when it runs out, as rcinit does for its own
/// daemons), polling every 20 ms: these are not rcinit's children to wait for. Returns the
/// pids still there at the end.
pub async fn stop(found: &[Found], steps: &[Step], deadline: Instant) -> Vec<i32> {
    let gone = |found: &[Found]| found.iter().all(|f| !alive(f));
    let wait = |until: Instant| async move {
        loop {
            if gone(found) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    'steps: for step in steps {
        match *step {
            Step::Signal(sig) => {
                send(found, sig);
                if sig != libc::SIGKILL && sig != libc::SIGCONT {
                    send(found, libc::SIGCONT);
                }
            }
            Step::Wait(t) => {
                let until = Instant::now()
                    .checked_add(t)
                    .unwrap_or(deadline)
                    .min(deadline);
                if wait(until).await || Instant::now() >= deadline {
                    break 'steps;
                }
            }
            Step::Forever => {
                wait(deadline).await;
                break 'steps;
            }
        }
    }
    if !gone(found) {
        send(found, libc::SIGKILL);
        wait(Instant::now() + Duration::from_secs(1)).await;
    }
    found.iter().filter(|f| alive(f)).map(|f| f.pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(comm: &str, exe: Option<&str>, uid: u32) -> ProcInfo {
        ProcInfo {
            start: 10,
            ppid: 1,
            uid,
            comm: comm.into(),
            exe: exe.map(str::to_owned),
        }
    }

    #[test]
    fn a_stop_matches_as_start_stop_daemon_does() {
        let nginx = info("nginx", Some("/usr/sbin/nginx"), 0);
        let worker = info("nginx", Some("/usr/sbin/nginx"), 33);
        let by_exec = Criteria {
            exec: Some("/usr/sbin/nginx".into()),
            ..Criteria::default()
        };
        assert!(matches(&nginx, &by_exec, None));
        assert!(matches(&worker, &by_exec, None));
        // Given through a link (/sbin -> /usr/sbin): where it leads counts.
        let linked = Criteria {
            exec: Some("/sbin/nginx".into()),
            ..Criteria::default()
        };
        assert!(!matches(&nginx, &linked, None));
        assert!(matches(&nginx, &linked, Some("/usr/sbin/nginx")));
        let as_root = Criteria {
            uid: Some(0),
            ..by_exec.clone()
        };
        assert!(matches(&nginx, &as_root, None));
        assert!(!matches(&worker, &as_root, None));
        let other = info("nginx", Some("/opt/nginx/sbin/nginx"), 0);
        assert!(!matches(&other, &by_exec, None));
        let no_exe = info("nginx", None, 0);
        assert!(!matches(&no_exe, &by_exec, None));
        // --name: the kernel's 15 bytes of it.
        let long = info("php-fpm: master", Some("/usr/sbin/php-fpm8.2"), 0);
        let by_name = Criteria {
            name: Some("php-fpm: master process".into()),
            ..Criteria::default()
        };
        assert!(matches(&long, &by_name, None));
        assert!(!matches(&nginx, &by_name, None));
        // Nothing to match by matches nothing.
        assert!(!matches(&nginx, &Criteria::default(), None));
    }
}

#[cfg(test)]
mod hostile_paths {
    use super::*;

    /// `--exec` through a directory link: followed when root owns the link, not when a user
    /// does (the user could point it at any program, and the stop would signal that program).
    #[test]
    fn an_exec_path_follows_only_roots_links() {
        let dir = std::env::temp_dir().join(format!("rcinit-exec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).expect("dir");
        std::fs::write(dir.join("real/app"), "").expect("app");
        let link = dir.join("bin");
        std::os::unix::fs::symlink(dir.join("real"), &link).expect("link");
        let via = format!("{}/app", link.display());
        let want = dir.join("real/app").to_string_lossy().into_owned();
        assert_eq!(real_path(&via).as_deref(), Some(want.as_str()));
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown");
        assert_eq!(real_path(&via), None, "a user's link was followed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A pidfile a service user wrote names only that user's processes: one naming a root
    /// process (this test, as root) finds nothing; the same file root's finds it.
    #[test]
    fn a_pidfile_a_user_wrote_names_only_that_users_processes() {
        assert_eq!(nix::unistd::geteuid().as_raw(), 0, "the tests run as root");
        let dir = std::env::temp_dir().join(format!("rcinit-owner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("app.pid");
        std::fs::write(&p, format!("{}\n", std::process::id())).expect("pidfile");
        let path = p.to_str().expect("utf-8");
        let me = std::process::id() as i32;
        let found = |_: ()| find(&Criteria::default(), Some(path), |_| false);
        assert_eq!(found(()).first().map(|f| f.pid), Some(me));
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
        assert!(
            found(()).is_empty(),
            "a user's pidfile named a root process"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
