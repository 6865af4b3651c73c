//! Issue 21 (first guard): OpenRC's own tools acting on a service rcinit runs, in an image with
//! OpenRC installed (Debian's OpenRC 0.45.2 tree with nginx from Debian's packages laid over it).

// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{boot_pid1 as boot, stop_clean as stop, text};

#[test]
fn restart_through_openrcs_own_openrc_run_after_rc_status_leaves_one_tracked_daemon() {
    // The report: after the service had run a few seconds and rc-status was called,
    // `/etc/init.d/nginx restart` said "[ ok ]" and left the old master running, untracked.
    let lower = format!(
        "{}:{}",
        common::daemons_rootfs().display(),
        common::debian_rootfs().display()
    );
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/daemons/nginx");
    let nginx = std::fs::read_to_string(fixture).expect("fixture");
    let root = common::Rootfs::with_only(
        "ortools",
        std::path::Path::new(&lower),
        &[("nginx", &nginx)],
    );
    let p = root.path().to_owned();
    assert!(p.join("sbin/openrc-run").exists() && p.join("bin/rc-status").exists());
    let mut b = boot(&root, &[]);
    b.wait_line("nginx: started (pid");
    let first = common::one(&mut b, "nginx: master");
    // The time is the scenario (the daemon has run a while), not a synchronisation.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let o = b.exec(&["/bin/rc-status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nginx"), "{}", text(&o));
    let o = b.exec(&["/etc/init.d/nginx", "restart"]);
    assert!(o.status.success(), "{}", text(&o));
    let second = common::wait_for("one new nginx master", || {
        let now = common::pids_running(&mut b, "nginx: master");
        (now.len() == 1 && now[0] != first).then(|| now[0])
    });
    assert!(
        common::alive(&[first]).is_empty(),
        "the old master still runs"
    );
    let o = b.exec(&["/sbin/rcinit", "status"]);
    let status = text(&o);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("nginx") && l.contains("started")),
        "{status}"
    );
    assert!(common::alive(&[second]).contains(&second));
    stop(&mut b);
}
