//! Issue 21 (first guard): OpenRC's own tools acting on a service rcinit runs, in an image with
//! OpenRC installed (Debian's OpenRC 0.45.2 tree with nginx from Debian's packages laid over it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{boot_pid1 as boot, stop_clean as stop, text};

/// Debian's OpenRC tree with nginx from Debian's packages laid over it, holding only `scripts`.
fn openrc_with_nginx(tag: &str, scripts: &[(&str, &str)]) -> common::Rootfs {
    let lower = format!(
        "{}:{}",
        common::daemons_rootfs().display(),
        common::debian_rootfs().display()
    );
    let root = common::Rootfs::with_only(tag, std::path::Path::new(&lower), scripts);
    let p = root.path().to_owned();
    assert!(p.join("sbin/openrc-run").exists() && p.join("bin/rc-status").exists());
    root
}

/// The nginx masters running, by host pid, once their number is `n`.
fn masters(b: &mut common::Booted, n: usize) -> Vec<i32> {
    common::wait_for(&format!("{n} nginx master(s)"), || {
        let now = common::pids_running(b, "nginx: master");
        (now.len() == n).then_some(now)
    })
}

#[test]
fn restart_through_openrcs_own_openrc_run_after_rc_status_leaves_one_tracked_daemon() {
    // The report: after the service had run a few seconds and rc-status was called,
    // `/etc/init.d/nginx restart` said "[ ok ]" and left the old master running, untracked.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/daemons/nginx");
    let nginx = std::fs::read_to_string(fixture).expect("fixture");
    let root = openrc_with_nginx("ortools", &[("nginx", &nginx)]);
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

/// The report's trigger: nginx as Debian ships it forks into the background, and a script that
/// names no pidfile (OpenRC's start-stop-daemon finds the daemon by its executable) left rcinit
/// following nothing. A stop through openrc-run (or rcinit's own) then said "[ ok ]" and left
/// the master running; the restart's start then failed on the port.
#[test]
fn a_forking_daemon_without_a_pidfile_is_followed_so_openrc_run_and_rcinit_stop_it() {
    let script = "#!/sbin/openrc-run\ncommand=/usr/sbin/nginx\n\
                  start_pre() {\n\tcheckpath -d -m 0755 /var/log/nginx\n}\n";
    let root = openrc_with_nginx("fork-nopid", &[("nginx", script)]);
    let mut b = boot(&root, &[]);
    b.wait_line("nginx: started (pid");
    let first = masters(&mut b, 1)[0];
    let (state, pid) = common::status_of(&mut b, "nginx");
    assert_eq!(state, "started");
    assert_eq!(
        pid,
        common::ns_pid(first).map(i64::from),
        "the master is followed"
    );
    let o = b.exec(&["/bin/rc-status"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = b.exec(&["/etc/init.d/nginx", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), b.transcript());
    let second = common::wait_for("the old master gone, one new", || {
        let now = common::pids_running(&mut b, "nginx: master");
        (now.len() == 1 && now[0] != first).then(|| now[0])
    });
    assert!(
        common::alive(&[first]).is_empty(),
        "the old master still runs"
    );
    let (state, pid) = common::status_of(&mut b, "nginx");
    assert_eq!(state, "started");
    assert_eq!(pid, common::ns_pid(second).map(i64::from));
    // rcinit's own stop, through the script's default stop(), reaches it too.
    let o = b.exec(&["/sbin/rcinit", "stop", "nginx"]);
    assert!(o.status.success(), "{}", text(&o));
    masters(&mut b, 0);
    assert!(common::pids_running(&mut b, "nginx: worker").is_empty());
    stop(&mut b);
}

/// A daemon rcinit could not follow (its own start() runs nginx as root although the script
/// says command_user=www-data: not the service's daemon by rcinit's judgement): a stop through
/// openrc-run stops what the call names, as OpenRC's start-stop-daemon would, instead of
/// saying "[ ok ]" with it running.
#[test]
fn a_stop_through_openrc_run_stops_what_it_names_when_rcinit_follows_nothing() {
    let script = "#!/sbin/openrc-run\ncommand=/usr/sbin/nginx\ncommand_user=www-data\n\
                  start() {\n\tcheckpath -d -m 0755 /var/log/nginx\n\tebegin \"Starting nginx\"\n\
                  \t/usr/sbin/nginx\n\teend $?\n}\n";
    let root = openrc_with_nginx("stop-named", &[("nginx", script)]);
    let mut b = boot(&root, &[]);
    b.wait_line("nginx: started, untracked");
    masters(&mut b, 1);
    let o = b.exec(&["/etc/init.d/nginx", "stop"]);
    assert!(o.status.success(), "{}\n{}", text(&o), b.transcript());
    masters(&mut b, 0);
    assert!(common::pids_running(&mut b, "nginx: worker").is_empty());
    b.wait_line("rcinit did not follow it, the stop names it");
    assert_eq!(common::status_of(&mut b, "nginx").0, "stopped");
    stop(&mut b);
}

/// OpenRC's own openrc-run reads /run/openrc/deptree: rcinit writes it, with the names a
/// container provides (`net`, `localmount`) dropped from the lists as OpenRC drops the provides
/// of an excluded service. Before, OpenRC's tools built their own, marked the needs `broken`
/// and openrc-run refused: "ERROR: nginx needs service(s) net, localmount".
#[test]
fn openrcs_own_openrc_run_starts_a_service_that_needs_what_the_container_provides() {
    let script = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/usr/sbin/nginx\n\
                  command_args=\"-g 'daemon off;'\"\n\
                  depend() {\n\tneed net localmount\n\tuse dns logger\n}\n\
                  start_pre() {\n\tcheckpath -d -m 0755 /var/log/nginx\n}\n";
    let root = openrc_with_nginx("needs-net", &[("nginx", script)]);
    let rc_conf = root.path().join("etc/rc.conf");
    let mut conf = std::fs::read_to_string(&rc_conf).expect("rc.conf");
    conf.push_str("\nrc_sys=\"docker\"\n");
    std::fs::write(&rc_conf, conf).expect("rc.conf");
    let mut b = boot(&root, &[]);
    b.wait_line("nginx: started (pid");
    let first = masters(&mut b, 1)[0];
    let o = b.exec(&["/bin/rc-status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !text(&o).contains("Caching service dependencies"),
        "{}",
        text(&o)
    );
    let o = b.exec(&["/etc/init.d/nginx", "stop"]);
    assert!(o.status.success(), "{}", text(&o));
    masters(&mut b, 0);
    assert_eq!(common::status_of(&mut b, "nginx").0, "stopped");
    // The start half alone: openrc-run resolves the needs from rcinit's deptree.
    let o = b.exec(&["/etc/init.d/nginx", "start"]);
    assert!(o.status.success(), "{}\n{}", text(&o), b.transcript());
    assert!(!text(&o).contains("needs service"), "{}", text(&o));
    let second = masters(&mut b, 1)[0];
    assert_ne!(first, second);
    let (state, pid) = common::status_of(&mut b, "nginx");
    assert_eq!(state, "started");
    assert_eq!(pid, common::ns_pid(second).map(i64::from));
    let o = b.exec(&["/usr/sbin/rc-service", "nginx", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), b.transcript());
    common::wait_for("a third master", || {
        let now = common::pids_running(&mut b, "nginx: master");
        (now.len() == 1 && now[0] != second).then_some(())
    });
    stop(&mut b);
}

/// The same through both references' own tools (OpenRC 0.45.2 and 0.64.1): a service that
/// needs `net` and `localmount`, stopped and started again by openrc-run, stays rcinit's.
#[test]
fn both_openrc_versions_tools_start_a_service_needing_container_names_under_rcinit() {
    let script = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\n\
                  command_args=100311\ndepend() {\n\tneed net localmount\n}\n";
    for (version, tree) in common::openrc_references() {
        let root = common::Rootfs::with_only(
            &format!("needs-net-{version}"),
            &tree,
            &[("sleeper", script)],
        );
        let rc_conf = root.path().join("etc/rc.conf");
        let mut conf = std::fs::read_to_string(&rc_conf).expect("rc.conf");
        conf.push_str("\nrc_sys=\"docker\"\n");
        std::fs::write(&rc_conf, conf).expect("rc.conf");
        let mut b = boot(&root, &[]);
        b.wait_line("sleeper: started (pid");
        let first = common::one(&mut b, "sleep 100311");
        for verb in ["stop", "start"] {
            let o = b.exec(&["/etc/init.d/sleeper", verb]);
            assert!(
                o.status.success(),
                "OpenRC {version}: {verb}: {}\n{}",
                text(&o),
                b.transcript()
            );
        }
        let second = common::one(&mut b, "sleep 100311");
        assert_ne!(first, second, "OpenRC {version}");
        let (state, pid) = common::status_of(&mut b, "sleeper");
        assert_eq!(state, "started", "OpenRC {version}");
        assert_eq!(
            pid,
            common::ns_pid(second).map(i64::from),
            "OpenRC {version}"
        );
        stop(&mut b);
    }
}

/// rcinit holds /run/openrc/exclusive/NAME for the whole of its own start and stop, as
/// openrc-run does, and leaves a service alone while something else holds it. Before, a start
/// by rcinit and one by openrc-run could run at once.
#[test]
fn rcinit_takes_and_honours_openrcs_exclusive_locks_r31() {
    let script = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\n\
                  command_args=100321\n\
                  start_pre() {\n\twhile [ ! -e /var/go ]; do sleep 0.05; done\n}\n";
    let root = common::Rootfs::with_only("excl", &common::debian_rootfs(), &[("locked", script)]);
    let mut b = boot(&root, &[]);
    let lock = "/run/openrc/exclusive/locked";
    let free = |b: &mut common::Booted| {
        b.exec(&["/usr/bin/flock", "-n", lock, "true"])
            .status
            .success()
    };
    // The plan is said once the control socket answers.
    b.wait_line("wave 1: locked");
    common::wait_for("rcinit's start under way", || {
        (common::status_of(&mut b, "locked").0 == "starting").then_some(())
    });
    assert!(!free(&mut b), "rcinit's start holds the lock");
    let o = b.exec(&["/etc/init.d/locked", "start"]);
    assert!(
        !o.status.success(),
        "openrc-run started it a second time: {}",
        text(&o)
    );
    std::fs::write(root.path().join("var/go"), "").expect("go");
    b.wait_line("locked: started (pid");
    assert!(free(&mut b), "the lock outlived the start");
    assert_eq!(common::pids_running(&mut b, "sleep 100321").len(), 1);
    // Held by someone else (as openrc-run holds it): rcinit neither stops nor starts it.
    let o = b.exec(&[
        "/bin/sh",
        "-c",
        "/usr/bin/flock /run/openrc/exclusive/locked /bin/sh -c \
         'while [ ! -e /var/release ]; do sleep 0.05; done' >/dev/null 2>&1 </dev/null &",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    common::wait_for("the lock held from outside", || {
        (!free(&mut b)).then_some(())
    });
    let o = b.exec(&["/sbin/rcinit", "stop", "locked"]);
    assert!(!o.status.success(), "{}", text(&o));
    b.wait_line("locked: not stopped: OpenRC's openrc-run is starting or stopping it");
    assert_eq!(common::status_of(&mut b, "locked").0, "started");
    let o = b.exec(&["/sbin/rcinit", "restart", "locked"]);
    assert!(
        !o.status.success(),
        "a refused stop is no restart: {}",
        text(&o)
    );
    // Still supervised: its daemon killed is respawned.
    let daemon = common::one(&mut b, "sleep 100321");
    common::kill_pid(daemon, libc::SIGKILL);
    b.wait_line("locked: respawned as pid");
    std::fs::write(root.path().join("var/release"), "").expect("release");
    common::wait_for("the lock let go", || free(&mut b).then_some(()));
    // A service user cannot hold it: the lock files are root's alone.
    let o = b.exec_as(
        Some(65534),
        &["/usr/bin/flock", "-n", lock, "/bin/sleep", "5"],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Permission denied"), "{}", text(&o));
    let o = b.exec(&["/sbin/rcinit", "stop", "locked"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(common::pids_running(&mut b, "sleep 100321").is_empty());
    stop(&mut b);
}

/// Real OpenRC boots `root` (sysinit, boot, default) in namespaces of its own, with a fresh
/// /run, and is gone when this returns.
fn boot_real_openrc(root: &std::path::Path) -> String {
    let o = common::in_namespaces(
        "set -e; R=$1; mount -t proc proc \"$R/proc\"; mount -t tmpfs tmpfs \"$R/run\"; \
         chroot \"$R\" /bin/sh -c 'openrc sysinit; openrc boot; openrc default' 2>&1",
        "real",
    )
    .arg(root)
    .output()
    .expect("unshare");
    text(&o)
}

/// 0.64's `reexport` (depend()): the variables a started service exported are handed to the
/// services that depend on it, at their start; rcinit keeps them in
/// /run/openrc/environ/NAME/VAR too, where 0.64's own openrc-run reads them. OpenRC 0.45 has
/// no such verb (a named difference: rcinit follows 0.64).
#[test]
fn reexport_hands_a_started_services_variables_to_its_dependents_as_openrc_064_does() {
    let prov = "#!/sbin/openrc-run\ndepend() {\n\treexport TOKEN\n}\n\
                start() {\n\texport TOKEN=from-prov\n}\n";
    let cons = "#!/sbin/openrc-run\ndepend() {\n\tneed prov\n}\n\
                start() {\n\techo \"cons saw [${TOKEN-}]\" > /var/cons-saw\n}\n";
    let scripts = [("prov", prov), ("cons", cons)];
    for (version, tree) in common::openrc_references() {
        let saw = |root: &common::Rootfs| {
            std::fs::read_to_string(root.path().join("var/cons-saw")).unwrap_or_default()
        };
        let real = common::Rootfs::with_only(&format!("reexport-real-{version}"), &tree, &scripts);
        let log = boot_real_openrc(real.path());
        let theirs = saw(&real);
        let root = common::Rootfs::with_only(&format!("reexport-{version}"), &tree, &scripts);
        let mut b = boot(&root, &[]);
        b.wait_line("2 of 2 services started");
        let ours = saw(&root);
        assert_eq!(ours, "cons saw [from-prov]\n", "{}", b.transcript());
        let o = b.exec(&["/bin/cat", "/run/openrc/environ/prov/TOKEN"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), "from-prov");
        // OpenRC's own openrc-run starting the dependent under rcinit reads what rcinit kept.
        std::fs::remove_file(root.path().join("var/cons-saw")).expect("rm");
        let o = b.exec(&["/etc/init.d/cons", "restart"]);
        assert!(o.status.success(), "{}", text(&o));
        let via_openrc_run = saw(&root);
        if version.starts_with("0.45") {
            eprintln!(
                "OpenRC {version} differs: it has no reexport (its boot: {theirs:?}); rcinit \
                 follows 0.64"
            );
            assert_eq!(theirs, "cons saw []\n", "{log}");
            assert_eq!(via_openrc_run, "cons saw []\n");
        } else {
            assert_eq!(theirs, ours, "OpenRC {version}'s boot:\n{log}");
            assert_eq!(via_openrc_run, ours, "OpenRC {version}'s openrc-run");
        }
        // Stopped, it hands nothing on any more.
        let o = b.exec(&["/sbin/rcinit", "stop", "prov"]);
        assert!(o.status.success(), "{}", text(&o));
        let o = b.exec(&["/bin/ls", "/run/openrc/environ"]);
        assert!(!text(&o).contains("prov"), "{}", text(&o));
        stop(&mut b);
    }
}

/// 0.64 gives every script a default reload(): nothing to do for start-stop-daemon, an error
/// for a supervisor without a reload of its own. `rcinit NAME reload` answers as 0.64's own
/// openrc-run does on the same service (0.45 has no default: a named difference).
#[test]
fn reload_without_a_function_of_the_scripts_own_answers_as_openrc_064() {
    let plain = "#!/sbin/openrc-run\ncommand=/bin/sleep\ncommand_args=100331\n\
                 command_background=yes\npidfile=/run/plain.pid\n";
    let supd = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\n\
                command_args=100332\n";
    for (version, tree) in common::openrc_references() {
        let root = common::Rootfs::with_only(
            &format!("reload-{version}"),
            &tree,
            &[("plain", plain), ("supd", supd)],
        );
        let mut b = boot(&root, &[]);
        b.wait_line("2 of 2 services started");
        for (svc, want) in [("plain", 0), ("supd", 1)] {
            let ours = b.exec(&["/sbin/rcinit", svc, "reload"]);
            assert_eq!(ours.status.code(), Some(want), "{svc}: {}", text(&ours));
            if want == 1 {
                assert!(
                    text(&ours).contains("undefined function 'reload'"),
                    "{}",
                    text(&ours)
                );
            }
            let theirs = b.exec(&[&format!("/etc/init.d/{svc}"), "reload"]);
            if version.starts_with("0.45") {
                eprintln!(
                    "OpenRC {version} differs: {svc} reload -> {:?} (no default reload); rcinit \
                     follows 0.64",
                    theirs.status.code()
                );
            } else {
                assert_eq!(
                    theirs.status.code(),
                    ours.status.code(),
                    "OpenRC {version}: {svc}: {}",
                    text(&theirs)
                );
            }
        }
        stop(&mut b);
    }
}
