//! Test harness: boot a busybox rootfs under the real static rcinit, in a PID + mount namespace,
//! either as PID 1 or as a subreaper below a shell that is PID 1 (like `docker run --init`).
//!
//! "Boot this rootfs, run this inside, wait for this event with a deadline": [`Rootfs`] makes the
//! tree, [`Booted`] runs it and turns its output into lines one can wait for. Nothing here sleeps
//! to synchronise: waits are on output lines, on exit, or on a /proc condition with a deadline.
//!
//! The tests need root, `unshare` (util-linux) and busybox-static at /bin/busybox. They fail, never
//! skip, when those are missing: `./dev.sh test` installs them.

#![allow(dead_code)]
// each test file uses its own part of the harness
// The harness waits on the `unshare` process it spawned; it is not PID 1 and has no reaper.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

pub use rcinit::procfs;

/// How rcinit runs in the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// rcinit is the namespace's PID 1.
    Pid1,
    /// A shell is PID 1 and rcinit its child, a subreaper (as under `docker run --init`).
    Subreaper,
}

pub const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// [`MODES`], or PID 1 alone where `./dev.sh test` says the subreaper cannot be tested: under
/// qemu-user the orphans of an emulated subreaper go to the namespace's PID 1 instead (said in
/// the run's output, never silent).
pub fn modes() -> Vec<Mode> {
    match std::env::var("RCINIT_TEST_PID1_ONLY").as_deref() {
        Ok("1") => {
            eprintln!("RCINIT_TEST_PID1_ONLY=1: as PID 1 only, not as a subreaper");
            vec![Mode::Pid1]
        }
        _ => MODES.to_vec(),
    }
}

/// A generous bound that only catches hangs; speed is measured in bench/, not here.
pub const HANG: Duration = Duration::from_secs(20);

/// The static rcinit under test. The namespace tests chroot into a busybox tree, so the binary must
/// not need a dynamic loader: build the tests for the musl target (`./dev.sh test` does).
pub fn rcinit_bin() -> PathBuf {
    // `./dev.sh test` runs a core set again with the arm64 build, run by qemu-user.
    let bin = std::env::var_os("RCINIT_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rcinit")));
    let bytes = std::fs::read(&bin).expect("reading the rcinit binary");
    assert!(
        !bytes.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "{} is dynamically linked; the namespace tests need the static build: \
         run them with ./dev.sh test (cargo test --target x86_64-unknown-linux-musl)",
        bin.display()
    );
    bin
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("rcinit-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("creating a temporary directory");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A busybox-static root filesystem with rcinit at /sbin/rcinit.
pub struct Rootfs {
    dir: TempDir,
    /// An overlay on a cached tree (see [`Rootfs::overlay`]), unmounted on drop.
    mounted: Option<PathBuf>,
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if let Some(m) = &self.mounted {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

impl Rootfs {
    pub fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let r = dir.path();
        for d in [
            "bin", "sbin", "proc", "dev", "tmp", "etc", "run", "var", "harness",
        ] {
            std::fs::create_dir_all(r.join(d)).expect("making the rootfs");
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: install busybox-static (./dev.sh test does)"
        );
        std::fs::copy(busybox, r.join("bin/busybox")).expect("copying busybox");
        let list = Command::new(busybox)
            .arg("--list")
            .stderr(Stdio::inherit())
            .spawn_and_collect();
        for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
            let _ = std::os::unix::fs::symlink("busybox", r.join("bin").join(applet));
        }
        std::fs::copy(rcinit_bin(), r.join("sbin/rcinit")).expect("copying rcinit");
        // Sends itself a blocked signal when asked, so it is pending when rcinit starts (exec keeps
        // both the mask and the pending set): a stop that arrives "during startup".
        write_exec(
            &r.join("harness/run-rcinit"),
            "#!/bin/sh\n[ -n \"$HARNESS_PENDING\" ] && kill -\"$HARNESS_PENDING\" $$\nexec /sbin/rcinit \"$@\"\n",
        );
        Rootfs { dir, mounted: None }
    }

    pub fn path(&self) -> &Path {
        self.mounted.as_deref().unwrap_or(self.dir.path())
    }

    /// A writable overlay on `lower` (a cached tree, never changed), with rcinit at /sbin/rcinit
    /// and the harness's starter; its changes last as long as this value (two boots share them).
    pub fn overlay(tag: &str, lower: &Path) -> Self {
        let dir = TempDir::new(tag);
        let (upper, work, root) = (
            dir.path().join("upper"),
            dir.path().join("work"),
            dir.path().join("root"),
        );
        for d in [&upper, &work, &root] {
            std::fs::create_dir_all(d).expect("overlay directories");
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&root)
            .status()
            .expect("mount");
        assert!(st.success(), "mounting an overlay on {}", lower.display());
        let r = Rootfs {
            dir,
            mounted: Some(root),
        };
        std::fs::copy(rcinit_bin(), r.path().join("sbin/rcinit")).expect("copying rcinit");
        r.write_exec(
            "harness/run-rcinit",
            "#!/bin/sh\n[ -n \"$HARNESS_PENDING\" ] && kill -\"$HARNESS_PENDING\" $$\nexec /sbin/rcinit \"$@\"\n",
        );
        r
    }

    /// An overlay on `lower` (a cached tree, or several joined by `:`) whose sysinit, boot and
    /// default runlevels hold only these scripts (in default).
    pub fn with_only(tag: &str, lower: &Path, scripts: &[(&str, &str)]) -> Self {
        let root = Rootfs::overlay(tag, lower);
        let levels = root.path().join("etc/runlevels");
        for level in ["sysinit", "boot", "default"] {
            let _ = std::fs::remove_dir_all(levels.join(level));
            std::fs::create_dir_all(levels.join(level)).expect("runlevel");
        }
        for (name, text) in scripts {
            root.write_exec(&format!("etc/init.d/{name}"), text);
            std::os::unix::fs::symlink(
                format!("/etc/init.d/{name}"),
                levels.join("default").join(name),
            )
            .expect("runlevel link");
        }
        root
    }

    /// Writes an executable file inside the rootfs (`rel` without a leading slash).
    pub fn write_exec(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("mkdir");
        write_exec(&p, text);
    }

    /// Boots rcinit with `args` (rcinit's own arguments: options, CMD).
    pub fn boot(&self, mode: Mode, args: &[&str]) -> Booted {
        self.boot_with(mode, args, &[], Prep::default())
    }

    /// Boots with extra environment and process setup.
    pub fn boot_with(&self, mode: Mode, args: &[&str], env: &[(&str, &str)], prep: Prep) -> Booted {
        let root = self.path().to_str().expect("utf-8 temp path").to_owned();
        // A network namespace of its own too: services of parallel tests may use the same ports.
        let enter = format!(
            "\"$R/bin/busybox\" ip link set lo up && mount -t proc proc \"$R/proc\" && mount -o rbind /dev \"$R/dev\" || exit 99\n{}\n",
            prep.setup.clone().unwrap_or_default()
        );
        let chroot = match prep.user {
            Some(u) => format!("/usr/sbin/chroot --userspec={u}:{u}"),
            None => "chroot".into(),
        };
        let script = match mode {
            Mode::Pid1 => format!("{enter}exec {chroot} \"$R\" /harness/run-rcinit \"$@\""),
            Mode::Subreaper => format!(
                "{enter}exec {chroot} \"$R\" /bin/sh -c '/harness/run-rcinit \"$@\"; exit $?' pid1-shell \"$@\""
            ),
        };
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "--",
        ])
        .arg(self.path().join("bin/busybox"))
        .args(["sh", "-c", &script, "harness"])
        .args(args)
        .env("R", &root)
        .env("PATH", "/bin:/sbin")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(sig) = prep.pending {
            cmd.env("HARNESS_PENDING", sig.to_string());
        }
        let mut master = None;
        if prep.tty {
            let pty = nix::pty::openpty(None, None).expect("openpty");
            let slave = std::fs::File::from(pty.slave);
            cmd.stdin(slave.try_clone().expect("dup pty")).stdout(slave);
            master = Some(std::fs::File::from(pty.master));
        }
        let tty = prep.tty;
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for &s in &prep.blocked {
                    libc::sigaddset(&mut set, s);
                }
                if let Some(s) = prep.pending {
                    libc::sigaddset(&mut set, s);
                }
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                for &s in &prep.ignored {
                    libc::signal(s, libc::SIG_IGN);
                }
                for &fd in &prep.leak_fds {
                    // An fd without close-on-exec, as a careless parent of PID 1 might leave.
                    libc::dup2(2, fd);
                }
                if tty {
                    libc::setsid();
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("running unshare (util-linux)");
        // Our copy of the slave must go, or the master never sees the end of the output.
        drop(cmd);
        Booted::new(child, mode, master)
    }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("writing a file");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// How the process that becomes rcinit is prepared.
#[derive(Debug, Clone, Default)]
pub struct Prep {
    /// Signals blocked in the inherited mask.
    pub blocked: Vec<i32>,
    /// Signals ignored in the inherited dispositions.
    pub ignored: Vec<i32>,
    /// A signal already pending (and blocked) when rcinit starts.
    pub pending: Option<i32>,
    /// Extra fds left open without close-on-exec.
    pub leak_fds: Vec<i32>,
    /// Run on a new pseudo-terminal (stdin and stdout; stderr stays a pipe), which becomes the
    /// controlling terminal of a new session, as `docker run -it` gives.
    pub tty: bool,
    /// Shell run in the new namespaces before rcinit (`$R` is the rootfs): mounts a runtime
    /// would have made, like Docker's secrets under /run/secrets.
    pub setup: Option<String>,
    /// Run rcinit as this user and group (a non-root USER).
    pub user: Option<u32>,
}

trait SpawnCollect {
    fn spawn_and_collect(&mut self) -> String;
}

impl SpawnCollect for Command {
    fn spawn_and_collect(&mut self) -> String {
        let out = self.output().expect("running a helper");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

enum Event {
    Line(Stream, String),
    Exited(ExitStatus),
}

/// A running namespace with rcinit in it.
pub struct Booted {
    unshare_pid: i32,
    /// While set, nobody reads rcinit's stdout (a stalled `docker logs`).
    stdout_paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub mode: Mode,
    events: Receiver<Event>,
    lines: Vec<(Stream, String)>,
    status: Option<ExitStatus>,
    rcinit: Option<i32>,
    master: Option<std::fs::File>,
}

impl Booted {
    /// Follows an already spawned harness (stdout and stderr piped) that runs rcinit.
    pub fn from_child(child: Child, mode: Mode) -> Self {
        Self::new(child, mode, None)
    }

    fn new(mut child: Child, mode: Mode, master: Option<std::fs::File>) -> Self {
        let (tx, rx) = channel();
        let unshare_pid = child.id() as i32;
        let err = child.stderr.take().expect("piped stderr");
        let paused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let out_reader = match (child.stdout.take(), master.as_ref()) {
            (Some(out), _) => spawn_reader(out, Stream::Out, tx.clone(), Some(paused.clone())),
            (None, Some(m)) => spawn_reader(
                m.try_clone().expect("dup master"),
                Stream::Out,
                tx.clone(),
                Some(paused.clone()),
            ),
            (None, None) => unreachable!("stdout is a pipe or a terminal"),
        };
        let readers = [out_reader, spawn_reader(err, Stream::Err, tx.clone(), None)];
        std::thread::spawn(move || {
            let status = child.wait().expect("waiting for unshare");
            // All output first, then the exit, so a test that saw the exit has seen every line.
            for r in readers {
                let _ = r.join();
            }
            let _ = tx.send(Event::Exited(status));
        });
        Booted {
            unshare_pid,
            stdout_paused: paused,
            mode,
            events: rx,
            lines: Vec::new(),
            status: None,
            rcinit: None,
            master,
        }
    }

    /// Runs `argv` inside the container (its namespaces and root), as `docker exec` does;
    /// `uid` runs it as that user and group.
    pub fn exec_as(&mut self, uid: Option<u32>, argv: &[&str]) -> std::process::Output {
        let pid = self.rcinit_pid().to_string();
        let mut c = Command::new("nsenter");
        c.args(["-t", &pid, "-m", "-p", "-n", "-r", "-w"]);
        let id = uid.map(|u| u.to_string());
        if let Some(u) = &id {
            c.args(["-S", u, "-G", u]);
        }
        c.arg("--")
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        output_within(c.spawn().expect("running nsenter (util-linux)"))
    }

    pub fn exec(&mut self, argv: &[&str]) -> std::process::Output {
        self.exec_as(None, argv)
    }

    /// The control socket as seen from the host, through the container's root.
    pub fn socket_path(&mut self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/rcinit/control.sock",
            self.rcinit_pid()
        ))
    }

    /// Stops reading rcinit's stdout until [`Booted::resume_stdout`]: its pipe fills up.
    pub fn pause_stdout(&self) {
        self.stdout_paused
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn resume_stdout(&self) {
        self.stdout_paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Types on the terminal (a `tty` boot only).
    pub fn type_keys(&mut self, keys: &[u8]) {
        use std::io::Write;
        let m = self.master.as_mut().expect("a tty boot");
        m.write_all(keys).expect("writing to the terminal");
    }

    /// Every line so far, as text for failure messages.
    pub fn transcript(&self) -> String {
        self.lines
            .iter()
            .map(|(s, l)| format!("{}: {l}\n", if *s == Stream::Out { "out" } else { "err" }))
            .collect()
    }

    pub fn lines(&self) -> &[(Stream, String)] {
        &self.lines
    }

    pub fn has_line(&self, needle: &str) -> bool {
        self.lines.iter().any(|(_, l)| l.contains(needle))
    }

    fn pump(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(Event::Line(s, l)) => {
                self.lines.push((s, l));
                true
            }
            Ok(Event::Exited(st)) => {
                self.status = Some(st);
                true
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Waits for a line containing `needle`; returns it. Fails the test with the transcript on
    /// timeout or when rcinit ends first.
    pub fn wait_line(&mut self, needle: &str) -> String {
        self.wait_line_after(0, needle)
    }

    /// Like [`Booted::wait_line`], for a line at index `from` or later.
    pub fn wait_line_after(&mut self, from: usize, needle: &str) -> String {
        self.wait_line_bounded(from, needle, HANG)
    }

    /// Like [`Booted::wait_line`] with a bound of its own (a boot of thousands of scripts).
    pub fn wait_line_within(&mut self, needle: &str, bound: Duration) -> String {
        self.wait_line_bounded(0, needle, bound)
    }

    fn wait_line_bounded(&mut self, from: usize, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        let mut seen = from;
        loop {
            if let Some((_, l)) = self.lines[seen.min(self.lines.len())..]
                .iter()
                .find(|(_, l)| l.contains(needle))
            {
                return l.clone();
            }
            seen = self.lines.len();
            if self.status.is_some() {
                panic!(
                    "rcinit ended before printing {needle:?}\n{}",
                    self.transcript()
                );
            }
            if !self.pump(deadline) {
                panic!("no line {needle:?} within {bound:?}\n{}", self.transcript());
            }
        }
    }

    /// Waits for the namespace to end and returns rcinit's exit code (or 128 + signal).
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + HANG;
        while self.status.is_none() {
            if !self.pump(deadline) {
                panic!("rcinit did not exit within {HANG:?}\n{}", self.transcript());
            }
        }
        let st = self.status.expect("just checked");
        use std::os::unix::process::ExitStatusExt;
        st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
    }

    /// rcinit's pid as the host sees it.
    pub fn rcinit_pid(&mut self) -> i32 {
        if let Some(p) = self.rcinit {
            return p;
        }
        let root = self.unshare_pid;
        let p = wait_for(&format!("rcinit under pid {root}"), || {
            procfs::descendants(root)
                .into_iter()
                .find(|&p| comm(p).as_deref() == Some("rcinit"))
        });
        self.rcinit = Some(p);
        p
    }

    /// Sends `sig` to rcinit.
    pub fn signal(&mut self, sig: i32) {
        let pid = self.rcinit_pid();
        // SAFETY: kill(2) on a pid we own.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            r,
            0,
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Host pid of the namespace's PID 1.
    pub fn namespace_init(&self) -> i32 {
        let parents = procfs::parents();
        let me = self.unshare_pid;
        wait_for("the namespace's init", || {
            parents.iter().find(|&(_, &pp)| pp == me).map(|(&p, _)| p)
        })
    }

    /// Host pids of everything below rcinit right now.
    pub fn below_rcinit(&mut self) -> Vec<i32> {
        let p = self.rcinit_pid();
        procfs::descendants(p)
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Killing the namespace's init ends every process in the namespace.
            let me = self.unshare_pid;
            for (p, _) in procfs::parents().into_iter().filter(|&(_, pp)| pp == me) {
                // SAFETY: kill(2) on our own descendant.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }
}

fn spawn_reader(
    r: impl std::io::Read + Send + 'static,
    s: Stream,
    tx: Sender<Event>,
    paused: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            // A stalled reader, on purpose: nothing to wait for but the test's say-so.
            while paused
                .as_ref()
                .is_some_and(|p| p.load(std::sync::atomic::Ordering::SeqCst))
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches('\n')
                        .to_owned();
                    if tx.send(Event::Line(s, line)).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// `/proc/PID/comm`, trimmed.
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// `/proc/PID/stat` state letter (R, S, Z, ...).
pub fn state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Polls a /proc condition until it yields a value, failing after [`HANG`]. Only for conditions no
/// event announces (a process appearing in or leaving /proc).
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids that are zombies among `pids`.
pub fn zombies(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|&p| state(p) == Some('Z'))
        .collect()
}

/// The set of pids currently alive among `pids`.
pub fn alive(pids: &[i32]) -> HashSet<i32> {
    pids.iter()
        .copied()
        .filter(|&p| state(p).is_some_and(|s| s != 'Z'))
        .collect()
}

/// Waits for a child's output, failing (and killing it) after [`HANG`] instead of hanging the run.
/// A command's exit, stdout and stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn output_within(child: Child) -> std::process::Output {
    let pid = child.id() as i32;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(out) => out.expect("waiting for a child"),
        Err(_) => {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("pid {pid} did not end within {HANG:?}");
        }
    }
}

/// A KiB figure of `/proc/PID/status` (`VmHWM:`, `VmRSS:`).
pub fn status_kib(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// Sends `sig` to a host pid of the test's own namespace.
pub fn kill_pid(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process the test started.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

// Service helpers shared by the supervision tests.

/// A rootfs with these init scripts, all in the default runlevel.
pub fn services(tag: &str, scripts: &[(&str, &str)]) -> Rootfs {
    let root = Rootfs::new(tag);
    let level = root.path().join("etc/runlevels/default");
    std::fs::create_dir_all(&level).expect("mkdir runlevel");
    for (name, text) in scripts {
        root.write_exec(&format!("etc/init.d/{name}"), text);
        std::os::unix::fs::symlink(format!("/etc/init.d/{name}"), level.join(name))
            .expect("runlevel link");
    }
    root
}

/// Host pids below rcinit, alive, whose command line contains `needle`.
pub fn pids_running(b: &mut Booted, needle: &str) -> Vec<i32> {
    b.below_rcinit()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .filter(|&p| state(p).is_some_and(|s| s != 'Z'))
        .collect()
}

/// The one live process below rcinit whose command line contains `needle`, once there is one.
pub fn one(b: &mut Booted, needle: &str) -> i32 {
    wait_for(needle, || {
        let p = pids_running(b, needle);
        (p.len() == 1).then(|| p[0])
    })
}

/// A service's line in the shutdown report.
pub fn report_line(b: &Booted, name: &str) -> String {
    let from = b
        .lines()
        .iter()
        .position(|(_, l)| l.contains("shutdown report:"))
        .unwrap_or_else(|| panic!("no report\n{}", b.transcript()));
    b.lines()[from..]
        .iter()
        .find(|(_, l)| l.starts_with(&format!("  {name} ")))
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| panic!("{name} not in the report\n{}", b.transcript()))
}

/// The debootstrapped Debian with the real OpenRC the differential tests compare against (made
/// once by `./dev.sh deps`, outside the checkout).
pub fn debian_rootfs() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("RCINIT_DEBIAN_ROOTFS")
            .unwrap_or_else(|_| "/var/cache/rcinit/debian-openrc".into()),
    );
    assert!(
        [
            "sbin/openrc",
            "sbin/supervise-daemon",
            "usr/lib/rc/sh/gendepends.sh"
        ]
        .iter()
        .all(|f| p.join(f).exists()),
        "{} has no OpenRC: run ./dev.sh deps (it debootstraps Debian with the openrc package)",
        p.display()
    );
    p
}

/// Boots `root` with rcinit as PID 1 and this extra environment.
pub fn boot_pid1(root: &Rootfs, env: &[(&str, &str)]) -> Booted {
    root.boot_with(Mode::Pid1, &[], env, Prep::default())
}

/// SIGTERM to rcinit, and the clean exit (0) it must answer with.
pub fn stop_clean(b: &mut Booted) {
    b.signal(libc::SIGTERM);
    assert_eq!(b.wait_exit(), 0, "{}", b.transcript());
}

/// Debian with nginx and redis as Debian ships them, without OpenRC (made once by
/// `./dev.sh deps`, outside the checkout).
pub fn daemons_rootfs() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("RCINIT_DAEMONS_ROOTFS")
            .unwrap_or_else(|_| "/var/cache/rcinit/debian-daemons".into()),
    );
    for f in ["usr/sbin/nginx", "usr/bin/redis-server", "bin/busybox"] {
        assert!(
            p.join(f).exists(),
            "{} has no {f}: run ./dev.sh deps (it debootstraps it once)",
            p.display()
        );
    }
    p
}

/// The daemons' Debian tree ([`daemons_rootfs`]) with the init scripts of tests/fixtures/daemons
/// (nginx, redis) in the default runlevel, and rcinit's applets (`/sbin/openrc-run`, so
/// `/etc/init.d/NAME restart` works).
pub fn debian_with_daemons(tag: &str) -> Rootfs {
    let root = Rootfs::overlay(tag, &daemons_rootfs());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/daemons");
    let level = root.path().join("etc/runlevels/default");
    std::fs::create_dir_all(&level).expect("runlevel");
    for name in ["nginx", "redis"] {
        let text = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
        root.write_exec(&format!("etc/init.d/{name}"), &text);
        std::os::unix::fs::symlink(format!("/etc/init.d/{name}"), level.join(name))
            .expect("runlevel link");
    }
    for applet in ["openrc-run", "rc-service", "rc-status"] {
        let link = root.path().join("sbin").join(applet);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("rcinit", link).expect("applet link");
    }
    root
}

/// OpenRC 0.64 as Debian unstable ships it (made once by `./dev.sh deps`).
pub fn openrc_064_rootfs() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(
        std::env::var("RCINIT_OPENRC_SID_ROOTFS")
            .unwrap_or_else(|_| "/var/cache/rcinit/debian-openrc-sid".into()),
    );
    assert!(
        p.join("sbin/supervise-daemon").exists(),
        "{} has no OpenRC 0.64: run ./dev.sh deps (it debootstraps Debian unstable once)",
        p.display()
    );
    p
}

/// The two references: Debian bookworm's OpenRC 0.45.2 and unstable's 0.64.x, each with the version
/// it reports (printed, so a run says what it compared against). Unstable moves: a release
/// outside 0.6x is a clear failure, not a mystery.
pub fn openrc_references() -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for root in [debian_rootfs(), openrc_064_rootfs()] {
        let o = std::process::Command::new("chroot")
            .arg(&root)
            .args(["/sbin/openrc", "--version"])
            .output()
            .expect("chroot openrc --version");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let version = text
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned();
        assert!(
            version == "0.45.2" || version.starts_with("0.6"),
            "{}: OpenRC {version:?} is neither bookworm's 0.45.2 nor a 0.6x release ({text})",
            root.display()
        );
        eprintln!("reference: OpenRC {version} in {}", root.display());
        out.push((version, root));
    }
    out
}

/// The pid a process has inside the namespace it runs in (the last of `NSpid:`).
pub fn ns_pid(host_pid: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{host_pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// What `rcinit status --json NAME` says: its state and the pid it follows (namespace pid).
pub fn status_of(b: &mut Booted, name: &str) -> (String, Option<i64>) {
    let o = b.exec(&["/sbin/rcinit", "status", "--json", name]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&o)));
    let s = &v["services"][0];
    (
        s["state"].as_str().unwrap_or_default().to_owned(),
        s["pid"].as_i64(),
    )
}

/// `sh -c SCRIPT NAME` in fresh PID, mount and network namespaces; the caller adds the arguments.
pub fn in_namespaces(script: &str, name: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount",
        "--net",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        script,
        name,
    ]);
    c
}
