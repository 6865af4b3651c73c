//! The example stack under real OpenRC (Debian's 0.45.2 and 0.64.1, `openrc default` with
//! supervise-daemon) and under rcinit, in the same Debian rootfs: every ordering edge OpenRC honours when starting
//! and stopping is honoured by rcinit, and a crash-looping service gets the same number of runs.
//! Only settings on which 0.45 and 0.6x agree (openrc-compat.md Appendix A): respawn_delay >= 1 s,
//! respawn_period and respawn_max set explicitly.
//!
//! The scripts are `examples/init.d` as they ship, each with a start_pre and stop_post appended
//! that write the order to /mnt/order, plus one crash-looping service.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

/// It lives 0.3 s before it fails: supervise-daemon (0.45 and 0.64 alike) waits for its child's
/// end in a blocking open() of its fifo, and a SIGCHLD that comes just before that open is lost
/// (OpenRC's own race: its side then never gives crashy up, and the runs cannot be compared).
const CRASHY: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'echo run >>/mnt/crashy.runs; sleep 0.3; exit 3'"
respawn_delay=1
respawn_max=2
respawn_period=60
"#;

const HOOKS: &str = r#"
start_pre() { echo "$RC_SVCNAME" >>/mnt/order; }
stop_post() { echo "stop $RC_SVCNAME" >>/mnt/order; }
"#;

/// The fixture tree: init.d, conf.d, runlevels (default, and empty sysinit/boot/shutdown).
fn fixtures(dir: &Path) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for d in [
        "init.d",
        "conf.d",
        "runlevels/default",
        "runlevels/sysinit",
        "runlevels/boot",
        "runlevels/shutdown",
        "examples",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    for name in ["webapp", "worker", "proxy"] {
        let mut text =
            std::fs::read_to_string(examples.join("init.d").join(name)).expect("example");
        // The webapp's own start_pre is kept: the hook calls it.
        if text.contains("start_pre()") {
            text = text.replace(
                "start_pre() {",
                "start_pre() {\n\techo \"$RC_SVCNAME\" >>/mnt/order",
            );
            text.push_str("stop_post() { echo \"stop $RC_SVCNAME\" >>/mnt/order; }\n");
        } else {
            text.push_str(HOOKS);
        }
        write_exec(&dir.join("init.d").join(name), &text);
        std::os::unix::fs::symlink(
            format!("/etc/init.d/{name}"),
            dir.join("runlevels/default").join(name),
        )
        .expect("link");
    }
    write_exec(&dir.join("init.d/crashy"), CRASHY);
    std::os::unix::fs::symlink("/etc/init.d/crashy", dir.join("runlevels/default/crashy"))
        .expect("link");
    std::fs::copy(examples.join("conf.d/webapp"), dir.join("conf.d/webapp")).expect("conf.d");
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", examples.display()))
        .arg(dir.join("examples"))
        .status()
        .expect("cp");
    assert!(st.success());
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Mounts the fixtures over the rootfs's /etc pieces and `out` on /mnt (a tmpfs on /run), then runs `body`
/// inside `chroot $R`, in fresh PID, mount and network namespaces.
const SETUP: &str = r#"
set -eu
R=$1 F=$2 OUT=$3
for d in init.d conf.d runlevels; do mount --bind "$F/$d" "$R/etc/$d"; done
mkdir -p "$R/examples"
mount --bind "$F/examples" "$R/examples"
mount --bind "$OUT" "$R/mnt"
mount -t tmpfs tmpfs "$R/run"
mount -t proc proc "$R/proc"
"$R/bin/busybox" ip link set lo up
"#;

/// Real OpenRC: `openrc default`, wait until supervise-daemon gave crashy up, `openrc shutdown`.
const OPENRC: &str = r#"
chroot "$R" /bin/sh -c '
	openrc sysinit >/dev/null 2>&1; openrc boot >/dev/null 2>&1
	openrc default
	i=0
	while [ ! -e /run/openrc/failed/crashy ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /run/openrc/failed/crashy ] && echo "crashy failed"
	openrc shutdown
' >"$OUT/openrc.log" 2>&1
"#;

struct Outcome {
    order: Vec<String>,
    runs: usize,
    log: String,
}

fn outcome(out: &Path, log: String) -> Outcome {
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
    Outcome {
        order: read("order").lines().map(str::to_owned).collect(),
        runs: read("crashy.runs").lines().count(),
        log,
    }
}

fn under_openrc(root: &Path, f: &Path) -> Outcome {
    let out = common::TempDir::new("stack-openrc");
    let script = format!("{SETUP}{OPENRC}");
    let st = common::in_namespaces(&script, "openrc")
        .arg(root)
        .arg(f)
        .arg(out.path())
        .status()
        .expect("unshare");
    let log = std::fs::read_to_string(out.path().join("openrc.log")).unwrap_or_default();
    assert!(st.success(), "{st}\n{log}");
    outcome(out.path(), log)
}

fn under_rcinit(root: &Path, f: &Path) -> Outcome {
    let out = common::TempDir::new("stack-rcinit");
    std::fs::copy(common::rcinit_bin(), out.path().join("rcinit")).expect("copy rcinit");
    let script = format!("{SETUP}exec chroot \"$R\" /mnt/rcinit\n");
    let mut child = common::in_namespaces(&script, "rcinit")
        .arg(root)
        .arg(f)
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare");
    let pid = child.id() as i32;
    // rcinit's messages tell when crashy was given up; then stop the container as docker would.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let deadline = std::time::Instant::now() + common::HANG;
    let mut stopped = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(line) => {
                if line.contains("crashy: respawned 2 times; giving up") && !stopped {
                    let rcinit = common::wait_for("rcinit", || {
                        common::procfs::descendants(pid)
                            .into_iter()
                            .find(|&p| common::comm(p).as_deref() == Some("rcinit"))
                    });
                    // SAFETY: kill(2) on our own descendant.
                    unsafe { libc::kill(rcinit, libc::SIGTERM) };
                    stopped = true;
                }
                log.push_str(&line);
                log.push('\n');
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("rcinit did not finish within {:?}\n{log}", common::HANG);
            }
        }
    }
    let st = child.wait().expect("waiting for unshare");
    assert!(stopped, "crashy was never given up\n{log}");
    assert!(st.success(), "rcinit: {st}\n{log}");
    outcome(out.path(), log)
}

fn before(order: &[String], a: &str, b: &str) -> bool {
    let p = |x: &str| order.iter().position(|l| l == x);
    matches!((p(a), p(b)), (Some(i), Some(j)) if i < j)
}

#[test]
fn the_example_stack_orders_and_respawns_as_under_real_openrc() {
    for (version, root) in common::openrc_references() {
        let t = std::time::Instant::now();
        same_stack(&root);
        eprintln!(
            "OpenRC {version}: the same order and runs ({:?})",
            t.elapsed()
        );
    }
}

fn same_stack(root: &Path) {
    let f = common::TempDir::new("stack-fixtures");
    fixtures(f.path());
    let openrc = under_openrc(root, f.path());
    let rcinit = under_rcinit(root, f.path());
    let ctx = format!(
        "OpenRC order {:?}\n{}\nrcinit order {:?}\n{}",
        openrc.order, openrc.log, rcinit.order, rcinit.log
    );
    // The edges the stack declares, as OpenRC honoured them...
    let edges = [
        ("webapp", "proxy"),
        ("webapp", "worker"),
        ("stop proxy", "stop webapp"),
        ("stop worker", "stop webapp"),
    ];
    for (a, b) in edges {
        assert!(
            before(&openrc.order, a, b),
            "OpenRC: {a} before {b}?\n{ctx}"
        );
        assert!(before(&rcinit.order, a, b), "rcinit: {a} before {b}\n{ctx}");
    }
    // ...and every pair OpenRC ordered through a dependency is ordered the same by rcinit.
    for (i, a) in openrc.order.iter().enumerate() {
        for b in &openrc.order[i + 1..] {
            let declared = edges.iter().any(|(x, y)| x == a && y == b);
            if declared {
                assert!(before(&rcinit.order, a, b), "{a} before {b}\n{ctx}");
            }
        }
    }
    // S-12: respawn_max=2 gives 3 runs, then the service is given up, under both.
    assert_eq!(openrc.runs, 3, "{ctx}");
    assert_eq!(rcinit.runs, openrc.runs, "{ctx}");
}
