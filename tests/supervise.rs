//! Supervision on real processes, rcinit as PID 1: the example stack of `examples/` (a web app
//! under supervise-daemon with respawn limits and a health check, a worker after it, a proxy that
//! needs it) and single services that crash, hang, flood or run as another user.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{Booted, Mode, Prep, Rootfs, Stream, pids_running, services, wait_for};

/// A busybox rootfs with the example stack installed as `./dev.sh demo` installs it.
fn stack(tag: &str) -> Rootfs {
    let root = Rootfs::new(tag);
    let r = root.path();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let cp = |from: &str, to: &std::path::Path| {
        let st = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .expect("cp");
        assert!(st.success(), "cp -a {from} {}", to.display());
    };
    cp(examples, &r.join("examples"));
    for d in ["init.d", "conf.d", "runlevels"] {
        cp(&format!("{examples}/{d}"), &r.join("etc"));
    }
    root
}

fn boot(root: &Rootfs, env: &[(&str, &str)]) -> Booted {
    root.boot_with(Mode::Pid1, &[], env, Prep::default())
}

/// Position of the first line containing `needle`.
fn pos(b: &Booted, needle: &str) -> usize {
    b.lines()
        .iter()
        .position(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("no line {needle:?}\n{}", b.transcript()))
}

/// rcinit's last message (stdout lines may arrive later: the streams are read apart).
fn last_err(b: &Booted) -> String {
    b.lines()
        .iter()
        .rev()
        .find(|(s, _)| *s == Stream::Err)
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid of the test's own namespace.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid}");
}

#[test]
fn the_example_stack_starts_in_dependency_order_and_stops_in_reverse() {
    let root = stack("stack-order");
    let mut b = boot(&root, &[]);
    b.wait_line("3 of 3 services started");
    // Each service's own output, prefixed: the proxy got the web app's page through loopback.
    b.wait_line("[proxy] upstream ok: <h1>Hello from the rcinit example web app</h1>");
    b.wait_line("[worker] processed job 1");
    // The web app's access log went through its error_logger (tee) to a file and to the log.
    b.wait_line("[webapp] 127.0.0.1:");
    let log = wait_for("the web app's log file", || {
        std::fs::read_to_string(root.path().join("var/log/webapp.log"))
            .ok()
            .filter(|l| l.contains("response:200"))
    });
    assert!(
        log.lines().all(|l| !l.starts_with('[')),
        "the file has no prefix"
    );
    let web = pos(&b, "webapp: started");
    assert!(web < pos(&b, "proxy: started"), "{}", b.transcript());
    assert!(web < pos(&b, "worker: started"), "{}", b.transcript());

    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    // The services' goodbyes reached the log, and the report lists them in stop order.
    assert!(b.has_line("[proxy] closing connections"));
    assert!(b.has_line("[worker] finishing the current job, then exiting"));
    let report = pos(&b, "shutdown report:");
    let line = |name: &str| {
        b.lines()[report..]
            .iter()
            .position(|(_, l)| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("{name} not in the report\n{}", b.transcript()))
    };
    assert!(line("proxy") < line("webapp"), "{}", b.transcript());
    assert!(line("worker") < line("webapp"), "{}", b.transcript());
    let last = last_err(&b);
    assert!(
        last.contains("exit code 0: stopped on request"),
        "{}",
        b.transcript()
    );
}

#[test]
fn kill_9_of_the_web_app_respawns_it() {
    let root = stack("stack-kill9");
    let mut b = boot(&root, &[]);
    b.wait_line("3 of 3 services started");
    let first = wait_for("httpd", || {
        let p = pids_running(&mut b, "httpd -f");
        (p.len() == 1).then(|| p[0])
    });
    kill(first, libc::SIGKILL);
    b.wait_line("webapp: daemon ended (killed by SIGKILL)");
    b.wait_line("webapp: respawned as pid");
    let second = wait_for("a new httpd", || {
        let p = pids_running(&mut b, "httpd -f");
        (p.len() == 1 && p[0] != first).then(|| p[0])
    });
    assert_ne!(first, second);
    // It serves again: the proxy says so after the respawn.
    let respawned = pos(&b, "webapp: respawned as pid");
    b.wait_line_after(respawned, "[proxy] upstream ok");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

const CRASHY: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'echo run; exit 3'"
respawn_delay=0
respawn_max=2
respawn_period=60
"#;

#[test]
fn a_crash_loop_is_respawned_respawn_max_times_then_given_up_s11() {
    let root = services("crashloop", &[("crashy", CRASHY)]);
    let mut b = boot(&root, &[]);
    b.wait_line("crashy: respawned 2 times; giving up (respawn_max=2)");
    // A failed service does not stop the container.
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    // S-12: respawn_max=N allows N respawns, N + 1 runs in the window. (Counted once all of
    // stdout is in: it is read apart from rcinit's messages on stderr.)
    let runs = b
        .lines()
        .iter()
        .filter(|(_, l)| l == "[crashy] run")
        .count();
    assert_eq!(runs, 3, "{}", b.transcript());
    assert!(b.has_line("  crashy  was failed"), "{}", b.transcript());
}

#[test]
fn a_critical_service_that_gives_up_ends_the_run_with_111() {
    let critical = format!("{CRASHY}rcinit_critical=yes\n");
    let root = services("critical", &[("crashy", &critical)]);
    let mut b = boot(&root, &[]);
    assert_eq!(b.wait_exit(), 111, "{}", b.transcript());
    let last = last_err(&b);
    assert!(
        last.contains("exit code 111: critical service crashy failed (gave up after 2 respawns)"),
        "{}",
        b.transcript()
    );
    // The same through RCINIT_CRITICAL, without touching the script.
    let root = services("critical-env", &[("crashy", CRASHY)]);
    let mut b = boot(&root, &[("RCINIT_CRITICAL", "other crashy")]);
    assert_eq!(b.wait_exit(), 111, "{}", b.transcript());
}

#[test]
fn a_failing_healthcheck_runs_unhealthy_and_restarts_the_daemon_s32() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100000
healthcheck_delay=1
healthcheck_timer=1
healthcheck() { [ ! -e /tmp/sick ]; }
unhealthy() { echo "unhealthy ran"; rm -f /tmp/sick; }
"#;
    let root = services("health", &[("checked", script)]);
    let mut b = boot(&root, &[]);
    b.wait_line("checked: started");
    let first = wait_for("sleep", || {
        let p = pids_running(&mut b, "sleep 100000");
        (p.len() == 1).then(|| p[0])
    });
    std::fs::write(root.path().join("tmp/sick"), "").expect("touch");
    b.wait_line("checked: health check failed; restarting it");
    b.wait_line("[checked] unhealthy ran");
    b.wait_line("checked: respawned as pid");
    let second = wait_for("a new sleep", || {
        let p = pids_running(&mut b, "sleep 100000");
        (p.len() == 1 && p[0] != first).then(|| p[0])
    });
    assert_ne!(first, second);
    assert!(common::state(first).is_none(), "the old daemon is gone");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

#[test]
fn a_service_ignoring_sigterm_is_killed_by_its_retry_schedule_v20() {
    let stubborn = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'trap \"echo got TERM\" TERM; echo ready; while :; do sleep 1; done'"
retry="TERM/3/KILL/5"
"#;
    let root = services("stubborn", &[("stubborn", stubborn)]);
    let mut b = boot(&root, &[]);
    b.wait_line("[stubborn] ready");
    let started = std::time::Instant::now();
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    assert!(b.has_line("[stubborn] got TERM"), "{}", b.transcript());
    let line = b.lines()[pos(&b, "shutdown report:")..]
        .iter()
        .find(|(_, l)| l.starts_with("  stubborn "))
        .map(|(_, l)| l.clone())
        .expect("stubborn in the report");
    assert!(
        line.contains("SIGTERM after") && line.contains("killed by SIGKILL (killed)"),
        "{line}\n{}",
        b.transcript()
    );
    // TERM/3 then KILL: about three seconds (3 s leave the trap time to run on a loaded
    // machine), inside the 7 s budget (a generous bound).
    assert!(started.elapsed() < std::time::Duration::from_secs(9));
}

#[test]
fn a_million_lines_arrive_in_order_once_each_with_their_prefix() {
    let flood = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'seq 1 1000000; echo to-stderr >&2; printf no-newline'"
command_background=yes
pidfile=/run/flood.pid
"#;
    let root = services("flood", &[("flood", flood)]);
    let mut b = boot(&root, &[]);
    b.wait_line("[flood] no-newline");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
    let mut next = 1u32;
    for (s, l) in b.lines() {
        if let Some(n) = l.strip_prefix("[flood] ")
            && let Ok(n) = n.parse::<u32>()
        {
            assert_eq!(*s, Stream::Out, "numbers go to stdout");
            assert_eq!(n, next, "line {next} lost, repeated or out of order");
            next += 1;
        }
    }
    assert_eq!(next, 1_000_001);
    let err = b
        .lines()
        .iter()
        .find(|(_, l)| l == "[flood] to-stderr")
        .expect("the stderr line");
    assert_eq!(err.0, Stream::Err, "stderr stays stderr");
}

#[test]
fn services_run_as_command_user_with_its_uid_gid_groups_and_capabilities() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100001
command_user=web:www
directory=/tmp
capabilities="^cap_net_bind_service,!cap_sys_admin"
"#;
    let root = services("user", &[("asuser", script)]);
    let etc = root.path().join("etc");
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        etc.join("group"),
        "root:x:0:\nweb:x:1000:\nwww:x:33:\nlog:x:4:web\ndisk:x:6:other,web\n",
    )
    .expect("group");
    let mut b = boot(&root, &[]);
    b.wait_line("asuser: started");
    let pid = wait_for("the daemon", || {
        let p = pids_running(&mut b, "sleep 100001");
        (p.len() == 1).then(|| p[0])
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| {
                l[k.len()..]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    assert_eq!(field("Uid:"), "1000 1000 1000 1000");
    assert_eq!(field("Gid:"), "33 33 33 33");
    assert_eq!(field("Groups:"), "4 6 33");
    // Only the capability asked for, ambient so that it survives the exec as the user's;
    // cap_sys_admin is gone from the bounding set.
    let caps = |k: &str| u64::from_str_radix(&field(k), 16).expect("hex");
    assert_eq!(caps("CapAmb:"), 1 << 10, "{status}");
    assert_eq!(caps("CapEff:"), 1 << 10, "{status}");
    assert_eq!(caps("CapPrm:"), 1 << 10, "{status}");
    assert_eq!(caps("CapBnd:") & (1 << 21), 0, "{status}");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert!(cwd.ends_with("tmp"), "{}", cwd.display());
    let env = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let env = String::from_utf8_lossy(&env);
    assert!(env.split('\0').any(|e| e == "HOME=/home/web"), "{env}");
    assert!(env.split('\0').any(|e| e == "USER=web"), "{env}");
    assert!(
        !env.contains("RC_SVCNAME"),
        "V-19 cleans OpenRC's variables: {env}"
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

#[test]
fn bad_services_say_why_and_nothing_else_is_affected() {
    let missing = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/no/such/daemon\n";
    let nouser = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100\ncommand_user=ghost\n";
    let prefail = "#!/sbin/openrc-run\ncommand=/bin/sleep\nstart_pre() { eerror \"config is broken\"; return 1; }\n";
    let needer = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100\ndepend() { need prefail; }\n";
    let good = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100002\n";
    let root = services(
        "bad",
        &[
            ("missing", missing),
            ("nouser", nouser),
            ("prefail", prefail),
            ("needer", needer),
            ("good", good),
        ],
    );
    let mut b = boot(&root, &[]);
    b.wait_line("1 of 5 services started");
    b.wait_line("missing: /no/such/daemon does not exist");
    b.wait_line("nouser: command_user=\"ghost\": no user ghost in /etc/passwd");
    b.wait_line("[prefail]  * config is broken");
    b.wait_line("needer: not started: needs prefail, which would not start (failed: start failed (exit code 1))");
    assert!(b.has_line("good: started"));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A daemon that forks twice (the classic detach) and names no pidfile: rcinit follows what
/// its first fork left, and when that exits 0 having forked again, the process it left; the
/// stop then ends the real daemon. A crash (killed) is still a crash, not a hand-over.
#[test]
fn a_double_forking_daemon_without_a_pidfile_is_followed_to_its_last_fork() {
    let root = services(
        "dfork",
        &[(
            "dfork",
            "#!/sbin/openrc-run\ncommand=/usr/local/bin/dfork\ncommand_args=first\n",
        )],
    );
    root.write_exec(
        "usr/local/bin/dfork",
        "#!/bin/sh\n\
         case \"$1\" in\n\
         first) setsid \"$0\" second & exit 0 ;;\n\
         second) sleep 0.2; \"$0\" daemon & exit 0 ;;\n\
         daemon) trap 'exit 0' TERM; while :; do sleep 1 & wait; done ;;\n\
         esac\n",
    );
    let mut b = boot(&root, &[]);
    b.wait_line("dfork: started");
    let daemon = common::one(&mut b, "dfork daemon");
    let inner = common::ns_pid(daemon).map(i64::from);
    let (state, pid) = wait_for("rcinit to follow the last fork", || {
        let s = common::status_of(&mut b, "dfork");
        (s.1 == inner).then_some(s)
    });
    assert_eq!((state.as_str(), pid), ("started", inner));
    assert!(pids_running(&mut b, "dfork second").is_empty());
    b.wait_line("ended (exit code 0) leaving pid");
    let o = b.exec(&["/sbin/rcinit", "stop", "dfork"]);
    assert!(o.status.success(), "{}", common::text(&o));
    wait_for("the daemon gone", || {
        common::alive(&[daemon]).is_empty().then_some(())
    });
    // Started again and killed: a crash, whatever the daemon left.
    let o = b.exec(&["/sbin/rcinit", "start", "dfork"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let again = common::one(&mut b, "dfork daemon");
    let inner = common::ns_pid(again).map(i64::from);
    wait_for("rcinit to follow the new last fork", || {
        (common::status_of(&mut b, "dfork").1 == inner).then_some(())
    });
    kill(again, libc::SIGKILL);
    b.wait_line("dfork: daemon ended (killed by SIGKILL)");
    b.signal(libc::SIGTERM);
    b.wait_exit();
}

/// A daemon that calls setsid() a moment after rcinit began to follow it (nginx does it just
/// after its parent returned): a stop signals the group it has then, not the one it left.
/// Before, the stop signalled an empty group, waited out the schedule and left it running.
#[test]
fn a_stop_reaches_a_daemon_that_changed_its_process_group_after_it_was_followed() {
    let root = services(
        "latesid",
        &[(
            "latesid",
            "#!/sbin/openrc-run\ncommand=/usr/local/bin/latesid\n",
        )],
    );
    root.write_exec(
        "usr/local/bin/latesid",
        "#!/bin/sh\n\
         case \"$1\" in\n\
         '') \"$0\" child & exit 0 ;;\n\
         child) while [ ! -e /var/go-setsid ]; do sleep 0.05; done; exec setsid \"$0\" daemon ;;\n\
         daemon) trap 'exit 0' TERM; sleep 100502 & while :; do sleep 1 & wait $!; done ;;\n\
         esac\n",
    );
    let mut b = boot(&root, &[]);
    b.wait_line("latesid: started (pid");
    let child = common::one(&mut b, "latesid child");
    assert_eq!(
        common::status_of(&mut b, "latesid").1,
        common::ns_pid(child).map(i64::from)
    );
    std::fs::write(root.path().join("var/go-setsid"), "").expect("go");
    let daemon = common::one(&mut b, "latesid daemon");
    assert_eq!(daemon, child, "setsid runs the daemon in the same process");
    let o = b.exec(&["/sbin/rcinit", "stop", "latesid"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        common::alive(&[daemon]).is_empty(),
        "the daemon survived its stop:\n{}",
        b.transcript()
    );
    // Its crash too: what it left in the group it made (a worker) goes with it.
    std::fs::remove_file(root.path().join("var/go-setsid")).expect("rm");
    let o = b.exec(&["/sbin/rcinit", "start", "latesid"]);
    assert!(o.status.success(), "{}", common::text(&o));
    common::one(&mut b, "latesid child");
    std::fs::write(root.path().join("var/go-setsid"), "").expect("go");
    let daemon = common::one(&mut b, "latesid daemon");
    let worker = common::one(&mut b, "sleep 100502");
    kill(daemon, libc::SIGKILL);
    b.wait_line("latesid: stopping what is left of its process group");
    wait_for("its worker gone", || {
        common::alive(&[worker]).is_empty().then_some(())
    });
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}
