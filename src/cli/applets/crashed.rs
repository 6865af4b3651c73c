//! `service_crashed [SERVICE]` (L-32): whether a started service's daemon is gone, read from the records rcinit (or the image's own start-stop-daemon) keeps
//! in RC_SVCDIR, by OpenRC's rule: a record with a pidfile is crashed when the pidfile holds no
//! number or names no process; one without is crashed when no process has its argv.

use super::getopt::eerror;

const SVCDIR: &str = "/run/openrc";
/// A record or a pidfile is a few lines; anything larger is read no further.
const MAX_FILE: u64 = 64 << 10;

pub fn run(args: &[String]) -> i32 {
    let service = match args.first() {
        Some(s) => s.clone(),
        None => std::env::var("RC_SVCNAME").unwrap_or_default(),
    };
    if service.is_empty() {
        eerror("service_crashed: no service specified");
        return 1;
    }
    let base = service.rsplit('/').next().unwrap_or(&service).to_owned();
    let dir = std::path::Path::new(SVCDIR);
    // OpenRC's crashed is a bit of the started state: only a started service has crashed.
    if started(dir, &base) && crashed(dir, &base) {
        0
    } else {
        1
    }
}

/// Whether the service's main state is started: of OpenRC's state links, the last that
/// exists in its order wins.
fn started(svcdir: &std::path::Path, service: &str) -> bool {
    let mut main = "stopped";
    for s in ["started", "stopped", "starting", "stopping", "inactive"] {
        if std::fs::metadata(svcdir.join(s).join(service)).is_ok() {
            main = s;
        }
    }
    main == "started"
}

/// One record of `daemons/SERVICE/NNN`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Record {
    exec: Option<String>,
    argv: Vec<String>,
    pidfile: Option<String>,
}

fn record(text: &str) -> Record {
    let mut r = Record::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match key {
            "exec" => r.exec = Some(value.to_owned()),
            k if k.starts_with("argv_") => r.argv.push(value.to_owned()),
            "pidfile" => {
                r.pidfile = Some(value.to_owned());
                // OpenRC reads no further than the pidfile line.
                break;
            }
            _ => {}
        }
    }
    r
}

pub(super) fn crashed(svcdir: &std::path::Path, service: &str) -> bool {
    let dir = svcdir.join("daemons").join(service);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return false;
    };
    let chroot = super::read_bounded(
        svcdir.join("options").join(service).join("chroot"),
        MAX_FILE,
    )
    .ok()
    .filter(|c| !c.is_empty());
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(text) = super::read_bounded(e.path(), MAX_FILE) else {
            // OpenRC stops at a record it cannot open, crashed or not so far.
            return false;
        };
        let r = record(&text);
        let gone = match &r.pidfile {
            Some(p) => {
                let p = match &chroot {
                    Some(c) => format!("{c}{p}"),
                    None => p.clone(),
                };
                match super::read_bounded(&p, MAX_FILE)
                    .ok()
                    .and_then(|t| super::scan_int(&t))
                {
                    None => true,
                    Some((pid, _)) => pid != 0 && !alive(pid),
                }
            }
            None => {
                // The exec stands for argv when there is none; with neither, every process
                // matches.
                let mut argv = r.argv.clone();
                if let (true, Some(x)) = (argv.is_empty(), &r.exec) {
                    argv.push(x.clone());
                }
                !argv.is_empty() && !any_process(&argv)
            }
        };
        if gone {
            return true;
        }
    }
    false
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Whether a process of this pid namespace begins its argv with `argv` (OpenRC's
/// rc_find_pids, as rc_service_daemons_crashed calls it: by argv alone).
fn any_process(argv: &[String]) -> bool {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let mine = ns("self");
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    let openrc_pid = std::env::var("RC_OPENRC_PID").ok();
    for e in rd.flatten() {
        let name = e.file_name();
        let pid = name.to_string_lossy();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || openrc_pid.as_deref() == Some(&pid) {
            continue;
        }
        if let (Some(a), Some(b)) = (&mine, ns(&pid))
            && *a != b
        {
            continue;
        }
        let Ok(cmdline) = super::read_bounded(format!("/proc/{pid}/cmdline"), 4095) else {
            continue;
        };
        let mut words = cmdline.split('\0');
        if argv.iter().all(|a| words.next() == Some(a.as_str())) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_as_openrcs_and_stops_at_the_pidfile() {
        let r = record("exec=/bin/x\nargv_0=/bin/x\nargv_1=-d\npidfile=/run/x.pid\nargv_2=late\n");
        assert_eq!(r.exec.as_deref(), Some("/bin/x"));
        assert_eq!(r.argv, vec!["/bin/x", "-d"]);
        assert_eq!(r.pidfile.as_deref(), Some("/run/x.pid"));
        assert_eq!(record("pidfile=\nexec=/y\n").pidfile, None);
    }

    #[test]
    fn crashed_when_the_pidfile_names_no_process_or_nothing() {
        let d = std::env::temp_dir().join(format!("rcinit-crashed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("daemons/web")).unwrap();
        let pf = d.join("web.pid");
        std::fs::write(
            d.join("daemons/web/001"),
            format!("exec=/bin/web\npidfile={}\n", pf.display()),
        )
        .unwrap();
        // No pidfile: crashed. Our own pid: alive. A pid that is no process: crashed.
        assert!(crashed(&d, "web"));
        std::fs::write(&pf, std::process::id().to_string()).unwrap();
        assert!(!crashed(&d, "web"));
        std::fs::write(&pf, "garbage").unwrap();
        assert!(crashed(&d, "web"));
        assert!(!crashed(&d, "other"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
