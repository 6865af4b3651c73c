//! SECURITY.md's promises, each tried the way an attacker would: a real unprivileged uid (65534)
//! against rcinit as PID 1 in a namespace, and checkpath against Debian's real one.
//!
//! Part 1, no service user reaches root through rcinit:
//!   - records written on the script channel by another uid are refused (no root command);
//!   - checkpath never follows a link a service user could have put in the way;
//!   - pidfiles rcinit writes are never written through a link.
//!
//! Part 2, no service user or socket peer can hang PID 1, exhaust it, or misdirect its signals:
//!   - a pidfile is read without blocking, without following, 64 bytes at most, and the pid it
//!     names is followed only when it is this start's daemon.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The tests wait on the processes they start (not PID 1); rcinit's reaper rule is for src/.
#![allow(clippy::disallowed_methods)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Mode, Rootfs, TempDir};

const NOBODY: u32 = 65534;

fn users(root: &Rootfs) {
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\n",
    )
    .unwrap();
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

// ---------------------------------------------------------------------------------------------
// The script channel

/// Attack 1 of issue 15: a root script runs a program as the service user (`su nobody -c`), which
/// inherits the script's fd 9 and writes a start-stop-daemon request of its own there. Before the
/// channel checked credentials, PID 1 started that command as root.
#[test]
fn records_written_on_fd9_by_another_uid_start_nothing() {
    let script = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args=100041
command_background=yes
pidfile=/run/victim.pid
start_pre() {
	su -s /bin/sh nobody -c "printf '%s\0' A 11 start-stop-daemon --start --background --make-pidfile --pidfile /tmp/evil.pid --exec /bin/sh -- -c 'id -u >/tmp/pwned' X 'export PATH=/bin' Q helper >&9"
	return 0
}
"#;
    let root = common::services("sec-fd9", &[("victim", script)]);
    users(&root);
    std::fs::set_permissions(
        root.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    let mut b = root.boot(Mode::Pid1, &[]);
    // The channel is read in order: the request came before the victim's own start.
    b.wait_line("victim: started");
    common::stop_clean(&mut b);
    let pwned = root.path().join("tmp/pwned");
    assert!(
        !pwned.exists(),
        "PID 1 ran the service user's command (as uid {})\n{}",
        std::fs::read_to_string(&pwned).unwrap_or_default().trim(),
        b.transcript()
    );
    let refused = b.wait_line("refused");
    assert!(
        refused.contains("uid 65534"),
        "the refusal names the writer's uid: {refused}"
    );
    // The refusal is logged once per run, however much is written.
    let n = b
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("bytes on the script channel from"))
        .count();
    assert_eq!(n, 1, "{}", b.transcript());
}

/// The helper stand-ins on the script's side: called as another uid (a root script's `su`), they
/// say why at once instead of waiting for an answer that will never come.
#[test]
fn helper_called_as_another_uid_says_why_and_returns() {
    let script = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args=100042
command_background=yes
pidfile=/run/h.pid
start_pre() {
	su -s /bin/sh nobody -c "/run/rcinit/bin/start-stop-daemon --start --exec /bin/true"
	echo "helper-as-nobody=$?"
}
"#;
    let root = common::services("sec-helper", &[("h", script)]);
    users(&root);
    let mut b = root.boot(Mode::Pid1, &[]);
    let said = b.wait_line("helper-as-nobody=");
    assert!(said.ends_with("helper-as-nobody=1"), "{said}");
    // On its stderr (another pipe than the echo's: no order between the two).
    b.wait_line("rcinit takes requests only from uid 0");
    b.wait_line("h: started");
    common::stop_clean(&mut b);
}

// ---------------------------------------------------------------------------------------------
// Pidfiles

/// Attack 3 of issue 15: the service user owns the pidfile's directory and replaces the pidfile
/// with a link to a root-owned file; a restart made PID 1 write the new pid into that file.
#[test]
fn background_pidfile_is_never_written_through_a_link() {
    let script = r#"#!/sbin/openrc-run
command=/bin/sleep
command_args=100043
command_background=yes
command_user=nobody
pidfile=/var/lib/app/app.pid
"#;
    let root = common::services("sec-pidfile", &[("app", script)]);
    users(&root);
    let dir = root.path().join("var/lib/app");
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, NOBODY);
    let target = root.path().join("etc/important");
    std::fs::write(&target, "root's data\n").unwrap();
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("app: started");
    // What the user can do in a directory of its own: replace the pidfile by a link.
    let pidfile = dir.join("app.pid");
    std::fs::remove_file(&pidfile).unwrap();
    std::os::unix::fs::symlink("/etc/important", &pidfile).unwrap();
    chown(&pidfile, NOBODY);
    let o = b.exec(&["/sbin/rcinit", "restart", "app"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        common::text(&o),
        b.transcript()
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "root's data\n",
        "PID 1 wrote through the user's link"
    );
    let meta = std::fs::symlink_metadata(&pidfile).unwrap();
    assert!(meta.is_file(), "the pidfile is a file of its own again");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 1);
    common::stop_clean(&mut b);
}

// ---------------------------------------------------------------------------------------------
// checkpath, through a real service restart

/// Attack 2 of issue 15, as it happens: `checkpath -d -o nobody /var/log/app` and `checkpath -f
/// -m 0644 /var/log/app/app.log` in start_pre; the user links app.log to a root-only file; root's
/// next start made it world-readable.
#[test]
fn checkpath_on_restart_leaves_the_users_link_target_alone() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100044
command_user=nobody
start_pre() {
	checkpath -d -o nobody /var/log/app || return 1
	checkpath -f -m 0644 /var/log/app/app.log
}
"#;
    let root = common::services("sec-checkpath", &[("app", script)]);
    users(&root);
    std::fs::create_dir_all(root.path().join("var/log")).unwrap();
    let secret = root.path().join("etc/secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("app: started");
    let log = root.path().join("var/log/app/app.log");
    assert_eq!(mode(&log), 0o644);
    assert_eq!(
        std::fs::metadata(root.path().join("var/log/app"))
            .unwrap()
            .uid(),
        NOBODY
    );
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink("/etc/secret", &log).unwrap();
    chown(&log, NOBODY);
    let o = b.exec(&["/sbin/rcinit", "restart", "app"]);
    assert!(
        !o.status.success(),
        "the start_pre fails on the link: {}",
        common::text(&o)
    );
    assert_eq!(mode(&secret), 0o600, "checkpath chmodded the link's target");
    // checkpath says why, in the service's log.
    b.wait_line("is a symbolic link");
    common::stop_clean(&mut b);
}

// ---------------------------------------------------------------------------------------------
// checkpath, mode by mode, against Debian's real one

/// Which checkpath runs a case.
#[derive(Clone, Copy, Debug)]
enum Impl {
    Rcinit,
    OpenRc,
}

fn checkpath(which: Impl, args: &[&str]) -> (i32, String) {
    let mut c = match which {
        Impl::Rcinit => {
            let mut c = Command::new(common::rcinit_bin());
            c.arg("checkpath");
            c
        }
        Impl::OpenRc => {
            // Debian's checkpath from the debootstrapped rootfs, with that rootfs's loader and
            // libraries, on this host's paths.
            let r = common::debian_rootfs();
            let mut c = Command::new(r.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
            c.arg("--library-path").arg(format!(
                "{}:{}",
                r.join("lib/x86_64-linux-gnu").display(),
                r.join("usr/lib/x86_64-linux-gnu").display()
            ));
            c.arg(r.join("usr/lib/rc/bin/checkpath"));
            c
        }
    };
    let o = c
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running checkpath");
    (o.status.code().unwrap_or(-1), common::text(&o))
}

/// A tree for one case: `user/` owned by 65534, root-only `secret` (0600) and `secretdir/`
/// (0700, holding `file` 0600), and a root-owned link `rootlink -> realdir`.
struct Tree {
    _dir: TempDir,
    base: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let dir = TempDir::new(tag);
        let base = dir.path().to_path_buf();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let user = base.join("user");
        std::fs::create_dir(&user).unwrap();
        chown(&user, NOBODY);
        std::fs::write(base.join("secret"), "root only\n").unwrap();
        std::fs::set_permissions(base.join("secret"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::create_dir(base.join("secretdir")).unwrap();
        std::fs::set_permissions(
            base.join("secretdir"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(base.join("secretdir/file"), "root only\n").unwrap();
        std::fs::set_permissions(
            base.join("secretdir/file"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir(base.join("realdir")).unwrap();
        std::os::unix::fs::symlink(base.join("realdir"), base.join("rootlink")).unwrap();
        Tree { _dir: dir, base }
    }

    fn p(&self, rel: &str) -> String {
        self.base.join(rel).to_str().unwrap().to_owned()
    }

    /// A link the service user made: `user/NAME -> target`, owned by 65534.
    fn user_link(&self, name: &str, target: &str) {
        let l = self.base.join("user").join(name);
        std::os::unix::fs::symlink(self.base.join(target), &l).unwrap();
        chown(&l, NOBODY);
    }

    /// What the attack aims at, to compare before and after.
    fn targets(&self) -> String {
        let mut s = String::new();
        for rel in ["secret", "secretdir", "secretdir/file"] {
            let p = self.base.join(rel);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                std::fs::read_to_string(&p).unwrap()
            } else {
                String::new()
            };
            s.push_str(&format!(
                "{rel}: {:o} {}:{} {:?}\n",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                content
            ));
        }
        let listing: Vec<String> = std::fs::read_dir(self.base.join("secretdir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        s.push_str(&format!("secretdir holds {listing:?}\n"));
        s
    }
}

struct Case {
    name: &'static str,
    /// Sets up the tree; returns the arguments (paths relative to the tree, marked `@`).
    setup: fn(&Tree) -> Vec<String>,
    /// The exit code both must give.
    refused: bool,
}

fn args_in(t: &Tree, args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| match a.strip_prefix('@') {
            Some(rel) => t.p(rel),
            None => (*a).to_owned(),
        })
        .collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "-f -m on a link to a root file",
            setup: |t| {
                t.user_link("app.log", "secret");
                args_in(t, &["-f", "-m", "0644", "@user/app.log"])
            },
            refused: true,
        },
        Case {
            name: "-F on a link to a root file",
            setup: |t| {
                t.user_link("app.log", "secret");
                args_in(t, &["-F", "@user/app.log"])
            },
            refused: true,
        },
        Case {
            name: "-f -o on a link to a root file",
            setup: |t| {
                t.user_link("app.log", "secret");
                args_in(t, &["-f", "-o", "65534", "@user/app.log"])
            },
            refused: true,
        },
        Case {
            name: "-d -m on a link to a root directory",
            setup: |t| {
                t.user_link("cache", "secretdir");
                args_in(t, &["-d", "-m", "0777", "@user/cache"])
            },
            refused: true,
        },
        Case {
            name: "-D -o on a link to a root directory",
            setup: |t| {
                t.user_link("cache", "secretdir");
                args_in(t, &["-D", "-o", "65534", "@user/cache"])
            },
            refused: true,
        },
        Case {
            name: "-p -m on a link to a root file",
            setup: |t| {
                t.user_link("fifo", "secret");
                args_in(t, &["-p", "-m", "0666", "@user/fifo"])
            },
            refused: true,
        },
        Case {
            name: "-s does not make the last link followed",
            setup: |t| {
                t.user_link("app.log", "secret");
                args_in(t, &["-s", "-f", "-m", "0666", "@user/app.log"])
            },
            refused: true,
        },
        Case {
            name: "a user's link on the way, to an existing root file",
            setup: |t| {
                t.user_link("sub", "secretdir");
                args_in(t, &["-f", "-m", "0644", "@user/sub/file"])
            },
            refused: true,
        },
        Case {
            name: "a user's link on the way, creating a file",
            setup: |t| {
                t.user_link("sub", "secretdir");
                args_in(t, &["-f", "@user/sub/planted"])
            },
            refused: true,
        },
        Case {
            name: "a user's link on the way, creating a directory",
            setup: |t| {
                t.user_link("sub", "secretdir");
                args_in(t, &["-d", "-o", "65534", "@user/sub/planted"])
            },
            refused: true,
        },
        Case {
            name: "root's own link on the way is followed",
            setup: |t| args_in(t, &["-d", "-m", "0750", "@rootlink/made"]),
            refused: false,
        },
        Case {
            name: "a root-made hard link: no chmod",
            setup: |t| {
                std::fs::hard_link(t.base.join("secret"), t.base.join("user/hard")).unwrap();
                args_in(t, &["-f", "-m", "0644", "@user/hard"])
            },
            refused: true,
        },
        Case {
            name: "a root-made hard link: no chown",
            setup: |t| {
                std::fs::hard_link(t.base.join("secret"), t.base.join("user/hard")).unwrap();
                args_in(t, &["-f", "-o", "65534", "@user/hard"])
            },
            refused: true,
        },
        Case {
            name: "a regular file of the user's is corrected",
            setup: |t| {
                std::fs::write(t.base.join("user/own.log"), "x").unwrap();
                args_in(t, &["-f", "-m", "0640", "-o", "65534", "@user/own.log"])
            },
            refused: false,
        },
        Case {
            name: "-D keeps what the directory holds",
            setup: |t| args_in(t, &["-D", "@secretdir"]),
            refused: false,
        },
    ]
}

/// Each case on a fresh tree under each checkpath: the same exit code, the same state of what
/// the attack aims at (and of the path itself), and the refusal expected of it.
#[test]
fn checkpath_refuses_what_openrcs_checkpath_refuses() {
    let mut report = String::new();
    for case in cases() {
        let mut seen = Vec::new();
        for which in [Impl::OpenRc, Impl::Rcinit] {
            let t = Tree::new("sec-cp");
            let args = (case.setup)(&t);
            let before = t.targets();
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out) = checkpath(which, &argv);
            let after = t.targets();
            let made = std::fs::symlink_metadata(args.last().unwrap())
                .map(|m| format!("{:o} {} {}", m.mode(), m.uid(), m.is_symlink()))
                .unwrap_or_else(|_| "absent".into());
            seen.push((which, code, after.clone(), made, out.clone()));
            if case.refused {
                if code == 0 || before != after {
                    report.push_str(&format!(
                        "{} under {which:?}: not refused (exit {code})\nbefore:\n{before}after:\n{after}{out}\n",
                        case.name
                    ));
                }
            } else if code != 0 {
                report.push_str(&format!(
                    "{} under {which:?}: exit {code}\n{out}\n",
                    case.name
                ));
            }
        }
        let (o, r) = (&seen[0], &seen[1]);
        if o.1 != r.1 || o.2 != r.2 || o.3 != r.3 {
            report.push_str(&format!(
                "{}: OpenRC and rcinit differ\n  OpenRC exit {} made {} {}\n  rcinit exit {} made {} {}\n  OpenRC: {}  rcinit: {}\n",
                case.name, o.1, o.3, o.2, r.1, r.3, r.2, o.4, r.4
            ));
        }
    }
    assert!(report.is_empty(), "{report}");
}

// ---------------------------------------------------------------------------------------------
// Log files

/// `output_log` in a directory the service user owns, made a link to a root-only file: the
/// daemon's process opens it after becoming the user, so the link leads nowhere it could not go.
#[test]
fn output_log_is_opened_as_the_service_user() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/echo
command_args=appended-by-the-daemon
command_user=nobody
output_log=/var/log/app/out.log
respawn_max=1
respawn_delay=0
"#;
    let root = common::services("sec-outlog", &[("app", script)]);
    users(&root);
    let dir = root.path().join("var/log/app");
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, NOBODY);
    let secret = root.path().join("etc/secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("out.log");
    std::os::unix::fs::symlink("/etc/secret", &link).unwrap();
    chown(&link, NOBODY);
    let mut b = root.boot(Mode::Pid1, &[]);
    // The open fails in the daemon's process, as the user: the spawn says so.
    b.wait_line("starting /bin/echo: /var/log/app/out.log: Permission denied");
    common::stop_clean(&mut b);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only\n");
}

// ---------------------------------------------------------------------------------------------
// Pidfiles read (issue 16)

/// A forking service whose command, run as the service user, leaves `$1` in its pidfile's
/// place: `command_args` is the shell text run as that user.
fn forking(run_as_user: &str) -> String {
    format!(
        "#!/sbin/openrc-run\ncommand=/bin/sh\ncommand_args=\"-c '{run_as_user}'\"\ncommand_user=nobody\npidfile=/var/lib/app/app.pid\n"
    )
}

fn app_root(tag: &str, script: &str) -> Rootfs {
    let root = common::services(tag, &[("app", script)]);
    users(&root);
    let dir = root.path().join("var/lib/app");
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, NOBODY);
    root
}

/// Attack 1 of issue 16: the service user makes the pidfile a FIFO. Opening it for reading
/// blocked PID 1 for good: no status, SIGTERM ignored.
#[test]
fn a_fifo_pidfile_blocks_nothing() {
    let root = app_root("sec-fifo", &forking("mkfifo /var/lib/app/app.pid"));
    let fifo = root.path().join("var/lib/app/app.pid");
    let mut b = root.boot_with(
        Mode::Pid1,
        &[],
        &[("RCINIT_READY_TIMEOUT", "3000")],
        common::Prep::default(),
    );
    common::wait_for("the FIFO", || {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(&fifo)
            .ok()
            .filter(|m| m.file_type().is_fifo())
    });
    let t = std::time::Instant::now();
    let o = b.exec(&["/sbin/rcinit", "status"]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        took < std::time::Duration::from_secs(1),
        "status took {took:?} while the pidfile was a FIFO"
    );
    let why = b.wait_line("app: pidfile /var/lib/app/app.pid:");
    assert!(why.contains("is not a regular file"), "{why}");
    common::stop_clean(&mut b);
}

/// Attack 1 of issue 16: a pidfile linked to /dev/zero was read without end (PID 1 OOM-killed
/// in a 512 MiB cgroup).
#[test]
fn a_pidfile_linked_to_dev_zero_costs_pid1_nothing() {
    let root = app_root("sec-zero", &forking("ln -s /dev/zero /var/lib/app/app.pid"));
    let mut b = root.boot_with(
        Mode::Pid1,
        &[],
        &[("RCINIT_READY_TIMEOUT", "1500")],
        common::Prep::default(),
    );
    let why = b.wait_line("app: pidfile /var/lib/app/app.pid:");
    assert!(why.contains("symbolic link"), "{why}");
    let pid = b.rcinit_pid();
    let hwm = common::status_kib(pid, "VmHWM:");
    assert!(hwm < 16 * 1024, "PID 1's VmHWM is {hwm} KiB");
    common::stop_clean(&mut b);
}

/// Attack 1 of issue 16: a pidfile naming a process that is not the daemon (here an older
/// root process, named as the script names its daemon) made `rcinit stop` signal it.
#[test]
fn a_pidfile_naming_an_older_process_is_neither_followed_nor_signalled() {
    let older = r#"#!/sbin/openrc-run
start() {
	sleep 100047 &
	echo $! >/run/older.pid
}
"#;
    let victim = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c 'cat /run/older.pid >/run/victim.pid'"
procname=sleep
pidfile=/run/victim.pid
depend() { after older; }
"#;
    let root = common::services("sec-older", &[("older", older), ("victim", victim)]);
    let mut b = root.boot_with(
        Mode::Pid1,
        &[],
        &[("RCINIT_READY_TIMEOUT", "1500")],
        common::Prep::default(),
    );
    let why = b.wait_line("victim: pidfile /run/victim.pid:");
    assert!(why.contains("was running before this start began"), "{why}");
    let sleeper = common::one(&mut b, "sleep 100047");
    let o = b.exec(&["/sbin/rcinit", "stop", "victim"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(
        common::state(sleeper).filter(|s| *s != 'Z'),
        Some('S'),
        "the older process was signalled"
    );
    common::stop_clean(&mut b);
}

/// What the checks must not break: a daemon that forks twice and writes the grandchild's pid
/// (adopted by PID 1 before the pidfile is read) is followed, and stopped by its stop.
#[test]
fn a_double_forking_daemon_is_still_followed() {
    let daemon = r#"#!/bin/sh
# fork, and fork again: the grandchild writes its own pid and stays (its name stays dd2).
(
	(
		read -r me _ </proc/self/stat
		echo "$me" >/run/dd2.pid
		exec </dev/null >/dev/null 2>&1
		while :; do sleep 1000; done
	) &
)
exit 0
"#;
    let script = r#"#!/sbin/openrc-run
command=/usr/bin/dd2
pidfile=/run/dd2.pid
"#;
    let root = common::services("sec-dfork", &[("dd2", script)]);
    root.write_exec("usr/bin/dd2", daemon);
    let mut b = root.boot(Mode::Pid1, &[]);
    let line = b.wait_line("dd2: started");
    let st = b.exec(&["/bin/cat", "/run/dd2.pid"]);
    let pid_in_ns: i32 = String::from_utf8_lossy(&st.stdout).trim().parse().unwrap();
    let o = b.exec(&["/sbin/rcinit", "status", "--json"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("\"pid\": {pid_in_ns},")),
        "status follows pid {pid_in_ns}: {}\n{line}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = b.exec(&["/sbin/rcinit", "stop", "dd2"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let o = b.exec(&["/bin/sh", "-c", &format!("kill -0 {pid_in_ns}")]);
    assert!(!o.status.success(), "the daemon outlived its stop");
    common::stop_clean(&mut b);
}

// ---------------------------------------------------------------------------------------------
// The control socket is fair (issue 16)

/// A process of another uid holding connections to rcinit's control socket, and flooding it.
struct Holder {
    pid: i32,
    report: std::fs::File,
}

impl Holder {
    /// Forks a child that becomes `uid`, opens `hold` connections and keeps them, says how many
    /// of them were refused ("busy"), then for `flood` connects and closes
    /// in a loop (one a millisecond) and says how many it made. The socket's directory is
    /// entered as root first: the container's /proc/PID/root is not the user's to walk.
    fn spawn(b: &mut common::Booted, uid: u32, hold: usize, flood: std::time::Duration) -> Holder {
        use std::os::fd::IntoRawFd;
        let dir =
            std::ffi::CString::new(format!("/proc/{}/root/run/rcinit", b.rcinit_pid())).unwrap();
        // SAFETY: sockaddr_un is plain data.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(b"control.sock") {
            *d = *s as libc::c_char;
        }
        let (r, w) = nix::unistd::pipe().unwrap();
        let w = w.into_raw_fd();
        let flood_ns = flood.as_nanos() as i64;
        let hold = hold.min(64);
        // SAFETY: the child makes only async-signal-safe system calls, then _exit or is killed.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: raw system calls on prepared, stack-held data.
            unsafe {
                let mut fail = libc::chdir(dir.as_ptr()) != 0;
                fail |= libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0;
                fail |= libc::syscall(libc::SYS_setgid, uid) != 0;
                fail |= libc::syscall(libc::SYS_setuid, uid) != 0;
                if fail {
                    libc::_exit(90);
                }
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                let mut fds = [libc::pollfd {
                    fd: -1,
                    events: 0,
                    revents: 0,
                }; 64];
                for p in fds.iter_mut().take(hold) {
                    let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                    if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                        libc::_exit(91);
                    }
                    p.fd = fd;
                }
                // Each connection asks once and reads its one-line answer (bounded by a 10 s
                // receive timeout): "busy" (code 6, said at accept) or a check's answer, after
                // which the connection stays open, holding its slot.
                let ask = b"{\"op\":\"check\"}\n";
                let limit = libc::timeval {
                    tv_sec: 10,
                    tv_usec: 0,
                };
                let mut busy: u32 = 0;
                for p in fds.iter().take(hold) {
                    libc::setsockopt(
                        p.fd,
                        libc::SOL_SOCKET,
                        libc::SO_RCVTIMEO,
                        (&limit as *const libc::timeval).cast(),
                        std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                    );
                    libc::send(p.fd, ask.as_ptr().cast(), ask.len(), libc::MSG_NOSIGNAL);
                    let mut line = [0u8; 512];
                    let mut n = 0usize;
                    while n < line.len() {
                        let got = libc::read(p.fd, line.as_mut_ptr().add(n).cast(), 1);
                        if got != 1 || line[n] == b'\n' {
                            break;
                        }
                        n += 1;
                    }
                    let said = &line[..n];
                    if said.windows(8).any(|x| x == b"\"code\":6") {
                        busy += 1;
                    }
                }
                libc::write(w, (&busy as *const u32).cast(), 4);
                let mut now: libc::timespec = std::mem::zeroed();
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
                let start = now.tv_sec as i64 * 1_000_000_000 + now.tv_nsec as i64;
                let mut made: u32 = 0;
                let ms = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 1_000_000,
                };
                loop {
                    libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
                    if now.tv_sec as i64 * 1_000_000_000 + now.tv_nsec as i64 - start >= flood_ns {
                        break;
                    }
                    let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                    if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) == 0 {
                        made += 1;
                    }
                    libc::close(fd);
                    libc::nanosleep(&ms, std::ptr::null_mut());
                }
                libc::write(w, (&made as *const u32).cast(), 4);
                loop {
                    libc::pause();
                }
            }
        }
        // SAFETY: the write end is the child's now; ours is closed here.
        unsafe { libc::close(w) };
        Holder {
            pid,
            report: std::fs::File::from(r),
        }
    }

    fn next(&mut self) -> u32 {
        use std::io::Read;
        let mut b = [0u8; 4];
        self.report.read_exact(&mut b).expect(
            "the holder's report (exit 90: could not become the user, 91: could not connect)",
        );
        u32::from_ne_bytes(b)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid of the child this test forked.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

fn sleeper(tag: &str) -> Rootfs {
    common::services(
        tag,
        &[(
            "s",
            "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100048\n",
        )],
    )
}

/// Attack 2 of issue 16: one user holding connections (a status every 9 s) kept all 16
/// non-root slots, and every other user's status and check failed.
#[test]
fn one_user_holding_connections_cannot_lock_out_another() {
    let root = sleeper("sec-fair");
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("s: started");
    let mut h = Holder::spawn(&mut b, NOBODY, 16, std::time::Duration::ZERO);
    let busy = h.next();
    assert_eq!(
        busy,
        12,
        "uid 65534 got {} of its 16 connections",
        16 - busy
    );
    let o = b.exec_as(Some(1000), &["/sbin/rcinit", "check"]);
    assert!(
        o.status.success(),
        "another user's check: {}",
        common::text(&o)
    );
    let o = b.exec_as(Some(NOBODY), &["/sbin/rcinit", "status"]);
    assert_eq!(o.status.code(), Some(6), "{}", common::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("busy"),
        "{}",
        common::text(&o)
    );
    drop(h);
    common::stop_clean(&mut b);
}

/// Attack 2 of issue 16: each refused connection logged a line (1,008,120 lines in 20 s).
#[test]
fn a_flood_of_refused_connections_logs_one_line_per_uid_per_minute() {
    let root = sleeper("sec-flood");
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("s: started");
    // Every slot it can get, then one connection a millisecond for 20 s.
    let mut h = Holder::spawn(&mut b, NOBODY, 16, std::time::Duration::from_secs(20));
    assert_eq!(h.next(), 12, "uid 65534 was served 4 connections");
    // Root always gets in, flood or not.
    let o = b.exec(&["/sbin/rcinit", "status"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let flood = h.next();
    assert!(flood > 1000, "the flood made only {flood} connections");
    drop(h);
    common::stop_clean(&mut b);
    let lines = b
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("a connection of uid 65534 refused"))
        .count();
    assert_eq!(lines, 1, "{flood} refusals gave {lines} lines");
}

// ---------------------------------------------------------------------------------------------
// Scripts calling rcinit on themselves (issue 16)

const SLEEPER: &str = "supervisor=supervise-daemon\ncommand=/bin/sleep\n";

/// Attack 3 of issue 16: a start_pre that restarts its own service looped for ever (the boot
/// never finished, thousands of lines).
#[test]
fn a_start_pre_restarting_its_own_service_gets_an_error() {
    let script = format!(
        "#!/sbin/openrc-run\n{SLEEPER}command_args=100049\nstart_pre() {{\n\t/sbin/rcinit restart selfish\n\techo \"self-restart=$?\"\n}}\n"
    );
    let root = common::services("sec-self-start", &[("selfish", &script)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    let said = b.wait_line("self-restart=");
    assert!(said.ends_with("self-restart=1"), "{said}");
    b.wait_line("selfish: started");
    b.wait_line("its own start asked to restart it");
    common::stop_clean(&mut b);
    let starts = b
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("selfish: started"))
        .count();
    assert_eq!(starts, 1, "{}", b.transcript());
}

/// Attack 3 of issue 16: a stop_pre that stops its own service deadlocked `rcinit stop`.
#[test]
fn a_stop_pre_stopping_its_own_service_gets_an_error() {
    let script = format!(
        "#!/sbin/openrc-run\n{SLEEPER}command_args=100050\nstop_pre() {{\n\t/sbin/rcinit stop selfish\n\techo \"self-stop=$?\"\n}}\n"
    );
    let root = common::services("sec-self-stop", &[("selfish", &script)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("selfish: started");
    let o = b.exec(&["/sbin/rcinit", "stop", "selfish"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let said = b.wait_line("self-stop=");
    assert!(said.ends_with("self-stop=1"), "{said}");
    b.wait_line("its own stop asked to stop it");
    common::stop_clean(&mut b);
}

/// A need chain back to the starting service: A's start_pre starts B, which needs A.
#[test]
fn a_start_pre_starting_what_needs_it_gets_an_error() {
    let a = format!(
        "#!/sbin/openrc-run\n{SLEEPER}command_args=100051\nstart_pre() {{\n\t/sbin/rcinit start bee\n\techo \"chain=$?\"\n}}\n"
    );
    let bee =
        format!("#!/sbin/openrc-run\n{SLEEPER}command_args=100052\ndepend() {{ need ay; }}\n");
    let root = common::services("sec-chain", &[("ay", &a)]);
    root.write_exec("etc/init.d/bee", &bee);
    let mut b = root.boot(Mode::Pid1, &[]);
    let said = b.wait_line("chain=");
    assert!(said.ends_with("chain=1"), "{said}");
    b.wait_line("bee needs ay, whose start asked to start it");
    b.wait_line("ay: started");
    common::stop_clean(&mut b);
}

/// What OpenRC allows, kept: only start and stop lock a service, so a reload that restarts its
/// own service works (the restart follows the reload).
#[test]
fn a_reload_that_restarts_its_own_service_works() {
    let script = format!(
        "#!/sbin/openrc-run\n{SLEEPER}command_args=100053\nreload() {{\n\t/sbin/rcinit restart rl\n\techo \"reload-restart=$?\"\n}}\n"
    );
    let root = common::services("sec-reload", &[("rl", &script)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("rl: started");
    let first = common::one(&mut b, "sleep 100053");
    let from = b.lines().len();
    let o = b.exec(&["/sbin/rcinit", "rl", "reload"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("reload-restart=0"),
        "{}",
        common::text(&o)
    );
    b.wait_line_after(from, "rl: started");
    let second = common::one(&mut b, "sleep 100053");
    assert_ne!(first, second, "the daemon was restarted");
    common::stop_clean(&mut b);
}

// ---------------------------------------------------------------------------------------------
// Found by review (each a hang or a misdirected signal)

/// A program a root script runs as another user floods fd 9 (refused, so never a record): the
/// reader took no turns of the event loop while bytes kept coming, so nothing else ran.
#[test]
fn a_flood_of_refused_records_leaves_pid1_answering() {
    let script = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=100067
start_pre() {
	# Four writers: together they out-write one reader taking 16 KiB a read.
	su -s /bin/sh nobody -c "for i in 1 2 3 4; do dd if=/dev/zero bs=65536 >&9 2>/dev/null & done"
	while [ ! -e /tmp/go ]; do sleep 0.1; done
}
"#;
    let root = common::services("sec-fd9-flood", &[("flooded", script)]);
    users(&root);
    std::fs::set_permissions(
        root.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("refused");
    let o = b.exec(&["/sbin/rcinit", "status"]);
    assert!(o.status.success(), "{}", common::text(&o));
    std::fs::write(root.path().join("tmp/go"), "").unwrap();
    b.wait_line("flooded: started");
    common::stop_clean(&mut b);
}

/// Any user could pass PID 1 a TCP socket with SO_LINGER and unsent data: its last close waits
/// in the kernel for the linger time, and PID 1 closed it on its event loop.
#[test]
fn a_lingering_socket_passed_to_pid1_blocks_nothing() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let root = sleeper("sec-linger");
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("s: started");
    // A peer on loopback that never reads, and a sender whose queue it fills.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    tcp.set_nonblocking(true).unwrap();
    let chunk = vec![0u8; 65536];
    while tcp.write(&chunk).is_ok() {}
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 60,
    };
    // SAFETY: setsockopt with a valid linger value on our own socket.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    let ctl = std::os::unix::net::UnixStream::connect(b.socket_path()).unwrap();
    let line = b"{\"op\":\"status\"}\n";
    let iov = [std::io::IoSlice::new(line)];
    let fds = [tcp.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(
        ctl.as_raw_fd(),
        &iov,
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .unwrap();
    // PID 1's copy is now the last.
    drop(tcp);
    ctl.set_read_timeout(Some(common::HANG)).unwrap();
    let mut reply = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&ctl), &mut reply)
        .expect("a reply to the request that passed the socket");
    assert!(reply.contains("\"code\":0"), "{reply}");
    let o = b.exec(&["/sbin/rcinit", "status"]);
    assert!(o.status.success(), "{}", common::text(&o));
    common::stop_clean(&mut b);
}

/// A pidfile naming a process whose parent is alive and not rcinit: that parent would reap it
/// unseen, and rcinit would later signal whatever has the pid then.
#[test]
fn a_pidfile_naming_another_parents_child_is_not_followed() {
    let script = r#"#!/sbin/openrc-run
command=/bin/sh
command_args="-c '(sleep 100068 & echo \$! >/run/m1.pid; wait) </dev/null >/dev/null 2>&1 & exit 0'"
procname=sleep
pidfile=/run/m1.pid
"#;
    let root = common::services("sec-ppid", &[("m1", script)]);
    let mut b = root.boot_with(
        Mode::Pid1,
        &[],
        &[("RCINIT_READY_TIMEOUT", "1500")],
        common::Prep::default(),
    );
    let why = b.wait_line("m1: pidfile /run/m1.pid:");
    assert!(why.contains("not rcinit's child"), "{why}");
    common::stop_clean(&mut b);
}

/// A command of its own (not start or stop) that starts its stopped service waited for its
/// own end: the start now follows the command.
#[test]
fn an_extra_command_starting_its_own_service_works() {
    let script = format!(
        "#!/sbin/openrc-run\n{SLEEPER}command_args=100069\nextra_stopped_commands=kick\nkick() {{\n\t/sbin/rcinit start kicked\n\techo \"kick=$?\"\n}}\n"
    );
    let root = common::services("sec-kick", &[("kicked", &script)]);
    let mut b = root.boot(Mode::Pid1, &[]);
    b.wait_line("kicked: started");
    let o = b.exec(&["/sbin/rcinit", "stop", "kicked"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let from = b.lines().len();
    let o = b.exec(&["/sbin/rcinit", "kicked", "kick"]);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kick=0"),
        "{}",
        common::text(&o)
    );
    b.wait_line_after(from, "kicked: started");
    common::stop_clean(&mut b);
}
