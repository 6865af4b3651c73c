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

mod evaluate;
mod openrc_helpers;
mod shutdown;

use openrc_helpers::*;
use shutdown::*;

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
        if self.running() && !self.cmd_ended() {
            let forever = std::future::pending::<()>();
            let _ = self
                .answering(forever, Listen::SignalsAndRequests, |s| {
                    !s.running() || s.cmd_ended()
                })
                .await;
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
        let done = self
            .answering(services.start_all(), Listen::SignalsAndRequests, |s| {
                s.stop.is_some() || s.critical_failed.is_some()
            })
            .await;
        if done.is_none() && self.stop.is_some() {
            tracing::info!("stop asked for while starting the services");
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
                Action::KillNow => {
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
    async fn wait_until(&mut self, deadline: Instant, done: impl Fn(&Self) -> bool) -> bool {
        if done(self) || self.kill_now {
            return done(self);
        }
        let sleep = tokio::time::sleep_until(deadline.into());
        let _ = self
            .answering(sleep, Listen::Signals, |s| done(s) || s.kill_now)
            .await;
        done(self)
    }

    /// Awaits `work` while answering the container's signals (and, with
    /// [`Listen::SignalsAndRequests`], a critical service's failure or a shutdown asked for
    /// through the control socket or /run/initctl): its output, or None as soon as `give_up`
    /// holds after one of those was handled. Every wait of PID 1 goes through here: none may
    /// leave a signal unanswered.
    async fn answering<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
        listen: Listen,
        give_up: impl Fn(&Self) -> bool,
    ) -> Option<T> {
        tokio::pin!(work);
        let requests = listen == Listen::SignalsAndRequests;
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                sigs = self.intake.next() => self.handle(sigs),
                Some(c) = self.critical_rx.recv(), if requests => self.on_critical(c),
                Some(()) = self.shutdown_rx.recv(), if requests => self.stop = Some(libc::SIGTERM),
            }
            if give_up(self) {
                return None;
            }
        }
    }
}

/// What a wait of PID 1 answers besides its own work.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listen {
    Signals,
    /// Also a critical service's failure and a shutdown request (while the services run).
    SignalsAndRequests,
}

fn since(t: Instant) -> String {
    format!("{} ms", t.elapsed().as_millis())
}
