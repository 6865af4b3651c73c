//! The booted init: start the CMD, reap, route signals, and stop everything in order.
//!
//! Everything runs on one current-thread tokio runtime. Every event reaches the loop as a signal
//! (SIGCHLD for exits), taken from [`AsyncIntake`]; nothing in the loop blocks.

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use crate::config::Settings;
use crate::control::server::{self, Shared};
use crate::mirror::Mirror;
use crate::policy::budget;
use crate::policy::exit::{Exit, StopCause, exit_code};
use crate::policy::signals::{Action, action};
use crate::reaper::Reaper;
use crate::runfs::{self, Run};
use crate::script::{discover, eval, load};
use crate::signals::{self, AsyncIntake, Intake};
use crate::spawn::{self, Grouping};
use crate::supervisor::forward;
use crate::supervisor::runlevel::Runlevel;
use crate::supervisor::service::{Ctx, Def, Evaluated, PendingEvaluation, StopReport};
use crate::sweep::{Role, signal_all};

/// What to boot.
pub struct Boot {
    /// Docker's CMD: run in the foreground once the services are up; its end ends the container.
    pub cmd: Vec<OsString>,
    pub settings: Settings,
    pub role: Role,
    /// The runlevel to boot (init's argument); else RCINIT_RUNLEVEL, rc.conf, `default`.
    pub runlevel: Option<String>,
}

/// The running CMD.
struct Cmd {
    pid: i32,
    exit: oneshot::Receiver<Exit>,
    ended: Option<Exit>,
}

struct Init {
    intake: AsyncIntake,
    reaper: Rc<RefCell<Reaper>>,
    services: Option<Rc<Runlevel>>,
    control: Rc<Shared>,
    shutdown_rx: mpsc::UnboundedReceiver<()>,
    run: Run,
    /// Links rcinit made in the image (removed when it stops).
    links: Vec<std::path::PathBuf>,
    /// Another rcinit runs here already: leave its socket and OpenRC's state alone.
    another_init: bool,
    ctx: Option<Rc<Ctx>>,
    critical_rx: mpsc::UnboundedReceiver<(String, String)>,
    critical_tx: mpsc::UnboundedSender<(String, String)>,
    /// A critical service failed: (service, why).
    critical_failed: Option<(String, String)>,
    reports: Vec<StopReport>,
    role: Role,
    cmd: Option<Cmd>,
    /// Set once a stop was asked for: what to forward to the CMD.
    stop: Option<i32>,
    /// A second stop signal arrived: skip to the final kill.
    kill_now: bool,
    /// The last drain said we have no child left.
    no_children: bool,
    /// The boot cannot go on (bad runlevel): stop with a configuration error.
    boot_failed: bool,
    /// RCINIT_TEST_PANIC=hup: a SIGHUP makes rcinit panic, so tests can prove that a bug in the
    /// running init still ends the container cleanly.
    panic_on_hup: bool,
}

/// Boots and runs until the container should end; returns the exit code.
pub fn run(boot: Boot, intake: Intake) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the event loop")?;
    let local = tokio::task::LocalSet::new();
    rt.block_on(local.run_until(async move {
        let (critical_tx, critical_rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = mpsc::unbounded_channel();
        let control = Rc::new(Shared {
            services: RefCell::new(None),
            runlevel: RefCell::new(String::new()),
            shutdown,
            own_uid: nix::unistd::geteuid().as_raw(),
            stopping: Cell::new(false),
            booted: Cell::new(false),
        });
        let mut init = Init {
            intake: intake.into_async()?,
            reaper: Rc::new(RefCell::new(Reaper::default())),
            services: None,
            control,
            shutdown_rx,
            run: Run::Untouched,
            links: Vec::new(),
            another_init: false,
            ctx: None,
            critical_rx,
            critical_tx,
            critical_failed: None,
            reports: Vec::new(),
            role: boot.role,
            cmd: None,
            stop: None,
            kill_now: false,
            no_children: false,
            boot_failed: false,
            panic_on_hup: std::env::var("RCINIT_TEST_PANIC").as_deref() == Ok("hup"),
        };
        Ok(init.main(boot).await)
    }))
}

impl Init {
    async fn main(&mut self, boot: Boot) -> i32 {
        // A stop that arrived while we were starting (the signals were blocked, then delivered
        // when the handlers were in place) is honoured before anything starts.
        let early = self.intake.take();
        self.handle(early);
        if self.role == Role::Pid1 {
            self.run = runfs::prepare();
            if crate::initctl::start(self.control.shutdown.clone()).is_none() {
                tracing::debug!("no /run/initctl: sysvinit's telinit will not reach rcinit");
            }
        }
        match server::bind() {
            Ok((listener, path)) => {
                tracing::debug!("control socket: {}", path.display());
                tokio::task::spawn_local(server::serve(listener, Rc::clone(&self.control)));
            }
            Err(e) => {
                self.another_init = e.downcast_ref::<server::AnotherRunning>().is_some();
                tracing::warn!("{e:#}: `rcinit status` will not reach this init");
            }
        }
        if self.another_init {
            tracing::warn!("another rcinit runs this container's services: running the CMD alone");
        } else if self.stop.is_none() {
            self.evaluate(&boot).await;
        }
        if self.running() {
            self.start_services().await;
        }
        if let Some(services) = self.services.as_ref().filter(|_| self.running()) {
            say_stop_budget(services, &boot.settings, !boot.cmd.is_empty());
        }
        // `check` says "ready" from now on, as far as the services' own states allow.
        self.control.booted.set(true);
        if self.running() && !boot.cmd.is_empty() {
            self.start_cmd(&boot.cmd);
        }
        while self.running() && !self.cmd_ended() {
            tokio::select! {
                sigs = self.intake.next() => self.handle(sigs),
                Some(c) = self.critical_rx.recv() => self.on_critical(c),
                Some(()) = self.shutdown_rx.recv() => self.stop = Some(libc::SIGTERM),
            }
        }
        let cause = match self.stop {
            None if self.boot_failed => StopCause::BootFailed,
            None if self.critical_failed.is_some() => StopCause::CriticalFailed,
            Some(_) => StopCause::Requested {
                forwarded: self.cmd.as_ref().and(self.stop),
            },
            None => match self.cmd.as_ref().and_then(|c| c.ended) {
                Some(e) => StopCause::CmdEnded(e),
                None => StopCause::Requested { forwarded: None },
            },
        };
        self.shutdown(&boot.settings).await;
        let cmd_exit = self.cmd.as_ref().and_then(|c| c.ended);
        let code = exit_code(cause, cmd_exit);
        let why = match cause {
            StopCause::CmdEnded(e) => format!("the CMD ended ({e})"),
            StopCause::BootFailed => "the boot failed".to_string(),
            StopCause::CriticalFailed => match &self.critical_failed {
                Some((s, w)) => format!("critical service {s} failed ({w})"),
                None => "a critical service failed".to_string(),
            },
            StopCause::Requested { .. } => match cmd_exit {
                Some(e) => format!("stopped on request; CMD: {e}"),
                None => "stopped on request".to_string(),
            },
        };
        self.report(code, &why);
        code
    }

    fn running(&self) -> bool {
        self.stop.is_none() && !self.boot_failed && self.critical_failed.is_none()
    }

    fn on_critical(&mut self, (service, why): (String, String)) {
        if self.critical_failed.is_none() {
            tracing::error!("critical service {service} failed ({why}): stopping the container");
            self.critical_failed = Some((service, why));
        }
    }

    /// The shutdown report: the last thing in the log, one block.
    fn report(&self, code: i32, why: &str) {
        let mut text = String::from("shutdown report:");
        let width = self.reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &self.reports {
            let Some(sig) = r.signal else {
                text.push_str(&format!("\n  {:width$}  was {}", r.name, r.was));
                continue;
            };
            let exit = r
                .exit
                .map(|e| e.to_string())
                .unwrap_or_else(|| "gone".into());
            text.push_str(&format!(
                "\n  {:width$}  {} after {} ms: {exit}{}",
                r.name,
                signals::name(sig),
                r.took.as_millis(),
                if r.killed { " (killed)" } else { "" },
            ));
        }
        text.push_str(&format!("\n  exit code {code}: {why}"));
        if code == 0 {
            tracing::info!("{text}");
        } else {
            tracing::error!("{text}");
        }
    }

    /// Starts the runlevel's services in dependency order, still answering signals.
    async fn start_services(&mut self) {
        let Some(services) = self.services.clone() else {
            return;
        };
        let begin = Instant::now();
        {
            let fut = services.start_all();
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    _ = &mut fut => break,
                    sigs = self.intake.next() => {
                        self.handle(sigs);
                        if self.stop.is_some() {
                            tracing::info!("stop asked for while starting the services");
                            break;
                        }
                    }
                    Some(c) = self.critical_rx.recv() => {
                        self.on_critical(c);
                        break;
                    }
                    Some(()) = self.shutdown_rx.recv() => {
                        tracing::info!("shutdown asked for while starting the services");
                        self.stop = Some(libc::SIGTERM);
                        break;
                    }
                }
            }
        }
        if let Some(ctx) = &self.ctx {
            ctx.booting.set(false);
        }
        if self.running() {
            // Crashed counts: started, its respawn pending.
            let (up, planned) = services.count_up();
            tracing::info!("{up} of {planned} services started in {}", since(begin));
        }
    }

    /// Reads the init scripts and plans the runlevel, still answering signals: a stop during a
    /// slow (or hung) evaluation is honoured at once, and the evaluation's shells are killed.
    async fn evaluate(&mut self, boot: &Boot) {
        let root = std::path::Path::new("/");
        if !discover::SCRIPT_DIRS
            .iter()
            .any(|d| std::path::Path::new(d).is_dir())
        {
            tracing::debug!("no init.d directory: no services to start");
            return;
        }
        // The run-time pass too: a script that leaves its start to the default starts from what
        // it reports, without a shell of its own.
        let mut opts = load::Options::from_settings(root, &boot.settings, boot.runlevel.clone());
        // The graph needs only the dependency pass; the run-time pass follows while the first
        // services start (`run_pass_meanwhile`).
        opts.run_pass = false;
        opts.merge = true;
        let begin = Instant::now();
        let fut = load::load(&opts);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                res = &mut fut => {
                    match res {
                        Ok(mut l) => {
                            report_plan(&l, begin);
                            self.prepare(&mut l, &boot.settings);
                        }
                        Err(e) => {
                            tracing::error!("{e:#}");
                            self.boot_failed = true;
                        }
                    }
                    return;
                }
                sigs = self.intake.next() => {
                    self.handle(sigs);
                    if self.stop.is_some() {
                        tracing::info!("stop asked for while evaluating the init scripts");
                        return;
                    }
                }
            }
        }
    }

    /// One task per planned service, ready to start.
    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    fn prepare(&mut self, l: &mut load::Loaded, settings: &Settings) {
        let state = match self.another_init {
            true => Err(std::io::Error::other("another rcinit keeps it")),
            false => runfs::state_dir(&l.runlevel),
        };
        if state.is_ok()
            && let Err(e) = runfs::write_deptree(&l.deptree(), &l.depconfig())
        {
            tracing::warn!("/run/openrc/deptree: {e}: OpenRC's own tools will build theirs");
        }
        let mirror = match state {
            Ok(()) => Some(Mirror::new("/run/openrc")),
            Err(e) => {
                tracing::info!(
                    "/run/openrc cannot be written ({e}): OpenRC's own tools will not see the state"
                );
                None
            }
        };
        *self.control.runlevel.borrow_mut() = l.runlevel.clone();
        let mut env = l.env.clone();
        env.push(("RCINIT_SHIM".into(), "1".into()));
        // Without OpenRC in the image, scripts' own calls of start-stop-daemon and
        // supervise-daemon reach rcinit's stand-ins (the shim aliases them: a busybox shell
        // would otherwise run its own applet, whatever PATH says).
        if openrc_installed() {
            if self.role == Role::Pid1 {
                self.links = cover_openrc_helpers();
            }
        } else if let Some(dir) = helper_links() {
            env.push(("RCINIT_HELPERS".into(), dir.into()));
        }
        let ctx = Rc::new(Ctx {
            reaper: Rc::clone(&self.reaper),
            env,
            runlevel: l.runlevel.clone(),
            shell: "/bin/sh".into(),
            ready_timeout: settings.ready_timeout,
            critical: settings.critical.clone(),
            critical_failed: self.critical_tx.clone(),
            down: tokio::sync::watch::channel(false).0,
            start_timeout: settings.start_timeout,
            mirror,
            booting: std::cell::Cell::new(true),
            reexports: Default::default(),
            env_deps: env_deps(l),
        });
        if self.run == Run::Cleared {
            // The planned services evaluated whole already; the others' go as their results come.
            let pidfiles: Vec<String> = l
                .specs
                .iter()
                .filter(|s| s.run_pass && l.graph.phase.contains_key(&s.name))
                .filter_map(|s| {
                    s.vars
                        .get("pidfile")
                        .filter(|p| p.starts_with('/'))
                        .cloned()
                })
                .collect();
            runfs::remove_stale_pidfiles(&pidfiles);
        }
        // The specs give their parts to the services (moved, not copied); they go after this.
        // A script that failed to evaluate still has its task: the runlevel's own show in the
        // status as failed, with why, and a start by hand says why too.
        let nostop = &l.nostop;
        let mut defs: Vec<Def> = l
            .specs
            .iter_mut()
            .map(|s| {
                // D-41: by keyword, or named in rc.conf's rc_nostop.
                let no_stop = crate::policy::budget::no_stop_at_shutdown(&s.deps.keyword)
                    || nostop.contains(&s.name);
                let (dir, _) = s.path.rsplit_once('/').unwrap_or(("/etc/init.d", ""));
                let dir = dir.to_owned();
                let critical = s
                    .vars
                    .get("rcinit_critical")
                    .is_some_and(|v| crate::words::yes(v));
                Def {
                    name: std::mem::take(&mut s.name),
                    dir,
                    path: std::mem::take(&mut s.path),
                    // Known already when one load gave both passes.
                    fast: match &s.error {
                        Some(e) => PendingEvaluation::known(Err(e.clone())),
                        None if s.run_pass => PendingEvaluation::known(Ok(Evaluated::take(s))),
                        None => Rc::new(PendingEvaluation::default()),
                    },
                    critical,
                    needs: std::mem::take(&mut s.deps.need),
                    no_timeout: crate::policy::budget::no_timeout(&s.deps.keyword),
                    no_stop,
                    reexport: std::mem::take(&mut s.deps.reexport),
                }
            })
            .collect();
        // What is left of them is not needed any more: the peak of a large boot is here.
        l.specs = Vec::new();
        // A runlevel entry without any script (a dangling link) shows too.
        let known: std::collections::HashSet<String> =
            defs.iter().map(|d| d.name.clone()).collect();
        for (name, why) in l
            .graph
            .failed
            .iter()
            .filter(|(n, _)| l.graph.failed_in_plan.contains(*n) && !known.contains(*n))
        {
            defs.push(Def {
                name: name.clone(),
                dir: "/etc/init.d".into(),
                path: format!("/etc/init.d/{name}"),
                fast: PendingEvaluation::known(Err(why.clone())),
                critical: false,
                needs: Vec::new(),
                no_timeout: false,
                no_stop: false,
                reexport: Vec::new(),
            });
        }
        let later: Vec<(String, String, Rc<PendingEvaluation>)> = defs
            .iter()
            .filter(|d| !d.fast.is_set())
            .map(|d| (d.name.clone(), d.path.clone(), Rc::clone(&d.fast)))
            .collect();
        run_pass_meanwhile(l, settings, later, self.run == Run::Cleared);
        let rl = Rc::new(Runlevel::new(&l.graph, defs, Rc::clone(&ctx)));
        *self.control.services.borrow_mut() = Some(Rc::clone(&rl));
        self.services = Some(rl);
        self.ctx = Some(ctx);
    }

    fn start_cmd(&mut self, argv: &[OsString]) {
        let env = spawn::child_env();
        match spawn::spawn(argv, Grouping::Foreground, &env) {
            Ok(pid) => {
                let exit = self.reaper.borrow_mut().watch(pid);
                tracing::debug!("CMD started as pid {pid}");
                self.cmd = Some(Cmd {
                    pid,
                    exit,
                    ended: None,
                });
            }
            Err(e) => {
                // The shell's code for "command not found / not executable", so `docker run`
                // reports it as a shell would.
                let code = match e.root_cause().downcast_ref::<std::io::Error>() {
                    Some(io) if io.kind() == std::io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
                tracing::error!("{e:#}");
                self.cmd = Some(Cmd {
                    pid: 0,
                    exit: oneshot::channel().1,
                    ended: Some(Exit::Code(code)),
                });
            }
        }
    }

    fn cmd_ended(&self) -> bool {
        self.cmd.as_ref().is_some_and(|c| c.ended.is_some())
    }

    fn cmd_running(&self) -> Option<i32> {
        self.cmd
            .as_ref()
            .filter(|c| c.ended.is_none())
            .map(|c| c.pid)
    }

    /// Acts on the signals that arrived.
    fn handle(&mut self, sigs: Vec<i32>) {
        for sig in sigs {
            if sig == libc::SIGCHLD {
                self.reap();
                continue;
            }
            if sig == libc::SIGHUP && self.panic_on_hup {
                panic!("RCINIT_TEST_PANIC=hup asked for a panic");
            }
            let cmd = self.cmd_running();
            match action(sig, cmd.is_some(), self.stop.is_some()) {
                Action::Stop { forward } => {
                    tracing::info!("{} received: stopping", signals::name(sig));
                    self.stop = Some(forward);
                }
                Action::Hurry => {
                    tracing::warn!(
                        "{} received again: killing everything now",
                        signals::name(sig)
                    );
                    self.kill_now = true;
                }
                Action::Forward => {
                    if let Some(pid) = cmd {
                        forward(pid, sig);
                    }
                }
                Action::Ignore => tracing::info!("{} received: ignored", signals::name(sig)),
            }
        }
    }

    fn reap(&mut self) {
        let drained = self.reaper.borrow_mut().reap();
        self.no_children = drained.no_children;
        if let Some(cmd) = self.cmd.as_mut()
            && cmd.ended.is_none()
            && let Ok(e) = cmd.exit.try_recv()
        {
            cmd.ended = Some(e);
        }
    }

    /// Waits, handling signals, until `done` holds, the deadline passes or a kill now is asked for.
    /// Returns whether `done` holds.
    async fn wait_until(&mut self, deadline: Instant, done: impl Fn(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.kill_now {
                return false;
            }
            let sleep = tokio::time::sleep_until(deadline.into());
            tokio::select! {
                sigs = self.intake.next() => self.handle(sigs),
                _ = sleep => return done(self),
            }
        }
    }

    /// The orderly stop: CMD first (it started last), then the services in reverse order, then
    /// the final sweep; services and CMD share RCINIT_SERVICES_GRACETIME.
    async fn shutdown(&mut self, settings: &Settings) {
        let begin = Instant::now();
        let end = begin + settings.services_grace;
        self.control.stopping.set(true);
        if let Some(ctx) = &self.ctx {
            ctx.down.send_replace(true);
        }
        if let Some(pid) = self.cmd_running() {
            // The CMD gets the signal that stopped us, or SIGTERM when something else did, and
            // its share: the services keep what their schedules ask for, up to half.
            forward(pid, self.stop.unwrap_or(libc::SIGTERM));
            let asked = self.services.as_ref().and_then(|s| {
                let plan = s.stop_plan();
                (!plan.is_empty()).then(|| stop_total(&plan))
            });
            let share = budget::cmd_share(settings.services_grace, asked);
            if !self
                .wait_until(begin + share, |s| s.cmd_running().is_none())
                .await
            {
                tracing::warn!(
                    "CMD (pid {pid}) still running after {}, its share of RCINIT_SERVICES_GRACETIME: killed, so the services get theirs",
                    since(begin)
                );
                // Its process group too (a pipeline's other end, what it started).
                if pid > 1 {
                    let group = nix::unistd::getpgid(Some(Pid::from_raw(pid))).ok();
                    match group.filter(|g| g.as_raw() == pid) {
                        Some(g) => drop(nix::sys::signal::killpg(g, Signal::SIGKILL)),
                        None => drop(kill(Pid::from_raw(pid), Signal::SIGKILL)),
                    }
                }
                let _ = self
                    .wait_until(Instant::now() + Duration::from_secs(1), |s| {
                        s.cmd_running().is_none()
                    })
                    .await;
            }
        }
        if let Some(services) = self.services.clone() {
            {
                let fut = services.stop_all(end);
                tokio::pin!(fut);
                loop {
                    tokio::select! {
                        r = &mut fut => {
                            self.reports = r;
                            break;
                        }
                        sigs = self.intake.next() => {
                            self.handle(sigs);
                            if self.kill_now {
                                break;
                            }
                        }
                    }
                }
            }
        }
        self.final_sweep(settings.kill_grace).await;
        for l in self.links.drain(..) {
            let _ = std::fs::remove_file(&l);
        }
        // The services' last lines, read from pipes whose writers are all gone now.
        if !forward::drained(Duration::from_secs(1)).await {
            tracing::warn!("some service output could not be passed on before exit");
        }
        tracing::debug!(
            "stopped in {}; {} orphans reaped since boot",
            since(begin),
            self.reaper.borrow().orphans
        );
    }

    /// SIGTERM to every process left, a grace, SIGKILL, reap all.
    async fn final_sweep(&mut self, grace: Duration) {
        self.reap();
        if self.no_children && self.role == Role::Subreaper {
            return;
        }
        let begin = Instant::now();
        if !self.kill_now && signal_all(self.role, Signal::SIGTERM) > 0 {
            self.reap();
            if self.wait_until(begin + grace, |s| s.no_children).await {
                return;
            }
        }
        let n = signal_all(self.role, Signal::SIGKILL);
        if n > 0 {
            tracing::warn!("sent SIGKILL to what was left after {}", since(begin));
        }
        // Killed processes die at once unless stuck in the kernel; do not hang on those.
        let deadline = Instant::now() + Duration::from_secs(1);
        self.kill_now = false;
        if !self.wait_until(deadline, |s| s.no_children).await {
            tracing::warn!("some processes could not be reaped (stuck in the kernel?)");
        }
    }
}

/// OpenRC's own openrc-run is in the image (not rcinit's applet of that name).
fn openrc_installed() -> bool {
    let real = |p: &str| std::fs::canonicalize(p).ok();
    match real("/sbin/openrc-run") {
        Some(p) => {
            std::env::current_exe()
                .ok()
                .and_then(|e| std::fs::canonicalize(e).ok())
                != Some(p)
        }
        None => false,
    }
}

/// With OpenRC in the image, its start-stop-daemon and supervise-daemon are covered (in the
/// container's own mount namespace) by rcinit, so the real `rc-service NAME restart` (OpenRC's
/// openrc-run) stops and starts the daemon through PID 1 and the new daemon is supervised by
/// rcinit, not by a second supervisor. Without mount rights (Docker's default capabilities),
/// links in `RC_LIBEXECDIR/sbin`, the first directory of openrc-run's PATH, do the same for
/// openrc-run alone; they are returned, to be removed when rcinit stops.
fn cover_openrc_helpers() -> Vec<std::path::PathBuf> {
    let mut links = Vec::new();
    for name in ["supervise-daemon", "start-stop-daemon"] {
        let Some(target) = ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(name))
            .find(|p| p.exists())
            .and_then(|p| std::fs::canonicalize(p).ok())
        else {
            continue;
        };
        // The real one stays reachable for calls that are not a service's (Debian's dpkg owns
        // start-stop-daemon, and package scripts call it): the applet hands those on.
        let real = std::path::Path::new(crate::supervisor::helper_call::REAL_HELPERS).join(name);
        let kept = std::fs::create_dir_all(crate::supervisor::helper_call::REAL_HELPERS)
            .and_then(|_| std::fs::write(&real, b""))
            .map_err(|e| e.to_string())
            .and_then(|_| bind(&target, &real).map_err(|e| e.to_string()));
        // /proc/self/exe reaches our binary even where its path is hidden (a tmpfs on /run).
        let covered = kept.and_then(|_| {
            bind(std::path::Path::new("/proc/self/exe"), &target).map_err(|e| e.to_string())
        });
        match covered {
            Ok(()) => tracing::debug!("{}: answered by rcinit", target.display()),
            Err(e) => {
                let _ = nix::mount::umount(&real);
                let _ = std::fs::remove_file(&real);
                match path_link(name) {
                    Some(l) => {
                        tracing::debug!("{}: openrc-run's {name} is rcinit", l.display());
                        links.push(l);
                    }
                    None => tracing::info!(
                        "{}: cannot be covered ({e}); OpenRC's own rc-service will start daemons outside rcinit",
                        target.display()
                    ),
                }
            }
        }
    }
    links
}

/// A link to rcinit named `name` first on openrc-run's PATH (RC_LIBEXECDIR/sbin), made only
/// where nothing of that name is.
fn path_link(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok().filter(|e| e.exists())?;
    let dir = ["/lib/rc/sbin", "/usr/lib/rc/sbin", "/usr/libexec/rc/sbin"]
        .iter()
        .map(std::path::Path::new)
        .find(|d| d.is_dir())?;
    let link = dir.join(name);
    if link.symlink_metadata().is_ok() {
        // Ours from a run that did not stop cleanly, or the image's own: left alone unless ours.
        let ours = std::fs::canonicalize(&link).ok() == std::fs::canonicalize(&exe).ok();
        return ours.then_some(link);
    }
    std::os::unix::fs::symlink(&exe, &link).ok()?;
    Some(link)
}

fn bind(from: &std::path::Path, to: &std::path::Path) -> nix::Result<()> {
    nix::mount::mount(
        Some(from),
        to,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// start-stop-daemon and supervise-daemon as links to rcinit, for scripts that call them in an
/// image without OpenRC; returns the directory, or None when it cannot be made (read-only /run).
fn helper_links() -> Option<&'static str> {
    const DIR: &str = "/run/rcinit/bin";
    let exe = std::env::current_exe().ok()?;
    std::fs::create_dir_all(DIR).ok()?;
    for name in ["start-stop-daemon", "supervise-daemon"] {
        let link = std::path::Path::new(DIR).join(name);
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            tracing::debug!("{}: {e}", link.display());
            return None;
        }
    }
    Some(DIR)
}

/// Logs the plan, and every problem, naming the service.
/// The run-time pass of every service, in the order they start (dealt to the shells in turn),
/// each result handed to its service as soon as it is in: the first services start while the
/// shells go on with the others. A service whose result never came fails its start with why.
/// With a fresh /run, a planned service's stale pidfile goes just before its result is handed.
fn run_pass_meanwhile(
    l: &load::Loaded,
    settings: &Settings,
    later: Vec<(String, String, Rc<PendingEvaluation>)>,
    clear_pidfiles: bool,
) {
    if later.is_empty() {
        return;
    }
    let mut order: Vec<&str> = l.graph.start.iter().flatten().map(String::as_str).collect();
    for (name, _, _) in &later {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
    }
    let scripts: Vec<discover::Script> = order
        .iter()
        .filter_map(|n| {
            let (_, path, _) = later.iter().find(|(name, _, _)| name == n)?;
            l.files
                .iter()
                .find(|f| f.skipped.is_none() && f.path() == *path)
                .cloned()
        })
        .collect();
    let planned: std::collections::HashSet<String> = l.graph.phase.keys().cloned().collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut req = eval::Request::new(std::path::Path::new("/"), &l.runlevel);
    req.env = l.env.clone();
    req.timeout = settings.eval_timeout;
    req.dep_pass = false;
    req.stream = Some(tx);
    req.interleave = true;
    tokio::task::spawn_local(async move {
        let begin = Instant::now();
        let hand = |spec: &crate::script::spec::Spec| {
            let Some((_, _, cell)) = later.iter().find(|(_, p, _)| *p == spec.path) else {
                return;
            };
            if cell.is_set() {
                return;
            }
            if clear_pidfiles
                && planned.contains(&spec.name)
                && let Some(p) = spec.vars.get("pidfile").filter(|p| p.starts_with('/'))
            {
                runfs::remove_stale_pidfiles(std::slice::from_ref(p));
            }
            cell.set(match &spec.error {
                Some(e) => Err(e.clone()),
                None => Ok(Evaluated::of(spec)),
            });
        };
        let all = eval::evaluate(&req, &scripts);
        tokio::pin!(all);
        let specs = loop {
            tokio::select! {
                Some(spec) = rx.recv() => hand(&spec),
                specs = &mut all => break specs,
            }
        };
        while let Ok(spec) = rx.try_recv() {
            hand(&spec);
        }
        for spec in &specs {
            hand(spec);
        }
        for (name, _, cell) in &later {
            if !cell.is_set() {
                cell.set(Err(format!(
                    "{name}: the run-time pass of its script did not run"
                )));
            }
        }
        tracing::debug!(
            "run-time pass of {} scripts in {}",
            scripts.len(),
            since(begin)
        );
    });
}

fn report_plan(l: &load::Loaded, begin: Instant) {
    let g = &l.graph;
    let n: usize = g.start.iter().map(Vec::len).sum();
    tracing::info!(
        "runlevel {}: {} scripts evaluated in {}; {n} services to start in {} waves (system: {})",
        l.runlevel,
        l.specs.len(),
        since(begin),
        g.start.len(),
        l.system.sys.as_deref().unwrap_or("none"),
    );
    for (i, w) in g.start.iter().enumerate() {
        tracing::info!("  wave {}: {}", i + 1, w.join(" "));
    }
    // A need cycle is one line, not one per member.
    let in_cycle: std::collections::HashSet<&str> =
        g.need_cycles.iter().flatten().map(String::as_str).collect();
    for c in &g.need_cycles {
        tracing::warn!(
            "need cycle {}: none of its {} services starts",
            crate::graph::cycle_text(c),
            c.len()
        );
    }
    for (s, why) in g
        .failed
        .iter()
        .filter(|(s, _)| !in_cycle.contains(s.as_str()))
    {
        tracing::warn!("{s}: {why}");
    }
    for (s, why) in &g.excluded {
        tracing::debug!("{s}: {why}");
    }
    for c in &g.cycles {
        tracing::warn!(
            "ordering cycle {}: broken at its last edge, all start",
            crate::graph::cycle_text(c)
        );
    }
    if !g.assumed_provided.is_empty() {
        tracing::info!(
            "taken as provided by the container: {}",
            g.assumed_provided.join(" ")
        );
    }
}

fn forward(pid: i32, sig: i32) {
    let Ok(signal) = Signal::try_from(sig) else {
        return;
    };
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) => tracing::debug!("forwarded {} to CMD (pid {pid})", signals::name(sig)),
        Err(e) => tracing::debug!("forwarding {} to pid {pid}: {e}", signals::name(sig)),
    }
}

/// Says, with the numbers, when the scripts' own stop schedules ask for more than the stop
/// budget gives, and how to give more.
fn say_stop_budget(services: &Runlevel, settings: &Settings, cmd: bool) {
    let asked: Vec<(String, Duration)> = services
        .stop_plan()
        .into_iter()
        .filter(|(_, d)| *d > crate::supervisor::service::DEFAULT_ASK)
        .collect();
    let total = stop_total(&asked);
    let needed = budget::needed(total, cmd);
    if needed <= settings.services_grace {
        return;
    }
    let list: Vec<String> = asked
        .iter()
        .map(|(n, d)| format!("{n} {}", budget::secs(*d)))
        .collect();
    let half = if cmd {
        ", and the CMD may take up to half of the budget"
    } else {
        ""
    };
    let secs = needed
        .saturating_add(settings.kill_grace)
        .saturating_add(Duration::from_secs(1))
        .as_secs_f64()
        .ceil();
    tracing::warn!(
        "stop budget: the scripts' retry asks for up to {} to stop ({}){half}; RCINIT_SERVICES_GRACETIME is {}, so some would be killed before their time: set RCINIT_SERVICES_GRACETIME={} and give Docker as much (docker run --stop-timeout {secs}, compose stop_grace_period: {secs}s)",
        budget::secs(total),
        list.join(", "),
        budget::secs(settings.services_grace),
        needed.as_millis(),
    );
}

/// What a stop plan asks for in all.
fn stop_total(plan: &[(String, Duration)]) -> Duration {
    let levels: Vec<Vec<Duration>> = plan.iter().map(|(_, d)| vec![*d]).collect();
    budget::total(&levels)
}

fn since(t: Instant) -> String {
    format!("{} ms", t.elapsed().as_millis())
}

/// Each service's direct dependencies (need, want, use, after), a virtual name standing for its
/// providers: whose reexported variables (0.64) its start and stop see.
fn env_deps(l: &load::Loaded) -> std::collections::HashMap<String, Vec<String>> {
    l.specs
        .iter()
        .filter(|s| s.error.is_none())
        .map(|s| {
            let d = &s.deps;
            let mut v: Vec<String> = Vec::new();
            for t in d.need.iter().chain(&d.want).chain(&d.use_).chain(&d.after) {
                let names = match l.graph.providers.get(t) {
                    Some(p) => p.clone(),
                    None => vec![t.clone()],
                };
                for n in names {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
            }
            (s.name.clone(), v)
        })
        .collect()
}
