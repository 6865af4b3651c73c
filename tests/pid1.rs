//! rcinit's PID-1 duties on real processes: the static binary as the init of a PID namespace,
//! chrooted into a busybox rootfs, and the same again as a subreaper below a shell that is PID 1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]

mod common;

use std::time::{Duration, Instant};

use common::{MODES, Mode, Prep, Rootfs, Stream, wait_for, zombies};

/// A bound that catches a stop that waited out a grace period instead of acting (the default
/// services grace is 7 s); how fast a stop really is belongs to the benchmarks.
const PROMPT: Duration = Duration::from_secs(3);

#[test]
fn cmd_exit_codes_propagate() {
    for mode in MODES {
        let root = Rootfs::new("codes");
        for (cmd, want) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$", 137)] {
            let mut b = root.boot(mode, &["sh", "-c", cmd]);
            assert_eq!(b.wait_exit(), want, "{mode:?} `{cmd}`\n{}", b.transcript());
        }
    }
}

#[test]
fn cmd_that_does_not_exist_exits_127_with_a_message() {
    for mode in MODES {
        let root = Rootfs::new("noexist");
        let mut b = root.boot(mode, &["/no/such/program", "arg"]);
        assert_eq!(b.wait_exit(), 127, "{mode:?}\n{}", b.transcript());
        assert!(
            b.lines()
                .iter()
                .any(|(s, l)| *s == Stream::Err && l.contains("starting /no/such/program")),
            "{}",
            b.transcript()
        );
    }
}

/// 1,000 double-forked orphans: each `( sleep 0 & )` subshell exits at once and leaves its child
/// to be re-parented to rcinit, which must reap every one of them.
const ORPHANS: &str = "i=0; while [ $i -lt 1000 ]; do ( sleep 0 & ); i=$((i+1)); done; echo spawned; exec sleep 100000";

#[test]
fn thousand_orphans_leave_no_zombie() {
    for mode in common::modes() {
        let root = Rootfs::new("orphans");
        let mut b = root.boot(mode, &["-v", "sh", "-c", ORPHANS]);
        b.wait_line("spawned");
        let rcinit = b.rcinit_pid();
        // Reaped means gone from /proc: wait until only the CMD, `sleep` once its shell has exec'd
        // (under qemu-user the exec can still be under way when the last orphan goes), is left.
        wait_for("every orphan to be reaped", || {
            let below = common::procfs::descendants(rcinit);
            let only_cmd = below.len() == 1 && common::comm(below[0]).as_deref() == Some("sleep");
            (only_cmd && zombies(&below).is_empty()).then_some(())
        });
        b.signal(libc::SIGTERM);
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        let reaped: u64 = b
            .lines()
            .iter()
            .find_map(|(_, l)| {
                let n = l
                    .split("; ")
                    .nth(1)?
                    .strip_suffix(" orphans reaped since boot")?;
                n.parse().ok()
            })
            .unwrap_or_else(|| panic!("no orphan count in the log\n{}", b.transcript()));
        assert!(reaped >= 1000, "{mode:?}: only {reaped} orphans reaped");
    }
}

/// The control for the test above: with a PID 1 that never reaps (a shell that exec'd `sleep`
/// while its background job made the orphans), every orphan stays a zombie. The check can fail.
#[test]
fn control_a_pid1_that_does_not_reap_leaves_zombies() {
    let root = Rootfs::new("control");
    let maker = "i=0; while [ $i -lt 1000 ]; do ( sleep 0 & ); i=$((i+1)); done; echo spawned";
    // run-rcinit normally execs rcinit; here PID 1 is a plain shell that execs into sleep.
    root.write_exec(
        "harness/run-rcinit",
        &format!("#!/bin/sh\nsh -c '{maker}' &\nexec sleep 100000\n"),
    );
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("spawned");
    let pid1 = b.namespace_init();
    let z = wait_for("the orphans to exit", || {
        let z = zombies(&common::procfs::descendants(pid1));
        (z.len() >= 1000).then_some(z)
    });
    assert!(z.len() >= 1000);
}

#[test]
fn children_start_clean() {
    for mode in MODES {
        let root = Rootfs::new("clean");
        // Whatever rcinit inherited (blocked and ignored signals, stray fds) must not reach a child.
        let prep = Prep {
            blocked: vec![libc::SIGUSR2, libc::SIGALRM],
            ignored: vec![libc::SIGALRM, libc::SIGURG],
            pending: None,
            leak_fds: vec![7, 9],
            tty: false,
            setup: None,
            user: None,
        };
        let mut b = root.boot_with(mode, &["cat", "/proc/self/status"], &[], prep.clone());
        assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
        for field in ["SigBlk:", "SigIgn:"] {
            let line = b
                .lines()
                .iter()
                .find(|(_, l)| l.starts_with(field))
                .unwrap_or_else(|| panic!("no {field}\n{}", b.transcript()))
                .1
                .clone();
            assert_eq!(
                line.split_whitespace().nth(1),
                Some("0000000000000000"),
                "{mode:?} {line}"
            );
        }
        // `ls` lists the fds of its parent, the CMD shell, straight to stdout (a capture would add
        // the shell's pipe).
        let mut b = root.boot_with(mode, &["sh", "-c", "ls /proc/$$/fd; exit 0"], &[], prep);
        assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
        let fds: Vec<&str> = b
            .lines()
            .iter()
            .filter(|(s, _)| *s == Stream::Out)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(fds, ["0", "1", "2"], "{mode:?}\n{}", b.transcript());
    }
}

#[test]
fn cmd_runs_in_its_own_process_group() {
    for mode in MODES {
        let root = Rootfs::new("pgrp");
        let mut b = root.boot(
            mode,
            &[
                "sh",
                "-c",
                "echo pgrp=$(cut -d' ' -f5 /proc/$$/stat) pid=$$",
            ],
        );
        assert_eq!(b.wait_exit(), 0);
        let l = b.wait_line("pgrp=");
        let mut parts = l
            .split_whitespace()
            .map(|p| p.split('=').nth(1).unwrap_or(""));
        let (pgrp, pid) = (parts.next(), parts.next());
        assert_eq!(pgrp, pid, "{mode:?}: the CMD leads its own group: {l}");
    }
}

/// A long CMD with a background job, and `docker stop`. The job is a plain `sleep` (a shell with a
/// TERM trap loses a TERM that lands while it forks, which would test busybox, not rcinit).
const LONG: &str = "sleep 100000 & echo ready; exec sleep 100000";

#[test]
fn sigterm_with_a_long_cmd_exits_0_and_leaves_nothing() {
    for mode in MODES {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGPWR, 37] {
            let root = Rootfs::new("term");
            let mut b = root.boot(mode, &["-v", "sh", "-c", LONG]);
            b.wait_line("ready");
            let below = b.below_rcinit();
            assert!(
                below.len() >= 2,
                "{mode:?}: CMD and its background job run: {below:?}"
            );
            let t = Instant::now();
            b.signal(sig);
            assert_eq!(
                b.wait_exit(),
                0,
                "{mode:?} signal {sig}\n{}",
                b.transcript()
            );
            assert!(
                t.elapsed() < PROMPT,
                "{mode:?}: stop took {:?}",
                t.elapsed()
            );
            // The orphaned job died of the final sweep's SIGTERM; nothing needed a SIGKILL.
            assert!(
                b.lines()
                    .iter()
                    .any(|(_, l)| l.contains("reaped orphan") && l.ends_with("killed by SIGTERM")),
                "{mode:?}\n{}",
                b.transcript()
            );
            assert!(!b.has_line("sent SIGKILL"), "{mode:?}\n{}", b.transcript());
            assert!(
                common::alive(&below).is_empty(),
                "{mode:?}: left running: {below:?}"
            );
        }
    }
}

#[test]
fn a_process_ignoring_sigterm_is_killed_after_the_kill_grace() {
    for mode in MODES {
        let root = Rootfs::new("ignore");
        let cmd = "sh -c 'trap \"\" TERM; echo ready; while :; do sleep 100000; done' & exec sleep 100000";
        let env = [("RCINIT_KILL_GRACETIME", "300")];
        let mut b = root.boot_with(mode, &["sh", "-c", cmd], &env, Prep::default());
        b.wait_line("ready");
        let below = b.below_rcinit();
        b.signal(libc::SIGTERM);
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        assert!(b.has_line("sent SIGKILL"), "{mode:?}\n{}", b.transcript());
        assert!(
            common::alive(&below).is_empty(),
            "{mode:?}: left running: {below:?}"
        );
    }
}

#[test]
fn second_sigterm_skips_to_the_final_kill() {
    for mode in MODES {
        let root = Rootfs::new("hurry");
        // The CMD ignores TERM: without a hurry, the stop would wait the 7 s services grace.
        let cmd = "trap '' TERM INT; echo ready; while :; do sleep 100000; done";
        let mut b = root.boot(mode, &["sh", "-c", cmd]);
        b.wait_line("ready");
        let t = Instant::now();
        b.signal(libc::SIGTERM);
        b.wait_line("SIGTERM received: stopping");
        b.signal(libc::SIGINT);
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        assert!(t.elapsed() < PROMPT, "{mode:?}: took {:?}", t.elapsed());
        assert!(b.has_line("received again"), "{}", b.transcript());
    }
}

#[test]
fn sigterm_during_startup_is_honoured() {
    for mode in MODES {
        let root = Rootfs::new("early");
        // SIGTERM is pending before rcinit's first instruction: a `docker stop` racing the start.
        let prep = Prep {
            pending: Some(libc::SIGTERM),
            ..Prep::default()
        };
        let t = Instant::now();
        let mut b = root.boot_with(mode, &["-v", "sleep", "100000"], &[], prep);
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        assert!(t.elapsed() < PROMPT, "{mode:?}: took {:?}", t.elapsed());
        assert!(
            b.has_line("SIGTERM received: stopping"),
            "{}",
            b.transcript()
        );
        // The stop came first, so the CMD was never started.
        assert!(!b.has_line("CMD started"), "{}", b.transcript());
    }
}

#[test]
fn forwarded_signals_reach_the_cmd() {
    for mode in MODES {
        let root = Rootfs::new("forward");
        let names = ["HUP", "QUIT", "USR1", "USR2", "WINCH"];
        let traps: String = names
            .iter()
            .map(|n| format!("trap 'echo got-{n}' {n}; "))
            .collect();
        let cmd = format!(
            "{traps}trap 'echo got-TERM; exit 143' TERM; echo ready; while :; do sleep 100000 & wait $!; done"
        );
        let mut b = root.boot(mode, &["sh", "-c", &cmd]);
        b.wait_line("ready");
        for (name, sig) in names.iter().zip([
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
        ]) {
            b.signal(sig);
            b.wait_line(&format!("got-{name}"));
        }
        b.signal(libc::SIGTERM);
        b.wait_line("got-TERM");
        assert_eq!(
            b.wait_exit(),
            0,
            "{mode:?}: a clean stop\n{}",
            b.transcript()
        );
    }
}

#[test]
fn without_a_cmd_halt_signals_stop_and_others_are_ignored() {
    for mode in MODES {
        for sig in [libc::SIGUSR1, libc::SIGUSR2] {
            let root = Rootfs::new("halt");
            let mut b = root.boot(mode, &["-v"]);
            // Logged once the handlers are in place: signals sent earlier could be lost.
            b.wait_line("no init.d directory");
            b.signal(libc::SIGHUP);
            b.wait_line("SIGHUP received: ignored");
            b.signal(sig);
            assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        }
    }
}

#[test]
fn a_panic_stops_everything_and_exits_70() {
    for mode in MODES {
        let root = Rootfs::new("panic");
        let env = [("RCINIT_TEST_PANIC", "hup")];
        let cmd = "trap 'echo cmd-got-TERM; exit 0' TERM; echo ready; while :; do sleep 100000 & wait $!; done";
        let mut b = root.boot_with(mode, &["sh", "-c", cmd], &env, Prep::default());
        b.wait_line("ready");
        b.signal(libc::SIGHUP);
        assert_eq!(b.wait_exit(), 70, "{mode:?}\n{}", b.transcript());
        assert!(b.has_line("BUG: rcinit panicked"), "{}", b.transcript());
        // The hook stopped the CMD with SIGTERM before exiting (not the kernel's SIGKILL at the
        // end of the namespace).
        assert!(b.has_line("cmd-got-TERM"), "{mode:?}\n{}", b.transcript());
    }
}

/// `docker run -it image sh`: the CMD's group owns the terminal, so job control works and Ctrl-C
/// reaches the CMD, not PID 1.
#[test]
fn cmd_owns_the_terminal_and_gets_ctrl_c() {
    for mode in MODES {
        let root = Rootfs::new("tty");
        let prep = Prep {
            tty: true,
            ..Prep::default()
        };
        // Field 8 of /proc/PID/stat is the terminal's foreground group, field 5 the process group.
        let cmd = "trap 'echo got-INT; exit 0' INT; \
                   echo fg=$(cut -d' ' -f8 /proc/$$/stat) pgrp=$(cut -d' ' -f5 /proc/$$/stat); \
                   while :; do sleep 100000 & wait $!; done";
        let mut b = root.boot_with(mode, &["sh", "-c", cmd], &[], prep);
        let l = b.wait_line("fg=");
        let mut v = l
            .split_whitespace()
            .map(|p| p.split('=').nth(1).unwrap_or("?"));
        let (fg, pgrp) = (v.next(), v.next());
        assert_eq!(
            fg, pgrp,
            "{mode:?}: the CMD's group is the foreground group: {l}"
        );
        b.type_keys(b"\x03");
        b.wait_line("got-INT");
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        // rcinit saw no SIGINT: the CMD ended by itself.
        assert!(!b.has_line("SIGINT received"), "{}", b.transcript());
        assert!(b.has_line("CMD ended (exit code 0)"), "{}", b.transcript());
    }
}

/// Regression: rcinit wrote its messages from the event loop, so a reader of its stderr that
/// stopped reading (a stalled `docker logs` pipe) froze PID 1: no reaping, no stop.
#[test]
fn a_stderr_nobody_reads_never_stalls_pid1() {
    use std::io::BufRead;
    // 3,000 orphans make 3,000 debug lines (far more than a 64 KiB pipe holds).
    let cmd = "i=0; while [ $i -lt 3000 ]; do ( sleep 0 & ); i=$((i+1)); done; echo spawned; exec sleep 100000";
    let mut child = std::process::Command::new(common::rcinit_bin())
        .args(["-v", "sh", "-c", cmd])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rcinit");
    let _unread = child.stderr.take();
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("spawned") {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "CMD ended early"
        );
    }
    let pid = child.id() as i32;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        #[allow(clippy::disallowed_methods)] // the test process has no reaper
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(common::HANG) {
        Ok(st) => assert_eq!(st.expect("wait").code(), Some(0)),
        Err(_) => {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("rcinit did not stop while nobody read its stderr");
        }
    }
}
