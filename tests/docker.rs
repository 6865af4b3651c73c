//! rcinit in a real Docker engine, as users meet it. The images are made from local root
//! filesystems (no registry here) by `docker/setup.sh`, the script both Dockerfiles run, and
//! get the HEALTHCHECK, STOPSIGNAL and ENTRYPOINT lines of those Dockerfiles, so what is tested
//! is what ships. Containers run with `--network none`; the test command starts `dockerd
//! --bridge=none --iptables=false` when none runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]
#![allow(clippy::disallowed_methods)]

mod common;

use common::text;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::{HANG, Rootfs, output_within};

fn docker(args: &[&str]) -> Output {
    let child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker is missing: ./dev.sh deps installs docker.io");
    output_within(child)
}

fn ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(o.status.success(), "docker {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The Dockerfile's own image settings, to give imported images the same.
fn dockerfile_changes(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect("Dockerfile");
    let last = text.rfind("\nFROM ").expect("a final stage");
    text[last..]
        .lines()
        .filter(|l| {
            // `docker import` takes no STOPSIGNAL; the Dockerfiles say SIGTERM, Docker's default.
            assert!(!l.starts_with("STOPSIGNAL ") || l.trim() == "STOPSIGNAL SIGTERM");
            ["HEALTHCHECK ", "ENTRYPOINT "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_owned)
        .collect()
}

/// A doomed service: it exits at once, is respawned once, then given up.
const DOOMED: &str = r#"#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/false
respawn_delay=0
respawn_max=1
"#;

/// `tar -C dir -c . | docker import [--change ...] - tag` (the harness directory left out).
fn import(dir: &Path, tag: &str, changes: &[String]) {
    let mut import = Command::new("docker");
    import.arg("import");
    for c in changes {
        import.args(["--change", c]);
    }
    let mut child = import
        .args(["-", tag])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker import");
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--exclude", "./harness", "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let copied = std::io::copy(
        tar.stdout.as_mut().expect("tar stdout"),
        child.stdin.as_mut().expect("import stdin"),
    );
    assert!(tar.wait().expect("tar").success());
    drop(child.stdin.take());
    let o = output_within(child);
    assert!(
        o.status.success() && copied.is_ok(),
        "docker import: {copied:?} {}",
        text(&o)
    );
}

/// Builds an image from a busybox rootfs prepared by docker/setup.sh.
fn build(tag: &str, init: bool, extra: &[(&str, &str)], changes: &[String]) -> String {
    let engine = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        engine.status.success(),
        "no Docker engine: ./dev.sh test starts dockerd --bridge=none --iptables=false\n{}",
        text(&engine)
    );
    let root = Rootfs::new(tag.rsplit('/').next().unwrap_or("img"));
    let r = root.path();
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut setup = Command::new("/bin/sh");
    setup.arg(format!("{repo}/docker/setup.sh"));
    if init {
        setup.arg("--init");
    }
    let st = setup
        .arg(common::rcinit_bin())
        .arg(format!("{repo}/examples"))
        .env("ROOT", r)
        .status()
        .expect("setup.sh");
    assert!(st.success(), "setup.sh failed");
    for (name, script) in extra {
        root.write_exec(&format!("etc/init.d/{name}"), script);
        std::os::unix::fs::symlink(
            format!("/etc/init.d/{name}"),
            r.join("etc/runlevels/default").join(name),
        )
        .expect("runlevel link");
    }
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
    import(r, tag, changes);
    tag.to_owned()
}

/// An image built by [`build`] once per test run, with the named Dockerfile's settings.
fn image(
    cell: &'static OnceLock<String>,
    tag: &str,
    init: bool,
    extra: &[(&str, &str)],
    dockerfile: &str,
) -> &'static str {
    cell.get_or_init(|| build(tag, init, extra, &dockerfile_changes(dockerfile)))
}

fn stack_image() -> &'static str {
    static I: OnceLock<String> = OnceLock::new();
    image(&I, "rcinit-test/stack:dev", false, &[], "Dockerfile.alpine")
}

fn doomed_image() -> &'static str {
    static I: OnceLock<String> = OnceLock::new();
    let extra = [("doomed", DOOMED)];
    image(
        &I,
        "rcinit-test/doomed:dev",
        false,
        &extra,
        "Dockerfile.alpine",
    )
}

fn init_image() -> &'static str {
    static I: OnceLock<String> = OnceLock::new();
    image(&I, "rcinit-test/init:dev", true, &[], "Dockerfile.gentoo")
}

/// A container, removed when dropped.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

fn name(tag: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("rcinit-test-{tag}-{}-{n}", std::process::id())
}

/// `docker run -d --network none ARGS... IMAGE CMD...`
fn run(tag: &str, args: &[&str], image: &str, cmd: &[&str]) -> Container {
    let n = name(tag);
    let mut a = vec!["run", "-d", "--network", "none", "--name", &n];
    a.extend(args);
    a.push(image);
    a.extend(cmd);
    ok(&a);
    Container(n)
}

/// Waits for a line of `docker logs -f` containing `needle`, counting from `skip` matches.
fn wait_log(c: &Container, needle: &str, skip: usize) {
    let mut child = Command::new("docker")
        .args(["logs", "-f", &c.0])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker logs");
    let (tx, rx) = channel();
    for s in [
        Box::new(child.stdout.take().expect("out")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("err")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(s).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + HANG;
    let mut seen = 0;
    let found = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains(needle) => {
                if seen == skip {
                    break true;
                }
                seen += 1;
            }
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no {needle:?} in the logs of {}\n{}", c.0, logs(c).0);
}

/// `docker logs`: (stdout, stderr).
fn logs(c: &Container) -> (String, String) {
    let o = docker(&["logs", &c.0]);
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn exit_code(c: &Container) -> i64 {
    ok(&["inspect", "-f", "{{.State.ExitCode}}", &c.0])
        .parse()
        .expect("exit code")
}

fn exec(c: &Container, args: &[&str]) -> Output {
    let mut a = vec!["exec", c.0.as_str()];
    a.extend(args);
    docker(&a)
}

const STARTED: &str = "3 of 3 services started";

#[test]
fn docker_stop_ends_the_stack_in_order_with_0_while_a_shell_entrypoint_gets_137() {
    let image = stack_image();
    let stack = run("stop", &[], image, &[]);
    // What people write today: a shell entrypoint that starts the services itself.
    let shell = run(
        "stop-shell",
        &["--entrypoint", "/bin/sh"],
        image,
        &[
            "-c",
            "busybox httpd -f -p 127.0.0.1:8080 -h /examples/www & /examples/bin/worker & wait",
        ],
    );
    wait_log(&stack, STARTED, 0);
    wait_log(&shell, "processed job", 0);
    let stop = |c: String| {
        std::thread::spawn(move || {
            let t = Instant::now();
            let o = docker(&["stop", &c]);
            assert!(o.status.success(), "{}", text(&o));
            t.elapsed()
        })
    };
    let (a, b) = (stop(stack.0.clone()), stop(shell.0.clone()));
    let (stack_took, shell_took) = (a.join().unwrap(), b.join().unwrap());
    let (out, err) = logs(&stack);
    let all = format!("{out}{err}");
    assert_eq!(exit_code(&stack), 0, "{all}");
    assert!(stack_took < Duration::from_secs(8), "{stack_took:?}\n{all}");
    // Reverse order: the proxy and the worker stop before the web app they depend on.
    let report = &all[all.find("shutdown report:").expect("a report")..];
    let at = |s: &str| report.find(&format!("  {s} ")).expect(s);
    assert!(
        at("proxy") < at("webapp") && at("worker") < at("webapp"),
        "{report}"
    );
    assert_eq!(exit_code(&shell), 137, "the shell entrypoint is SIGKILLed");
    assert!(shell_took >= Duration::from_secs(9), "{shell_took:?}");
    eprintln!(
        "docker stop: rcinit {stack_took:?} (exit 0), shell entrypoint {shell_took:?} (exit 137)"
    );
}

#[test]
fn exec_status_and_check_and_the_healthcheck_turns_unhealthy() {
    let healthy = run(
        "healthy",
        &["--health-interval", "1s", "--health-start-period", "0s"],
        stack_image(),
        &[],
    );
    let sick = run(
        "sick",
        &["--health-interval", "1s", "--health-retries", "1"],
        doomed_image(),
        &[],
    );
    wait_log(&healthy, STARTED, 0);
    let o = exec(&healthy, &["rcinit", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for s in ["webapp", "worker", "proxy"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(s) && l.contains(" started ")),
            "{out}"
        );
    }
    let o = exec(&healthy, &["rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    wait_log(&sick, "doomed: respawned 1 times; giving up", 0);
    let o = exec(&sick, &["rcinit", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("doomed failed"));
    let health = |c: &Container| ok(&["inspect", "-f", "{{.State.Health.Status}}", &c.0]);
    common::wait_for("sick to turn unhealthy", || {
        (health(&sick) == "unhealthy").then_some(())
    });
    common::wait_for("healthy to turn healthy", || {
        (health(&healthy) == "healthy").then_some(())
    });
}

#[test]
fn docker_logs_prefix_every_line_and_keep_stdout_and_stderr_apart() {
    let c = run("logs", &[], stack_image(), &[]);
    wait_log(&c, "[worker] processed job", 0);
    wait_log(&c, "[proxy] upstream ok", 0);
    let (out, err) = logs(&c);
    assert!(out.contains("[worker] processed job"), "{out}");
    assert!(!err.contains("[worker] processed job"), "{err}");
    assert!(err.contains("[rcinit] 3 of 3 services started"), "{err}");
    assert!(
        !out.contains("[rcinit]"),
        "rcinit's own lines are on stderr"
    );
    // busybox httpd -v logs each request the proxy makes, through the error_logger (tee).
    wait_log(&c, "[webapp]", 0);
    for l in out.lines() {
        assert!(l.starts_with('['), "unprefixed line {l:?}");
    }
}

#[test]
fn a_critical_service_that_keeps_crashing_stops_the_container() {
    let c = run(
        "critical",
        &["-e", "RCINIT_CRITICAL=doomed"],
        doomed_image(),
        &[],
    );
    let code = ok(&["wait", &c.0]);
    assert_eq!(code, "111", "{}", logs(&c).1);
    assert!(logs(&c).1.contains("critical service doomed failed"));
}

#[test]
fn docker_restart_comes_back_clean() {
    let c = run("restart", &[], stack_image(), &[]);
    wait_log(&c, STARTED, 0);
    ok(&["restart", &c.0]);
    wait_log(&c, STARTED, 1);
    let o = exec(&c, &["rcinit", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, err) = logs(&c);
    assert!(!err.contains("already"), "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn a_non_root_user_and_a_read_only_root_work() {
    let user = run("user", &["--user", "1000:1000"], stack_image(), &[]);
    let ro = run(
        "ro",
        &["--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp"],
        stack_image(),
        &[],
    );
    for c in [&user, &ro] {
        wait_log(c, "[worker] processed job", 0);
        let o = exec(c, &["rcinit", "status", "--json"]);
        assert!(o.status.success(), "{}: {}", c.0, text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for s in ["worker", "proxy", "webapp"] {
            let st = v["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == s)
                .map(|x| x["state"].clone());
            assert_eq!(
                st,
                Some(serde_json::json!("started")),
                "{} {s}: {v}\n{}",
                c.0,
                logs(c).1
            );
        }
    }
    let o = exec(&user, &["id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1000");
    for c in [&user, &ro] {
        let o = docker(&["stop", &c.0]);
        assert!(o.status.success());
        assert_eq!(exit_code(c), 0, "{}\n{}", c.0, logs(c).1);
    }
}

#[test]
fn docker_init_puts_rcinit_second_and_it_still_works() {
    let c = run("init", &["--init"], stack_image(), &[]);
    wait_log(&c, STARTED, 0);
    let o = exec(&c, &["rcinit", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
    assert!(logs(&c).1.contains("exit code 0"));
}

#[test]
fn the_drop_in_init_ends_with_0_on_halt_from_inside() {
    for cmd in ["halt", "telinit 0"] {
        let c = run("halt", &[], init_image(), &[]);
        wait_log(&c, STARTED, 0);
        let argv: Vec<&str> = cmd.split(' ').collect();
        let o = exec(&c, &argv);
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        assert_eq!(ok(&["wait", &c.0]), "0", "{cmd}\n{}", logs(&c).1);
    }
}

#[test]
fn an_interactive_shell_as_cmd_gets_job_control_and_ctrl_c() {
    let image = stack_image();
    let n = name("tty");
    let _guard = Container(n.clone());
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = std::fs::File::from(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let mut cmd = Command::new("docker");
    cmd.args(["run", "-it", "--network", "none", "--name", &n, image, "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: setsid and TIOCSCTTY between fork and exec, as a terminal emulator does.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("docker run -it");
    drop(cmd);
    let (tx, rx) = channel::<String>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                return;
            }
        }
    });
    let mut seen = String::new();
    let expect = |needle: &str, seen: &mut String| {
        let deadline = Instant::now() + HANG;
        while !seen.contains(needle) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(s) => seen.push_str(&s),
                Err(_) => panic!("no {needle:?} on the terminal:\n{seen}"),
            }
        }
        let at = seen.find(needle).unwrap() + needle.len();
        seen.drain(..at);
    };
    // Once the services are up the shell prompts.
    expect("services started", &mut seen);
    master.write_all(b"sleep 300 &\r").unwrap();
    master.write_all(b"jobs; echo JOBS-DONE\r").unwrap();
    expect("JOBS-DONE\r\n", &mut seen);
    master.write_all(b"jobs\r").unwrap();
    expect("sleep 300", &mut seen);
    master.write_all(b"kill %1; sleep 200\r").unwrap();
    // Ctrl-C reaches the foreground job, not PID 1.
    let foreground_sleep = || {
        let o = docker(&["exec", &n, "sh", "-c", "ps -o args | grep -q '^sleep 200'"]);
        o.status.success().then_some(())
    };
    common::wait_for("the foreground sleep", foreground_sleep);
    master.write_all(b"\x03").unwrap();
    master.write_all(b"echo RC=$?\r").unwrap();
    expect("RC=130", &mut seen);
    master.write_all(b"exit 5\r").unwrap();
    let o = common::wait_for("docker run -it to end", || child.try_wait().ok().flatten());
    assert_eq!(
        o.code(),
        Some(5),
        "the shell's exit code is the container's"
    );
}

#[test]
fn docker_compose_file_is_valid_and_its_stack_runs() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let file = format!("{repo}/docker-compose.yml");
    let o = Command::new("docker-compose")
        .args(["-f", &file, "config"])
        .output()
        .expect("docker-compose is missing: ./dev.sh deps installs it");
    assert!(o.status.success(), "{}", text(&o));
    let cfg = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(cfg.contains("rcinit/example-stack"), "{cfg}");
    // The image the file names, made here from the tested image (Alpine cannot be pulled).
    ok(&["tag", stack_image(), "rcinit/example-stack:latest"]);
    let project = format!("rcinit-test-{}", std::process::id());
    let compose = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .args(["-f", &file, "-p", &project])
            .args(args)
            .output()
            .expect("docker-compose");
        assert!(o.status.success(), "docker-compose {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    compose(&["up", "-d", "--no-build"]);
    let id = compose(&["ps", "-q", "stack"]).trim().to_owned();
    let c = Container(id);
    wait_log(&c, STARTED, 0);
    compose(&["stop"]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
    compose(&["down"]);
}

/// Debian with the real OpenRC, the example stack installed by docker/setup.sh, rcinit as PID 1.
fn openrc_image() -> &'static str {
    static I: OnceLock<String> = OnceLock::new();
    I.get_or_init(|| {
        let rootfs = common::debian_rootfs();
        let base = "rcinit-test/debian-openrc:dev";
        import(&rootfs, base, &[]);
        let repo = env!("CARGO_MANIFEST_DIR");
        let prep = name("prep");
        let _gone = Container(prep.clone());
        let bin = format!("{}:/rcinit:ro", common::rcinit_bin().display());
        let src = format!("{repo}:/src:ro");
        ok(&[
            "run",
            "--name",
            &prep,
            "--network",
            "none",
            "-v",
            &src,
            "-v",
            &bin,
            "--entrypoint",
            "/bin/sh",
            base,
            "/src/docker/setup.sh",
            "/rcinit",
            "/src/examples",
        ]);
        let mut commit = vec!["commit".to_owned()];
        for c in dockerfile_changes("Dockerfile.alpine") {
            commit.extend(["--change".to_owned(), c]);
        }
        commit.extend([prep.clone(), "rcinit-test/openrc-stack:dev".to_owned()]);
        let commit: Vec<&str> = commit.iter().map(String::as_str).collect();
        ok(&commit);
        "rcinit-test/openrc-stack:dev".to_owned()
    })
}

/// With OpenRC in the image and Docker's default capabilities (no mounts), OpenRC's own
/// `rc-service NAME restart` still restarts the daemon under rcinit, and rc-status agrees.
#[test]
fn openrcs_own_rc_service_restart_works_under_default_capabilities() {
    let c = run("openrc", &[], openrc_image(), &[]);
    wait_log(&c, STARTED, 0);
    let pid = |c: &Container| -> i64 {
        let o = exec(c, &["/sbin/rcinit", "status", "--json", "webapp"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["services"][0]["state"], "started", "{v}");
        v["services"][0]["pid"].as_i64().expect("a pid")
    };
    let before = pid(&c);
    let o = exec(&c, &["rc-service", "webapp", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), logs(&c).1);
    let after = pid(&c);
    assert_ne!(before, after);
    let o = exec(&c, &["grep", "PPid", &format!("/proc/{after}/status")]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1),
        Some("1"),
        "the new daemon is rcinit's child: {}",
        text(&o)
    );
    let o = exec(&c, &["rc-status", "-C"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("webapp ") && l.contains("started")),
        "{out}"
    );
    // What needed webapp comes back too (openrc-run restarts it without waiting).
    common::wait_for("the stack healthy again", || {
        exec(&c, &["/sbin/rcinit", "check"])
            .status
            .success()
            .then_some(())
    });
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
}

/// Issue 19: nginx and redis from Debian's packages, the fixtures' init scripts, rcinit as the
/// ENTRYPOINT: probes on the container's loopback, a master killed and recovered, data kept
/// across `docker stop` and `docker start`.
#[test]
fn real_daemons_from_debian_run_recover_and_keep_their_data_under_docker() {
    let root = common::debian_with_daemons("docker-daemons");
    let tag = "rcinit-test/debian-daemons:dev";
    import(
        root.path(),
        tag,
        &[r#"ENTRYPOINT ["/sbin/rcinit"]"#.to_owned()],
    );
    let c = run("daemons", &[], tag, &[]);
    wait_log(&c, "2 of 2 services started", 0);
    let until_ok = |args: &[&str]| -> String {
        common::wait_for(&args.join(" "), || {
            let o = exec(&c, args);
            o.status.success().then(|| text(&o))
        })
    };
    let http = ["/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1/"];
    assert!(until_ok(&http).contains("Welcome to nginx"));
    let cli = |args: &[&str]| -> Vec<String> {
        ["/usr/bin/redis-cli", "-h", "127.0.0.1"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let ping = cli(&["ping"]);
    let ping: Vec<&str> = ping.iter().map(String::as_str).collect();
    assert!(until_ok(&ping).contains("PONG"));
    // The nginx master, by the pid rcinit follows, killed: it comes back.
    let o = exec(&c, &["/sbin/rcinit", "status", "--json", "nginx"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let pid = v["services"][0]["pid"].as_i64().expect("a pid").to_string();
    let o = exec(&c, &["/bin/busybox", "kill", "-9", &pid]);
    assert!(o.status.success(), "{}", text(&o));
    wait_log(&c, "nginx: respawned as pid", 0);
    assert!(until_ok(&http).contains("Welcome to nginx"));
    // And redis's.
    let o = exec(&c, &["/sbin/rcinit", "status", "--json", "redis"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let pid = v["services"][0]["pid"].as_i64().expect("a pid").to_string();
    let o = exec(&c, &["/bin/busybox", "kill", "-9", &pid]);
    assert!(o.status.success(), "{}", text(&o));
    wait_log(&c, "redis: respawned as pid", 0);
    assert!(until_ok(&ping).contains("PONG"));
    // Restarts from inside, rcinit's and the init script's own.
    let o = exec(&c, &["/sbin/rcinit", "restart", "nginx"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(until_ok(&http).contains("Welcome to nginx"));
    let o = exec(&c, &["/etc/init.d/redis", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), logs(&c).1);
    assert!(until_ok(&ping).contains("PONG"));
    let set = cli(&["set", "rcinit-key", "kept-across-docker-stop"]);
    let set: Vec<&str> = set.iter().map(String::as_str).collect();
    assert!(until_ok(&set).contains("OK"));
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
    ok(&["start", &c.0]);
    wait_log(&c, "2 of 2 services started", 1);
    let get = cli(&["get", "rcinit-key"]);
    let get: Vec<&str> = get.iter().map(String::as_str).collect();
    assert!(
        until_ok(&get).contains("kept-across-docker-stop"),
        "{}",
        logs(&c).1
    );
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
}

/// Issue 21's report under Docker's default capabilities (no mounts: openrc-run reaches rcinit
/// through the links on its PATH): nginx as Debian ships it forks and the script names no
/// pidfile; after it ran a while and rc-status was called, OpenRC's own
/// `/etc/init.d/nginx restart` leaves one master, the one rcinit follows, and a service that
/// needs `net` starts through openrc-run.
#[test]
fn openrcs_own_restart_of_a_forking_daemon_leaves_one_followed_master_under_docker() {
    let lower = format!(
        "{}:{}",
        common::daemons_rootfs().display(),
        common::debian_rootfs().display()
    );
    let script = "#!/sbin/openrc-run\ncommand=/usr/sbin/nginx\n\
                  depend() {\n\tneed net localmount\n}\n\
                  start_pre() {\n\tcheckpath -d -m 0755 /var/log/nginx\n}\n";
    let root = common::Rootfs::with_only("docker-ornginx", Path::new(&lower), &[("nginx", script)]);
    let tag = "rcinit-test/openrc-nginx:dev";
    import(
        root.path(),
        tag,
        &[r#"ENTRYPOINT ["/sbin/rcinit"]"#.to_owned()],
    );
    let c = run("ornginx", &[], tag, &[]);
    wait_log(&c, "1 of 1 services started", 0);
    let masters = |c: &Container| -> Vec<i64> {
        let o = exec(
            c,
            &[
                "/bin/sh",
                "-c",
                "grep -l 'nginx: [m]aster' /proc/[0-9]*/cmdline",
            ],
        );
        text(&o)
            .lines()
            .filter_map(|l| {
                l.strip_prefix("/proc/")?
                    .strip_suffix("/cmdline")?
                    .parse()
                    .ok()
            })
            .collect()
    };
    let followed = |c: &Container| -> i64 {
        let o = exec(c, &["/sbin/rcinit", "status", "--json", "nginx"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["services"][0]["state"], "started", "{v}");
        v["services"][0]["pid"].as_i64().expect("a followed pid")
    };
    let first = followed(&c);
    assert_eq!(masters(&c), vec![first]);
    let o = exec(&c, &["/bin/rc-status"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = exec(&c, &["/etc/init.d/nginx", "restart"]);
    assert!(o.status.success(), "{}\n{}", text(&o), logs(&c).1);
    let second = followed(&c);
    assert_ne!(first, second);
    assert_eq!(masters(&c), vec![second], "{}", logs(&c).1);
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
}

/// `docker build` with `-f -` (the Dockerfile on stdin) and `ctx` as the context.
fn build_stdin(tag: &str, dockerfile: &str, ctx: &Path) {
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-f", "-"])
        .arg(ctx)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker build");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dockerfile.as_bytes())
        .expect("Dockerfile");
    let o = output_within(child);
    assert!(o.status.success(), "docker build {tag}: {}", text(&o));
}

/// Issue 24: the image to copy from (docker/Dockerfile.scratch, as `./dev.sh dist` builds it
/// from a directory holding the static binary) is copied from as the README says, and the copy
/// (put where the image has no rcinit) is what boots the services and stops with 0.
#[test]
fn an_image_that_copies_rcinit_from_the_scratch_image_boots() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ctx = common::TempDir::new("scratch-ctx");
    std::fs::copy(common::rcinit_bin(), ctx.path().join("rcinit")).expect("binary");
    let scratch = std::fs::read_to_string(repo.join("docker/Dockerfile.scratch")).expect("file");
    build_stdin("rcinit-test/scratch:dev", &scratch, ctx.path());
    // Only /rcinit in it: its entrypoint runs as PID 1 in an otherwise empty image.
    let o = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "rcinit-test/scratch:dev",
        "--version",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("rcinit "),
        "{}",
        text(&o)
    );
    // The user's image: busybox and the example stack, rcinit copied in.
    let base = build("rcinit-test/no-rcinit:dev", false, &[], &[]);
    let user = common::TempDir::new("copy-from-ctx");
    build_stdin(
        "rcinit-test/copied:dev",
        &format!(
            "FROM {base}\nCOPY --from=rcinit-test/scratch:dev /rcinit /usr/local/sbin/rcinit\n\
             ENTRYPOINT [\"/usr/local/sbin/rcinit\"]\n"
        ),
        user.path(),
    );
    let c = run("copied", &[], "rcinit-test/copied:dev", &[]);
    wait_log(&c, STARTED, 0);
    let o = exec(&c, &["/bin/readlink", "/proc/1/exe"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "/usr/local/sbin/rcinit",
        "{}",
        text(&o)
    );
    ok(&["stop", &c.0]);
    assert_eq!(exit_code(&c), 0, "{}", logs(&c).1);
}
