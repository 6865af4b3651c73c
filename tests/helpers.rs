//! Issue 20 (first helpers): OpenRC's helpers a script may call, at evaluation and at run time,
//! under rcinit as PID 1 and against Debian's real OpenRC (its helper binaries in the OpenRC
//! tree) on the same inputs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
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
        &[
            ("kept", &kept),
            ("nostop", &nostop),
            ("normal", &normal),
            ("listed", &normal),
        ],
    );
    // rc.conf's rc_nostop names one without a keyword.
    std::fs::write(
        root.path().join("etc/rc.conf"),
        "rc_nostop=\"listed other\"\n",
    )
    .expect("rc.conf");
    let mut b = boot(&root, &[]);
    b.wait_line("4 of 4 services started");
    stop(&mut b);
    assert!(
        root.path().join("var/stopped-normal").exists(),
        "{}",
        b.transcript()
    );
    for s in ["kept", "nostop", "listed"] {
        assert!(
            !root.path().join(format!("var/stopped-{s}")).exists(),
            "{s}'s stop() ran at shutdown\n{}",
            b.transcript()
        );
        assert!(b.has_line(&format!("{s}: not stopped by its script")));
    }
}

/// A Debian tree with the real OpenRC (its helper binaries and rc-functions.sh), these scripts in
/// the default runlevel and nothing else started: rcinit boots it as PID 1, and a script can
/// run each helper both as rcinit's shim defines it and as OpenRC's own on the same state.
fn openrc_tree(tag: &str, lower: &std::path::Path, scripts: &[(&str, &str)]) -> common::Rootfs {
    let root = common::Rootfs::with_only(tag, lower, scripts);
    // OpenRC's side: its functions (openrc-run.sh's own taken from it as they are) and its
    // binaries first on PATH, one case at a time.
    root.write_exec(
        "harness/real",
        "#!/bin/sh\nRC_LIBEXECDIR=/usr/lib/rc; export RC_LIBEXECDIR\n\
         . /usr/lib/rc/sh/functions.sh\n. /usr/lib/rc/sh/rc-functions.sh\n\
         . /usr/lib/rc/sh/start-stop-daemon.sh\n. /usr/lib/rc/sh/supervise-daemon.sh\n\
         eval \"$(sed -n '/^sourcex()/,/^}/p;/^describe()/,/^}/p;/^_status()/,/^}/p;\
         /^default_status()/,/^}/p' /usr/lib/rc/sh/openrc-run.sh)\"\n\
         PATH=/usr/lib/rc/bin:$PATH\neval \"$1\"\n",
    );
    root
}

/// The shell functions that run cases both ways: `both TAG CASE` appends
/// `TAG: CASE -> CODE [STDOUT]` to /var/ours (the shim's helper) and to /var/real (OpenRC's);
/// `table TAG` does it for each line of its input.
const BOTH: &str = r#"
# A usage text is OpenRC's prose, not copied: only that it is one (and the code) must agree.
usage() { case $o in Usage:*) o='(usage)' ;; esac; }
both() {
	o=$(eval "$2" 2>/dev/null); r=$?; o=$(printf '%s' "$o" | tr '\n' '|'); usage
	printf '%s: %s -> %s [%s]\n' "$1" "$2" "$r" "$o" >> /var/ours
	o=$(/harness/real "$2" 2>/dev/null); r=$?; o=$(printf '%s' "$o" | tr '\n' '|'); usage
	printf '%s: %s -> %s [%s]\n' "$1" "$2" "$r" "$o" >> /var/real
}
table() {
	while IFS= read -r c; do
		[ -n "$c" ] && both "$1" "$c"
	done
}
"#;

/// Cases whose answers differ between OpenRC 0.45.2 and 0.64: rcinit follows 0.64, so against
/// 0.45.2 they must differ (and are said), against 0.64 they must agree.
const FOLLOWS_064: &[(&str, &str)] = &[(
    "EINFO_INDENT=100; eindent;",
    "0.45's eindent caps EINFO_INDENT at 40, 0.64's does not (both indent at most 40)",
)];

fn assert_same(
    version: &str,
    root: &common::Rootfs,
    b: &common::Booted,
    min_lines: usize,
) -> String {
    let read = |f: &str| std::fs::read_to_string(root.path().join(f)).unwrap_or_default();
    let (ours, real) = (read("var/ours"), read("var/real"));
    assert!(
        ours.lines().count() >= min_lines,
        "too few cases ran ({}):\n{ours}\n{}",
        ours.lines().count(),
        b.transcript()
    );
    let known = |line: &str| FOLLOWS_064.iter().find(|(case, _)| line.contains(case));
    let diff: Vec<String> = ours
        .lines()
        .zip(real.lines())
        .filter(|(o, r)| match (known(o), version.starts_with("0.6")) {
            (Some((case, why)), false) => {
                eprintln!("OpenRC {version} differs on {case:?} ({why}): rcinit follows 0.64");
                o == r
            }
            _ => o != r,
        })
        .map(|(o, r)| format!("  rcinit:  {o}\n  openrc:  {r}"))
        .collect();
    assert!(
        diff.is_empty() && ours.lines().count() == real.lines().count(),
        "rcinit's helpers answer differently from OpenRC {version}'s:\n{}\n--- all of rcinit's:\n{ours}",
        diff.join("\n")
    );
    ours
}

#[test]
fn service_state_queries_answer_as_openrcs_from_rcinits_state_l32() {
    // up: running; gone: its daemon exited (rcinit waits 1000 s to respawn it: crashed);
    // broken: its start failed. The probe runs after them, and each query both ways.
    let up = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100180\n";
    let gone = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\nrespawn_delay=1000\n\
                command=/bin/sh\ncommand_args=\"-c 'while [ ! -e /run/kill-gone ]; do sleep 0.05; done'\"\n";
    let broken = "#!/sbin/openrc-run\nstart() { return 1; }\n";
    // L-20..L-22: a start that marks its own service; marking another is refused.
    let lazy = "#!/sbin/openrc-run\nstart() { mark_service_inactive; }\n";
    let selfstop = "#!/sbin/openrc-run\nstart() { mark_service_stopped \"$RC_SVCNAME\"; }\n";
    let meddler = "#!/sbin/openrc-run\nstart() { mark_service_started up; false; }\n";
    // Inactive with a daemon: supervised, and stopped when asked.
    let lazyd = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\n\
                 command_args=100181\nstart() { default_start; mark_service_inactive; }\n";
    let probe = format!(
        r#"#!/sbin/openrc-run
{BOTH}
depend() {{ after up gone broken lazy selfstop meddler lazyd; }}
# At evaluation everything is stopped, as the boot is.
table "load-$RC_CMD" <<EOF
service_started up
service_stopped up
service_starting up
service_stopping up
service_inactive up
service_wasinactive up
service_hotplugged up
service_crashed up
service_started_daemon up /bin/sleep
EOF
start() {{
	touch /run/kill-gone
	n=0
	while [ -e /run/openrc/options/gone/child_pid ] && [ $n -lt 2000 ]; do sleep 0.01; n=$((n+1)); done
	# A record left behind by a service that is not started: not crashed (OpenRC's rule).
	mkdir -p /run/openrc/daemons/ghostrec
	printf 'exec=/bin/x\npidfile=/nonexistent\n' > /run/openrc/daemons/ghostrec/001
	table start <<EOF
service_crashed ghostrec
service_inactive lazy
service_started lazy
service_stopped selfstop
service_started selfstop
service_stopped meddler
service_started up
service_started gone
service_started broken
service_started nothere
service_started ''
service_stopped up
service_stopped broken
service_stopped nothere
service_starting
service_starting up
service_stopping up
service_inactive up
service_wasinactive up
service_hotplugged up
service_crashed
service_crashed up
service_crashed gone
service_crashed broken
service_crashed nothere
service_started_daemon up /bin/sleep
service_started_daemon up /bin/nope
service_started_daemon up /bin/sleep 1
service_started_daemon up /bin/sleep 2
service_started_daemon up /bin/sleep x
service_started_daemon /bin/sleep
service_started_daemon /bin/sleep 1
service_started_daemon
service_started_daemon gone /bin/sh
_status
RC_SVCNAME=up; _status
RC_SVCNAME=gone; _status
RC_SVCNAME=broken; _status
RC_SVCNAME=nothere; _status
RC_SVCNAME=gone; supervise_status
RC_SVCNAME=up; supervise_status
RC_SVCNAME=up; supervisor=supervise-daemon; default_status
RC_SVCNAME=broken; default_status
description='does things'; extra_commands='flush'; description_flush='empties it'; describe
extra_started_commands='x'; describe
printf 'x=5' > /run/src.sh; sourcex -e /run/src.sh; echo "$x"
sourcex -e /run/nothere.sh
EOF
}}
"#
    );
    for (version, lower) in common::openrc_references() {
        let root = openrc_tree(
            &format!("svcstate{version}"),
            &lower,
            &[
                ("up", up),
                ("gone", gone),
                ("broken", broken),
                ("lazy", lazy),
                ("selfstop", selfstop),
                ("meddler", meddler),
                ("lazyd", lazyd),
                ("probe", &probe),
            ],
        );
        let mut b = boot(&root, &[]);
        b.wait_line("probe: started");
        b.wait_line("lazy: marked itself inactive by its start");
        b.wait_line("selfstop: marked itself stopped by its start");
        b.wait_line("meddler: start failed");
        assert!(b.has_line("mark_service_started: up is not this service"));
        let ours = assert_same(&version, &root, &b, 30);
        // Not vacuous: the states differ and the answers say so.
        for line in [
            "start: service_started up -> 0",
            "start: service_crashed gone -> 0",
            "start: service_stopped broken -> 0",
            "start: service_starting -> 0",
            "start: service_started_daemon up /bin/sleep -> 0",
            "start: RC_SVCNAME=gone; _status -> 32",
            "start: RC_SVCNAME=up; _status -> 0 [ * status: started]",
            "start: service_crashed ghostrec -> 1",
            "start: service_inactive lazy -> 0",
            "start: service_stopped selfstop -> 0",
        ] {
            assert!(ours.contains(line), "{line}\n{ours}");
        }
        assert!(ours.contains("load-"), "no case ran at evaluation\n{ours}");
        // An inactive service is up: not started again, and stopped with its daemon when asked.
        let daemon = common::one(&mut b, "sleep 100181");
        let o = b.exec(&["/sbin/rcinit", "start", "lazyd"]);
        assert!(
            common::text(&o).contains("already been started"),
            "{}",
            common::text(&o)
        );
        assert_eq!(common::pids_running(&mut b, "sleep 100181"), vec![daemon]);
        let o = b.exec(&["/sbin/rcinit", "stop", "lazyd"]);
        assert!(o.status.success(), "{}", common::text(&o));
        assert!(common::pids_running(&mut b, "sleep 100181").is_empty());
        stop(&mut b);
    }
}

/// mountinfo, fstabinfo, is_newer_than/is_older_than, get_bootparam*, is_net_fs, eval_ecolors:
/// the cases, run at evaluation (a few) and in start() (all).
const TABLE: &str = r#"mountinfo /proc
mountinfo -q /proc
EINFO_QUIET=yes mountinfo /proc
mountinfo /nonexistent
mountinfo /proc /nonexistent
mountinfo -s /proc
mountinfo --fstype /proc
mountinfo -t /proc
mountinfo -i /proc
mountinfo /proc -s
mountinfo /proc/../proc
mountinfo -f '^proc$'
mountinfo -f '^(proc|sysfs)$' -s
mountinfo -F '^proc$' -p '^/proc'
mountinfo -P '^/(proc|dev|sys)' -p '^/'
mountinfo -n '^proc$'
mountinfo -N .
mountinfo -o 'nosuid' -p '^/proc$'
mountinfo -O '.'
mountinfo --fstype-re '^proc$' --point-regex=/proc
mountinfo -e /proc
mountinfo -E /proc
mountinfo -e
mountinfo --netdev /proc
mountinfo --nonetdev /proc
mountinfo --nonetdev /mnt/net
mountinfo -z
mountinfo --fstype=x
mountinfo -h
fstabinfo -p
mountinfo -E -p '^/proc$'
mountinfo relative
mountinfo -f '('
mountinfo -p '[[:digit:]]'
is_net_fs /proc
is_net_fs /mnt/net
is_net_fs /nonexistent
fstabinfo
fstabinfo /data
fstabinfo -b /data
fstabinfo -o /data
fstabinfo -m /data
fstabinfo -p /data
fstabinfo -p /nothere
fstabinfo -p '>0'
fstabinfo -p '=2'
fstabinfo -p '<3'
fstabinfo -p '=x'
fstabinfo -t tmpfs
fstabinfo -t nfs,cifs
fstabinfo -t tmpfs /tmp
fstabinfo -t tmpfs /data
fstabinfo -q /data
fstabinfo /nothere
fstabinfo /data /nothere /tmp
fstabinfo '/mnt/my share'
fstabinfo -m '/mnt/my share'
is_newer_than /var/t/ref /var/t/old
is_newer_than /var/t/ref /var/t/same
is_newer_than /var/t/ref /var/t/newdir
is_newer_than /var/t/ref /var/t/old /var/t/newdir
is_newer_than /var/t/ref /nonexistent
is_newer_than /nonexistent /var/t/old
is_newer_than /var/t/ref
is_older_than /var/t/ref /var/t/old
is_older_than /var/t/ref /var/t/newdir
is_older_than /var/t/ref /var/t/old /var/t/newdir
is_older_than /nonexistent /var/t/old
is_older_than /var/t/ref
get_bootparam nothere_at_all
get_bootparam ''
get_bootparam ro
get_bootparam_value nothere_at_all
get_bootparam_value root
get_bootparam_value console all ,
eval_ecolors
TERM=xterm eval_ecolors
TERM=xterm EINFO_COLOR=NO eval_ecolors
TERM=dumb eval_ecolors
yesno yes
yesno off
yesno ''
yesno maybe
shell_var 'a-b.c d'
openrc --sys
openrc -S
einfo a  b
einfon a
einfon a; einfo b
ewarn w
eerror e
eerrorn e
ebegin hi
ebegin hi; eend 0
ebegin hi; einfo b
ebegin hi; eend 1 bad
eend
eend 0
eend 1
eend 3 bad
eend x
ewend 1 w
eindent; einfo c
eindent; eindent; eoutdent; einfo c
eoutdent; einfo c
EINFO_INDENT=50 einfo deep
EINFO_INDENT=x einfo odd
EINFO_QUIET=yes einfo q
EINFO_QUIET=yes eerror e
EERROR_QUIET=yes eerror e
EINFO_QUIET=yes eend 0
veinfo v
EINFO_VERBOSE=yes veinfo v
vebegin v; veend 0
veend 3
veend x
EINFO_VERBOSE=yes veend 0
EINFO_VERBOSE=yes vebegin v; veinfo w
esyslog daemon.info t m
esyslog daemon t m
esyslog daemon.info t
eend ''
eend -1
eend ' 1'
eend 0x10
eend 08 bad
eend 2147483648
EINFO_INDENT=100; eindent; echo "$EINFO_INDENT"
{ ebegin hi; ewarn w; einfo next; eend 0; } 2>&1
{ ebegin x; eend 1 bad; einfo after; } 2>&1
{ einfon a; ewarnn b; eerror c; einfo d; } 2>&1
"#;

#[test]
fn mount_fstab_mtime_and_boot_helpers_answer_as_openrcs_at_evaluation_and_in_start_l35_l36() {
    let probe = format!(
        r#"#!/sbin/openrc-run
{BOTH}
echo "$RC_VERSION" > /var/version-$RC_CMD
# Every case at evaluation too, once (the dependency pass, RC_CMD empty).
if [ -z "$RC_CMD" ]; then
	table load <<'EOF'
{TABLE}EOF
fi
start() {{
	table start <<'EOF'
{TABLE}EOF
}}
"#
    );
    for (version, lower) in common::openrc_references() {
        let root = openrc_tree(
            &format!("mounthelpers{version}"),
            &lower,
            &[("probe", &probe)],
        );
        let p = root.path();
        std::fs::write(
            p.join("etc/fstab"),
            "# the test's fstab\n/dev/sda1 / ext4 defaults 0 1\n\
         UUID=abc /data xfs noatime,nofail 0 2\n  \n\
         server:/export /mnt/net nfs _netdev,ro 0 0\ntmpfs /tmp tmpfs mode=1777 0 0\n\
         //srv/share\\040x /mnt/my\\040share cifs _netdev 0 3\nnone /none tmpfs defaults 0 1\n\
         proc /proc proc defaults\n",
        )
        .expect("fstab");
        // REF at t; old and same at or before t; newdir's own time before t but a file deep in it
        // after t (a dot file later still: skipped).
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let s = std::time::Duration::from_secs;
        let dir = p.join("var/t");
        std::fs::create_dir_all(dir.join("newdir/sub")).expect("dirs");
        let files = [
            ("ref", t),
            ("old", t - s(1000)),
            ("same", t),
            ("newdir/sub/file", t + s(500)),
            ("newdir/.hidden", t + s(9000)),
        ];
        for (f, _) in &files {
            std::fs::write(dir.join(f), "x").expect("file");
        }
        for (f, when) in files
            .iter()
            .copied()
            .chain([("newdir/sub", t - s(10)), ("newdir", t - s(10))])
        {
            std::fs::File::open(dir.join(f))
                .and_then(|h| h.set_modified(when))
                .expect("mtime");
        }
        // ~150 cases, each run both ways, in one script's evaluation: more than its usual 5 s.
        let mut b = boot(&root, &[("RCINIT_EVAL_TIMEOUT", "120000")]);
        b.wait_line("probe: started");
        let ours = assert_same(&version, &root, &b, 230);
        for line in [
            "start: mountinfo /proc -> 0 [/proc]",
            "start: mountinfo -s /proc -> 0 [proc]",
            "start: fstabinfo -b /data -> 0 [UUID=abc]",
            "start: fstabinfo '/mnt/my share' -> 0 [/mnt/my share]",
            "start: is_newer_than /var/t/ref /var/t/newdir -> 1",
            "start: is_older_than /var/t/ref /var/t/newdir -> 0",
            "start: fstabinfo -p /nothere -> 1 [1|2|0|0|3|1|0]",
            "start: mountinfo -z -> 1 [(usage)]",
            "start: eindent; einfo c -> 0 [ *   c]",
            "start: ebegin hi; eend 0 -> 0 [ * hi ... [ ok ]]",
            "start: einfon a; einfo b -> 0 [ * a| * b]",
            "start: eerror e -> 1 []",
            "start: EINFO_VERBOSE=yes veinfo v -> 0 [ * v]",
            "load: mountinfo -s /proc -> 0 [proc]",
            "load: eindent; einfo c -> 0 [ *   c]",
            "load: fstabinfo '/mnt/my share' -> 0 [/mnt/my share]",
            "load: is_older_than /var/t/ref /var/t/newdir -> 0",
        ] {
            assert!(ours.contains(line), "{line}\n{ours}");
        }
        for when in ["", "start"] {
            let v =
                std::fs::read_to_string(p.join(format!("var/version-{when}"))).expect("version");
            assert_eq!(v.trim(), rcinit::OPENRC_VERSION, "RC_VERSION at {when:?}");
        }
        stop(&mut b);
    }
}

#[test]
fn conf_d_rc_conf_and_rc_conf_d_are_read_again_at_every_start_of_a_script_without_functions() {
    // No function of its own: the boot starts it from what the evaluation read. Before, every
    // later start did too, and a conf.d edit was not seen until the container restarted.
    let script = "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\n\
                  command_args=\"${first:-0}${second:-0}${third:-0}\"\n";
    let root = services("confdagain", &[("plain", script)]);
    let p = root.path();
    std::fs::create_dir_all(p.join("etc/conf.d")).expect("conf.d");
    std::fs::create_dir_all(p.join("etc/rc.conf.d")).expect("rc.conf.d");
    std::fs::write(p.join("etc/conf.d/plain"), "first=100\n").expect("conf.d");
    let mut b = boot(&root, &[]);
    b.wait_line("plain: started");
    common::one(&mut b, "sleep 10000");
    std::fs::write(p.join("etc/conf.d/plain"), "first=200\n").expect("conf.d");
    std::fs::write(p.join("etc/rc.conf"), "second=3\n").expect("rc.conf");
    std::fs::write(p.join("etc/rc.conf.d/x.conf"), "third=4\n").expect("rc.conf.d");
    let o = b.exec(&["/sbin/rcinit", "restart", "plain"]);
    assert!(o.status.success(), "{}", common::text(&o));
    common::one(&mut b, "sleep 20034");
    // And at a start after a stop.
    std::fs::write(p.join("etc/conf.d/plain"), "first=300\n").expect("conf.d");
    let o = b.exec(&["/sbin/rcinit", "stop", "plain"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let o = b.exec(&["/sbin/rcinit", "start", "plain"]);
    assert!(o.status.success(), "{}", common::text(&o));
    common::one(&mut b, "sleep 30034");
    stop(&mut b);
}

/// Seconds between the runs a log of /proc/uptime readings shows.
fn gaps(log: &str) -> Vec<f64> {
    let t: Vec<f64> = log.lines().filter_map(|l| l.trim().parse().ok()).collect();
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn respawn_delay_step_and_cap_pace_respawns_as_openrc_064s_supervise_daemon_s11() {
    // Before: "--respawn-delay-step: unknown option" and the service failed. A daemon that
    // exits at once, respawned 3 times, 2 s more each time, capped at 3 s: 2, 3, 3.
    let opts = "--respawn-delay-step 2s --respawn-delay-cap 3s --respawn-max 3 --respawn-period 60";
    let run = |log: &str| format!("read u _ </proc/uptime; echo $u >> {log}; exit 1");
    // OpenRC 0.64's own supervise-daemon, in its tree, in a PID and mount namespace.
    let real_root = common::Rootfs::overlay("sd064", &common::openrc_064_rootfs());
    let script = format!(
        "set -e\nr=$1\nmount -t proc proc $r/proc\nmount -t tmpfs tmpfs $r/run\n\
         mkdir -p $r/run/openrc\n\
         chroot $r /bin/sh -c 'RC_SVCNAME=t; export RC_SVCNAME; \
         exec /sbin/supervise-daemon t --start --pidfile /run/t.pid {opts} /bin/sh -- -c \"{}\"'\n\
         pid=$(cat $r/run/t.pid)\n\
         n=0; while [ -d $r/proc/$pid ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n\
         cat $r/run/log\n",
        run("/run/log").replace('$', "\\$")
    );
    let o = std::process::Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(&script)
        .arg("sd")
        .arg(real_root.path())
        .output()
        .expect("unshare");
    let real = gaps(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(real.len(), 3, "OpenRC 0.64: {}", common::text(&o));
    // rcinit, the same options through supervise_daemon_args.
    let svc = format!(
        "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sh\n\
         command_args=\"-c '{}'\"\nsupervise_daemon_args=\"{opts}\"\n",
        run("/var/log").replace('$', "\\$")
    );
    let root = services("backoff", &[("flaky", &svc)]);
    let mut b = boot(&root, &[]);
    b.wait_line("flaky: respawned 3 times; giving up");
    let ours = gaps(&std::fs::read_to_string(root.path().join("var/log")).expect("log"));
    stop(&mut b);
    assert_eq!(
        ours.len(),
        3,
        "rcinit ran it {} times\n{}",
        ours.len() + 1,
        b.transcript()
    );
    eprintln!("respawn gaps, s: rcinit {ours:.2?}, OpenRC 0.64 {real:.2?}");
    for (k, (o, r)) in ours.iter().zip(&real).enumerate() {
        assert!(
            (o - r).abs() < 0.5 && (*r - [2.0, 3.0, 3.0][k]).abs() < 0.5,
            "respawn {}: rcinit waited {o:.2} s, OpenRC 0.64 {r:.2} s (all: {ours:?} vs {real:?})",
            k + 1
        );
    }
}
