//! From an image root to evaluated services and a plan: discovery, the system type, evaluation,
//! the graph. Shared by boot and by `inspect`, `graph` and `lint`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use super::discover::{self, Script};
use super::eval::{self, Request};
use super::rcconf;
use super::spec::Spec;
use super::sysdetect::{self, Facts, System};
use crate::graph::{self, CONTAINER_PROVIDED, Graph, Input};

/// What to load.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// The target runlevel (`--runlevel`, `RCINIT_RUNLEVEL`, init's argument); default `default`.
    pub runlevel: Option<String>,
    /// `--sys`: forces the system type (`none` for no type).
    pub sys: Option<String>,
    /// `RCINIT_PROVIDE`: replaces the list of names the container provides.
    pub provide: Option<Vec<String>>,
    pub timeout: Duration,
    /// Also run the run-time pass (variables, functions, argv): `inspect` and `lint` need it; the
    /// plan needs only the dependency pass.
    pub run_pass: bool,
    /// Without `run_pass`: still give the scripts whose two loading orders cannot differ their
    /// run-time pass, from the same load (see `eval::one_load_will_do`).
    pub merge: bool,
    /// The container's environment, less rcinit's own settings.
    pub env: Vec<(OsString, OsString)>,
}

impl Options {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            runlevel: None,
            sys: None,
            provide: None,
            timeout: Duration::from_millis(5000),
            run_pass: true,
            merge: false,
            env: crate::spawn::child_env(),
        }
    }
}

impl Options {
    /// Options for `root` from rcinit's settings; `runlevel` (the command line's) wins over
    /// RCINIT_RUNLEVEL.
    pub fn from_settings(
        root: &Path,
        settings: &crate::config::Settings,
        runlevel: Option<String>,
    ) -> Self {
        let mut o = Self::new(root);
        o.runlevel = runlevel.or_else(|| settings.runlevel.clone());
        o.provide = settings.provide.clone();
        o.timeout = settings.eval_timeout;
        o
    }
}

/// Everything known about the image's services.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Every file of the init.d directories (services and files OpenRC skips).
    pub files: Vec<Script>,
    /// The evaluated service scripts, in deptree order.
    pub specs: Vec<Spec>,
    pub system: System,
    pub runlevel: String,
    /// Names taken as provided by the container when nothing provides them.
    pub assumed: Vec<String>,
    pub graph: Graph,
    /// The environment scripts run with: the container's (filtered by `rc_env_allow` when
    /// rc.conf sets it, E-20) plus OpenRC's variables (E-21).
    pub env: Vec<(OsString, OsString)>,
    /// rc.conf's `rc_nostop`: services the shutdown does not stop by their scripts.
    pub nostop: Vec<String>,
}

/// The libexec directory OpenRC's scripts expect (0.3): where the image has it.
fn libexec(root: &Path) -> &'static str {
    if root.join("lib/rc").is_dir() && !root.join("usr/libexec/rc").is_dir() {
        "/lib/rc"
    } else {
        "/usr/libexec/rc"
    }
}

/// Discovers, evaluates and plans.
pub async fn load(opts: &Options) -> Result<Loaded> {
    let root = opts.root.as_path();
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let conf = rcconf::load(root);
    let system = sysdetect::detect(opts.sys.as_deref(), &conf, &Facts::read(root));
    let runlevel = target_runlevel(opts, &conf)?;
    let files = discover::scripts(root);
    let services: Vec<Script> = files
        .iter()
        .filter(|s| s.skipped.is_none())
        .cloned()
        .collect();

    let env = script_env(opts, &conf, &system);
    let mut req = Request::new(root, &runlevel);
    req.env = env.clone();
    req.timeout = opts.timeout;
    req.run_pass = opts.run_pass;
    req.merge = opts.merge;
    let specs = eval::evaluate(&req, &services).await;

    let phases = start_phases(root, &runlevel)?;
    let assumed = assumed_names(opts, &system);
    let graph = graph::build(&Input {
        specs: &specs,
        sys: system.sys.as_deref(),
        assumed: assumed.clone(),
        phases,
    });
    let nostop = conf
        .get("rc_nostop")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Loaded {
        files,
        specs,
        system,
        runlevel,
        assumed,
        graph,
        env,
        nostop,
    })
}

/// The runlevel to start: the one asked for, else rc.conf's default, else `default`; one that
/// was asked for must exist.
fn target_runlevel(opts: &Options, conf: &BTreeMap<String, String>) -> Result<String> {
    let root = opts.root.as_path();
    let runlevel = opts
        .runlevel
        .clone()
        .or_else(|| {
            conf.get("rc_default_runlevel")
                .filter(|v| !v.is_empty())
                .cloned()
        })
        .unwrap_or_else(|| "default".into());
    // a runlevel that was asked for must exist. An image without /etc/runlevels at all
    // (a CMD-only container) simply has nothing to start.
    let asked = opts.runlevel.is_some()
        || discover::resolve_in_root(root, "/etc/runlevels").is_some_and(|p| p.is_dir());
    if asked && !discover::runlevel_exists(root, &runlevel) {
        bail!("{runlevel} is not a valid runlevel: there is no /etc/runlevels/{runlevel}");
    }
    Ok(runlevel)
}

/// The container's environment as the scripts get it: without RC_ names, filtered by
/// `rc_env_allow` when rc.conf sets it (E-20), with the image's profile.env.
fn container_env(opts: &Options, conf: &BTreeMap<String, String>) -> Vec<(OsString, OsString)> {
    let root = opts.root.as_path();
    let container: Vec<(String, String)> = opts
        .env
        .iter()
        .filter(|(k, _)| !k.as_encoded_bytes().starts_with(b"RC_"))
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let profile = std::fs::read_to_string(root.join("etc/profile.env")).unwrap_or_default();
    super::env::filter(
        &container,
        conf.get("rc_env_allow").map(String::as_str),
        &profile,
    )
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}

/// The environment scripts run with: the container's plus OpenRC's variables (E-21) and a
/// PATH that means something inside the image.
fn script_env(
    opts: &Options,
    conf: &BTreeMap<String, String>,
    system: &System,
) -> Vec<(OsString, OsString)> {
    let root = opts.root.as_path();
    let mut env = container_env(opts, conf);
    let mut set = |k: &str, v: &str| env.push((k.into(), v.into()));
    if let Some(s) = &system.sys {
        set("RC_SYS", &s.to_ascii_uppercase());
    }
    set("RC_UNAME", "Linux");
    set("RC_BOOTLEVEL", "boot");
    set("RC_DEFAULTLEVEL", "default");
    set("RC_SVCDIR", "/run/openrc");
    set("RC_TMPDIR", "/run/openrc/tmp");
    set("RC_LIBEXECDIR", libexec(root));
    set("RC_VERSION", crate::OPENRC_VERSION);
    if root == Path::new("/") {
        // The shim's checkpath and OpenRC's helpers it runs as `rcinit NAME` (mountinfo,
        // service_crashed...), at evaluation and at run time; inside another root this binary
        // is out of reach.
        set("RCINIT_EXE", &crate::spawn::own_exe());
    }
    if root != Path::new("/") || !env.iter().any(|(k, _)| k == "PATH") {
        // The host's PATH means nothing inside the image; rc_env_allow may have removed it.
        env.retain(|(k, _)| k != "PATH");
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
    }
    env
}

/// sysinit, boot, then the target runlevel's stack, deepest stacked level first.
fn start_phases(root: &Path, runlevel: &str) -> Result<Vec<(String, Vec<String>)>> {
    let mut phases: Vec<(String, Vec<String>)> = Vec::new();
    for level in ["sysinit", "boot", runlevel] {
        for (l, names) in discover::runlevel_stack(root, level).map_err(anyhow::Error::msg)? {
            if !phases.iter().any(|(p, _)| *p == l) {
                phases.push((l, names));
            }
        }
    }
    Ok(phases)
}

/// Names taken as provided by the container when nothing provides them: RCINIT_PROVIDE's, or
/// the usual ones when the system has a type.
fn assumed_names(opts: &Options, system: &System) -> Vec<String> {
    match (&opts.provide, &system.sys) {
        (Some(list), _) => list.clone(),
        (None, Some(_)) => CONTAINER_PROVIDED.iter().map(|s| s.to_string()).collect(),
        (None, None) => Vec::new(),
    }
}

impl Loaded {
    /// OpenRC's dependency cache for these scripts (see [`crate::deptree`]); scripts that did
    /// not load are left out, as OpenRC's generator leaves them.
    pub fn deptree(&self) -> String {
        let scripts: Vec<crate::deptree::Script<'_>> = self
            .specs
            .iter()
            .filter(|s| s.error.is_none())
            .map(Into::into)
            .collect();
        crate::deptree::render(&scripts, self.system.sys.as_deref(), &self.assumed)
    }

    /// The files whose change makes OpenRC's tools build their cache again (`config`).
    pub fn depconfig(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in self.specs.iter().filter(|s| s.error.is_none()) {
            for c in &s.deps.config {
                if !v.contains(c) {
                    v.push(c.clone());
                }
            }
        }
        v
    }
}
