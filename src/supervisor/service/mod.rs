//! One service's task: runs its script's lifecycle through the shim, spawns and follows its
//! daemon, respawns it (S-11), checks its health (S-30..S-32) and stops it by its schedule (V-20).
//!
//! The task owns everything about its service; the outside talks to it with [`Request`]s and
//! reads its [`Status`]. Exits reach it from the one reaper through a oneshot per pid.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::daemon_args::{self, Helper};
use super::forward;
use super::helper_call::{self, Mode as HelperMode};
use super::inbox::{Inbox, Outbox, inbox};
use super::launch::{self, Kind, Launch, Notify, Reported, Sink};
use super::lifecycle::{self, Action, Event, Lifecycle, Spawn};
use super::pidfile;
use crate::deadline::{later, until};
use crate::output::Stream;
use crate::policy::exit::Exit;
use crate::policy::retry::Step;
use crate::reaper::Reaper;
use crate::script::channel::Channel;
use crate::script::env::parse_assignments;
use crate::script::record::{Parser, Record};
use crate::spawn::{self, Grouping, Options, Setup};
use crate::state::{State, Why};

mod daemon;
mod evaluation;
mod forking;
mod helper;
mod interface;
mod report;
mod shim;
mod spawning;
mod start;
mod stop;
mod supervise;
mod wait;

use daemon::*;
pub use evaluation::{Evaluated, PendingEvaluation, ScriptlessStart};
use interface::StopAsk;
pub use interface::{Ctx, Def, Request, Status, StopReport};
use report::say;
use shim::*;
use spawning::*;
pub use stop::{DEFAULT_ASK, own_stop_deadline};
use wait::*;

struct Svc {
    def: Def,
    ctx: Rc<Ctx>,
    status: watch::Sender<Status>,
    // Boxed: most services wait idle, and a launch is large.
    launch: Option<Box<Launch>>,
    daemon: Option<Daemon>,
    /// What supervision decides (respawns, health checks): the pure machine this task feeds.
    life: Lifecycle,
    /// When the machine asked to be woken ([`Event::Deadline`]).
    wake: Option<Instant>,
    critical: bool,
    /// Script variables reported at the last start.
    /// Shared with the evaluation's result until a script run changes them.
    vars: Rc<BTreeMap<String, String>>,
    /// Stop needs the script (it defines stop, stop_pre or stop_post).
    script_stop: bool,
    /// The deadline of the stop in progress, for the script's request to stop the daemon.
    stop_deadline: Option<Instant>,
    /// What the daemon's stop did, when the script asked for it.
    last_stop: Option<StopReport>,
    /// A start began before: the next one reads rc.conf and conf.d again.
    started_before: bool,
    /// The schedule a script's own `start-stop-daemon --stop --retry ...` asked for.
    stop_override: Option<Vec<Step>>,
    /// A forking command returned and its pidfile is awaited: where, and what to accept, so a
    /// start cut short still follows (and stops) the daemon it left.
    forking: Option<(String, Option<pidfile::Wanted>)>,
    /// Daemons of earlier `--start` calls of the same start(): stopped with the service.
    extras: Vec<Daemon>,
    /// The asker's stdout and stderr for the next script run (a command asked for by a client).
    client_stdio: Option<(OwnedFd, OwnedFd)>,
    /// Requests that arrived while a script ran: answered once it is over, never dropped.
    deferred: std::collections::VecDeque<Request>,
    /// Why the last daemon of this start could not be started (the failed start's reason).
    start_error: Option<String>,
    /// The start time of the last start's shell and the processes there were just before it:
    /// what a daemon the image's own start-stop-daemon left is judged against.
    start_mark: Option<(u64, std::collections::HashSet<i32>)>,
    /// The daemon was found by its name (no pidfile): what a process it leaves when it ends
    /// must be to be the daemon after it.
    orphan_rule: Option<pidfile::Wanted>,
    /// Why what a forking command without a pidfile left was not taken for its daemon.
    untracked_note: Option<String>,
}

/// Creates a service's status channel and starts its task.
pub fn spawn_task(def: Def, ctx: Rc<Ctx>) -> (watch::Receiver<Status>, Outbox<Request>) {
    let (status, status_rx) = watch::channel(Status {
        state: State::Stopped,
        why: None,
        pid: None,
        restarts: 0,
        since: Instant::now(),
        healthy: None,
        settled: false,
        script: None,
        until: None,
        stop_ask: None,
    });
    let (tx, rx) = inbox();
    let critical = def.critical || ctx.critical.contains(&def.name);
    let svc = Svc {
        def,
        ctx,
        status,
        launch: None,
        daemon: None,
        life: Lifecycle::new(Instant::now()),
        wake: None,
        critical,
        vars: Rc::default(),
        script_stop: false,
        stop_deadline: None,
        last_stop: None,
        started_before: false,
        stop_override: None,
        forking: None,
        extras: Vec::new(),
        client_stdio: None,
        deferred: std::collections::VecDeque::new(),
        start_error: None,
        start_mark: None,
        orphan_rule: None,
        untracked_note: None,
    };
    tokio::task::spawn_local(Box::new(svc).run(rx));
    (status_rx, tx)
}

impl Svc {
    fn state(&self) -> State {
        self.status.borrow().state
    }

    // Every step is boxed while it runs: a task waits idle holding only the service's own
    // state, not room for its largest step (thousands of services, most of them idle).
    async fn run(mut self: Box<Self>, mut rx: Inbox<Request>) {
        loop {
            let req = match self.deferred.pop_front() {
                Some(r) => r,
                None => match rx.recv().await {
                    Some(r) => r,
                    None => return,
                },
            };
            let stop = match req {
                Request::Refuse(why) => {
                    self.refuse(why);
                    None
                }
                Request::Start(reply) => Box::pin(self.start_asked(reply, &mut rx)).await,
                Request::Stop {
                    deadline, reply, ..
                } => Some((deadline, reply)),
                // A command or OpenRC's own helper call: answered as while up; a helper's
                // `--start` leaves the service up, to be supervised.
                other => match Box::pin(self.answer(other, &mut rx)).await {
                    Flow::Stop(stop) => Some(stop),
                    Flow::Go | Flow::Down if self.is_up() => {
                        Box::pin(self.supervise(&mut rx)).await
                    }
                    Flow::Go | Flow::Down => None,
                },
            };
            if let Some((deadline, reply)) = stop {
                Box::pin(self.stop_asked(deadline, reply, &mut rx)).await;
            }
        }
    }

    /// Not started: a need of it failed, or the plan could not start it.
    fn refuse(&mut self, why: Why) {
        // What the plan could not start was said with the plan (a cycle in one line, not one
        // per member).
        match why {
            Why::Needs { .. } => tracing::error!("{}: not started: {why}", self.def.name),
            _ => tracing::debug!("{}: not started: {why}", self.def.name),
        }
        self.set(State::Failed, Some(why));
        self.status.send_modify(|s| s.settled = true);
        self.on_failed();
    }

    /// A start, under the service's exclusive lock, then supervision while it is up;
    /// the stop asked for meanwhile, if any.
    async fn start_asked(
        &mut self,
        reply: Option<oneshot::Sender<()>>,
        rx: &mut Inbox<Request>,
    ) -> Option<StopAsk> {
        let lock = self.exclusive();
        if matches!(lock, crate::mirror::Lock::Busy) {
            tracing::warn!(
                "{}: not started: OpenRC's openrc-run is starting or stopping it (it holds \
                 /run/openrc/exclusive/{0})",
                self.def.name
            );
            // Its state is openrc-run's to set (its helper calls reach rcinit); what waits for
            // this start is told it is over.
            self.status.send_modify(|s| s.settled = true);
            if let Some(r) = reply {
                let _ = r.send(());
            }
            return None;
        }
        let pending = Box::pin(self.start(rx)).await;
        drop(lock);
        self.status.send_modify(|s| s.settled = true);
        if self.state() == State::Failed {
            self.on_failed();
        }
        if let Some(r) = reply {
            let _ = r.send(());
        }
        match pending {
            Some(p) => Some(p),
            None if self.is_up() => Box::pin(self.supervise(rx)).await,
            None => None,
        }
    }

    /// A stop (by its own schedule when no deadline was given), unless OpenRC's openrc-run
    /// holds the service's lock while the container is not going down: then it is
    /// refused and the service stays supervised.
    async fn stop_asked(
        &mut self,
        deadline: Option<Instant>,
        reply: oneshot::Sender<StopReport>,
        rx: &mut Inbox<Request>,
    ) {
        let deadline = deadline.unwrap_or_else(|| self.own_stop_deadline());
        let lock = self.exclusive();
        if matches!(lock, crate::mirror::Lock::Busy) && !self.ctx.going_down() {
            tracing::warn!(
                "{}: not stopped: OpenRC's openrc-run is starting or stopping it (it holds \
                 /run/openrc/exclusive/{0})",
                self.def.name
            );
            let _ = reply.send(StopReport::nothing(&self.def.name, self.state()));
            drop(lock);
            // Still up: supervised as before (a crash is seen, a respawn made).
            if self.is_up()
                && let Some((deadline, reply)) = Box::pin(self.supervise(rx)).await
            {
                self.deferred.push_front(Request::Stop {
                    deadline,
                    reply,
                    after_script: false,
                });
            }
            return;
        }
        let r = Box::pin(self.stop(deadline)).await;
        drop(lock);
        let _ = reply.send(r);
    }

    /// The service's `exclusive/` lock for a start or a stop of rcinit's own; a call
    /// of OpenRC's openrc-run reaching rcinit (its helper) runs under openrc-run's lock.
    fn exclusive(&self) -> crate::mirror::Lock {
        match &self.ctx.mirror {
            Some(m) => m.exclusive(&self.def.name),
            None => crate::mirror::Lock::Unavailable,
        }
    }

    /// [`State::is_up`]: its daemon, if any, is supervised and stopped like a started one's.
    fn is_up(&self) -> bool {
        self.state().is_up()
    }

    fn on_failed(&self) {
        let said = self
            .vars
            .get("rcinit_critical")
            .is_some_and(|v| crate::words::yes(v));
        if (self.critical || said)
            && let Some(why) = self.status.borrow().why.clone()
        {
            let _ = self
                .ctx
                .critical_failed
                .send((self.def.name.clone(), why.to_string()));
        }
    }
}

/// What supervision does after a request.
enum Flow {
    Go,
    /// Not up any more (stopped by OpenRC's own helper call).
    Down,
    Stop(StopAsk),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_settings_do_not_overflow_the_clock() {
        // healthcheck_timer or a retry timeout of 2^63 s parse fine; adding them must not abort.
        let far = later(Duration::from_secs(u64::MAX));
        assert!(far > Instant::now() + Duration::from_secs(86_400));
        assert!(later(Duration::from_millis(5)) <= Instant::now() + Duration::from_millis(5));
    }
}
