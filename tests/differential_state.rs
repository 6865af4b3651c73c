//! OpenRC's own tools against rcinit's state, in each Debian rootfs with the real OpenRC
//! (0.45.2 and 0.64.1): with one service started, one failed, one stopped by hand and one crashed, the real
//! `rc-status` shows each in the state `rcinit status` gives (R-20..R-28, C-03), and the real
//! `rc-service NAME restart` (OpenRC's openrc-run) restarts the daemon under rcinit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
#![allow(clippy::disallowed_methods)]

mod common;

use common::text;

use std::path::Path;
use std::process::Stdio;

use common::{Booted, Mode};

const UP: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args="2001"
"#;
const BROKEN: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/false
respawn_delay=1
respawn_max=1
respawn_period=60
"#;
const MANUAL: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args="2003"
"#;
const CRASHED: &str = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args="2004"
command_background=yes
pidfile=/run/crashed.pid
"#;

fn fixtures(dir: &Path) {
    for d in [
        "init.d",
        "conf.d",
        "runlevels/default",
        "runlevels/sysinit",
        "runlevels/boot",
        "runlevels/shutdown",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    for (name, text) in [
        ("up", UP),
        ("broken", BROKEN),
        ("manual", MANUAL),
        ("crashed", CRASHED),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("init.d").join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink(
            format!("/etc/init.d/{name}"),
            dir.join("runlevels/default").join(name),
        )
        .expect("link");
    }
}

const SETUP: &str = r#"
set -eu
R=$1 F=$2 OUT=$3
for d in init.d conf.d runlevels; do mount --bind "$F/$d" "$R/etc/$d"; done
mount --bind "$OUT" "$R/mnt"
mount -t proc proc "$R/proc"
"$R/bin/busybox" ip link set lo up 2>/dev/null || true
exec chroot "$R" /mnt/rcinit
"#;

/// The first word of each service's bracket in rc-status's output.
fn rc_states(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let (name, rest) = l.trim_start().split_once(' ')?;
            let inner = rest.split_once('[')?.1.split_once(']')?.0;
            Some((name.to_owned(), inner.split_whitespace().next()?.to_owned()))
        })
        .collect()
}

fn rcinit_states(b: &mut Booted) -> serde_json::Value {
    let o = b.exec(&["/mnt/rcinit", "status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

fn state(v: &serde_json::Value, name: &str) -> Option<(String, Option<i64>)> {
    v["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| {
            (
                s["state"].as_str().unwrap_or_default().to_owned(),
                s["pid"].as_i64(),
            )
        })
}

#[test]
fn real_rc_status_and_rc_service_agree_with_rcinit() {
    for (version, root) in common::openrc_references() {
        eprintln!("reference: OpenRC {version}");
        agree_with(&root);
    }
}

fn agree_with(root: &Path) {
    let f = common::TempDir::new("state-fixtures");
    fixtures(f.path());
    let out = common::TempDir::new("state-out");
    std::fs::copy(common::rcinit_bin(), out.path().join("rcinit")).expect("copy rcinit");
    let child = common::in_namespaces(SETUP, "state")
        .arg(root)
        .arg(f.path())
        .arg(out.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare");
    let mut b = Booted::from_child(child, Mode::Pid1);
    b.wait_line("broken: respawned 1 times; giving up");
    b.wait_line("services started in");
    // One stopped by hand, one whose (unsupervised) daemon died.
    let o = b.exec(&["/mnt/rcinit", "stop", "manual"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = rcinit_states(&mut b);
    let (_, crashed_pid) = state(&v, "crashed").expect("crashed listed");
    let host = common::wait_for("the crashed service's daemon", || {
        common::pids_running(&mut b, "sleep 2004").first().copied()
    });
    common::kill_pid(host, libc::SIGKILL);
    let v = common::wait_for("crashed to crash", || {
        let v = rcinit_states(&mut b);
        (state(&v, "crashed").map(|s| s.0).as_deref() == Some("crashed")).then_some(v)
    });
    assert!(crashed_pid.is_some());
    let want = [
        ("up", "started"),
        ("broken", "failed"),
        ("manual", "stopped"),
        ("crashed", "crashed"),
    ];
    for (n, s) in want {
        assert_eq!(state(&v, n).map(|x| x.0).as_deref(), Some(s), "{v}");
    }
    let o = b.exec(&["rc-status", "-C"]);
    assert!(o.status.success(), "{}", text(&o));
    let rc = rc_states(&String::from_utf8_lossy(&o.stdout));
    for (n, s) in want {
        let got = rc
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, st)| st.as_str());
        assert_eq!(got, Some(s), "rc-status for {n}\n{}\nrcinit: {v}", text(&o));
    }
    // The real rc-service restart goes through OpenRC's openrc-run, whose supervise-daemon
    // calls reach rcinit: a new daemon, rcinit's child.
    let (_, old) = state(&v, "up").expect("up");
    let o = b.exec(&["rc-service", "up", "restart"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = rcinit_states(&mut b);
    let (st, new) = state(&v, "up").expect("up");
    assert_eq!(st, "started", "{v}");
    assert!(new.is_some() && new != old, "{v}");
    let host = common::one(&mut b, "sleep 2001");
    let ppid = std::fs::read_to_string(format!("/proc/{host}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse::<i32>()
                .ok()
        });
    assert_eq!(
        ppid,
        Some(b.rcinit_pid()),
        "the new daemon is rcinit's child"
    );
    let o = b.exec(&["rc-service", "up", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["rc-status", "-C"]);
    let rc = rc_states(&String::from_utf8_lossy(&o.stdout));
    assert!(
        rc.iter().any(|(n, s)| n == "up" && s == "started"),
        "{}",
        text(&o)
    );
    // Regression: a process that only inherited RC_SVCNAME and stops something of its own with
    // start-stop-daemon stopped the whole service. Now the call reaches the real program.
    let o = b.exec(&[
        "/bin/sh",
        "-c",
        "sleep 3001 & echo $! >/run/other.pid; RC_SVCNAME=up start-stop-daemon --stop --pidfile /run/other.pid --retry 5; echo rc=$?",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rc=0"),
        "{}",
        text(&o)
    );
    assert!(
        common::pids_running(&mut b, "sleep 3001").is_empty(),
        "the real ssd stopped it"
    );
    let v = rcinit_states(&mut b);
    assert_eq!(
        state(&v, "up").map(|s| s.0).as_deref(),
        Some("started"),
        "{v}"
    );
    // Calls that are not a service's (Debian's dpkg owns start-stop-daemon) reach the real one.
    let o = b.exec(&["start-stop-daemon", "--version"]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Debian"),
        "{}",
        text(&o)
    );
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}
