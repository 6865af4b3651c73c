//! Script lifecycles and daemon styles on real processes, rcinit as PID 1: custom start()
//! functions calling the helpers in an image without OpenRC, one-shots, forking daemons
//! followed through their pidfile, readiness, the stop budget, back-pressure, process settings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{Stream, one, pids_running, report_line, services};

use common::{boot_pid1 as boot, stop_clean as stop};

#[test]
fn custom_start_functions_call_the_helpers_without_openrc_installed_l37() {
    let ssd = r#"#!/sbin/openrc-run
pidfile=/var/bg.pid
start() {
	ebegin "Starting bg"
	start-stop-daemon --start --exec /bin/sleep --background --make-pidfile --pidfile "$pidfile" -- 100010
	eend $?
}
stop() {
	start-stop-daemon --stop --pidfile "$pidfile"
}
"#;
    let sd = r#"#!/sbin/openrc-run
start() {
	supervise-daemon "$RC_SVCNAME" --start --respawn-max 5 --respawn-delay 0 /bin/sleep -- 100011
}
"#;
    let root = services("helpers", &[("bg", ssd), ("sup", sd)]);
    // busybox's start-stop-daemon is in the tree (as in an image without OpenRC): rcinit's
    // stand-in comes first, so rcinit follows the daemon.
    assert!(root.path().join("bin/start-stop-daemon").exists());
    let mut b = boot(&root, &[]);
    b.wait_line("2 of 2 services started");
    b.wait_line("[bg]  * Starting bg ...");
    b.wait_line("bg: started (pid");
    let bg = one(&mut b, "sleep 100010");
    let written: i32 = std::fs::read_to_string(root.path().join("var/bg.pid"))
        .expect("pidfile")
        .trim()
        .parse()
        .expect("a pid");
    assert!(written > 1, "the pidfile names the daemon (namespace pid)");
    // supervise-daemon's call is supervised: killed, it comes back.
    let sup = one(&mut b, "sleep 100011");
    common::kill_pid(sup, libc::SIGKILL);
    b.wait_line("sup: respawned as pid");
    stop(&mut b);
    assert!(common::state(bg).is_none());
    let line = report_line(&b, "bg");
    assert!(line.contains("SIGTERM after"), "{line}\n{}", b.transcript());
}

#[test]
fn a_start_without_a_daemon_is_a_one_shot_and_a_forking_daemon_is_followed_by_its_pidfile() {
    let oneshot = r#"#!/sbin/openrc-run
start() { echo "prepared the volume"; }
"#;
    // start-stop-daemon style: the command forks, writes the pidfile and returns (V-11).
    let forking = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'sleep 100012 </dev/null >/dev/null 2>&1 & echo \$! >/var/fork.pid'"
pidfile=/var/fork.pid
procname=sleep
depend() { after once; }
"#;
    let root = services("oneshot", &[("once", oneshot), ("forker", forking)]);
    let mut b = boot(&root, &[]);
    b.wait_line("2 of 2 services started");
    assert!(b.has_line("[once] prepared the volume"));
    let line = b.wait_line("forker: started (pid");
    let d = one(&mut b, "sleep 100012");
    // The forked daemon is followed: its death is seen at once (no polling), and a service
    // that is not supervise-daemon's is not respawned.
    common::kill_pid(d, libc::SIGKILL);
    b.wait_line("forker: daemon ended (killed by SIGKILL)");
    assert!(!b.has_line("forker: respawned"), "{line}");
    stop(&mut b);
    assert!(report_line(&b, "forker").contains("was crashed"));
}

#[test]
fn dependents_wait_for_readiness_on_the_notify_fd() {
    let ready = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
notify=fd:4
command=/bin/sh
command_args="-c 'sleep 0.3; echo ready-svc >>/var/order; echo >&4; exec sleep 100013'"
"#;
    let after = r#"#!/sbin/openrc-run
start_pre() { echo dependent >>/var/order; }
command=/bin/true
depend() { need ready; }
"#;
    let never = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
notify=fd:4
command=/bin/sleep
command_args=100014
"#;
    let root = services(
        "notify",
        &[("ready", ready), ("dep", after), ("never", never)],
    );
    let mut b = boot(&root, &[("RCINIT_READY_TIMEOUT", "3000")]);
    b.wait_line("never: not ready after 3000 ms");
    b.wait_line("dep: started");
    let order = std::fs::read_to_string(root.path().join("var/order")).expect("order");
    assert_eq!(order, "ready-svc\ndependent\n");
    stop(&mut b);
}

#[test]
fn the_stop_budget_escalates_so_a_chain_of_term_ignorers_ends_in_time() {
    // Each ignores SIGTERM and asks for 30 s before SIGKILL: per-service timeouts would add up
    // to a minute; the 2 s budget is shared out instead.
    let ignorer = |dep: &str| {
        format!(
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sh\ncommand_args=\"-c 'trap \\\"\\\" TERM; echo up; while :; do sleep 1; done'\"\nretry=TERM/30/KILL/5\ndepend() {{ {dep} }}\n"
        )
    };
    let (a, b_, c) = (ignorer(":;"), ignorer("need a;"), ignorer("need b;"));
    let root = services("budget", &[("a", &a), ("b", &b_), ("c", &c)]);
    let mut b = boot(&root, &[("RCINIT_SERVICES_GRACETIME", "2000")]);
    b.wait_line("3 of 3 services started");
    let begin = Instant::now();
    stop(&mut b);
    for s in ["a", "b", "c"] {
        assert!(
            report_line(&b, s).contains("(killed)"),
            "{}",
            b.transcript()
        );
    }
    // c (the dependent) first, a last; together inside the budget plus the sweep (generous).
    let at = |s: &str| {
        b.lines()
            .iter()
            .position(|(_, l)| l.starts_with(&format!("  {s} ")))
            .expect("in report")
    };
    assert!(at("c") < at("b") && at("b") < at("a"), "{}", b.transcript());
    assert!(
        begin.elapsed() < Duration::from_secs(8),
        "{:?}",
        begin.elapsed()
    );
}

#[test]
fn a_stalled_stdout_reader_slows_the_service_not_pid1_and_loses_nothing() {
    let flood = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'seq 1 400000; echo flood-done >&2; exec sleep 100015'"
command_background=yes
pidfile=/var/flood.pid
"#;
    let crashy = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'sleep 0.2; exit 1'"
respawn_max=0
respawn_delay=0
"#;
    let root = services("stall", &[("flood", flood), ("crashy", crashy)]);
    let mut b = boot(&root, &[]);
    b.pause_stdout();
    b.wait_line("2 of 2 services started");
    // While nobody reads stdout, PID 1 keeps supervising: respawns go on and are logged...
    let n = b.lines().len();
    b.wait_line_after(n, "crashy: respawned as pid");
    let n = b.lines().len();
    b.wait_line_after(n, "crashy: respawned as pid");
    // ...and the flood is held back, not dropped: it has not finished writing.
    assert!(!b.has_line("flood-done"), "{}", b.transcript());
    b.resume_stdout();
    b.wait_line("flood-done");
    b.wait_line("[flood] 400000");
    stop(&mut b);
    let mut next = 1u32;
    for (s, l) in b.lines() {
        if let Some(n) = l
            .strip_prefix("[flood] ")
            .and_then(|n| n.parse::<u32>().ok())
        {
            assert_eq!(*s, Stream::Out);
            assert_eq!(n, next, "lost, repeated or reordered");
            next += 1;
        }
    }
    assert_eq!(next, 400_001);
}

#[test]
fn output_without_newlines_is_split_not_lost_and_a_dead_logger_is_reported() {
    let blob = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'head -c 150000 /dev/zero | tr \"\\\\0\" x; exec sleep 100016'"
command_background=yes
pidfile=/var/blob.pid
"#;
    let logged = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'while :; do echo tick; sleep 0.2; done'"
output_logger="exit 3"
"#;
    let root = services("blob", &[("blob", blob), ("logged", logged)]);
    let mut b = boot(&root, &[]);
    b.wait_line("logged: its logger \"exit 3\" ended (exit code 3)");
    b.wait_line("logged: respawned as pid");
    // 150,000 bytes without a newline: two full 64 KiB lines now, the rest at the end.
    b.wait_line("[blob] x");
    let first = b
        .lines()
        .iter()
        .position(|(_, l)| l.starts_with("[blob] x"))
        .expect("just seen");
    b.wait_line_after(first + 1, "[blob] x");
    stop(&mut b);
    let pieces: Vec<usize> = b
        .lines()
        .iter()
        .filter(|(_, l)| l.starts_with("[blob] "))
        .map(|(_, l)| l.len() - "[blob] ".len())
        .collect();
    assert_eq!(pieces, [65536, 65536, 150_000 - 2 * 65536], "{pieces:?}");
    // Writing to the dead logger killed the daemon with SIGPIPE (as under OpenRC); supervision
    // respawned it, with a new logger; the other service never noticed.
    assert!(
        b.has_line("logged: daemon ended (killed by SIGPIPE)"),
        "{}",
        b.transcript()
    );
    assert!(report_line(&b, "blob").contains("SIGTERM after"));
}

#[test]
fn a_hung_healthcheck_is_time_limited_and_counts_as_a_failure() {
    let hung = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100017
healthcheck_delay=1
healthcheck_timer=2
healthcheck() { [ -e /tmp/hang ] && sleep 100000; return 0; }
"#;
    let root = services("hungcheck", &[("hc", hung)]);
    let mut b = boot(&root, &[]);
    b.wait_line("hc: started");
    std::fs::write(root.path().join("tmp/hang"), "").expect("touch");
    b.wait_line("hc: healthcheck took longer than 2000 ms; killed");
    b.wait_line("hc: health check failed; restarting it");
    std::fs::remove_file(root.path().join("tmp/hang")).expect("rm");
    b.wait_line("hc: respawned as pid");
    assert!(
        pids_running(&mut b, "sleep 100000").is_empty(),
        "the hung check was killed"
    );
    stop(&mut b);
}

#[test]
fn process_settings_reach_the_daemon_umask_limits_no_new_privs_nice() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100018
umask=027
rc_ulimit="-n 123 -Su 77"
no_new_privs=yes
export SSD_NICELEVEL=7
export GREETING="hello world"
"#;
    let root = services("settings", &[("set", script)]);
    let mut b = boot(&root, &[("CONTAINER_VAR", "from-docker-run")]);
    b.wait_line("set: started");
    let pid = one(&mut b, "sleep 100018");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.contains("Umask:\t0027"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let row = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(row("Max open files").contains("123 123"), "{limits}");
    assert!(
        row("Max processes").starts_with("Max processes 77 "),
        "{limits}"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let nice: i32 = stat[stat.rfind(')').expect(")") + 2..]
        .split_whitespace()
        .nth(16)
        .expect("nice")
        .parse()
        .expect("number");
    assert_eq!(nice, 7);
    let env = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let env: Vec<String> = String::from_utf8_lossy(&env)
        .split('\0')
        .map(str::to_owned)
        .collect();
    assert!(env.contains(&"GREETING=hello world".to_owned()), "{env:?}");
    assert!(
        env.contains(&"CONTAINER_VAR=from-docker-run".to_owned()),
        "{env:?}"
    );
    assert!(
        !env.iter()
            .any(|e| e.starts_with("SSD_") || e.starts_with("RCINIT_")),
        "{env:?}"
    );
    stop(&mut b);
}

// Regression tests from review findings.

#[test]
fn a_start_that_never_returns_does_not_hold_up_the_stop_t05() {
    // start-stop-daemon style without background: a command that never forks never returns.
    let stuck = "#!/sbin/openrc-run\ncommand=/bin/sleep\ncommand_args=100020\n";
    let good = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100021\n";
    let root = services("stuck", &[("stuck", stuck), ("good", good)]);
    let mut b = boot(&root, &[("RCINIT_SERVICES_GRACETIME", "1000")]);
    b.wait_line("good: started");
    one(&mut b, "sleep 100020");
    let begin = Instant::now();
    stop(&mut b);
    // The stop ends the start itself (issue 18): the command gets its stop signal, in time.
    assert!(!b.has_line("did not stop in time"), "{}", b.transcript());
    assert!(
        report_line(&b, "stuck").contains("SIGTERM after"),
        "{}",
        b.transcript()
    );
    assert!(
        begin.elapsed() < Duration::from_secs(8),
        "{:?}",
        begin.elapsed()
    );
}

#[test]
fn fifos_as_input_file_or_log_never_block_pid1() {
    let reader = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/cat\ninput_file=/var/in.fifo\noutput_log=/var/cat.out\n";
    let writer = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100022\noutput_log=/var/out.fifo\nrespawn_max=1\nrespawn_delay=0\n";
    let root = services("fifo", &[("reader", reader), ("writer", writer)]);
    for f in ["var/in.fifo", "var/out.fifo"] {
        let p = std::ffi::CString::new(root.path().join(f).to_str().expect("utf-8")).expect("c");
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0);
    }
    let mut b = boot(&root, &[]);
    // A FIFO without a writer as stdin: the daemon starts (and waits on it itself).
    b.wait_line("reader: started (pid");
    // A FIFO without a reader as a log: a clear error naming it, a failed start; PID 1 goes on.
    b.wait_line("writer: start failed: ");
    assert!(
        b.has_line("No such device or address"),
        "{}",
        b.transcript()
    );
    stop(&mut b);
}

#[test]
fn a_pidfile_written_late_by_the_daemons_child_is_followed() {
    let late = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c '(sleep 0.3; exec sleep 100023) </dev/null >/dev/null 2>&1 & (sleep 0.3; echo \$! >/var/late.pid) &'"
pidfile=/var/late.pid
procname=sleep
"#;
    // Inside, $! of the outer subshell is the future `sleep 100023` (exec keeps the pid).
    let root = services("late", &[("late", late)]);
    std::fs::write(root.path().join("var/late.pid"), "999999\n").expect("stale pidfile");
    let mut b = boot(&root, &[]);
    b.wait_line("late: started (pid");
    let d = one(&mut b, "sleep 100023");
    common::kill_pid(d, libc::SIGKILL);
    b.wait_line("late: daemon ended (killed by SIGKILL)");
    stop(&mut b);
}

/// A daemon that cannot be spawned at all fails its start with the reason (issue 18; OpenRC
/// says "started", then respawns it into "failed", V-16), instead of a start that reads fine.
#[test]
fn a_supervised_daemon_that_cannot_be_spawned_fails_its_start_with_the_reason() {
    let broken = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100024\ndirectory=/no/such/dir\nrespawn_max=2\nrespawn_delay=0\n";
    let root = services("nospawn", &[("broken", broken)]);
    let mut b = boot(&root, &[]);
    b.wait_line("broken: start failed: ");
    assert!(!b.has_line("respawned"), "{}", b.transcript());
    stop(&mut b);
    assert!(report_line(&b, "broken").contains("was failed"));
}

#[test]
fn a_critical_service_whose_start_pre_fails_ends_the_run_with_111() {
    let failing =
        "#!/sbin/openrc-run\nrcinit_critical=yes\ncommand=/bin/sleep\nstart_pre() { return 1; }\n";
    let root = services("critpre", &[("db", failing)]);
    let mut b = boot(&root, &[]);
    assert_eq!(b.wait_exit(), 111, "{}", b.transcript());
}

#[test]
fn variables_start_pre_unsets_are_gone_from_the_daemon_v02() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'echo hello-u; exec sleep 100025'"
output_log=/var/u.log
start_pre() { unset output_log; }
"#;
    let root = services("unset", &[("u", script)]);
    let mut b = boot(&root, &[]);
    // Without output_log the output is forwarded, and no file is made.
    b.wait_line("[u] hello-u");
    assert!(!root.path().join("var/u.log").exists());
    stop(&mut b);
}

/// Regression: checkpath chmodded a path whose mode was already right, so a service running as
/// a non-root USER failed its start_pre on a root-owned /var/log (`docker run --user`).
#[test]
fn checkpath_changes_only_what_differs_so_non_root_passes_on_a_right_path() {
    let script = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args=100031
command_background=yes
pidfile=/tmp/cp.pid
start_pre() {
	checkpath -d -m 0755 /var && checkpath -d -m 0755 -o 0:0 /var
}
"#;
    let root = services("checkpath-user", &[("cp", script)]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.path().join("var"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        root.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    let prep = common::Prep {
        user: Some(65534),
        ..common::Prep::default()
    };
    let mut b = root.boot_with(common::Mode::Pid1, &[], &[], prep);
    b.wait_line("cp: started (pid");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A daemon stopped with SIGSTOP took its SIGTERM only when continued, so its stop ended in
/// SIGKILL after the whole retry schedule; each stop signal now comes with a SIGCONT (issue 18).
#[test]
fn a_sigstopped_daemon_stops_by_its_signal_not_sigkill() {
    let script = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100070\n";
    let root = services("sigstop", &[("frozen", script)]);
    let mut b = boot(&root, &[]);
    b.wait_line("frozen: started");
    let d = one(&mut b, "sleep 100070");
    common::kill_pid(d, libc::SIGSTOP);
    common::wait_for("the daemon stopped", || {
        (common::state(d) == Some('T')).then_some(())
    });
    let o = b.exec(&["/sbin/rcinit", "stop", "frozen"]);
    let said = common::text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("frozen stopped"), "{said}");
    assert!(
        !said.contains("killed"),
        "the stop ended in SIGKILL: {said}"
    );
    stop(&mut b);
}
