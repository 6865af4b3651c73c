//! Issue 20 (first helpers): OpenRC's helpers a script may call, at evaluation and at run time,
//! under rcinit as PID 1 and against Debian's real OpenRC (its helper binaries in the OpenRC
//! tree) on the same inputs.

// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{boot_pid1 as boot, services, stop_clean as stop};

/// ewaitfile's inputs: the timeout as OpenRC reads it (base 0), files that exist (in both trees)
/// or not, too few arguments.
const CASES: &[&str] = &[
    "1 /nonexistent",
    "0x1 /nonexistent",
    "abc /bin/sh",
    "1",
    "1 /bin/sh",
    "-1 /bin/sh",
    "+2 /bin/sh",
    "0x /bin/sh",
    "1x /bin/sh",
    "08 /bin/sh",
    "010 /bin/sh /bin/busybox",
];

#[test]
fn ewaitfile_answers_as_openrcs_own_on_the_same_inputs() {
    // Real OpenRC's ewaitfile, in its own tree.
    let debian = common::debian_rootfs();
    let mut real = String::new();
    for c in CASES {
        let o = std::process::Command::new("chroot")
            .arg(&debian)
            .arg("/usr/lib/rc/bin/ewaitfile")
            .args(c.split_whitespace())
            .output()
            .expect("chroot");
        real.push_str(&format!(
            "{c} -> {} {}\n",
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).trim_end()
        ));
    }
    // rcinit's, in a script's start() (the shell function scripts get).
    let cases = CASES.join("\n");
    let script = format!(
        r#"#!/sbin/openrc-run
start() {{
	while read -r c; do
		[ -n "$c" ] || continue
		e=$(ewaitfile $c 2>&1); r=$?
		echo "$c -> $r $e" >> /var/ours
	done <<EOF
{cases}
EOF
}}
"#
    );
    let root = services("ewaitfile", &[("table", &script)]);
    let mut b = boot(&root, &[]);
    b.wait_line("table: started");
    let ours = std::fs::read_to_string(root.path().join("var/ours")).expect("results");
    assert_eq!(ours, real, "rcinit's ewaitfile differs from OpenRC's");
    stop(&mut b);
}

#[test]
fn helpers_work_at_evaluation_and_in_start() {
    // Before: "ewaitfile: not found" (127) in start_post, and the database was killed; the
    // script body failed its evaluation the same way.
    let waits = r#"#!/sbin/openrc-run
ewaitfile 1 /bin/sh || exit 1
on_ac_power || exit 1
supervisor=supervise-daemon
command=/bin/sh
command_args="-c 'sleep 0.3; touch /var/db.sock; exec sleep 100160'"
start_post() { ewaitfile 5 /var/db.sock; }
"#;
    let late = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100161
start_post() { ewaitfile 1 /run/never.sock; }
"#;
    let killer = r#"#!/sbin/openrc-run
start() { kill_all TERM; }
"#;
    let root = services(
        "helpers",
        &[("waits", waits), ("late", late), ("killer", killer)],
    );
    let mut b = boot(&root, &[]);
    b.wait_line("waits: started (pid");
    b.wait_line("late: start failed (exit code 1)");
    b.wait_line("kill_all: refused under rcinit");
    b.wait_line("killer: start failed (exit code 1)");
    assert!(root.path().join("var/db.sock").exists());
    stop(&mut b);
}

#[test]
fn a_service_with_keyword_shutdown_is_not_stopped_by_its_script_at_shutdown_d41() {
    let script = |kw: &str| {
        format!(
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100170\ndepend() {{ {kw} }}\nstop() {{ touch /var/stopped-$RC_SVCNAME; }}\n"
        )
    };
    let (kept, nostop, normal) = (
        script("keyword -shutdown;"),
        script("keyword nostop;"),
        script(":;"),
    );
    let root = services(
        "kwshutdown",
        &[("kept", &kept), ("nostop", &nostop), ("normal", &normal)],
    );
    let mut b = boot(&root, &[]);
    b.wait_line("3 of 3 services started");
    stop(&mut b);
    assert!(
        root.path().join("var/stopped-normal").exists(),
        "{}",
        b.transcript()
    );
    for s in ["kept", "nostop"] {
        assert!(
            !root.path().join(format!("var/stopped-{s}")).exists(),
            "{s}'s stop() ran at shutdown\n{}",
            b.transcript()
        );
        assert!(b.has_line(&format!("{s}: not stopped by its script")));
    }
}
