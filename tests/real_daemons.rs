//! Issue 19: real daemons as Debian packages them (nginx, redis), driven by init scripts in
//! OpenRC's style (tests/fixtures/daemons), rcinit as PID 1 in a PID + mount + network namespace
//! over Debian's own tree: probes answer on loopback, `kill -9` of each master recovers,
//! `rcinit restart` and `/etc/init.d/NAME restart` work, and a stop keeps redis's data for the
//! next boot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Booted, boot_pid1 as boot, debian_with_daemons, one, stop_clean as stop, text};

/// Runs `argv` in the container until it succeeds (a daemon just respawned binds in a moment),
/// within the harness's bound; returns its output.
fn until_ok(b: &mut Booted, argv: &[&str]) -> String {
    common::wait_for(&argv.join(" "), || {
        let o = b.exec(argv);
        o.status.success().then(|| text(&o))
    })
}

fn http(b: &mut Booted) -> String {
    until_ok(
        b,
        &["/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1/"],
    )
}

fn redis(b: &mut Booted, args: &[&str]) -> String {
    let mut argv = vec!["/usr/bin/redis-cli", "-h", "127.0.0.1"];
    argv.extend_from_slice(args);
    until_ok(b, &argv)
}

#[test]
fn nginx_and_redis_from_debian_run_recover_restart_and_keep_their_data() {
    let root = debian_with_daemons("real-daemons");
    let mut b = boot(&root, &[]);
    b.wait_line("2 of 2 services started");
    assert!(
        http(&mut b).contains("Welcome to nginx"),
        "{}",
        b.transcript()
    );
    assert!(redis(&mut b, &["ping"]).contains("PONG"));

    // kill -9 of each master: respawned, with its workers gone first (the port is free).
    let master = one(&mut b, "nginx: master process");
    let workers = common::pids_running(&mut b, "nginx: worker process");
    assert!(!workers.is_empty());
    common::kill_pid(master, libc::SIGKILL);
    b.wait_line("nginx: respawned as pid");
    assert!(
        http(&mut b).contains("Welcome to nginx"),
        "{}",
        b.transcript()
    );
    // Served by the new master's workers: the old ones, which kept port 80, are gone.
    assert!(
        common::alive(&workers).is_empty(),
        "the killed master's workers still run\n{}",
        b.transcript()
    );
    assert_ne!(one(&mut b, "nginx: master process"), master);
    let server = one(&mut b, "redis-server 127.0.0.1:6379");
    common::kill_pid(server, libc::SIGKILL);
    b.wait_line("redis: respawned as pid");
    assert!(redis(&mut b, &["ping"]).contains("PONG"));

    // Restarts, rcinit's and through the init script as OpenRC users type it.
    let o = b.exec(&["/sbin/rcinit", "restart", "nginx"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(http(&mut b).contains("Welcome to nginx"));
    let o = b.exec(&["/etc/init.d/redis", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), b.transcript());
    assert!(redis(&mut b, &["ping"]).contains("PONG"));

    // Data written before a clean stop is there after the next boot.
    assert!(redis(&mut b, &["set", "rcinit-key", "kept-across-boots"]).contains("OK"));
    stop(&mut b);
    let report = common::report_line(&b, "redis");
    assert!(
        report.contains("exit code 0") && !report.contains("killed"),
        "{report}\n{}",
        b.transcript()
    );
    drop(b);
    let mut b = boot(&root, &[]);
    b.wait_line("2 of 2 services started");
    let got = redis(&mut b, &["get", "rcinit-key"]);
    assert!(
        got.contains("kept-across-boots"),
        "{got}\n{}",
        b.transcript()
    );
    // Their output reaches the log with its prefix.
    b.wait_line("[redis] ");
    stop(&mut b);
}
