//! Issue 19, rcinit as PID 1 with busybox fixtures shaped like the daemons distributions ship:
//! one that decides from its parent whether it is daemonized already (OpenSSH's check), a master
//! with workers in its process group, a logger that ends with its daemon.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{boot_pid1 as boot, one, services, stop_clean as stop};

/// sshd's `daemonized()`: no terminal, its parent is init and it leads its session: it stays in
/// the foreground. Otherwise it forks and returns, as a daemon does.
const FAKE_SSHD: &str = r#"#!/bin/sh
set -- $(cat /proc/$$/stat)
if [ "$4" = 1 ] && [ "$6" = "$$" ]; then
	echo "already daemonized: staying in the foreground" >&2
	exec sleep 100110
fi
setsid sleep 100111 </dev/null >/dev/null 2>&1 &
echo $! > /run/fakesshd.pid
"#;

#[test]
fn a_daemon_that_checks_whether_it_is_daemonized_forks_as_under_start_stop_daemon() {
    let script = "#!/sbin/openrc-run\ncommand=/usr/sbin/fakesshd\npidfile=/run/fakesshd.pid\nprocname=sleep\n";
    let dep = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100112\ndepend() { need fakesshd; }\n";
    let root = services("daemonized", &[("fakesshd", script), ("needsit", dep)]);
    root.write_exec("usr/sbin/fakesshd", FAKE_SSHD);
    let mut b = boot(&root, &[]);
    // Before: its parent was PID 1 and it led its session, so it stayed in the foreground and
    // the service was `starting` until the start limit.
    b.wait_line("fakesshd: started (pid");
    b.wait_line("needsit: started");
    let daemon = one(&mut b, "sleep 100111");
    assert!(!b.has_line("already daemonized"), "{}", b.transcript());
    // Followed: its death is seen.
    common::kill_pid(daemon, libc::SIGKILL);
    b.wait_line("fakesshd: daemon ended (killed by SIGKILL)");
    stop(&mut b);
}

#[test]
fn a_killed_master_takes_its_workers_with_it_before_the_respawn() {
    // A master with a worker in its process group, the worker holding the port.
    let master = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
respawn_delay=0
command=/bin/sh
command_args="-c 'p=18080; httpd -f -p 127.0.0.1:\$p -h /var & exec sleep 100113'"
"#;
    let root = services("workers", &[("master", master)]);
    let mut b = boot(&root, &[]);
    b.wait_line("master: started");
    let worker = one(&mut b, "httpd -f -p 127.0.0.1:18080");
    let first = one(&mut b, "sleep 100113");
    common::kill_pid(first, libc::SIGKILL);
    b.wait_line("master: stopping what is left of its process group");
    b.wait_line("master: respawned as pid");
    assert!(
        common::alive(&[worker]).is_empty(),
        "the first worker outlived its master\n{}",
        b.transcript()
    );
    // The new worker has the port: there is one, and it is not the old one.
    let again = one(&mut b, "httpd -f -p 127.0.0.1:18080");
    assert_ne!(again, worker);
    let o = b.exec(&["/sbin/rcinit", "restart", "master"]);
    assert!(o.status.success(), "{}", common::text(&o));
    // The restart's worker took the port (the old one is gone: `one` waits for a single one).
    let third = one(&mut b, "httpd -f -p 127.0.0.1:18080");
    assert!(common::alive(&[again]).is_empty() && third != again);
    stop(&mut b);
}

#[test]
fn a_logger_that_ends_with_its_daemon_is_no_news() {
    let logged = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
respawn_delay=0
respawn_max=2
command=/bin/sh
command_args="-c 'echo a-line; exit 1'"
output_logger="cat"
"#;
    let root = services("loggerquiet", &[("logged", logged)]);
    let mut b = boot(&root, &[]);
    b.wait_line("logged: respawned 2 times; giving up");
    stop(&mut b);
    assert!(b.has_line("[logged] a-line"), "{}", b.transcript());
    assert!(
        !b.has_line("its logger"),
        "a logger that ended with its daemon was reported\n{}",
        b.transcript()
    );
}

#[test]
fn a_daemon_started_by_the_images_own_start_stop_daemon_by_its_path_is_followed_or_said_untracked()
{
    // busybox's start-stop-daemon, called by its path: no alias of rcinit's reaches it.
    let tracked = r#"#!/sbin/openrc-run
command=/bin/sleep
pidfile=/run/abs.pid
start() {
	/bin/start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" --exec /bin/sleep -- 100120
}
"#;
    // What it starts is neither its command nor named as it, at any moment: a script of another
    // name (busybox's start-stop-daemon would take a running busybox applet of the same name for
    // one already running) that execs sleep. Had it been /usr/bin/napper itself, the script
    // would read "napper" until its exec, and be followed by name or not by a race.
    let untracked = r#"#!/sbin/openrc-run
command=/usr/bin/napper
start() {
	/bin/start-stop-daemon --start --background --exec /usr/bin/dozer
}
"#;
    let root = services("abspath", &[("tracked", tracked), ("untracked", untracked)]);
    root.write_exec("usr/bin/napper", "#!/bin/sh\nexec sleep 100121\n");
    root.write_exec("usr/bin/dozer", "#!/bin/sh\nexec sleep 100121\n");
    let mut b = boot(&root, &[]);
    b.wait_line("tracked: started (pid");
    b.wait_line("untracked: started, untracked: its start left pid ");
    b.wait_line("2 of 2 services started");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("untracked started, untracked:"),
        "{}",
        common::text(&o)
    );
    assert!(
        !common::text(&o).lines().any(|l| l.starts_with("tracked ")),
        "{}",
        common::text(&o)
    );
    let o = b.exec(&["/sbin/rcinit", "check", "--alive"]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    // Before: `started` with no pid, and check vouched for it after the daemon died.
    common::kill_pid(one(&mut b, "sleep 100120"), libc::SIGKILL);
    b.wait_line("tracked: daemon ended (killed by SIGKILL)");
    let o = b.exec(&["/sbin/rcinit", "check", "--alive"]);
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("tracked crashed"),
        "{}",
        common::text(&o)
    );
    stop(&mut b);
}

#[test]
fn a_script_command_reads_as_rcinit_name_command_in_ps_and_leaks_no_descriptor() {
    let slow = "#!/sbin/openrc-run\nstart() { sleep 100130 & while [ ! -e /var/go ]; do sleep 0.1; done; }\n";
    let root = services("psline", &[("slow", slow)]);
    let mut b = boot(&root, &[]);
    let child = one(&mut b, "sleep 100130");
    let cmdlines: Vec<String> = b
        .below_rcinit()
        .into_iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    // Before: `sh -c <the whole shim, 20 KB> rcinit-cmd cmd ...`.
    assert!(
        cmdlines.iter().any(|c| c.contains("rcinit: slow start")),
        "{cmdlines:?}"
    );
    assert!(
        !cmdlines.iter().any(|c| c.contains("_rcinit_out")),
        "the shim's text in a command line"
    );
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{child}/fd"))
        .expect("fds")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!fds.iter().any(|f| f == "7"), "fd 7 leaked: {fds:?}");
    std::fs::write(root.path().join("var/go"), "").expect("go");
    b.wait_line("slow: started");
    stop(&mut b);
}

// Regression tests from the review of this issue's first version.

#[test]
fn a_one_shot_or_a_forking_command_without_pidfile_is_started_not_untracked() {
    let oneshot =
        "#!/sbin/openrc-run\ncommand=/bin/true\nstart_pre() { :; }\nstart() { $command; }\n";
    let forks =
        "#!/sbin/openrc-run\ncommand=/bin/sh\ncommand_args=\"-c 'exit 0'\"\nstart_pre() { :; }\n";
    let root = services("notuntracked", &[("oneshot", oneshot), ("forks", forks)]);
    let mut b = boot(&root, &[]);
    b.wait_line("2 of 2 services started");
    assert!(!b.has_line("untracked"), "{}", b.transcript());
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    stop(&mut b);
}

#[test]
fn a_crashed_masters_group_is_ended_but_not_the_services_other_daemons() {
    let two = r#"#!/sbin/openrc-run
start() {
	start-stop-daemon --start --background --make-pidfile --pidfile /run/side.pid --exec /bin/sleep -- 100140 || return 1
	start-stop-daemon --start --background --make-pidfile --pidfile /run/main.pid --exec /bin/sh -- -c 'sleep 100141 & exec sleep 100142'
}
"#;
    let root = services("siblings", &[("two", two)]);
    let mut b = boot(&root, &[]);
    b.wait_line("1 of 1 services started");
    let side = one(&mut b, "sleep 100140");
    let worker = one(&mut b, "sleep 100141");
    common::kill_pid(one(&mut b, "sleep 100142"), libc::SIGKILL);
    b.wait_line("two: stopping what is left of its process group");
    common::wait_for("the worker gone", || {
        common::alive(&[worker]).is_empty().then_some(())
    });
    assert_eq!(
        common::alive(&[side]).len(),
        1,
        "the first daemon was killed with the crashed one's group\n{}",
        b.transcript()
    );
    stop(&mut b);
}

#[test]
fn a_forking_command_killed_by_a_signal_is_said_so() {
    let killed = "#!/sbin/openrc-run\ncommand=/bin/sh\ncommand_args=\"-c 'kill -USR1 \\$\\$'\"\npidfile=/run/k.pid\n";
    let root = services("cmdsignal", &[("killed", killed)]);
    let mut b = boot(&root, &[]);
    // Before: "returned exit code 138" (the intermediate's own code for it).
    b.wait_line("killed: start failed: /bin/sh returned killed by SIGUSR1");
    stop(&mut b);
}

#[test]
fn a_daemon_followed_outside_rcinit_is_not_respawned_from_an_earlier_starts_plan() {
    let flip = r#"#!/sbin/openrc-run
command=/bin/sleep
pidfile=/run/flip.pid
start() {
	if [ ! -e /var/second ]; then
		touch /var/second
		supervise-daemon "$RC_SVCNAME" --start /bin/sleep -- 100150
	else
		/bin/start-stop-daemon --start --background --make-pidfile --pidfile "$pidfile" --exec /bin/sleep -- 100151
	fi
}
"#;
    let root = services("staleplan", &[("flip", flip)]);
    let mut b = boot(&root, &[]);
    b.wait_line("1 of 1 services started");
    one(&mut b, "sleep 100150");
    let o = b.exec(&["/sbin/rcinit", "restart", "flip"]);
    assert!(o.status.success(), "{}", common::text(&o));
    b.wait_line("flip: started (pid");
    common::kill_pid(one(&mut b, "sleep 100151"), libc::SIGKILL);
    b.wait_line("flip: daemon ended (killed by SIGKILL)");
    let o = b.exec(&["/sbin/rcinit", "status", "flip"]);
    assert!(common::text(&o).contains("crashed"), "{}", common::text(&o));
    assert!(
        !b.has_line("flip: respawned"),
        "the first start's supervised command was respawned\n{}",
        b.transcript()
    );
    stop(&mut b);
}
