//! Runs the shim over many scripts: one shell per batch (one subshell per script and pass),
//! batches in parallel up to the CPU count, each script under a time limit.
//!
//! Nothing here waits on a pid: a batch is done when its shell says so (`Z`) or closes fd 9, and
//! its process is reaped by whoever reaps (rcinit's reaper as PID 1, exit of the CLI otherwise).

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::AsyncReadExt;

use super::channel::Channel;
use super::discover::{Script, resolve_in_root};
use super::record::{Parser, Record};
use super::spec::{self, PassLog, Spec};
use crate::spawn::{self, Grouping, Options};

/// The shell side, carried in the binary.
pub const SHIM: &str = include_str!("shim.sh");

/// Where a script command's shell finds the shim: fd 7, which the shim closes first.
pub const SHIM_FD: i32 = 7;

/// The shim in a sealed memfd, made once per process, for script commands: their shell reads it
/// from [`SHIM_FD`], so `ps` shows `rcinit: NAME CMD`, not the shim's text. None where memfds
/// are not available (the shim then goes as `sh -c SHIM`).
pub fn shim_memfd() -> Option<std::os::fd::RawFd> {
    static FD: std::sync::OnceLock<Option<OwnedFd>> = std::sync::OnceLock::new();
    FD.get_or_init(|| {
        use std::os::fd::FromRawFd;
        // SAFETY: memfd_create with a C string literal; the fd returned is ours alone.
        let raw = unsafe {
            libc::memfd_create(
                c"rcinit-shim".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut file = std::fs::File::from(fd);
        std::io::Write::write_all(&mut file, SHIM.as_bytes()).ok()?;
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return None;
        }
        // The shell reads it through /proc: without /proc, `sh -c SHIM` as before.
        std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
        Some(OwnedFd::from(file))
    })
    .as_ref()
    .map(|f| f.as_raw_fd())
}

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image root as rcinit sees it (`/` when booting).
    pub root: PathBuf,
    /// Evaluate inside `root` by chroot (needed for `--root` other than `/`).
    pub chroot: bool,
    /// The runlevel being entered (conf.d `.<runlevel>` variants of the run-time pass).
    pub runlevel: String,
    /// The environment scripts see.
    pub env: Vec<(OsString, OsString)>,
    /// Per-script time limit.
    pub timeout: Duration,
    /// Run the dependency pass (without it, scripts are taken as loaded: the boot ran it
    /// before, for the graph).
    pub dep_pass: bool,
    /// Also run the run-time pass (variables, functions, argv).
    pub run_pass: bool,
    /// Each script's spec as soon as its run-time pass succeeded, before the batch ends (the
    /// boot starts services meanwhile). Failures come only with the final result.
    pub stream: Option<tokio::sync::mpsc::UnboundedSender<Spec>>,
    /// With the dependency pass alone: give scripts whose two loading orders cannot differ
    /// both passes from one subshell ([`one_load_will_do`]).
    pub merge: bool,
    /// Deal scripts to the shells in turn instead of in runs, so that the first of the list are
    /// the first evaluated.
    pub interleave: bool,
    /// Shell to use (inside the root).
    pub shell: String,
    /// Maximum number of shells at once.
    pub parallel: usize,
}

impl Request {
    pub fn new(root: &Path, runlevel: &str) -> Self {
        Self {
            root: root.to_owned(),
            chroot: root != Path::new("/"),
            runlevel: runlevel.to_owned(),
            env: Vec::new(),
            timeout: Duration::from_millis(5000),
            dep_pass: true,
            run_pass: true,
            stream: None,
            merge: false,
            interleave: false,
            shell: "/bin/sh".into(),
            parallel: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Evaluates `scripts` (service scripts only; see `discover`). Results come back in input order.
pub async fn evaluate(req: &Request, scripts: &[Script]) -> Vec<Spec> {
    if scripts.is_empty() {
        return Vec::new();
    }
    // Batches of at least 8 scripts, at most `parallel` of them: a shell start costs about as much
    // as a few subshells, and more shells than cores only adds switching.
    let batches = req.parallel.max(1).min(scripts.len().div_ceil(8)).max(1);
    let per = scripts.len().div_ceil(batches);
    let chunks: Vec<Vec<Script>> = if req.interleave {
        (0..batches)
            .map(|b| scripts.iter().skip(b).step_by(batches).cloned().collect())
            .collect()
    } else {
        scripts.chunks(per).map(<[Script]>::to_vec).collect()
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let req = req.clone();
        set.spawn(async move { (i, run_batch(&req, &chunk).await) });
    }
    let mut parts: Vec<(usize, Vec<Spec>)> = Vec::new();
    // A batch task cannot panic short of a bug (the hook ends rcinit then); a cancelled one has
    // nothing to give.
    while let Some(joined) = set.join_next().await {
        if let Ok(p) = joined {
            parts.push(p);
        }
    }
    parts.sort_by_key(|(i, _)| *i);
    let mut out: Vec<Spec> = parts.into_iter().flat_map(|(_, s)| s).collect();
    // A batch that could not even start reports every script of it as failed, in order.
    if out.len() != scripts.len() {
        let have: std::collections::HashSet<String> = out.iter().map(|s| s.name.clone()).collect();
        for s in scripts.iter().filter(|s| !have.contains(&s.name)) {
            out.push(Spec {
                name: s.name.clone(),
                path: s.path(),
                error: Some("evaluation did not run".into()),
                ..Spec::default()
            });
        }
    }
    out
}

/// Words that make a script's result depend on which of the two loading orders ran: the
/// variables only one order sets, and the working directory (the dependency pass runs in the
/// init.d directory, the run-time pass in /).
const ORDER_SENSITIVE: &[&str] = &[
    "RC_SERVICE",
    "RC_CMD",
    "PWD",
    "pwd",
    "$0",
    "${0",
    "cd ",
    "cd\t",
    "cd\n",
    "cd;",
    "./",
    "dirname",
    "readlink",
    "realpath",
    "BASH_SOURCE",
    "pushd",
    "popd",
];

/// Whether one load can give both passes of `script` (conservative: when in doubt, no). The
/// passes differ in the order of conf.d and rc.conf (no conf.d file: same order), in
/// RC_SERVICE, RC_CMD and the working directory (a script that never reads them cannot tell).
/// A relative operand of a file test or of `.` would read the working directory too.
pub fn one_load_will_do(root: &Path, script: &Script, runlevel: &str) -> bool {
    let confd = format!("{}/../conf.d", script.dir);
    let prefix = script.name.split('.').next().unwrap_or("");
    let mut names = vec![script.name.clone(), format!("{}.{runlevel}", script.name)];
    if !prefix.is_empty() && prefix != script.name {
        names.push(prefix.to_owned());
        names.push(format!("{prefix}.{runlevel}"));
    }
    if names
        .iter()
        .any(|n| resolve_in_root(root, &format!("{confd}/{n}")).is_none_or(|p| p.exists()))
    {
        return false;
    }
    let Some(text) =
        resolve_in_root(root, &script.path()).and_then(|p| std::fs::read_to_string(p).ok())
    else {
        return false;
    };
    !ORDER_SENSITIVE.iter().any(|w| text.contains(w)) && !relative_operand(&text)
}

/// A file test (`-e x`, `-f x`...) or `.`/`source` whose operand is not absolute nor a
/// variable: it would be looked up from the working directory.
fn relative_operand(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '[' || c == ']')
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|w| {
        let op = w[0];
        let is_test =
            op.len() == 2 && op.starts_with('-') && "ebcdfghkLprsSuwxOGN".contains(&op[1..]);
        let is_source = op == "." || op == "source";
        let operand = w[1].trim_start_matches(['"', '\'']);
        (is_test || is_source) && !(operand.starts_with('/') || operand.starts_with('$'))
    })
}

/// rc.conf's text for the shim (`=TEXT`), read here once instead of by a `cat` in every shell;
/// `-` lets the shell read it (not readable here, or not text an argument can carry), empty when
/// there is none.
fn rc_conf(root: &Path) -> OsString {
    let Some(p) = resolve_in_root(root, "/etc/rc.conf") else {
        return OsString::new();
    };
    match std::fs::read(&p) {
        // One argument may hold at most 128 KiB (MAX_ARG_STRLEN).
        Ok(text) if !text.contains(&0) && text.len() < 64 * 1024 => {
            let mut arg = OsString::from("=");
            arg.push(std::ffi::OsStr::from_bytes(&text));
            arg
        }
        Ok(_) => "-".into(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OsString::new(),
        Err(_) => "-".into(),
    }
}

/// In-root realpath of a script (RC_SERVICE of the run-time pass, 0.6x: the link's target).
fn real_path(root: &Path, path: &str) -> String {
    resolve_in_root(root, path)
        .and_then(|p| {
            p.strip_prefix(root)
                .ok()
                .map(|r| format!("/{}", r.display()))
        })
        .unwrap_or_else(|| path.to_owned())
}

struct Running {
    name: String,
    pass: String,
    pid: i32,
    since: Instant,
}

/// Runs scripts through one shell after another until each was reached: a batch whose shell had
/// to be killed whole (a hung script with no /proc to find its subshell) goes on in a new shell
/// from the next script.
async fn run_batch(req: &Request, scripts: &[Script]) -> Vec<Spec> {
    let mut out = Vec::with_capacity(scripts.len());
    let mut rest = scripts;
    while !rest.is_empty() {
        let failed = |why: String| -> Vec<Spec> {
            rest.iter()
                .map(|s| Spec {
                    name: s.name.clone(),
                    path: s.path(),
                    error: Some(why.clone()),
                    ..Spec::default()
                })
                .collect()
        };
        match run_batch_inner(req, rest).await {
            Ok((specs, reached)) if reached > 0 => {
                out.extend(specs);
                rest = &rest[reached.min(rest.len())..];
            }
            Ok(_) => {
                out.extend(failed(
                    "not evaluated: the evaluation shell ended before reaching it".into(),
                ));
                break;
            }
            Err(e) => {
                out.extend(failed(format!("cannot evaluate: {e:#}")));
                break;
            }
        }
    }
    out
}

/// One shell over `scripts`; returns the specs of the scripts it reached, and how many that is.
#[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
async fn run_batch_inner(req: &Request, scripts: &[Script]) -> Result<(Vec<Spec>, usize)> {
    let label = match scripts {
        [one] => format!("evaluating {}", one.name),
        _ => format!("evaluating {} scripts", scripts.len()),
    };
    let (mut recs, rec_w) = Channel::pair(&label)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let mut argv: Vec<OsString> = vec![
        req.shell.clone().into(),
        "-c".into(),
        SHIM.into(),
        "rcinit-eval".into(),
        match (req.dep_pass, req.run_pass, req.merge) {
            (true, true, _) => "both",
            (false, true, _) => "run",
            (true, false, true) => "mixed",
            _ => "dep",
        }
        .into(),
        req.runlevel.clone().into(),
        rc_conf(&req.root),
    ];
    let mixed = req.dep_pass && !req.run_pass && req.merge;
    let mut merged: std::collections::HashSet<&str> = Default::default();
    for s in scripts {
        argv.push(s.dir.clone().into());
        argv.push(s.name.clone().into());
        argv.push(real_path(&req.root, &s.path()).into());
        if mixed {
            let one = one_load_will_do(&req.root, s, &req.runlevel);
            if one {
                merged.insert(&s.name);
            }
            argv.push(if one { "one" } else { "dep" }.into());
        }
    }
    let err_w2: OwnedFd = err_w.try_clone().context("dup")?;
    let mut opts = Options::new(Grouping::Session, &req.env);
    opts.chroot = req.chroot.then_some(req.root.as_path());
    opts.fds = vec![(rec_w.as_raw_fd(), 9)];
    opts.stdin = Some(spawn::Io::Null);
    opts.stdout = Some(err_w.into());
    opts.stderr = Some(err_w2.into());
    let child = spawn::spawn_with(&argv, opts)?;
    drop(rec_w);
    // The batch's whole session goes when the batch ends or is dropped (a stop during evaluation).
    let _guard = crate::spawn::KillGroup(child.pid);

    let mut errs = tokio::net::unix::pipe::Receiver::from_owned_fd(err_r).context("stderr pipe")?;
    let mut parser = Parser::default();
    let mut logs: std::collections::HashMap<(String, String), PassLog> = Default::default();
    let empty = PassLog::default();
    // Without a dependency pass here, the boot's own said the script loaded.
    let loaded = PassLog {
        records: vec![Record::Sourced(0)],
        ..PassLog::default()
    };
    let mut current: Option<Running> = None;
    let mut err_owner: Option<(String, String)> = None;
    let mut err_buf: Vec<u8> = Vec::new();
    let (mut rbuf, mut ebuf) = (vec![0u8; 16384], vec![0u8; 8192]);
    let (mut recs_open, mut errs_open, mut done, mut finished) = (true, true, false, false);
    let mut begun: Vec<String> = Vec::new();
    let mut cut: Option<usize> = None;

    while !done && (recs_open || errs_open) {
        let deadline = current.as_ref().map(|c| c.since + req.timeout);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Records first: a deadline must not win over an end record already waiting.
            biased;
            n = recs.read(&mut rbuf), if recs_open => match n {
                Ok(0) | Err(_) => recs_open = false,
                Ok(n) => {
                    for r in parser.feed(&rbuf[..n]) {
                        match &r {
                            Record::Begin { pass, name, pid } => {
                                // A script is reached when its first pass begins.
                                if pass == "dep" || !req.dep_pass {
                                    begun.push(name.clone());
                                }
                                current = Some(Running { name: name.clone(), pass: pass.clone(), pid: *pid, since: Instant::now() });
                            }
                            Record::End { pass, status } => {
                                if let Some(c) = current.take() {
                                    let log = logs.entry((c.name.clone(), c.pass)).or_default();
                                    log.record(r.clone());
                                    if let (Some(tx), "run", 0) = (&req.stream, pass.as_str(), *status)
                                        && let Some(s) = scripts.iter().find(|s| s.name == c.name)
                                    {
                                        let dep = if req.dep_pass {
                                            logs.get(&(c.name.clone(), "dep".into())).unwrap_or(&empty)
                                        } else {
                                            &loaded
                                        };
                                        let run = logs.get(&(c.name.clone(), "run".into()));
                                        let _ = tx.send(spec::build(&s.name, &s.path(), dep, run));
                                    }
                                }
                                continue;
                            }
                            Record::Done => {
                                done = true;
                                finished = true;
                            }
                            _ => {}
                        }
                        if let Some(c) = &current {
                            logs.entry((c.name.clone(), c.pass.clone())).or_default().record(r);
                        }
                    }
                }
            },
            n = errs.read(&mut ebuf), if errs_open => match n {
                Ok(0) | Err(_) => errs_open = false,
                Ok(n) => {
                    err_buf.extend_from_slice(&ebuf[..n]);
                    split_stderr(&mut err_buf, &mut err_owner, &mut logs);
                }
            },
            _ = sleep => {
                if let Some(c) = current.take() {
                    if c.pid > 1 {
                        kill_tree(c.pid);
                    } else {
                        // No /proc to find the subshell: stop the whole shell; the scripts after
                        // this one go on in a new one.
                        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.pid), nix::sys::signal::Signal::SIGKILL);
                        done = true;
                        // Everything after the hung script goes to a new shell, whatever this
                        // one may have begun.
                        cut = scripts.iter().position(|s| s.name == c.name).map(|i| i + 1);
                    }
                    logs.entry((c.name, c.pass)).or_default().timed_out = Some(req.timeout.as_millis() as u64);
                }
            }
        }
    }
    // What stderr still holds belongs to the last owner.
    if let Ok(n) = errs.try_read(&mut ebuf) {
        err_buf.extend_from_slice(&ebuf[..n]);
    }
    split_stderr(&mut err_buf, &mut err_owner, &mut logs);
    if let Some(owner) = err_owner.take() {
        logs.entry(owner)
            .or_default()
            .stderr
            .push_str(&String::from_utf8_lossy(&err_buf));
    }
    // Scripts run in order: those up to the last one whose dependency pass began were reached
    // (by its begin record, not by stderr markers).
    let reached = match (finished, cut) {
        (true, _) => scripts.len(),
        (false, Some(n)) => n,
        (false, None) => scripts
            .iter()
            .rposition(|s| begun.contains(&s.name))
            .map_or(0, |i| i + 1),
    };
    let specs: Vec<Spec> = scripts[..reached]
        .iter()
        .map(|s| {
            let dep = if req.dep_pass {
                logs.get(&(s.name.clone(), "dep".into())).unwrap_or(&empty)
            } else {
                &loaded
            };
            let run_key = (s.name.clone(), "run".to_string());
            // A merged script ran its run-time pass too.
            let run = (req.run_pass || logs.contains_key(&run_key))
                .then(|| logs.get(&run_key).unwrap_or(&empty));
            spec::build(&s.name, &s.path(), dep, run)
        })
        .collect();
    // A merged script whose subshell ended before its dependency part began (its load failed
    // in a way the shim could not see: a syntax error ends the subshell) gets its two passes
    // again, separately, so what it says is what two passes say. A killed one does not: it
    // would hang again.
    let redo: Vec<Script> = scripts[..reached]
        .iter()
        .filter(|s| merged.contains(s.name.as_str()))
        .filter(|s| !logs.contains_key(&(s.name.clone(), "dep".into())))
        .filter(|s| {
            logs.get(&(s.name.clone(), "run".into()))
                .is_none_or(|l| l.timed_out.is_none())
        })
        .cloned()
        .collect();
    let mut specs: Vec<Spec> = specs;
    if !redo.is_empty() {
        let mut again = req.clone();
        again.merge = false;
        again.run_pass = true;
        again.stream = None;
        for fixed in Box::pin(run_batch(&again, &redo)).await {
            if let Some(slot) = specs.iter_mut().find(|s| s.name == fixed.name) {
                *slot = fixed;
            }
        }
    }
    Ok((specs, reached))
}

/// Splits the batch's stderr at the shim's `\x1epass name\x1e` markers.
fn split_stderr(
    buf: &mut Vec<u8>,
    owner: &mut Option<(String, String)>,
    logs: &mut std::collections::HashMap<(String, String), PassLog>,
) {
    loop {
        let Some(start) = buf.iter().position(|&b| b == 0x1e) else {
            // No marker in sight: all of it is the current owner's.
            if let Some(o) = owner.as_ref() {
                let text = String::from_utf8_lossy(buf).into_owned();
                logs.entry(o.clone()).or_default().stderr.push_str(&text);
                buf.clear();
            }
            return;
        };
        let Some(len) = buf[start + 1..].iter().position(|&b| b == 0x1e) else {
            // A marker is short: a lone \x1e with this much after it is a script's own byte.
            if buf.len() - start > 4096 {
                buf[start] = b'?';
                continue;
            }
            // A marker cut in half: keep it for the next read.
            if let Some(o) = owner.as_ref() {
                let text = String::from_utf8_lossy(&buf[..start]).into_owned();
                logs.entry(o.clone()).or_default().stderr.push_str(&text);
            }
            buf.drain(..start);
            return;
        };
        if let Some(o) = owner.as_ref() {
            let text = String::from_utf8_lossy(&buf[..start]).into_owned();
            logs.entry(o.clone()).or_default().stderr.push_str(&text);
        }
        let marker = String::from_utf8_lossy(&buf[start + 1..start + 1 + len]).into_owned();
        *owner = marker
            .split_once(' ')
            .map(|(p, n)| (n.to_owned(), p.to_owned()));
        buf.drain(..start + len + 2);
    }
}

/// SIGKILL to a process and everything below it (a hung depend() and what it started).
fn kill_tree(pid: i32) {
    if pid <= 1 {
        return;
    }
    let mut all = crate::procfs::descendants(pid);
    all.push(pid);
    for p in all {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_attributed_by_markers_across_reads() {
        let mut logs = Default::default();
        let mut owner = None;
        let mut buf = b"\x1edep a\x1eoops a\n\x1edep ".to_vec();
        split_stderr(&mut buf, &mut owner, &mut logs);
        buf.extend_from_slice(b"b\x1esyntax error b\n");
        split_stderr(&mut buf, &mut owner, &mut logs);
        assert_eq!(
            &*logs[&("a".to_string(), "dep".to_string())].stderr,
            "oops a\n"
        );
        assert_eq!(
            &*logs[&("b".to_string(), "dep".to_string())].stderr,
            "syntax error b\n"
        );
    }
}

#[cfg(test)]
mod merge_tests {
    use super::relative_operand;

    #[test]
    fn relative_operands_of_file_tests_and_dot_are_found() {
        for text in [
            "[ -f foo.conf ] && x=1",
            "if [ -e \"local\" ]; then :; fi",
            ". lib/functions.sh",
            "source helpers",
            "test -x bin/tool",
        ] {
            assert!(relative_operand(text), "{text}");
        }
        for text in [
            "[ -f /etc/foo.conf ] && x=1",
            "[ -e \"$file\" ]",
            ". /lib/rc/sh/functions.sh",
            "command_args=\"-v\"",
            "depend() { need net; }",
        ] {
            assert!(!relative_operand(text), "{text}");
        }
    }
}
