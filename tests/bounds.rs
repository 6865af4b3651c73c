//! PID 1 survives anything a script or a child does (issue 17): exact exit decoding, total
//! parsers, bounded memory, a descriptor floor. Each test is a regression test that failed on
//! the code before its fix.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The tests wait on the processes they start (not PID 1); rcinit's reaper rule is for src/.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Mode, Rootfs, status_kib};

/// A real-time signal (40) killed a supervised daemon: nix reaped the zombie, failed to convert
/// the signal, and the reaper stopped draining; the service stayed "started" with a dead pid.
#[test]
fn a_daemon_killed_by_a_real_time_signal_is_respawned() {
    let root = common::services(
        "rt-daemon",
        &[(
            "d",
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100061\nrespawn_delay=0\n",
        )],
    );
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("d: started");
    let first = common::one(&mut b, "sleep 100061");
    common::kill_pid(first, 40);
    b.wait_line("d: daemon ended (killed by signal 40)");
    b.wait_line("d: respawned as pid");
    let second = common::one(&mut b, "sleep 100061");
    assert_ne!(first, second);
    let o = b.exec(&["/sbin/rcinit", "status", "--json"]);
    let status = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(status.contains("\"state\": \"started\""), "{status}");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A CMD killed by a real-time signal never ended the container; it ends it with 128 + 40.
#[test]
fn a_cmd_killed_by_signal_40_ends_the_container_with_168() {
    let root = Rootfs::new("rt-cmd");
    let mut b = root.boot(Mode::Pid1, &["/bin/sh", "-c", "kill -40 $$; sleep 5"]);
    assert_eq!(b.wait_exit(), 168, "{}", b.transcript());
}

/// One printf on fd 9 with an argv count near u64::MAX overflowed `2 + n` and a slice index
/// panicked PID 1 (exit 70): every service died with the container.
#[test]
fn an_overflowing_record_on_fd9_harms_nothing() {
    let bad = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100062\nstart_pre() {\n\tprintf 'A\\000%s\\000' 18446744073709551614 >&9\n\tprintf 'A\\000%s\\000x\\000' 18446744073709551615 >&9\n}\n";
    let other = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100063\n";
    let root = common::services("rec-overflow", &[("bad", bad), ("other", other)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("other: started");
    b.wait_line("bad: started");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", common::text(&o));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A script's top level wrote 400 MB to stderr (PID 1 peaked at 783 MB), and everything
/// depend() printed was kept (1 GB -> 1.46 GB RSS).
#[test]
fn what_scripts_print_while_evaluated_costs_pid1_a_bounded_tail() {
    let loud = "#!/sbin/openrc-run\nhead -c 300000000 /dev/zero | tr '\\0' x >&2\necho\n";
    let chatty =
        "#!/sbin/openrc-run\ndepend() {\n\thead -c 300000000 /dev/zero | tr '\\0' y\n\techo\n}\n";
    let root = common::services("eval-loud", &[("loud", loud), ("chatty", chatty)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("services started");
    let hwm = status_kib(b.rcinit_pid(), "VmHWM:");
    assert!(hwm < 32 * 1024, "PID 1's VmHWM is {hwm} KiB");
    let o = b.exec(&["/sbin/rcinit", "inspect", "loud", "chatty"]);
    let said = common::text(&o);
    assert!(
        said.contains("earlier bytes of output dropped"),
        "{}",
        said.get(..2000).unwrap_or(&said)
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// 10,000 small scripts left PID 1 at a 218 MB peak.
#[test]
fn ten_thousand_scripts_fit_in_64_mib() {
    let root = Rootfs::new("ten-thousand");
    let init_d = root.path().join("etc/init.d");
    let level = root.path().join("etc/runlevels/default");
    std::fs::create_dir_all(&init_d).unwrap();
    std::fs::create_dir_all(&level).unwrap();
    for i in 0..10_000 {
        let name = format!("s{i:05}");
        let dep = if i > 0 {
            format!("after s{:05}", i - 1)
        } else {
            ":".into()
        };
        root.write_exec(
            &format!("etc/init.d/{name}"),
            &format!("#!/sbin/openrc-run\ndescription=\"service {i}\"\ndepend() {{\n\t{dep}\n}}\n"),
        );
        std::os::unix::fs::symlink(format!("/etc/init.d/{name}"), level.join(&name)).unwrap();
    }
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line_within(
        "10000 of 10000 services started",
        std::time::Duration::from_secs(120),
    );
    let pid = b.rcinit_pid();
    let hwm = status_kib(pid, "VmHWM:");
    let rss = status_kib(pid, "VmRSS:");
    eprintln!("10,000 scripts: VmHWM {hwm} KiB, VmRSS {rss} KiB after the boot");
    assert!(hwm < 64 * 1024, "PID 1's VmHWM is {hwm} KiB");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0);
}

/// A 500-member need cycle printed 1.96 MB of warnings (every member named every member).
#[test]
fn a_500_member_need_cycle_is_reported_in_a_few_lines() {
    let root = Rootfs::new("cycle-500");
    let level = root.path().join("etc/runlevels/default");
    std::fs::create_dir_all(&level).unwrap();
    for i in 0..500 {
        let name = format!("c{i:03}");
        root.write_exec(
            &format!("etc/init.d/{name}"),
            &format!(
                "#!/sbin/openrc-run\ndepend() {{ need c{:03}; }}\n",
                (i + 1) % 500
            ),
        );
        std::os::unix::fs::symlink(format!("/etc/init.d/{name}"), level.join(&name)).unwrap();
    }
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("services started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    let bytes: usize = b.lines().iter().map(|(_, l)| l.len() + 1).sum();
    assert!(bytes < 64 * 1024, "{bytes} bytes of output");
    let cycle = b
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("need cycle"))
        .count();
    assert_eq!(cycle, 1, "one line for the cycle");
}

/// RLIMIT_NOFILE of 12 made PID 1 exit 70, the code for bugs: below the floor it now says why,
/// before starting anything, and exits 71.
#[test]
fn too_few_descriptors_to_run_is_said_with_its_own_code() {
    let root = common::services(
        "nofile-low",
        &[("s", "#!/sbin/openrc-run\nstart() { touch /tmp/started; }\n")],
    );
    let prep = common::Prep {
        setup: Some("ulimit -n 12".into()),
        ..common::Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    assert_eq!(b.wait_exit(), 71, "{}", b.transcript());
    assert!(
        b.has_line("RLIMIT_NOFILE is 12: rcinit needs at least 16 file descriptors"),
        "{}",
        b.transcript()
    );
    assert!(!root.path().join("tmp/started").exists(), "nothing started");
}

/// Above the floor, too few for comfort: it runs, and says once what that costs.
#[test]
fn few_descriptors_run_degraded_and_say_so_once() {
    let root = common::services(
        "nofile-few",
        &[(
            "s",
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100064\n",
        )],
    );
    let prep = common::Prep {
        setup: Some("ulimit -n 32".into()),
        ..common::Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("s: started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    let said = b
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("RLIMIT_NOFILE is 32"))
        .count();
    assert_eq!(said, 1, "{}", b.transcript());
}

/// The shim learned each subshell's pid with `cd /proc/self`, which left OLDPWD=/proc/PID in
/// every script's environment, and so in its daemon's: one distinct environment per script,
/// 3 KB each kept by PID 1 (30 MB for 10,000 scripts).
#[test]
fn the_shims_moves_leave_oldpwd_alone() {
    let root = common::services(
        "oldpwd",
        &[(
            "o",
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sh\ncommand_args=\"-c 'echo oldpwd=\\${OLDPWD-unset}; exec sleep 100065'\"\n",
        )],
    );
    let mut b = root.boot(Mode::Pid1, &[]);
    let line = b.wait_line("oldpwd=");
    assert!(!line.contains("oldpwd=/proc/"), "{line}");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}
