//! Breaking it on purpose, rcinit as PID 1: each case asserts what is kept (PID 1 alive and
//! answering, the other services running, the right states) when one service, or the machine,
//! misbehaves. More cases live beside the features they attack (supervise.rs, lifecycle.rs,
//! pid1.rs, control.rs, evaluate.rs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
#![allow(clippy::disallowed_methods)]

mod common;

use common::text;

use common::{Booted, Mode, Prep, services};

const GOOD: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100041
"#;

fn state(b: &mut Booted, name: &str) -> String {
    let o = b.exec(&["/sbin/rcinit", "status", "--json", name]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["services"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn passwd(root: &common::Rootfs) {
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbomber:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.path().join("etc/group"), "root:x:0:\nbomber:x:1000:\n").unwrap();
}

/// A full disk under output_log: the writer's problem, not PID 1's.
#[test]
fn a_full_disk_under_output_log_harms_nothing_else() {
    let filler = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done'"
output_log=/var/full/out.log
respawn_delay=1
"#;
    let root = services("full-disk", &[("filler", filler), ("good", GOOD)]);
    std::fs::create_dir_all(root.path().join("var/full")).unwrap();
    let prep = Prep {
        setup: Some("mount -t tmpfs -o size=64k tmpfs \"$R/var/full\" || exit 96".into()),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("2 of 2 services started");
    // The disk is full once the log stops growing at the tmpfs size.
    let log = format!("/proc/{}/root/var/full/out.log", b.rcinit_pid());
    common::wait_for("the disk to fill", || {
        let n = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        (n >= 60 * 1024).then_some(())
    });
    let o = b.exec(&["/bin/sh", "-c", "echo more >>/var/full/out.log"]);
    assert!(!o.status.success(), "the disk is full: {}", text(&o));
    assert_eq!(state(&mut b, "good"), "started");
    let o = b.exec(&["/sbin/rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A fork bomb in a service running as a non-root user with `rc_ulimit="-u N"`: bounded, and
/// its stop takes every process of it.
#[test]
fn a_fork_bomb_is_bounded_by_its_ulimit_and_its_stop_takes_it_all() {
    let bomb = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'b() { b | b & }; b; sleep 100042'"
command_user=bomber
rc_ulimit="-u 40"
retry="TERM/1/KILL/2"
"#;
    let root = services("fork-bomb", &[("bomb", bomb), ("good", GOOD)]);
    passwd(&root);
    let mut b = root.boot_with(Mode::Pid1, &[], &[], Prep::default());
    b.wait_line("2 of 2 services started");
    let rcinit = b.rcinit_pid();
    let uid_procs = move || -> usize {
        common::procfs::descendants(rcinit)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("Uid:"))
                            .map(|l| l.split_whitespace().nth(1) == Some("1000"))
                    })
                    .unwrap_or(false)
            })
            .count()
    };
    // It runs into its limit: forks fail, and the bomb never has more processes than that.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(uid_procs());
            }
            most
        })
    };
    b.wait_line("sh: can't fork");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().expect("sampler");
    assert!(most <= 40, "bounded by rc_ulimit -u 40: saw {most}");
    assert!(uid_procs() >= 1, "its sleep is still there");
    assert_eq!(state(&mut b, "good"), "started");
    let o = b.exec(&["/sbin/rcinit", "stop", "bomb"]);
    assert!(o.status.success(), "{}", text(&o));
    common::wait_for("every process of the bomb gone", || {
        (uid_procs() == 0).then_some(())
    });
    assert_eq!(state(&mut b, "good"), "started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// PID 1 out of file descriptors: services it cannot spawn fail with a reason, PID 1 goes on
/// and stops cleanly.
#[test]
fn running_out_of_file_descriptors_fails_services_not_pid1() {
    let mut scripts: Vec<(String, String)> = Vec::new();
    for i in 0..24 {
        scripts.push((
            format!("s{i:02}"),
            format!(
                "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args={}\n",
                100100 + i
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = scripts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let root = services("fd-exhaustion", &refs);
    let prep = Prep {
        setup: Some("ulimit -n 40".into()),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("services started in");
    // Spawns that need descriptors PID 1 does not have fail, each said, naming its service;
    // they are the respawn loop's business (V-16) like any exec failure.
    // Which call meets EMFILE first (a pipe, the spawn) depends on timing; both say it so.
    b.wait_line("Too many open files");
    let pid = b.rcinit_pid();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(fds <= 40, "{fds}");
    assert!(b.has_line("s00: started (pid"), "{}", b.transcript());
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// A service that writes 1 GB without a single newline: forwarded whole, as 64 KiB lines, while
/// PID 1's memory stays bounded (the partial line never grows past the line limit) and the other
/// service runs on.
#[test]
fn a_gigabyte_without_newlines_is_forwarded_whole_in_bounded_memory() {
    const BYTES: u64 = 1_000_000_000;
    const PIECE: u64 = 64 * 1024;
    let blob = format!(
        r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'head -c {BYTES} /dev/zero | tr \"\\\\0\" x; echo; echo done >&2; exec sleep 100043'"
"#
    );
    let root = services("gigabyte", &[("blob", &blob), ("good", GOOD)]);
    // rcinit's stdout goes to a file: the harness would otherwise hold the gigabyte in memory.
    let prep = Prep {
        setup: Some("exec >\"$R/var/stdout\"".into()),
        ..Prep::default()
    };
    std::fs::create_dir_all(root.path().join("var")).unwrap();
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("2 of 2 services started");
    b.wait_line("[blob] done");
    let pid = b.rcinit_pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert_eq!(state(&mut b, "good"), "started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    assert!(
        peak_kib < 32 * 1024,
        "PID 1's peak RSS {peak_kib} KiB while forwarding 1 GB"
    );
    // Every byte, in pieces of exactly the line limit, each with its prefix; then the last piece.
    use std::io::Read;
    let mut f = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(root.path().join("var/stdout")).expect("stdout file"),
    );
    let (mut lines, mut xs, mut buf) = (0u64, 0u64, Vec::new());
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut chunk).expect("read");
        if n == 0 {
            break;
        }
        for part in chunk[..n].split_inclusive(|&c| c == b'\n') {
            buf.extend_from_slice(part);
            if buf.last() != Some(&b'\n') {
                continue;
            }
            let line = &buf[..buf.len() - 1];
            let body = line.strip_prefix(b"[blob] ").unwrap_or_else(|| {
                panic!(
                    "a line without the prefix: {:?}",
                    &line[..line.len().min(40)]
                )
            });
            assert!(body.iter().all(|&c| c == b'x'), "only x: line {lines}");
            if xs + (body.len() as u64) < BYTES {
                assert_eq!(body.len() as u64, PIECE, "line {lines} is a full piece");
            }
            xs += body.len() as u64;
            lines += 1;
            buf.clear();
        }
    }
    assert!(buf.is_empty(), "stdout ends with a newline");
    assert_eq!(xs, BYTES, "every byte forwarded once");
    assert_eq!(lines, BYTES.div_ceil(PIECE), "{lines} lines");
}

/// The benchmark's orphan maker (bench/orphans.rs), built by `cargo test` beside rcinit.
fn orphans_bin() -> std::path::PathBuf {
    let bin = common::rcinit_bin()
        .parent()
        .expect("rcinit's directory")
        .join("examples/orphans");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds it with the examples (run ./dev.sh test)",
        bin.display()
    );
    bin
}

/// 10,000 orphans released at once, while a service runs: PID 1 reaps every one of them (the
/// maker sees each pid vanish), leaves no zombie, keeps the service, and still stops cleanly.
#[test]
fn ten_thousand_orphans_at_once_are_all_reaped_and_the_services_run_on() {
    let root = services("orphans10k", &[("good", GOOD)]);
    std::fs::copy(orphans_bin(), root.path().join("bin/orphans")).expect("copy orphans");
    let maker = "/bin/orphans 10000 || echo orphans failed; exec sleep 100000";
    let mut b = root.boot(Mode::Pid1, &["sh", "-c", maker]);
    b.wait_line("1 of 1 services started");
    let good = common::one(&mut b, "sleep 100041");
    let line = b.wait_line("reaped 10000 in");
    assert!(!b.has_line("orphans failed"), "{}", b.transcript());
    let rcinit = b.rcinit_pid();
    let left = common::wait_for("no zombie below PID 1", || {
        let below = common::procfs::descendants(rcinit);
        common::zombies(&below).is_empty().then_some(below)
    });
    assert!(
        left.len() <= 4,
        "only the shell's sleep, the service and its supervisor are left: {left:?}"
    );
    assert_eq!(
        common::one(&mut b, "sleep 100041"),
        good,
        "the service kept its process"
    );
    assert_eq!(state(&mut b, "good"), "started");
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
    println!("{line}");
}

/// A script that loads for the dependency pass but not for its start (a broken conf.d file for
/// this runlevel only, which the dependency pass never reads): the boot's run-time pass fails
/// for it alone; it fails its start saying which file, and the other service runs.
#[test]
fn a_conf_d_file_broken_for_this_runlevel_fails_that_start_alone() {
    let root = services("runconf", &[("broken", GOOD), ("good", GOOD)]);
    std::fs::create_dir_all(root.path().join("etc/conf.d")).unwrap();
    std::fs::write(
        root.path().join("etc/conf.d/broken.default"),
        "if then fi\n",
    )
    .unwrap();
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("1 of 2 services started");
    assert_eq!(state(&mut b, "good"), "started");
    assert_eq!(state(&mut b, "broken"), "failed");
    let o = b.exec(&["/sbin/rcinit", "status", "--json", "broken"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let why = v["services"][0]["why"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.contains("conf.d/broken.default"),
        "{why}\n{}",
        b.transcript()
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}
