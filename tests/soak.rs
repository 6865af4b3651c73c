//! A bounded soak run, rcinit as PID 1: services churn (one crashes and is respawned all the
//! time, one is restarted through the control socket over and over, one talks without pause)
//! while `rcinit status` is polled. What must stay flat: PID 1's resident memory and its open
//! file descriptors. RCINIT_SOAK_SECS sets the length (default 60 s); the figures are printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{Mode, Prep, services, text};

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .expect("PID 1's VmRSS")
}

fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("PID 1's fds")
        .count()
}

#[test]
fn churn_and_polling_keep_pid1_memory_and_fds_flat() {
    let secs: u64 = std::env::var("RCINIT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let crasher = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'echo up; sleep 0.05; exit 3'"
respawn_delay=0
respawn_max=0
respawn_period=1
"#;
    let churn = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100051
"#;
    let talker = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'i=0; while :; do echo line $i; i=$((i+1)); [ $((i % 200)) -eq 0 ] && sleep 0.01; done'"
"#;
    let checked = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100052
healthcheck_delay=1
healthcheck_timer=1
healthcheck() { [ -d /proc/1 ]; }
"#;
    let mut scripts: Vec<(String, String)> = [
        ("crasher", crasher),
        ("churn", churn),
        ("talker", talker),
        ("checked", checked),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for i in 0..16 {
        scripts.push((
            format!("idle{i:02}"),
            format!(
                "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args={}\n",
                100060 + i
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = scripts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let root = services("soak", &refs);
    std::fs::create_dir_all(root.path().join("var")).unwrap();
    // The talker's lines go nowhere: the harness would otherwise keep them all in memory.
    let prep = Prep {
        setup: Some("exec >/dev/null".into()),
        ..Prep::default()
    };
    let mut b = root.boot_with(Mode::Pid1, &[], &[], prep);
    b.wait_line("20 of 20 services started");
    let pid = b.rcinit_pid();

    let start = Instant::now();
    let warm = Duration::from_secs(secs / 6);
    let (mut polls, mut restarts) = (0u32, 0u32);
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        let o = b.exec(&["/sbin/rcinit", "status", "--json"]);
        assert!(o.status.success(), "status: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status json");
        assert_eq!(v["services"].as_array().map(Vec::len), Some(20));
        polls += 1;
        if polls % 5 == 0 {
            let o = b.exec(&["/sbin/rcinit", "restart", "churn"]);
            assert!(o.status.success(), "restart: {}", text(&o));
            restarts += 1;
        }
        // Between requests nothing of ours is in flight: a fair moment to sample.
        if start.elapsed() >= warm {
            samples.push((start.elapsed(), rss_kib(pid), fds(pid)));
        }
    }
    let o = b.exec(&["/sbin/rcinit", "status", "--json", "crasher"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let respawns = v["services"][0]["restarts"].as_u64().unwrap_or(0);
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());

    let third = samples.len() / 3;
    assert!(third >= 3, "too few samples: {}", samples.len());
    let (first, last) = (&samples[..third], &samples[samples.len() - third..]);
    // RSS: the peak must not climb. Fds: the crasher's respawns and the healthcheck open pipes
    // at any moment, so a sample's count jitters by a few; a leak shows as a floor that rises.
    let rss_max = |s: &[(Duration, u64, usize)]| s.iter().map(|x| x.1).max().unwrap_or(0);
    let fd_min = |s: &[(Duration, u64, usize)]| s.iter().map(|x| x.2).min().unwrap_or(0);
    let fd_max = |s: &[(Duration, u64, usize)]| s.iter().map(|x| x.2).max().unwrap_or(0);
    let (rss_a, rss_b) = (rss_max(first), rss_max(last));
    let (fd_a, fd_b) = (fd_min(first), fd_min(last));
    println!(
        "soak {secs} s: {polls} status polls, {restarts} restarts through the socket, {respawns} \
         respawns of the crasher; PID 1 max RSS {rss_a} KiB in the first third after warm-up, \
         {rss_b} KiB in the last; fds {fd_a}..{} then {fd_b}..{}",
        fd_max(first),
        fd_max(last)
    );
    assert!(respawns >= 20, "the crasher churned: {respawns} respawns");
    assert!(
        rss_b <= rss_a + 1024,
        "PID 1's RSS grew: {rss_a} -> {rss_b} KiB"
    );
    assert!(
        fd_b <= fd_a,
        "PID 1's fewest open fds grew: {fd_a} -> {fd_b}"
    );
    assert!(
        fd_max(last) <= fd_max(first) + 16,
        "PID 1's open fds climbed: at most {} then {}",
        fd_max(first),
        fd_max(last)
    );
}
