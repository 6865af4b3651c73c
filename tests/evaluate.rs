//! Evaluating init scripts on real processes: at boot (rcinit as PID 1 and as a subreaper), and
//! through `inspect`, `graph` and `lint --root` from outside an image.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
// The test process is not PID 1 and has no reaper: waiting on its own children is right here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{MODES, Prep, Rootfs, wait_for};

const PROMPT: Duration = Duration::from_secs(3);

fn script(depend: &str, extra: &str) -> String {
    format!("#!/sbin/openrc-run\n{extra}\ndepend() {{\n{depend}\n}}\n")
}

/// A rootfs with init scripts and a default runlevel holding them all.
fn with_scripts(tag: &str, scripts: &[(&str, String)]) -> Rootfs {
    let root = Rootfs::new(tag);
    for (name, text) in scripts {
        root.write_exec(&format!("etc/init.d/{name}"), text);
        let level = root.path().join("etc/runlevels/default");
        std::fs::create_dir_all(&level).expect("mkdir runlevel");
        let _ = std::os::unix::fs::symlink(format!("/etc/init.d/{name}"), level.join(name));
    }
    root
}

#[test]
fn a_hung_depend_is_killed_and_the_other_scripts_keep_their_results() {
    for mode in MODES {
        let root = with_scripts(
            "hung",
            &[
                ("good", script("\tafter hung", "")),
                ("later", script("\tneed good", "")),
                ("hung", script("\tsleep 100000", "")),
                ("syntax", script("\tneed good", "if then fi")),
            ],
        );
        let env = [("RCINIT_EVAL_TIMEOUT", "300")];
        let mut b = root.boot_with(mode, &["echo", "cmd-ran"], &env, Prep::default());
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        let t = b.transcript();
        assert!(
            t.contains("hung: /etc/init.d/hung: evaluating it took longer than 300 ms"),
            "{mode:?}\n{t}"
        );
        assert!(t.contains("wave 1: good"), "{mode:?}\n{t}");
        assert!(t.contains("wave 2: later"), "{mode:?}\n{t}");
        // The shell's own message, with its line number.
        assert!(
            t.contains("syntax: error loading /etc/init.d/syntax") && t.contains("line 2"),
            "{mode:?}\n{t}"
        );
        assert!(b.has_line("cmd-ran"));
    }
}

#[test]
fn a_runlevel_that_does_not_exist_fails_the_boot_with_1() {
    for mode in MODES {
        let root = with_scripts("badlevel", &[("good", script("\t:", ""))]);
        let env = [("RCINIT_RUNLEVEL", "nonetwrk")];
        let mut b = root.boot_with(mode, &["echo", "cmd-ran"], &env, Prep::default());
        assert_eq!(b.wait_exit(), 1, "{mode:?}\n{}", b.transcript());
        assert!(
            b.has_line("nonetwrk is not a valid runlevel"),
            "{}",
            b.transcript()
        );
        assert!(!b.has_line("cmd-ran"));
    }
}

#[test]
fn sigterm_during_evaluation_stops_promptly() {
    for mode in MODES {
        let root = with_scripts("evalterm", &[("hung", script("\tsleep 100000", ""))]);
        let env = [("RCINIT_EVAL_TIMEOUT", "600000")];
        let mut b = root.boot_with(mode, &["echo", "cmd-ran"], &env, Prep::default());
        let rcinit = b.rcinit_pid();
        // The hung depend() is running: its `sleep` is below rcinit.
        wait_for("the hung depend() to run", || {
            common::procfs::descendants(rcinit)
                .into_iter()
                .find(|&p| common::comm(p).as_deref() == Some("sleep"))
        });
        let t = Instant::now();
        b.signal(libc::SIGTERM);
        assert_eq!(b.wait_exit(), 0, "{mode:?}\n{}", b.transcript());
        assert!(t.elapsed() < PROMPT, "{mode:?}: took {:?}", t.elapsed());
        assert!(
            b.has_line("stop asked for while evaluating"),
            "{}",
            b.transcript()
        );
        assert!(
            !b.has_line("cmd-ran"),
            "the CMD must not start after a stop"
        );
    }
}

fn rcinit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::rcinit_bin())
        .args(args)
        .env("RCINIT_PROVIDE", "")
        .output()
        .expect("running rcinit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample() -> Rootfs {
    with_scripts(
        "cli",
        &[
            (
                "db",
                script(
                    "\tprovide database",
                    "command=/bin/sleep\ncommand_args=\"100 'a b'\"\nsupervisor=supervise-daemon",
                ),
            ),
            (
                "web",
                script("\tneed database\n\tuse dns", "start() { :; }"),
            ),
            ("hw", script("\tkeyword -docker", "")),
        ],
    )
}

#[test]
fn inspect_json_has_the_documented_keys_and_the_shell_built_argv() {
    let root = sample();
    let r = root.path().to_str().expect("utf-8");
    let (code, out, err) = rcinit(&["inspect", "--json", "--sys", "docker", "--root", r]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let items = v.as_array().expect("an array");
    assert_eq!(items.len(), 3);
    for it in items {
        for k in [
            "name", "need", "use", "want", "after", "before", "provide", "keyword", "excluded",
            "error",
        ] {
            assert!(it.get(k).is_some(), "key {k} missing in {it}");
        }
    }
    let by = |n: &str| items.iter().find(|i| i["name"] == n).expect("service");
    assert_eq!(by("web")["need"], serde_json::json!(["database"]));
    assert_eq!(by("web")["use"], serde_json::json!(["dns"]));
    assert!(
        by("hw")["excluded"]
            .as_str()
            .is_some_and(|e| e.contains("-docker"))
    );
    assert!(by("db")["excluded"].is_null() && by("db")["error"].is_null());
    // command_args are parsed by the shell, quotes and all.
    assert_eq!(
        by("db")["argv"],
        serde_json::json!(["/bin/sleep", "100", "a b"])
    );
    assert!(
        by("web")["functions"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "start"))
    );

    let (code, _, err) = rcinit(&["inspect", "--root", r, "nosuch"]);
    assert_eq!(code, 2);
    assert!(err.contains("no service nosuch"), "{err}");
}

#[test]
fn graph_json_and_dot() {
    let root = sample();
    let r = root.path().to_str().expect("utf-8");
    let (code, out, err) = rcinit(&["graph", "--format", "json", "--sys", "docker", "--root", r]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["start"], serde_json::json!([["db"], ["web"]]));
    assert_eq!(v["stop"], serde_json::json!([["web"], ["db"]]));
    let (code, dot, err) = rcinit(&["graph", "--format", "dot", "--root", r]);
    assert_eq!(code, 0, "{err}");
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("Graphviz's dot (./dev.sh deps installs graphviz)");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("dot");
    assert!(out.status.success(), "dot rejected:\n{dot}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn lint_fails_on_errors_and_passes_a_clean_image() {
    let root = sample();
    let r = root.path().to_str().expect("utf-8");
    let (code, out, _) = rcinit(&["lint", "--sys", "docker", "--root", r]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: /etc/init.d/hw"), "{out}");

    let bad = with_scripts(
        "lintbad",
        &[
            ("a", script("\tneed ghost", "")),
            (
                "b",
                script(
                    "\t:",
                    "command=/no/such/daemon\nsupervisor=supervise-daemon",
                ),
            ),
            (
                "c",
                script(
                    "\t:",
                    "command=/bin/sleep\ncommand_user=nobody-here\nsupervisor=supervise-daemon",
                ),
            ),
        ],
    );
    std::fs::write(
        bad.path().join("etc/init.d/crlf"),
        "#!/sbin/openrc-run\r\ndepend() { :; }\r\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bad.path().join("etc/init.d/crlf"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let r = bad.path().to_str().expect("utf-8");
    let (code, out, _) = rcinit(&["lint", "--root", r]);
    assert_eq!(code, 1, "{out}");
    for want in [
        "error: /etc/init.d/a:4: a needs ghost, which does not exist",
        "error: /etc/init.d/b:2: command /no/such/daemon: does not exist",
        "error: /etc/init.d/c:3: command_user nobody-here",
        "error: /etc/init.d/crlf:1: CRLF line endings",
        "fix:",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

/// Issue 18: the scripts' own stop schedules asking for more than the stop budget are said at
/// build time, with the numbers and the fix.
#[test]
fn lint_says_when_the_scripts_retry_asks_more_than_the_stop_budget() {
    let root = with_scripts(
        "lintbudget",
        &[
            (
                "db",
                script(
                    "	:",
                    "command=/bin/sleep
supervisor=supervise-daemon
retry=60",
                ),
            ),
            (
                "worker",
                script(
                    "	need db",
                    "command=/bin/sleep
supervisor=supervise-daemon
retry=SIGTERM/10/SIGKILL/5",
                ),
            ),
            (
                "quick",
                script(
                    "	:",
                    "command=/bin/sleep
supervisor=supervise-daemon",
                ),
            ),
        ],
    );
    let r = root.path().to_str().expect("utf-8");
    let (code, out, _) = rcinit(&["lint", "--root", r]);
    assert_eq!(code, 0, "a warning, not an error: {out}");
    for want in [
        "warning: /etc/init.d/db:4: the scripts' retry asks for up to 70 s to stop (worker 10 s, db 60 s); RCINIT_SERVICES_GRACETIME is 7 s",
        "ENV RCINIT_SERVICES_GRACETIME=140000",
        "--stop-timeout 143",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

/// Regression: client commands kept PID 1's early signal block, so Ctrl-C did nothing while a
/// hung depend() was being evaluated, and the evaluation shells outlived an interrupted command.
#[test]
fn ctrl_c_stops_a_client_command_and_its_evaluation_shells() {
    let root = with_scripts("cliint", &[("hung", script("\tsleep 100000", ""))]);
    let child = Command::new(common::rcinit_bin())
        .args(["graph", "--root", root.path().to_str().expect("utf-8")])
        .env("RCINIT_EVAL_TIMEOUT", "600000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rcinit graph");
    let pid = child.id() as i32;
    let sleeper = wait_for("the hung depend() to run", || {
        common::procfs::descendants(pid)
            .into_iter()
            .find(|&p| common::comm(p).as_deref() == Some("sleep"))
    });
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = common::output_within(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGINT"));
    wait_for("the evaluation shells to be gone", || {
        common::state(sleeper)
            .is_none_or(|s| s == 'Z')
            .then_some(())
    });
}

/// Regression: from outside an image without /proc, a hung script could only be stopped with its
/// whole shell, and the scripts after it were reported as failing to load.
#[test]
fn without_proc_a_hung_script_costs_only_itself() {
    let root = with_scripts(
        "noproc",
        &[
            ("a", script("\t:", "")),
            ("hung", script("\tsleep 100000", "")),
            ("z", script("\tneed a", "")),
        ],
    );
    assert!(
        !root.path().join("proc/self").exists(),
        "the test rootfs has no /proc mounted"
    );
    let out = Command::new(common::rcinit_bin())
        .args([
            "inspect",
            "--json",
            "--root",
            root.path().to_str().expect("utf-8"),
        ])
        .env("RCINIT_EVAL_TIMEOUT", "300")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rcinit inspect");
    let out = common::output_within(out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let by = |n: &str| {
        v.as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == n))
            .cloned()
            .expect("service")
    };
    assert!(
        by("hung")["error"]
            .as_str()
            .is_some_and(|e| e.contains("longer than 300 ms")),
        "{}",
        by("hung")
    );
    assert!(by("a")["error"].is_null(), "{}", by("a"));
    assert!(by("z")["error"].is_null(), "{}", by("z"));
    assert_eq!(by("z")["need"], serde_json::json!(["a"]));
}

/// rc.conf is parsed once per evaluation shell (as a function body) instead of sourced per pass
/// and script: it must mean what sourcing it means. Its variables reach depend() (after conf.d:
/// rc.conf wins) and the run-time pass (before conf.d: conf.d wins), a here-document in it
/// still works, a failing last command still fails the load, and a file that cannot be a
/// function body is sourced as before.
#[test]
fn rc_conf_parsed_once_means_what_sourcing_it_means() {
    let root = with_scripts(
        "rcconf",
        &[
            ("dep", script("\tneed dep-$WHO", "")),
            (
                "dep-rcconf",
                script("\t:", "command=/bin/sleep\nsupervisor=supervise-daemon"),
            ),
            (
                "run",
                script(
                    "\t:",
                    "command=/bin/sleep\ncommand_args=\"$WHO $DOC\"\nsupervisor=supervise-daemon",
                ),
            ),
        ],
    );
    let r = root.path().to_str().expect("utf-8");
    std::fs::create_dir_all(root.path().join("etc/conf.d")).unwrap();
    std::fs::write(root.path().join("etc/conf.d/dep"), "WHO=confd\n").unwrap();
    std::fs::write(root.path().join("etc/conf.d/run"), "WHO=confd\n").unwrap();
    let conf = "# comment\nWHO=rcconf\nDOC=$(cat <<'END'\nheredoc\nEND\n)\n# }\n";
    std::fs::write(root.path().join("etc/rc.conf"), conf).unwrap();
    let inspect = || {
        let (code, out, err) = rcinit(&["inspect", "--json", "--root", r]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let items = v.as_array().expect("array").clone();
        move |n: &str| {
            items
                .iter()
                .find(|i| i["name"] == n)
                .expect("service")
                .clone()
        }
    };
    let by = inspect();
    assert_eq!(
        by("dep")["need"],
        serde_json::json!(["dep-rcconf"]),
        "rc.conf wins in depend()"
    );
    assert_eq!(
        by("run")["argv"],
        serde_json::json!(["/bin/sleep", "confd", "heredoc"]),
        "conf.d wins at run time; the here-document was read"
    );
    // A last command that fails: the load fails, naming rc.conf, as with `.`.
    std::fs::write(root.path().join("etc/rc.conf"), format!("{conf}false\n")).unwrap();
    let by = inspect();
    assert!(
        by("run")["error"]
            .as_str()
            .is_some_and(|e| e.contains("rc.conf")),
        "{}",
        by("run")
    );
    // Valid to source but not as a function body (a here-document ended by the end of the
    // file would swallow the closing brace): sourced as before, so the same variables.
    std::fs::write(
        root.path().join("etc/rc.conf"),
        "WHO=rcconf\ncat >/dev/null <<END\nnever ended\n",
    )
    .unwrap();
    let by = inspect();
    assert_eq!(
        by("dep")["need"],
        serde_json::json!(["dep-rcconf"]),
        "{}",
        by("dep")
    );
    assert!(by("dep")["error"].is_null(), "{}", by("dep"));
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let meta = std::fs::symlink_metadata(&src).unwrap();
        if meta.file_type().is_symlink() {
            let _ = std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst);
        } else if meta.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The boot gives a script both passes from one load when it finds the two loading orders
/// cannot differ for it. On every fixture script (the differential tests' set, real OpenRC's
/// reference), what one load gives must be exactly what two passes give; scripts with a conf.d
/// file, or that read RC_SERVICE or the working directory, must get two passes.
#[test]
fn one_load_gives_exactly_what_two_passes_give_on_every_fixture() {
    use rcinit::script::load;
    let root = Rootfs::new("merge");
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openrc");
    for d in ["init.d", "conf.d", "rc.conf.d", "runlevels"] {
        copy_tree(&fx.join(d), &root.path().join("etc").join(d));
    }
    std::fs::copy(fx.join("rc.conf"), root.path().join("etc/rc.conf")).unwrap();
    // Order-sensitive on purpose: each reads what only one of the two orders gives.
    for (name, body) in [
        (
            "reads-service",
            "command=/bin/sleep\ncommand_args=\"$RC_SERVICE\"",
        ),
        (
            "reads-cwd",
            "[ -f relative.conf ] && command_args=found\ncommand=/bin/sleep",
        ),
    ] {
        root.write_exec(&format!("etc/init.d/{name}"), &script("\t:", body));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = |merge: bool| {
        let mut o = load::Options::new(root.path());
        o.sys = Some("docker".into());
        o.run_pass = !merge;
        o.merge = merge;
        rt.block_on(load::load(&o)).expect("load")
    };
    let (two, one) = (load(false), load(true));
    let mut merged = Vec::new();
    for s in one.specs.iter().filter(|s| s.run_pass) {
        let t = two
            .specs
            .iter()
            .find(|t| t.name == s.name)
            .expect("same scripts");
        // What the script prints while loading is printed once instead of once per pass.
        let once = |x: &rcinit::script::spec::Spec| {
            let mut x = x.clone();
            let mut seen = std::collections::HashSet::new();
            x.messages.retain(|m| seen.insert(m.clone()));
            x
        };
        assert_eq!(
            once(s),
            once(t),
            "{}: one load differs from two passes",
            s.name
        );
        merged.push(s.name.as_str());
    }
    assert!(
        merged.len() >= 20,
        "only {} merged: {merged:?}",
        merged.len()
    );
    for name in ["confd-need", "net.eth0", "reads-service", "reads-cwd"] {
        assert!(!merged.contains(&name), "{name} must get two passes");
    }
    // The dependency pass alone for the rest: their lists still match.
    for s in one.specs.iter().filter(|s| !s.run_pass) {
        let t = two.specs.iter().find(|t| t.name == s.name).unwrap();
        assert_eq!((&s.raw, &s.deps), (&t.raw, &t.deps), "{}", s.name);
    }
}

/// Issue 20: lint checks every script's needs, as OpenRC's dependency generator does: a
/// script in no runlevel that needs a missing service is a warning (it fails when started by
/// hand), one of the runlevel an error. Before, only the runlevel's were looked at.
#[test]
fn lint_reports_a_missing_need_of_every_script_runlevel_errors_others_warnings() {
    let root = with_scripts("lintneeds", &[("inlevel", script("\tneed ghost", ""))]);
    root.write_exec("etc/init.d/spare", &script("\tneed phantom", ""));
    root.write_exec("etc/init.d/fine", &script("\tneed inlevel", ""));
    let r = root.path().to_str().expect("utf-8");
    let (code, out, _) = rcinit(&["lint", "--root", r]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: /etc/init.d/inlevel:4: inlevel needs ghost, which does not exist"),
        "{out}"
    );
    assert!(
        out.contains("warning: /etc/init.d/spare:4: spare needs phantom, which does not exist"),
        "{out}"
    );
    assert!(!out.contains("fine needs"), "{out}");
    // Only the warning: lint passes (exit 0) and still says it.
    std::fs::remove_file(root.path().join("etc/runlevels/default/inlevel")).expect("unlink");
    std::fs::remove_file(root.path().join("etc/init.d/inlevel")).expect("rm");
    std::fs::remove_file(root.path().join("etc/init.d/fine")).expect("rm");
    let (code, out, _) = rcinit(&["lint", "--root", r]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: /etc/init.d/spare:4: spare needs phantom"),
        "{out}"
    );
}

/// The guard of issue 23's split of the graph and the evaluation: what `rcinit graph` (JSON and
/// dot) and `rcinit inspect --json` print for every fixture script and for the Debian root's own
/// scripts, byte for byte as committed in tests/golden. `RCINIT_GOLDEN=write` rewrites the files
/// (a change to them is then read in the diff, and says why in its commit).
#[test]
fn graph_and_inspect_print_byte_for_byte_what_is_committed() {
    let fixtures = Rootfs::new("golden");
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openrc");
    for d in ["init.d", "conf.d", "rc.conf.d", "runlevels"] {
        copy_tree(&fx.join(d), &fixtures.path().join("etc").join(d));
    }
    std::fs::copy(fx.join("rc.conf"), fixtures.path().join("etc/rc.conf")).unwrap();
    let debian = common::debian_rootfs();
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let write = std::env::var("RCINIT_GOLDEN").as_deref() == Ok("write");
    for (tag, root) in [("fixtures", fixtures.path()), ("debian", debian.as_path())] {
        let r = root.to_str().expect("utf-8");
        let mut runs: Vec<Vec<String>> = Vec::new();
        let mut levels: Vec<String> = std::fs::read_dir(root.join("etc/runlevels"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        levels.sort();
        for level in &levels {
            runs.push(vec![
                "graph".into(),
                "--format".into(),
                "json".into(),
                "--runlevel".into(),
                level.clone(),
            ]);
        }
        runs.push(vec![
            "graph".into(),
            "--format".into(),
            "json".into(),
            "--sys".into(),
            "docker".into(),
        ]);
        runs.push(vec!["graph".into(), "--format".into(), "dot".into()]);
        runs.push(vec!["graph".into(), "--format".into(), "deptree".into()]);
        runs.push(vec!["graph".into(), "--format".into(), "text".into()]);
        runs.push(vec!["inspect".into(), "--json".into()]);
        let mut all = String::new();
        for args in &runs {
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.extend(["--root", r]);
            let (code, out, err) = rcinit(&args);
            assert_eq!(code, 0, "{args:?}: {err}");
            // The fixtures' root is a fresh directory each run: named as the scripts see it.
            all.push_str(&format!(
                "==== rcinit {}\n",
                args[..args.len() - 2].join(" ")
            ));
            all.push_str(&out.replace(r, "$ROOT"));
        }
        let file = golden.join(format!("{tag}.txt"));
        if write {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&file, &all).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (RCINIT_GOLDEN=write makes it)", file.display()));
        if all != want {
            let at = all
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(all.lines().count().min(want.lines().count()));
            let section = |t: &str| {
                t.lines()
                    .take(at + 1)
                    .filter(|l| l.starts_with("===="))
                    .last()
                    .map(str::to_owned)
            };
            panic!(
                "{tag}: differs from {} at line {} ({:?}):\n  now:  {:?}\n  was:  {:?}",
                file.display(),
                at + 1,
                section(&all),
                all.lines().nth(at),
                want.lines().nth(at)
            );
        }
        assert!(runs.len() >= 6, "{tag}: {} runlevels only", levels.len());
    }
}
