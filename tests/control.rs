//! Controlling rcinit from inside the container, as `docker exec` does (nsenter into its
//! namespaces and root): status, start/stop/restart with OpenRC's dependency rules, the
//! socket's defences, shutdown from inside, the faked boot's /run, and script commands.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
#![allow(clippy::disallowed_methods)]

mod common;

use common::text;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use common::{Booted, Mode, Prep, Rootfs, services, wait_for};

const DB: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args="1001"
"#;
const WEB: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args="1002"
depend() { need db; }
"#;
const BAD: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/false
respawn_delay=0
respawn_max=1
"#;

fn stack(tag: &str) -> Rootfs {
    services(tag, &[("db", DB), ("web", WEB), ("bad", BAD)])
}

fn boot(root: &Rootfs) -> Booted {
    let mut b = root.boot_with(Mode::Pid1, &[], &[], Prep::default());
    b.wait_line("services started in");
    b
}

fn status_json(b: &mut Booted) -> serde_json::Value {
    let o = b.exec(&["/sbin/rcinit", "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn state_of(v: &serde_json::Value, name: &str) -> String {
    v["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| "absent".into())
}

fn pid_of(v: &serde_json::Value, name: &str) -> Option<i64> {
    v["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["pid"]
        .as_i64()
}

/// Waits until `name` is in `state` by `rcinit status --json`.
fn wait_state(b: &mut Booted, name: &str, state: &str) -> serde_json::Value {
    wait_for(&format!("{name} {state}"), || {
        let v = status_json(b);
        (state_of(&v, name) == state).then_some(v)
    })
}

#[test]
fn status_shows_each_service_in_text_and_json() {
    let root = stack("ctl-status");
    let mut b = boot(&root);
    let v = wait_state(&mut b, "bad", "failed");
    assert_eq!(v["runlevel"], "default");
    assert_eq!(state_of(&v, "db"), "started");
    assert_eq!(state_of(&v, "web"), "started");
    assert!(pid_of(&v, "db").is_some_and(|p| p > 1), "{v}");
    let bad = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "bad")
        .unwrap();
    assert_eq!(bad["why"], "gave up after 1 respawns", "{v}");
    let o = b.exec(&["/sbin/rcinit", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Runlevel: default", "{out}");
    assert!(lines[1].starts_with("SERVICE "), "{out}");
    let row = |n: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(n))
            .unwrap_or_else(|| panic!("no {n} row\n{out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("db")[1], "started");
    assert_eq!(row("bad")[1], "failed");
    assert!(out.contains("gave up after 1 respawns"), "{out}");
    // One service by name; an unknown one is an error.
    let o = b.exec(&["/sbin/rcinit", "status", "web", "--json"]);
    let one: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one["services"].as_array().unwrap().len(), 1);
    let o = b.exec(&["/sbin/rcinit", "status", "nosuch"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nosuch"));
    // `status | head -1` ends quietly.
    let o = b.exec(&["/bin/sh", "-c", "/sbin/rcinit status | head -1; exit $?"]);
    assert!(o.status.success() && o.stderr.is_empty(), "{}", text(&o));
    // check: bad failed, so not healthy, and the reason is on stdout.
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("bad failed"),
        "{}",
        text(&o)
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn start_stop_restart_follow_the_needs() {
    let root = services("ctl-deps", &[("db", DB), ("web", WEB)]);
    let mut b = boot(&root);
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    // Stopping db stops web first (it needs db).
    let o = b.exec(&["/sbin/rcinit", "stop", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (w, d) = (out.find("web stopped"), out.find("db stopped"));
    assert!(w.is_some() && d.is_some() && w < d, "{out}");
    let v = status_json(&mut b);
    assert_eq!(state_of(&v, "web"), "stopped");
    assert_eq!(state_of(&v, "db"), "stopped");
    assert!(common::pids_running(&mut b, "sleep 100").is_empty());
    // Stopped on purpose: still healthy.
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    // Starting web starts db first.
    let o = b.exec(&["/sbin/rcinit", "start", "web"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (d, w) = (out.find("db started"), out.find("web started"));
    assert!(d.is_some() && w.is_some() && d < w, "{out}");
    let v = status_json(&mut b);
    assert_eq!(state_of(&v, "db"), "started");
    assert_eq!(state_of(&v, "web"), "started");
    // Restarting db restarts web too: both get new daemons.
    let (db1, web1) = (pid_of(&v, "db"), pid_of(&v, "web"));
    let o = b.exec(&["/sbin/rcinit", "restart", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = status_json(&mut b);
    assert_eq!(state_of(&v, "db"), "started");
    assert_eq!(state_of(&v, "web"), "started");
    assert_ne!(pid_of(&v, "db"), db1);
    assert_ne!(pid_of(&v, "web"), web1);
    // Already started: exit 0, said so.
    let o = b.exec(&["/sbin/rcinit", "start", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("already been started"));
    let o = b.exec(&["/sbin/rcinit", "stop", "nosuch"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn an_unprivileged_user_can_look_but_not_change() {
    let root = services("ctl-user", &[("db", DB)]);
    let mut b = boot(&root);
    let o = b.exec_as(Some(65534), &["/sbin/rcinit", "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec_as(Some(65534), &["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    for cmd in [
        vec!["stop", "db"],
        vec!["restart", "db"],
        vec!["shutdown"],
        vec!["db", "stop"],
    ] {
        let mut argv = vec!["/sbin/rcinit"];
        argv.extend(cmd);
        let o = b.exec_as(Some(65534), &argv);
        assert_eq!(o.status.code(), Some(4), "{argv:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("permission denied"),
            "{}",
            text(&o)
        );
    }
    assert_eq!(state_of(&status_json(&mut b), "db"), "started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn garbage_and_floods_on_the_socket_leave_pid1_healthy() {
    let root = services("ctl-garbage", &[("db", DB)]);
    let mut b = boot(&root);
    let path = b.socket_path();
    // A client that connects and never sends blocks nobody.
    let _idle = UnixStream::connect(&path).expect("connect");
    let mut s = UnixStream::connect(&path).expect("connect");
    s.write_all(b"this is not json\n").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let r: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(r["code"], 2, "{line}");
    let mut s = UnixStream::connect(&path).expect("connect");
    s.write_all(b"{\"op\":\"stop\",\"services\":[\"db\"],\"evil\":1}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("\"code\":2"), "{line}");
    // Megabytes without a newline: the connection is cut, nothing else happens.
    let mut s = UnixStream::connect(&path).expect("connect");
    let flood = vec![b'x'; 4 << 20];
    let _ = s.write_all(&flood);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Many connections at once, all dropped.
    let many: Vec<UnixStream> = (0..200)
        .filter_map(|_| UnixStream::connect(&path).ok())
        .collect();
    drop(many);
    assert_eq!(state_of(&status_json(&mut b), "db"), "started");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn shutdown_from_inside_exits_0() {
    for applet in ["rcinit shutdown", "poweroff", "telinit 0"] {
        let root = services("ctl-shutdown", &[("db", DB)]);
        let mut b = boot(&root);
        let o = b.exec(&["/sbin/rcinit", "install-applets", "--dir", "/harness"]);
        assert!(o.status.success(), "{}", text(&o));
        let argv: Vec<String> = match applet {
            "rcinit shutdown" => vec!["/sbin/rcinit".into(), "shutdown".into()],
            a => {
                let mut w = a.split(' ').map(String::from).collect::<Vec<_>>();
                w[0] = format!("/harness/{}", w[0]);
                w
            }
        };
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = b.exec(&argv);
        assert!(o.status.success(), "{applet}: {}", text(&o));
        assert_eq!(b.wait_exit(), 0, "{applet}\n{}", b.transcript());
        assert!(b.has_line("shutdown asked for"), "{}", b.transcript());
    }
}

/// sysvinit's request on /run/initctl (initreq.h): magic, cmd 1 (runlevel), the level char.
fn initctl_request(level: u8) -> Vec<u8> {
    let mut r = vec![0u8; 384];
    r[0..4].copy_from_slice(&0x0309_1969i32.to_ne_bytes());
    r[4..8].copy_from_slice(&1i32.to_ne_bytes());
    r[8..12].copy_from_slice(&(level as i32).to_ne_bytes());
    r
}

#[test]
fn sysvinit_telinit_0_through_initctl_stops_cleanly() {
    let root = services("ctl-initctl", &[("db", DB)]);
    let mut b = boot(&root);
    let fifo = format!("/proc/{}/root/run/initctl", b.rcinit_pid());
    // Runlevel 3 is not ours to change: logged, ignored.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open initctl")
        .write_all(&initctl_request(b'3'))
        .unwrap();
    b.wait_line("ignored");
    assert_eq!(state_of(&status_json(&mut b), "db"), "started");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(&initctl_request(b'0'))
        .unwrap();
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    assert!(b.has_line("runlevel 0 asked for on /run/initctl"));
}

const PIDFILED: &str = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args="1003"
command_background=yes
pidfile=/run/svc.pid
"#;

#[test]
fn a_restart_over_stale_state_starts_clean_and_secrets_survive() {
    let root = services("ctl-stale", &[("svc", PIDFILED)]);
    let r = root.path();
    // The last run's leftovers, as `docker restart` finds them when /run is not a fresh tmpfs.
    for d in ["run/openrc/starting", "run/openrc/exclusive", "run/rcinit"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("/etc/init.d/svc", r.join("run/openrc/starting/svc")).unwrap();
    std::fs::write(r.join("run/openrc/exclusive/svc"), "").unwrap();
    std::fs::write(r.join("run/openrc/softlevel"), "single").unwrap();
    std::fs::write(r.join("run/svc.pid"), "1\n").unwrap();
    std::fs::write(r.join("run/rcinit/control.sock"), "").unwrap();
    std::fs::write(r.join("tmp/token"), "s3cret").unwrap();
    let prep = Prep {
        setup: Some(
            "mkdir -p \"$R/run/secrets\" && touch \"$R/run/secrets/token\" && mount --bind \"$R/tmp/token\" \"$R/run/secrets/token\" || exit 98".into(),
        ),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("services started in");
    assert!(b.has_line("mounted beneath it"), "{}", b.transcript());
    let v = status_json(&mut b);
    assert_eq!(state_of(&v, "svc"), "started", "{v}");
    let o = b.exec(&["/bin/cat", "/run/secrets/token"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "s3cret", "{}", text(&o));
    let o = b.exec(&["/bin/cat", "/run/openrc/softlevel"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "default");
    let o = b.exec(&["/bin/ls", "/run/openrc/starting", "/run/openrc/exclusive"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("svc"),
        "{}",
        text(&o)
    );
    let o = b.exec(&["/bin/cat", "/run/svc.pid"]);
    let pid = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert_eq!(Some(pid.parse::<i64>().unwrap()), pid_of(&v, "svc"));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn without_secrets_run_is_a_fresh_tmpfs() {
    let root = services("ctl-tmpfs", &[("db", DB)]);
    std::fs::write(root.path().join("run/leftover"), "x").unwrap();
    let mut b = boot(&root);
    let o = b.exec(&["/bin/ls", "/run"]);
    let ls = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!ls.contains("leftover") && ls.contains("openrc"), "{ls}");
    let o = b.exec(&["/bin/grep", " /run ", "/proc/self/mountinfo"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("tmpfs"),
        "{}",
        text(&o)
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

const RELOADABLE: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/hupper
extra_started_commands="reload"
extra_commands="$extra_commands greet"
reload() {
	echo "reloading from the script"
	supervise-daemon "$RC_SVCNAME" --signal HUP
}
greet() { echo "hello from greet"; return 7; }
"#;

#[test]
fn reload_reaches_the_scripts_function_and_the_daemon() {
    let root = services("ctl-reload", &[("hup", RELOADABLE)]);
    root.write_exec(
        "bin/hupper",
        "#!/bin/sh\ntrap 'echo got HUP' HUP\necho ready\nwhile :; do sleep 1 & wait; done\n",
    );
    let mut b = boot(&root);
    b.wait_line("[hup] ready");
    let o = b.exec(&["/sbin/rcinit", "hup", "reload"]);
    assert!(o.status.success(), "{}", text(&o));
    // The script's output reaches the caller, not only the log.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("reloading from the script"),
        "{}",
        text(&o)
    );
    b.wait_line("[hup] got HUP");
    // Extra commands keep their exit code; an unknown one is refused.
    let o = b.exec(&["/sbin/rcinit", "hup", "greet"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "hup", "bogus"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The openrc-run applet: `/etc/init.d/hup reload` from a shell.
    let o = b.exec(&["/sbin/rcinit", "install-applets", "--dir", "/sbin"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["/etc/init.d/hup", "reload"]);
    assert!(o.status.success(), "{}", text(&o));
    let from = b.lines().len();
    b.wait_line_after(from, "[hup] got HUP");
    let o = b.exec(&["/sbin/rc-service", "hup", "status"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("status: started"));
    // extra_started_commands need the service started.
    let o = b.exec(&["/sbin/rc-service", "hup", "stop"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["/sbin/rc-service", "hup", "status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = b.exec(&["/etc/init.d/hup", "reload"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has not been started"));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

#[test]
fn client_commands_without_rcinit_say_so() {
    let root = Rootfs::new("ctl-absent");
    let o = std::process::Command::new("chroot")
        .arg(root.path())
        .args(["/sbin/rcinit", "status"])
        .env("RCINIT_SOCKET", "/nonexistent.sock")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rcinit is not running"));
}

#[test]
fn a_non_root_user_boots_and_everyone_can_look() {
    let root = services("ctl-nonroot", &[("db", DB)]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    let prep = Prep {
        user: Some(65534),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("services started in");
    // /run is root's: the socket moved to /tmp/rcinit, and clients find it unasked.
    for uid in [None, Some(65534), Some(1000)] {
        let o = b.exec_as(uid, &["/sbin/rcinit", "status", "--json"]);
        assert!(o.status.success(), "{uid:?}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(state_of(&v, "db"), "started", "{v}");
    }
    let host = common::one(&mut b, "sleep 1001");
    let uid_line = std::fs::read_to_string(format!("/proc/{host}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned();
    assert!(uid_line.contains("65534"), "{uid_line}");
    // rcinit's own user may change things; another may not.
    let o = b.exec_as(Some(1000), &["/sbin/rcinit", "stop", "db"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let o = b.exec_as(Some(65534), &["/sbin/rcinit", "restart", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec_as(Some(65534), &["/sbin/rcinit", "shutdown"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

#[test]
fn a_read_only_root_still_boots_with_state_and_control() {
    let root = services("ctl-ro", &[("db", DB)]);
    let prep = Prep {
        setup: Some(
            "mount --rbind \"$R\" \"$R\" && mount -o remount,bind,ro \"$R\" && mount -t tmpfs tmpfs \"$R/tmp\" || exit 97".into(),
        ),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("services started in");
    let o = b.exec(&["/bin/touch", "/etc/probe"]);
    assert!(!o.status.success(), "the root is read-only: {}", text(&o));
    assert_eq!(state_of(&status_json(&mut b), "db"), "started");
    let o = b.exec(&["/bin/cat", "/run/openrc/softlevel"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "default",
        "{}",
        text(&o)
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Regression: a message with more descriptors than the server's buffer held left them
/// installed in PID 1, unowned: any user could exhaust PID 1's descriptors.
#[test]
fn descriptors_sent_with_requests_never_leak_into_pid1() {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let root = services("ctl-fdleak", &[("db", DB)]);
    let mut b = boot(&root);
    let path = b.socket_path();
    let pid = b.rcinit_pid();
    let before = fd_count(pid);
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let fds = [devnull.as_raw_fd(); 12];
    for _ in 0..40 {
        let s = UnixStream::connect(&path).expect("connect");
        let line = b"{\"op\":\"status\"}\n";
        let iov = [std::io::IoSlice::new(line)];
        sendmsg::<()>(
            s.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
        let mut reply = String::new();
        BufReader::new(&s).read_line(&mut reply).unwrap();
        assert!(reply.contains("\"code\":0"), "{reply}");
    }
    // Every connection is closed and its descriptors with it.
    wait_for("PID 1's descriptors back to where they were", || {
        (fd_count(pid) <= before).then_some(())
    });
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

/// Regression: users who may only look could hold every connection slot, so root's stop and
/// the health check got no answer.
#[test]
fn idle_connections_of_other_users_never_lock_out_root() {
    let root = services("ctl-slots", &[("db", DB)]);
    let mut b = boot(&root);
    // The socket's directory, opened as root: uid 65534 may not walk /proc/PID/root.
    let dir = std::fs::File::open(b.socket_path().parent().unwrap()).expect("socket dir");
    let path = format!(
        "/proc/self/fd/{}/control.sock",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    );
    // A thread that connects as uid 65534 (credentials are per thread at the syscall level,
    // and SO_PEERCRED records them at connect time).
    let held = std::thread::spawn(move || {
        // SAFETY: raw setresuid changes only this thread's effective uid; the saved uid stays
        // root, and the thread ends without doing anything else.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, -1i32, 65534i32, -1i32) };
        assert_eq!(r, 0, "setresuid");
        (0..100)
            .filter_map(|_| UnixStream::connect(&path).ok())
            .collect::<Vec<_>>()
    })
    .join()
    .expect("the connecting thread");
    assert!(held.len() >= 64, "{} connections made", held.len());
    let o = b.exec(&["/sbin/rcinit", "stop", "db"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    drop(held);
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

const SLOWCHECK: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1005
healthcheck_delay=1
healthcheck_timer=5
extra_commands="$extra_commands greet"
healthcheck() { echo checking; sleep 2; echo checked; }
greet() { echo hello; return 7; }
"#;

/// Regression: a request that arrived while a script ran (here a health check) was dropped,
/// so the caller was told to try again (or OpenRC's own rc-service failed at random).
#[test]
fn requests_during_a_script_run_wait_for_it_and_are_answered() {
    let root = services("ctl-deferred", &[("slow", SLOWCHECK)]);
    let mut b = boot(&root);
    b.wait_line("[slow] checking");
    let o = b.exec(&["/sbin/rcinit", "slow", "greet"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello"));
    assert!(
        b.has_line("[slow] checked") || {
            b.wait_line("[slow] checked");
            true
        }
    );
    // A raw run of `start` goes through the start rules, not around them.
    let mut s = UnixStream::connect(b.socket_path()).expect("connect");
    s.write_all(b"{\"op\":\"run\",\"service\":\"slow\",\"command\":\"start\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("already been started"), "{line}");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

/// Regression: `rcinit` run again inside the container unlinked PID 1's socket and removed
/// the pidfiles of running daemons.
#[test]
fn a_second_rcinit_inside_leaves_pid1s_socket_and_state_alone() {
    let root = services("ctl-second", &[("svc", PIDFILED)]);
    let mut b = boot(&root);
    let o = b.exec(&["/bin/cat", "/run/svc.pid"]);
    let pid_before = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(!pid_before.is_empty(), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "/bin/true"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("another rcinit answers"), "{}", text(&o));
    // It runs the CMD alone, not a second copy of the services.
    assert!(!err.contains("svc: started"), "{}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["/bin/cat", "/run/svc.pid"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), pid_before);
    let o = b.exec(&["/sbin/rcinit", "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

/// Regression: after a burst of connections that their clients closed at once, the server
/// counted them until their tasks ran and refused (reset) the next client, root included.
#[test]
fn a_burst_of_closed_connections_never_refuses_the_next_client() {
    let root = services("ctl-burst", &[("db", DB)]);
    let mut b = boot(&root);
    let path = b.socket_path();
    for round in 0..20 {
        let many: Vec<UnixStream> = (0..200)
            .filter_map(|_| UnixStream::connect(&path).ok())
            .collect();
        drop(many);
        let mut s = UnixStream::connect(&path).expect("connect");
        s.write_all(b"{\"op\":\"status\",\"services\":[]}\n")
            .unwrap();
        let mut line = String::new();
        let r = BufReader::new(&s).read_line(&mut line);
        assert!(
            r.as_ref().is_ok_and(|n| *n > 0) && line.contains("\"code\":0"),
            "round {round}: {r:?} {line:?}"
        );
    }
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}
