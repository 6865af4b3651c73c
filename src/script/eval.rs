//! Runs the shim over many scripts: one shell per batch (one subshell per script and pass),
//! batches in parallel up to the CPU count, each script under a time limit.
//!
//! Nothing here waits on a pid: a batch is done when its shell says so (`Z`) or closes fd 9, and
//! its process is reaped by whoever reaps (rcinit's reaper as PID 1, exit of the CLI otherwise).

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::batch::Batch;
use super::channel::Channel;
use super::discover::{Script, resolve_in_root};
use super::spec::Spec;
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
async fn run_batch_inner(req: &Request, scripts: &[Script]) -> Result<(Vec<Spec>, usize)> {
    let label = match scripts {
        [one] => format!("evaluating {}", one.name),
        _ => format!("evaluating {} scripts", scripts.len()),
    };
    let (mut recs, rec_w) = Channel::pair(&label)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let (argv, merged) = shell_argv(req, scripts);
    let child = spawn_shell(req, &argv, &rec_w, err_w)?;
    drop(rec_w);
    // The batch's whole session goes when the batch ends or is dropped (a stop during evaluation).
    let _guard = crate::spawn::KillGroup(child.pid);

    let mut errs = tokio::net::unix::pipe::Receiver::from_owned_fd(err_r).context("stderr pipe")?;
    let mut batch = Batch::new(req, scripts);
    batch.read(&mut recs, &mut errs, child.pid).await;
    let reached = batch.reached();
    let mut specs: Vec<Spec> = batch.specs(reached);
    let redo: Vec<Script> = batch.scripts_to_redo(reached, &merged);
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

/// The shell's command line: the shim, the mode, the runlevel, rc.conf, then each script's
/// directory, name and real path (and, mixed, whether one load will do); with the scripts
/// merged into one load.
fn shell_argv<'s>(req: &Request, scripts: &'s [Script]) -> (Vec<OsString>, HashSet<&'s str>) {
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
    let mut merged: HashSet<&str> = Default::default();
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
    (argv, merged)
}

/// Starts the batch's shell in a session of its own: records to `rec_w` (its fd 9), stdout and
/// stderr to `err_w`.
fn spawn_shell(
    req: &Request,
    argv: &[OsString],
    rec_w: &OwnedFd,
    err_w: OwnedFd,
) -> Result<spawn::Spawned> {
    let err_w2: OwnedFd = err_w.try_clone().context("dup")?;
    let mut opts = Options::new(Grouping::Session, &req.env);
    opts.chroot = req.chroot.then_some(req.root.as_path());
    opts.fds = vec![(rec_w.as_raw_fd(), 9)];
    opts.stdin = Some(spawn::Io::Null);
    opts.stdout = Some(err_w.into());
    opts.stderr = Some(err_w2.into());
    spawn::spawn_with(argv, opts)
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
