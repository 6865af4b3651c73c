//! Issue 18, rcinit as PID 1 on real processes: every wait of a service can be interrupted (a
//! stop during a start, the start limit, health checks at the shutdown), `status` and `check` tell
//! the truth (scripts that cannot be evaluated, spawn failures, readiness against liveness), and
//! the stop budget is shared by one rule (the CMD's share is capped; a level gets what its own
//! `retry` asks for when the budget allows).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::{Booted, Mode, Prep, one, pids_running, report_line, services, text};

use common::{boot_pid1 as boot, stop_clean as stop};

/// The service's line of `rcinit status NAME` (state, pid, ..., why), if it is there yet.
fn try_status_line(b: &mut Booted, name: &str) -> Result<String, String> {
    let o = b.exec(&["/sbin/rcinit", "status", name]);
    text(&o)
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .map(str::to_owned)
        .ok_or_else(|| format!("{name} not in the status: {}", text(&o)))
}

fn status_line(b: &mut Booted, name: &str) -> String {
    try_status_line(b, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until `rcinit status NAME` shows `state` (the boot may still be evaluating).
fn wait_state(b: &mut Booted, name: &str, state: &str) {
    common::wait_for(&format!("{name} {state}"), || {
        let l = try_status_line(b, name).ok()?;
        l.split_whitespace()
            .nth(1)
            .is_some_and(|s| s == state)
            .then_some(())
    });
}

/// A script whose start never returns: start-stop-daemon's style without background, or a
/// start() of its own.
const FORKING_FOREVER: &str = "#!/sbin/openrc-run\ncommand=/bin/sleep\ncommand_args=100080\n";
const START_FOREVER: &str = "#!/sbin/openrc-run\nstart() { sleep 100081; }\n";

#[test]
fn a_stop_during_a_start_that_never_returns_answers_at_once_and_the_service_ends_stopped() {
    let root = services(
        "stopstart",
        &[("fork", FORKING_FOREVER), ("func", START_FOREVER)],
    );
    let mut b = boot(&root, &[]);
    let daemons = [one(&mut b, "sleep 100080"), one(&mut b, "sleep 100081")];
    wait_state(&mut b, "fork", "starting");
    let begin = Instant::now();
    // Before: the client waited for ever (the task did not read requests during its start).
    let o = b.exec(&["/sbin/rcinit", "stop", "fork", "func"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("fork stopped") && said.contains("func stopped"),
        "{said}"
    );
    // Its deadline is its schedule (5 s) and a margin; a stop of a hung start takes ms.
    assert!(
        begin.elapsed() < Duration::from_secs(10),
        "{:?}",
        begin.elapsed()
    );
    for s in ["fork", "func"] {
        let l = status_line(&mut b, s);
        assert!(l.contains(" stopped "), "{l}");
    }
    assert!(
        common::alive(&daemons).is_empty(),
        "what the starts ran is gone"
    );
    stop(&mut b);
}

#[test]
fn a_start_past_its_limit_fails_with_the_reason_and_its_dependents_say_so() {
    let need = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100082\ndepend() { need hung; }\n";
    let uses = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100083\ndepend() { use hung; }\n";
    let own = "#!/sbin/openrc-run\nstart() { sleep 100084; }\n";
    // Slower than the container's limit, but it says it may take its time.
    let patient = "#!/sbin/openrc-run\ndepend() { keyword -timeout; }\nstart() { sleep 3; }\n";
    let root = services(
        "startlimit",
        &[
            ("hung", FORKING_FOREVER),
            ("needer", need),
            ("user", uses),
            ("own", own),
            ("patient", patient),
        ],
    );
    std::fs::create_dir_all(root.path().join("etc/conf.d")).expect("conf.d");
    std::fs::write(
        root.path().join("etc/conf.d/own"),
        "rcinit_start_timeout=1\n",
    )
    .expect("conf.d/own");
    let mut b = boot(&root, &[("RCINIT_START_TIMEOUT", "2")]);
    b.wait_line("own: start did not finish in 1 s");
    b.wait_line("hung: start did not finish in 2 s");
    b.wait_line("patient: started");
    b.wait_line("2 of 5 services started");
    let hung = status_line(&mut b, "hung");
    assert!(
        hung.contains("failed") && hung.contains("start did not finish in 2 s"),
        "{hung}"
    );
    let needer = status_line(&mut b, "needer");
    assert!(
        needer.contains("failed")
            && needer.contains(
                "needs hung, which would not start (failed: start did not finish in 2 s)"
            ),
        "{needer}"
    );
    assert!(status_line(&mut b, "user").contains("started"));
    // The start's process group was stopped with it.
    assert!(pids_running(&mut b, "sleep 100080").is_empty());
    assert!(pids_running(&mut b, "sleep 100084").is_empty());
    stop(&mut b);
}

#[test]
fn no_health_check_runs_once_the_stop_has_begun() {
    // `checked` stops last; while its dependent takes 2 s to stop, it used to go on checking
    // (and could restart its daemon in the middle of the shutdown).
    let checked = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100085
healthcheck_delay=1
healthcheck_timer=1
healthcheck() {
	echo x >> /var/checks
	[ -e /var/stopping ] && echo late >> /var/late
	return 0
}
"#;
    let slow = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"touch /var/stopping; sleep 2; exit 0\" TERM; echo trap-set; while :; do sleep 1; done'"
depend() { need checked; }
"#;
    let root = services("nocheck", &[("checked", checked), ("slowstop", slow)]);
    let mut b = boot(&root, &[]);
    b.wait_line("[slowstop] trap-set");
    let checks = root.path().join("var/checks");
    common::wait_for("a first health check", || checks.exists().then_some(()));
    stop(&mut b);
    assert!(
        report_line(&b, "slowstop").contains("exit code 0"),
        "{}",
        b.transcript()
    );
    assert!(
        !root.path().join("var/late").exists(),
        "health checks ran after the stop began: {}",
        std::fs::read_to_string(root.path().join("var/late")).unwrap_or_default()
    );
}

#[test]
fn a_runlevel_script_that_cannot_be_evaluated_is_failed_and_fails_check() {
    let broken = "#!/sbin/openrc-run\nstart() {\n";
    let a = "#!/sbin/openrc-run\ncommand=/bin/true\ndepend() { need b; }\n";
    let b_ = "#!/sbin/openrc-run\ncommand=/bin/true\ndepend() { need a; }\n";
    let good = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100086\n";
    let hung = "#!/sbin/openrc-run\ndepend() { sleep 100091; }\n";
    let scripts = [
        ("broken", broken),
        ("a", a),
        ("b", b_),
        ("good", good),
        ("hung", hung),
    ];
    let root = services("evalfail", &scripts);
    let mut b = boot(&root, &[("RCINIT_EVAL_TIMEOUT", "1000")]);
    b.wait_line("1 of 5 services started");
    for s in ["broken", "hung"] {
        let l = status_line(&mut b, s);
        assert!(l.contains("failed"), "{l}");
    }
    let l = status_line(&mut b, "a");
    assert!(l.contains("failed") && l.contains("need cycle"), "{l}");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("broken failed"), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "check", "--alive"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    stop(&mut b);

    // Named critical, it ends the container with 111.
    let root = services("evalcrit", &scripts);
    let mut b = boot(
        &root,
        &[
            ("RCINIT_CRITICAL", "broken"),
            ("RCINIT_EVAL_TIMEOUT", "1000"),
        ],
    );
    assert_eq!(b.wait_exit(), 111, "{}", b.transcript());
    assert!(
        b.has_line("critical service broken failed"),
        "{}",
        b.transcript()
    );
}

#[test]
fn check_waits_for_the_runlevel_and_alive_fails_only_for_failures() {
    let slow = "#!/sbin/openrc-run\nstart() { while [ ! -e /var/go ]; do sleep 0.1; done; }\n";
    let ok = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100087\n";
    let root = services("readiness", &[("slow", slow), ("ok", ok)]);
    // Not in the runlevel: started by hand, its daemon cannot be spawned.
    root.write_exec(
        "etc/init.d/nodir",
        "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100088\ndirectory=/no/such/dir\n",
    );
    let mut b = boot(&root, &[]);
    b.wait_line("ok: started");
    wait_state(&mut b, "slow", "starting");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("slow starting for"), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "check", "--alive"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    std::fs::write(root.path().join("var/go"), "").expect("go");
    b.wait_line("2 of 2 services started");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A spawn failure is a failed start, said to the client.
    let o = b.exec(&["/sbin/rcinit", "start", "nodir"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nodir failed to start"), "{}", text(&o));
    let l = status_line(&mut b, "nodir");
    assert!(l.contains("failed") && l.contains("/no/such/dir"), "{l}");
    let o = b.exec(&["/sbin/rcinit", "check", "--alive"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nodir failed"), "{}", text(&o));
    stop(&mut b);
}

#[test]
fn a_missing_command_makes_rcinit_start_exit_non_zero() {
    let root = services("nocommand", &[]);
    root.write_exec(
        "etc/init.d/ghost",
        "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/usr/bin/no-such-daemon\n",
    );
    root.write_exec(
        "etc/init.d/ghost2",
        "#!/sbin/openrc-run\ncommand=/usr/bin/no-such-daemon\ncommand_background=yes\npidfile=/run/ghost2.pid\n",
    );
    let mut b = root.boot_with(Mode::Pid1, &["/bin/sleep", "100089"], &[], Prep::default());
    b.wait_line("0 of 0 services started");
    for s in ["ghost", "ghost2"] {
        let o = b.exec(&["/sbin/rcinit", "start", s]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let o = b.exec(&["/sbin/rcinit", "restart", s]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let l = status_line(&mut b, s);
        assert!(l.contains("failed") && l.contains("no-such-daemon"), "{l}");
    }
    stop(&mut b);
}

#[test]
fn a_term_ignoring_cmd_leaves_a_service_its_own_clean_stop() {
    // Before: the CMD took the whole budget and the service got SIGKILL 1 ms after SIGTERM.
    let clean = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"sleep 1; echo clean-exit; exit 0\" TERM; echo trap-set; while :; do sleep 1; done'"
"#;
    let root = services("cmdshare", &[("clean", clean)]);
    let cmd = [
        "/bin/sh",
        "-c",
        "trap '' TERM; echo cmd-ignores-term; while :; do sleep 1; done",
    ];
    let mut b = root.boot_with(Mode::Pid1, &cmd, &[], Prep::default());
    b.wait_line("[clean] trap-set");
    b.wait_line("cmd-ignores-term");
    stop(&mut b);
    let l = report_line(&b, "clean");
    assert!(
        l.contains("exit code 0") && !l.contains("killed"),
        "{l}\n{}",
        b.transcript()
    );
    assert!(b.has_line("[clean] clean-exit"), "{}", b.transcript());
}

#[test]
fn a_worker_mid_job_beside_a_fast_level_finishes_its_job_under_the_default_budget() {
    // Equal shares per level gave the worker 3.5 s of its 5: SIGKILLed mid-job.
    let fast = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100090\n";
    let worker = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"sleep 4; echo job-finished; exit 0\" TERM; echo mid-job; while :; do sleep 1; done'"
retry=SIGTERM/5
depend() { need fast; }
"#;
    let root = services("workerjob", &[("fast", fast), ("worker", worker)]);
    let mut b = boot(&root, &[]);
    // Its trap is set (a SIGTERM before would just end it).
    b.wait_line("[worker] mid-job");
    stop(&mut b);
    let l = report_line(&b, "worker");
    assert!(
        l.contains("exit code 0") && !l.contains("killed"),
        "{l}\n{}",
        b.transcript()
    );
    assert!(b.has_line("[worker] job-finished"), "{}", b.transcript());
}

#[test]
fn the_client_waits_past_fifteen_silent_seconds_while_rcinit_says_what_it_waits_for() {
    // A stop that takes 17 s by its own retry: rcinit says what it waits for every 2 s, so the
    // client's deadline follows the server's limit instead of a fixed one. (A guard for the
    // client's new deadline: the old client had none, and waited for ever.)
    let slow = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"sleep 17; exit 0\" TERM; echo trap-set; while :; do sleep 1; done'"
retry=SIGTERM/30
"#;
    let root = services("longstop", &[("slow", slow)]);
    let mut b = boot(&root, &[]);
    b.wait_line("[slow] trap-set");
    let o = b.exec(&["/sbin/rcinit", "stop", "slow"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("slow stopped"), "{}", text(&o));
    stop(&mut b);
}

/// A control socket that answers nothing but heartbeats whose limit has passed: the client
/// gives up with its own exit code and says what it waited for.
#[test]
fn the_client_gives_up_past_the_servers_own_limit_and_says_on_what() {
    let dir = common::TempDir::new("gaveup");
    let sock = dir.path().join("control.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let mut line = String::new();
        let mut r = BufReader::new(conn.try_clone().expect("clone"));
        r.read_line(&mut line).expect("request");
        let mut w = conn;
        let beat = b"{\"code\":0,\"waiting\":{\"what\":\"db stopping (its limit in 0s)\",\"left_ms\":0}}\n";
        // Heartbeats for 20 s: silence is not why it gives up.
        for _ in 0..40 {
            if w.write_all(beat).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let begin = Instant::now();
    let o = std::process::Command::new(common::rcinit_bin())
        .args(["stop", "db"])
        .env("RCINIT_SOCKET", &sock)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("client");
    let o = common::output_within(o);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(7), "{said}");
    assert!(said.contains("waiting for db stopping"), "{said}");
    assert!(said.contains("rcinit's own limit passed"), "{said}");
    let took = begin.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let _ = server.join();
}

// Regression tests from the review of this issue's first version.

#[test]
fn a_forking_start_that_fails_leaves_no_daemon_of_an_earlier_call_behind() {
    let two = r#"#!/sbin/openrc-run
start() {
	start-stop-daemon --start --background --make-pidfile --pidfile /run/side.pid --exec /bin/sleep -- 100092 || return 1
	start-stop-daemon --start --exec /bin/sh -- -c 'exit 3'
}
"#;
    let root = services("twodaemons", &[("two", two)]);
    let mut b = boot(&root, &[]);
    b.wait_line("two: start failed");
    assert!(
        pids_running(&mut b, "sleep 100092").is_empty(),
        "the first call's daemon outlived the failed start\n{}",
        b.transcript()
    );
    stop(&mut b);
}

#[test]
fn a_stop_while_a_forking_command_still_waits_stops_the_daemon_it_forked() {
    // pg_ctl -w's shape: the command forks the daemon (its own session), writes the pidfile,
    // then waits; the stop comes before it returns.
    let pgw = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'setsid sleep 100093 </dev/null >/dev/null 2>&1 & echo \$! >/run/pgw.pid; exec sleep 100094'"
pidfile=/run/pgw.pid
procname=sleep
"#;
    let root = services("pgwait", &[("pgw", pgw)]);
    let mut b = boot(&root, &[]);
    let forked = one(&mut b, "sleep 100093");
    one(&mut b, "sleep 100094");
    let o = b.exec(&["/sbin/rcinit", "stop", "pgw"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        common::alive(&[forked]).is_empty(),
        "the forked daemon was orphaned\n{}",
        b.transcript()
    );
    stop(&mut b);
}

#[test]
fn a_stop_during_a_respawns_readiness_wait_ends_it() {
    let once = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
notify=fd:3
respawn_delay=0
command=/bin/sh
command_args="-c 'if [ -e /var/ready-once ]; then exec sleep 100095; fi; touch /var/ready-once; echo >&3; exec sleep 100096'"
"#;
    let root = services("readyrespawn", &[("once", once)]);
    let mut b = boot(&root, &[]);
    b.wait_line("once: started");
    common::kill_pid(one(&mut b, "sleep 100096"), libc::SIGKILL);
    // The respawn is never ready: its wait would last RCINIT_READY_TIMEOUT (60 s).
    one(&mut b, "sleep 100095");
    let begin = Instant::now();
    let o = b.exec(&["/sbin/rcinit", "stop", "once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        begin.elapsed() < Duration::from_secs(10),
        "{:?}",
        begin.elapsed()
    );
    assert!(pids_running(&mut b, "sleep 100095").is_empty());
    stop(&mut b);
}

#[test]
fn a_start_asked_for_during_a_start_that_a_stop_ends_does_not_start_it_again() {
    let slow = "#!/sbin/openrc-run\nstart() { while [ ! -e /var/go ]; do sleep 0.1; done; }\n";
    let root = services("heldstart", &[("slow", slow)]);
    let mut b = boot(&root, &[]);
    wait_state(&mut b, "slow", "starting");
    // A second start, straight on the socket: its first heartbeat (2 s) says it is queued.
    let sock = b.socket_path();
    let conn = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    (&conn)
        .write_all(b"{\"op\":\"start\",\"services\":[\"slow\"]}\n")
        .expect("request");
    conn.set_read_timeout(Some(common::HANG)).expect("timeout");
    let mut r = BufReader::new(&conn);
    let mut line = String::new();
    r.read_line(&mut line).expect("heartbeat");
    assert!(
        line.contains("waiting") && line.contains("slow starting"),
        "{line}"
    );
    let o = b.exec(&["/sbin/rcinit", "stop", "slow"]);
    assert!(o.status.success(), "{}", text(&o));
    // The queued start is over with the stop, and says it failed.
    let reply = loop {
        line.clear();
        r.read_line(&mut line).expect("reply");
        if !line.contains("\"waiting\"") {
            break line.clone();
        }
    };
    assert!(reply.contains("\"code\":1"), "{reply}");
    let l = status_line(&mut b, "slow");
    assert!(l.contains(" stopped "), "started again after the stop: {l}");
    stop(&mut b);
}

#[test]
fn the_boot_log_says_when_the_scripts_ask_more_than_the_stop_budget() {
    let db = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100097\nretry=SIGTERM/60\n";
    let root = services("bootbudget", &[("db", db)]);
    let mut b = boot(&root, &[]);
    let l = b.wait_line("stop budget:");
    for want in [
        "up to 60 s to stop (db 60 s)",
        "RCINIT_SERVICES_GRACETIME is 7 s",
        "RCINIT_SERVICES_GRACETIME=60000",
        "--stop-timeout 63",
    ] {
        assert!(l.contains(want), "missing {want:?} in {l}");
    }
    stop(&mut b);
}

#[test]
fn a_daemon_that_ends_after_the_shutdown_cut_its_unhealthy_restart_does_not_freeze_pid1() {
    // `checked` fails its check and `unhealthy` runs long; the container goes down meanwhile,
    // which cuts the restart short, and then the daemon ends by itself while `slowstop` (which
    // needs it) is still stopping. That end used to be ignored by supervision and reported
    // again at once, for ever: PID 1's one thread spun and the container never stopped.
    let checked = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'while [ ! -e /var/go ]; do sleep 0.1; done; exit 3'"
healthcheck_delay=1
healthcheck_timer=1
healthcheck() { [ ! -e /var/fail ]; }
unhealthy() { touch /var/unhealthy; sleep 100088; }
"#;
    let slow = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"touch /var/go; sleep 2; exit 0\" TERM; echo trap-set; while :; do sleep 1; done'"
depend() { need checked; }
"#;
    let root = services("cutunhealthy", &[("checked", checked), ("slowstop", slow)]);
    let mut b = boot(&root, &[]);
    b.wait_line("[slowstop] trap-set");
    std::fs::write(root.path().join("var/fail"), "").unwrap();
    let unhealthy = root.path().join("var/unhealthy");
    common::wait_for("unhealthy to run", || unhealthy.exists().then_some(()));
    stop(&mut b);
    assert!(
        b.has_line("checked: daemon ended (exit code 3)"),
        "{}",
        b.transcript()
    );
}
