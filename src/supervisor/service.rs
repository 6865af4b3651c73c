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
use super::env::parse_assignments;
use super::forward;
use super::helper_call::{self, Mode as HelperMode};
use super::inbox::{Inbox, Outbox, inbox};
use super::launch::{self, Kind, Launch, Notify, Reported, Sink};
use super::lifecycle::{self, Action, Event, Lifecycle, Spawn};
use super::pidfile;
use crate::output::Stream;
use crate::policy::exit::Exit;
use crate::policy::retry::Step;
use crate::reaper::Reaper;
use crate::script::channel::Channel;
use crate::script::record::{Parser, Record};
use crate::spawn::{self, Grouping, Options, Setup};
use crate::state::{State, Why};

/// What every service task shares.
pub struct Ctx {
    pub reaper: Rc<RefCell<Reaper>>,
    /// The environment scripts run with (the container's, filtered, plus OpenRC's).
    pub env: Vec<(OsString, OsString)>,
    pub runlevel: String,
    pub shell: String,
    pub ready_timeout: Duration,
    /// Services named in RCINIT_CRITICAL.
    pub critical: Vec<String>,
    /// A critical service failed: (service, why).
    pub critical_failed: mpsc::UnboundedSender<(String, String)>,
    /// Set once the container is going down: health checks and respawns end, and stops end
    /// with SIGKILL when their schedule does.
    pub down: watch::Sender<bool>,
    /// RCINIT_START_TIMEOUT (None: no limit), unless a script says otherwise.
    pub start_timeout: Option<Duration>,
    /// OpenRC's state directory, kept current when it can be written.
    pub mirror: Option<crate::mirror::Mirror>,
    /// The boot's own start of the runlevel is under way: what the evaluation read of rc.conf
    /// and conf.d moments ago is what openrc-run would read now. Any later start reads them
    /// again (the script runs), as openrc-run does at every start.
    pub booting: std::cell::Cell<bool>,
    /// 0.64's reexport: what each started service handed on (variable, value), until it stops.
    pub reexports: RefCell<std::collections::HashMap<String, Vec<(String, String)>>>,
    /// Each service's direct dependencies (need, want, use, after; virtual names as their
    /// providers): whose handed-on variables its start and stop see.
    pub env_deps: std::collections::HashMap<String, Vec<String>>,
}

impl Ctx {
    pub fn going_down(&self) -> bool {
        *self.down.borrow()
    }
}

/// What the outside sees of a service.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub why: Option<Why>,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub since: Instant,
    /// The last health check's result, when the service has checks.
    pub healthy: Option<bool>,
    /// The first start attempt is over (whatever its result).
    pub settled: bool,
    /// The script command running now, and its shell's pid (its session: everything the
    /// command runs, a client of rcinit's included, is in it).
    pub script: Option<(i32, String)>,
    /// When the start or stop in progress reaches its limit (None: none, or no limit).
    pub until: Option<Instant>,
    /// What its stop schedule asks for (`retry`), once a daemon was planned.
    pub stop_ask: Option<Duration>,
}

/// What the outside asks of a service.
pub enum Request {
    /// Start; the reply says the attempt is over (whatever its result).
    Start(Option<oneshot::Sender<()>>),
    /// Do not start: a need failed.
    Refuse(Why),
    Stop {
        /// When the stop must be over; None: what the service's own schedule asks for,
        /// counted from when its stop begins (a stop asked for by hand).
        deadline: Option<Instant>,
        reply: oneshot::Sender<StopReport>,
        /// Asked for by the service's own running command (a `reload` that restarts it):
        /// done once that command ends, instead of interrupting it.
        after_script: bool,
    },
    /// Run a command of the script (reload, extra commands), its output to the asker's
    /// stdout and stderr; the reply is the exit code and what to tell the asker.
    Run {
        command: String,
        stdio: Option<(OwnedFd, OwnedFd)>,
        reply: oneshot::Sender<(i32, Option<String>)>,
    },
    /// OpenRC's own openrc-run called start-stop-daemon or supervise-daemon (rc-service run
    /// from a shell): rcinit stands in for the helper, as it does inside its own runs.
    Helper {
        argv: Vec<String>,
        exported: Vec<(String, String)>,
        /// None: the call is not about this service's daemon (the image's own helper runs it).
        reply: oneshot::Sender<Option<bool>>,
    },
}

/// A stop to carry out: its deadline (see [`Request::Stop`]) and whom to tell.
type StopAsk = (Option<Instant>, oneshot::Sender<StopReport>);

/// How one service stopped, for the shutdown report.
#[derive(Debug, Clone)]
pub struct StopReport {
    pub name: String,
    /// The first signal sent, if a process was running.
    pub signal: Option<i32>,
    pub took: Duration,
    pub exit: Option<Exit>,
    /// It had to be SIGKILLed (by its schedule, or by the budget).
    pub killed: bool,
    /// The state before the stop.
    pub was: State,
}

impl StopReport {
    /// A stop that signalled nothing.
    pub fn nothing(name: &str, was: State) -> StopReport {
        StopReport {
            name: name.to_owned(),
            signal: None,
            took: Duration::ZERO,
            exit: None,
            killed: false,
            was,
        }
    }
}

/// The static facts of one service.
pub struct Def {
    pub name: String,
    /// The script's directory and the path openrc-run would export as RC_SERVICE.
    pub dir: String,
    pub path: String,
    /// What the evaluation's run-time pass said. When it says everything the default start
    /// would, no shell needs to run to start this service. The boot fills it in while the first
    /// services start already.
    pub fast: Rc<Later>,
    /// `rcinit_critical=yes` in the script or its conf.d (as evaluated), or RCINIT_CRITICAL.
    pub critical: bool,
    /// What the script needs (used outside the runlevel, where the graph has no edges).
    pub needs: Vec<String>,
    /// `keyword -timeout` (or `notimeout`): no start limit, and dependents wait (D-34).
    pub no_timeout: bool,
    /// `keyword -stop`/`-shutdown` (or `nostop`/`noshutdown`): the shutdown does not stop it by its
    /// script (D-41); the final sweep ends what is left.
    pub no_stop: bool,
    /// 0.64: the variables it hands to what starts after it (`reexport` in depend()).
    pub reexport: Vec<String>,
}

/// What the run-time pass said of a service: the fast path when it applies, and what its start
/// limit is (conf.d may set `rcinit_start_timeout`).
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    pub fast: Option<Fast>,
    pub start_timeout: Option<String>,
}

impl Evaluated {
    pub fn of(spec: &crate::script::spec::Spec) -> Evaluated {
        Evaluated {
            fast: Fast::of(spec),
            start_timeout: spec.vars.get("rcinit_start_timeout").cloned(),
        }
    }

    /// [`Evaluated::of`], taking what the fast path keeps out of the spec (see [`Fast::take`]).
    pub fn take(spec: &mut crate::script::spec::Spec) -> Evaluated {
        let start_timeout = spec.vars.get("rcinit_start_timeout").cloned();
        Evaluated {
            fast: Fast::take(spec),
            start_timeout,
        }
    }
}

/// What a script without start_pre, start or start_post reported at evaluation: the same
/// sourcing order and RC_CMD as openrc-run's start, so the same values (V-02).
#[derive(Debug, Clone)]
pub struct Fast {
    pub vars: Rc<BTreeMap<String, String>>,
    pub argv: Vec<String>,
    pub exported: crate::script::spec::Exported,
    /// It defines stop, stop_pre or stop_post: stopping runs the script.
    pub script_stop: bool,
}

impl Fast {
    /// The fast path for a spec, when its script leaves the start entirely to the default.
    pub fn of(spec: &crate::script::spec::Spec) -> Option<Fast> {
        let mut f = Self::shape(spec)?;
        f.vars = Rc::new(spec.vars.clone());
        f.argv = spec.argv.clone();
        Some(f)
    }

    /// [`Fast::of`], taking what it keeps out of the spec instead of copying it (the boot's
    /// specs are dropped right after: one copy per service, not two, at the peak).
    pub fn take(spec: &mut crate::script::spec::Spec) -> Option<Fast> {
        let mut f = Self::shape(spec)?;
        f.vars = Rc::new(std::mem::take(&mut spec.vars));
        f.argv = std::mem::take(&mut spec.argv);
        Some(f)
    }

    /// Whether the fast path applies, and what it keeps besides the variables and argv.
    fn shape(spec: &crate::script::spec::Spec) -> Option<Fast> {
        let f = |n: &str| spec.functions.iter().any(|x| x == n);
        let needs_shell = ["start", "start_pre", "start_post"].iter().any(|n| f(n))
            || spec.vars.contains_key("required_dirs")
            || spec.vars.contains_key("required_files");
        (!needs_shell && spec.error.is_none()).then(|| Fast {
            vars: Rc::default(),
            argv: Vec::new(),
            exported: spec.exported.clone(),
            script_stop: ["stop", "stop_pre", "stop_post"].iter().any(|n| f(n)),
        })
    }
}

/// A run-time pass result that may still be on its way; `Err`: the pass failed (the start
/// fails with that).
#[derive(Default)]
pub struct Later {
    value: std::cell::RefCell<Option<Result<Evaluated, String>>>,
    ready: tokio::sync::Notify,
}

impl Later {
    /// Already known.
    pub fn known(v: Result<Evaluated, String>) -> Rc<Later> {
        let l = Later::default();
        *l.value.borrow_mut() = Some(v);
        Rc::new(l)
    }

    /// The first value set stays.
    pub fn set(&self, v: Result<Evaluated, String>) {
        let mut slot = self.value.borrow_mut();
        if slot.is_none() {
            *slot = Some(v);
            self.ready.notify_waiters();
        }
    }

    pub fn is_set(&self) -> bool {
        self.value.borrow().is_some()
    }

    /// The value, if known now.
    pub fn now(&self) -> Option<Result<Evaluated, String>> {
        self.value.borrow().clone()
    }

    pub async fn get(&self) -> Result<Evaluated, String> {
        loop {
            // Registered before the check: a set in between still wakes this.
            let notified = self.ready.notified();
            if let Some(v) = self.now() {
                return v;
            }
            notified.await;
        }
    }
}

struct Daemon {
    pid: i32,
    /// The process group to signal (None: signal the pid alone).
    pgid: Option<i32>,
    exit: oneshot::Receiver<Exit>,
    /// Its exit, once taken from `exit` (which must not be awaited again): a stop cut short
    /// may have seen it while the rest of its group lingered.
    ended: Option<Exit>,
    /// Found rather than spawned (a pidfile, a fork), with its start time and uid: its group
    /// is looked up again, and a successor must be younger and run as it.
    seen: Option<(u64, u32)>,
}

impl Daemon {
    fn new(pid: i32, pgid: Option<i32>, exit: oneshot::Receiver<Exit>) -> Daemon {
        Daemon {
            pid,
            pgid,
            exit,
            ended: None,
            seen: None,
        }
    }

    /// A daemon found after it forked may call setsid() after rcinit began to follow it
    /// (nginx does, a moment after its parent returned): while it runs (it is rcinit's child,
    /// its pid cannot be anyone else's), its group is the one it has now.
    fn refresh_group(&mut self) {
        if self.ended.is_none()
            && let Ok(e) = self.exit.try_recv()
        {
            // Reaped already: its pid may be anyone's by now.
            self.ended = Some(e);
        }
        if self.seen.is_some()
            && self.ended.is_none()
            && let Some(g) = own_group(self.pid)
        {
            self.pgid = Some(g);
        }
    }

    /// A found daemon that ended: a group numbered as its pid can only be one it made itself
    /// (setsid after rcinit last looked): what is left of it (workers) is in that one.
    fn own_group_after_exit(&mut self) {
        if self.seen.is_some()
            && self.pgid != Some(self.pid)
            && killpg(Pid::from_raw(self.pid), None).is_ok()
        {
            self.pgid = Some(self.pid);
        }
    }

    /// Its exit, when it comes (at once when it came already).
    async fn ended(&mut self) -> Exit {
        if let Some(e) = self.ended {
            return e;
        }
        let e = (&mut self.exit).await.unwrap_or(Exit::Code(-1));
        self.ended = Some(e);
        e
    }
}

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

/// What a run of the script reported.
#[derive(Default)]
struct ScriptRun {
    exit: Option<Exit>,
    /// The shim got past loading (rc.conf, conf.d, the script).
    loaded: bool,
    /// A stop request that arrived during the run.
    interrupted: Option<StopAsk>,
    timed_out: bool,
    /// Ended because the container began to go down.
    cut: bool,
    /// The last state the script marked itself with (L-21: 0.56+, it stands).
    marked: Option<String>,
}

impl Svc {
    fn set(&self, state: State, why: Option<Why>) {
        self.status.send_modify(|s| {
            s.state = state;
            s.why = why;
            s.since = Instant::now();
        });
        if matches!(state, State::Stopped | State::Failed)
            && self
                .ctx
                .reexports
                .borrow_mut()
                .remove(&self.def.name)
                .is_some()
            && let Some(m) = &self.ctx.mirror
        {
            m.remove_environ(&self.def.name);
        }
        self.mirror(state);
    }

    /// A start that reexports succeeded: its exported variables of the list are kept (and
    /// written where OpenRC's openrc-run reads them), the first value of each standing until
    /// the service stops, as OpenRC's service_export keeps it.
    fn keep_reexports(&self, export_p: &str) {
        if self.def.reexport.is_empty() {
            return;
        }
        let mut all = self.ctx.reexports.borrow_mut();
        let kept = all.entry(self.def.name.clone()).or_default();
        for (k, v) in parse_assignments(export_p) {
            if self.def.reexport.contains(&k) && !kept.iter().any(|(n, _)| *n == k) {
                kept.push((k, v));
            }
        }
        if let Some(m) = &self.ctx.mirror {
            m.environ(&self.def.name, kept);
        }
    }

    /// What the services this one depends on handed on (0.64's reexport): for a start, those of
    /// its dependencies all the way down; for a stop, of its direct ones (as openrc-run).
    fn reexported_env(&self, cmd: &str) -> Vec<(String, String)> {
        let all = self.ctx.reexports.borrow();
        if all.is_empty() {
            return Vec::new();
        }
        let mut seen: Vec<&str> = vec![self.def.name.as_str()];
        let mut todo: Vec<&str> = vec![self.def.name.as_str()];
        let mut out: Vec<(String, String)> = Vec::new();
        while let Some(s) = todo.pop() {
            for d in self.ctx.env_deps.get(s).into_iter().flatten() {
                if seen.contains(&d.as_str()) {
                    continue;
                }
                seen.push(d);
                if cmd == "start" {
                    todo.push(d);
                }
                for (k, v) in all.get(d).into_iter().flatten() {
                    out.retain(|(n, _)| n != k);
                    out.push((k.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Writes the state for OpenRC's tools (R-23), with the daemon's record once started
    /// (R-25), so rc-status tells a live daemon from a crashed one as rcinit does.
    fn mirror(&self, state: State) {
        let Some(m) = &self.ctx.mirror else {
            return;
        };
        let Some(mark) = crate::mirror::Mark::of(state) else {
            if state == State::Crashed {
                // rc-status reads a dead daemon with these as "unsupervised" (a supervisor gone,
                // its child alive); rcinit's supervisor is alive and the daemon is gone.
                m.remove_option(&self.def.name, "child_pid");
                m.remove_option(&self.def.name, "start_time");
            }
            return;
        };
        m.mark(&self.def.name, &self.def.path, mark);
        if mark != crate::mirror::Mark::Started {
            return;
        }
        let (Some(l), Some(d)) = (&self.launch, &self.daemon) else {
            return;
        };
        let exec = l.argv.first().cloned().unwrap_or_default();
        let mut options = vec![("command".to_owned(), exec.clone())];
        // What supervise-daemon writes (R-24): rc-status's uptime column and -S.
        if l.kind == Kind::Supervised {
            options.extend([
                ("child_pid".to_owned(), d.pid.to_string()),
                ("start_time".to_owned(), crate::mirror::local_time_now()),
                (
                    "start_count".to_owned(),
                    self.status.borrow().restarts.to_string(),
                ),
            ]);
        }
        // A supervised service's `pidfile` is its supervisor's (T-03), and OpenRC's tools
        // signal what it names: rcinit leaves it alone and gives rc-status a pidfile of its
        // own that names the daemon, read only for R-25's liveness test.
        // Every record gets a pidfile naming the daemon rcinit follows, so service_crashed
        // and rc-status judge by pid (a record without one is judged by argv).
        let pidfile = match (l.kind, &l.pidfile) {
            (Kind::Supervised, _) | (_, None) => {
                let p = format!("/run/rcinit/pids/{}.pid", self.def.name);
                let ok = crate::safepath::write_pidfile(&p, d.pid).or_else(|_| {
                    std::fs::create_dir_all("/run/rcinit/pids").map_err(|e| e.to_string())?;
                    crate::safepath::write_pidfile(&p, d.pid)
                });
                ok.is_ok().then_some(p)
            }
            (_, Some(p)) => Some(p.clone()),
        };
        if let Some(p) = &pidfile {
            options.push(("pidfile".to_owned(), p.clone()));
        }
        m.daemon(
            &self.def.name,
            &crate::mirror::DaemonRecord {
                exec,
                argv: l.argv.clone(),
                pidfile,
                options,
            },
        );
    }

    fn state(&self) -> State {
        self.status.borrow().state
    }

    // Every step is boxed while it runs: a task waits idle holding only the service's own
    // state, not room for its largest step (thousands of services, most of them idle).
    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
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
                    // What the plan could not start was said with the plan (a cycle in one
                    // line, not one per member).
                    match why {
                        Why::Needs { .. } => {
                            tracing::error!("{}: not started: {why}", self.def.name)
                        }
                        _ => tracing::debug!("{}: not started: {why}", self.def.name),
                    }
                    self.set(State::Failed, Some(why));
                    self.status.send_modify(|s| s.settled = true);
                    self.on_failed();
                    None
                }
                Request::Start(reply) => {
                    let lock = self.exclusive();
                    if matches!(lock, crate::mirror::Lock::Busy) {
                        tracing::warn!(
                            "{}: not started: OpenRC's openrc-run is starting or stopping it (it \
                             holds /run/openrc/exclusive/{0})",
                            self.def.name
                        );
                        // Its state is openrc-run's to set (its helper calls reach rcinit); what
                        // waits for this start is told it is over.
                        self.status.send_modify(|s| s.settled = true);
                        if let Some(r) = reply {
                            let _ = r.send(());
                        }
                        continue;
                    }
                    let pending = Box::pin(self.start(&mut rx)).await;
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
                        None if self.is_up() => Box::pin(self.supervise(&mut rx)).await,
                        None => None,
                    }
                }
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
                let deadline = deadline.unwrap_or_else(|| self.own_stop_deadline());
                // R-31: not while openrc-run starts or stops it, unless the container goes down
                // (nothing holds a shutdown up).
                let lock = self.exclusive();
                if matches!(lock, crate::mirror::Lock::Busy) && !self.ctx.going_down() {
                    tracing::warn!(
                        "{}: not stopped: OpenRC's openrc-run is starting or stopping it (it \
                         holds /run/openrc/exclusive/{0})",
                        self.def.name
                    );
                    let _ = reply.send(StopReport::nothing(&self.def.name, self.state()));
                    drop(lock);
                    // Still up: supervised as before (a crash is seen, a respawn made).
                    if self.is_up()
                        && let Some((deadline, reply)) = Box::pin(self.supervise(&mut rx)).await
                    {
                        self.deferred.push_front(Request::Stop {
                            deadline,
                            reply,
                            after_script: false,
                        });
                    }
                    continue;
                }
                let r = Box::pin(self.stop(deadline)).await;
                drop(lock);
                let _ = reply.send(r);
            }
        }
    }

    /// The service's `exclusive/` lock for a start or a stop of rcinit's own (R-31); a call
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

    /// A command of the script asked for from outside (L-01): extra_started_commands need the
    /// service started, extra_stopped_commands need it stopped; the shim checks the rest.
    async fn run_command(
        &mut self,
        command: &str,
        stdio: Option<(OwnedFd, OwnedFd)>,
        rx: &mut Inbox<Request>,
    ) -> (i32, Option<String>, Option<StopAsk>) {
        let vars = match self.def.fast.now() {
            Some(Ok(Evaluated { fast: Some(f), .. })) if self.vars.is_empty() => f.vars,
            _ => self.vars.clone(),
        };
        let listed = |key: &str| {
            vars.get(key)
                .is_some_and(|v| v.split_whitespace().any(|w| w == command))
        };
        let up = self.is_up();
        if listed("extra_started_commands") && !up {
            let why = format!(
                "{}: cannot '{command}' as it has not been started",
                self.def.name
            );
            return (1, Some(why), None);
        }
        if listed("extra_stopped_commands") && up {
            let why = format!(
                "{}: cannot '{command}' as it has been started",
                self.def.name
            );
            return (1, Some(why), None);
        }
        self.client_stdio = stdio;
        // No time limit (OpenRC has none), but a stop interrupts it: a reload that hangs, or
        // that waits on its own service, never holds up a stop.
        let run = self.script(command, None, Some(rx), None).await;
        self.client_stdio = None;
        let code = match run.exit {
            Some(Exit::Code(c)) => c,
            Some(Exit::Signal(s)) => 128 + s,
            None => 1,
        };
        (code, None, run.interrupted)
    }

    /// Whether a start-stop-daemon `--stop` names this service's daemon: its pidfile, its
    /// program or its process name. A process that merely inherited RC_SVCNAME (a daemon that
    /// stops something of its own) must not stop the service.
    fn owns(&self, call: &helper_call::Call) -> bool {
        if call.helper == Helper::SuperviseDaemon {
            return true;
        }
        let Ok(da) = daemon_args::parse(call.helper, &call.options) else {
            return false;
        };
        // A start() of its own plans no daemon: the script's variables say what it runs.
        let var = |k: &str| self.vars.get(k).filter(|v| !v.is_empty()).cloned();
        let (exe, own_pidfile) = match &self.launch {
            Some(l) => (l.argv.first().cloned(), l.pidfile.clone()),
            None => (var("command"), var("pidfile")),
        };
        let Some(exe) = exe.filter(|e| !e.is_empty()) else {
            return da.pidfile.is_some() && da.pidfile == own_pidfile;
        };
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        let pidfile = da.pidfile.is_some() && da.pidfile == own_pidfile;
        let exec = call.command.as_deref().is_some_and(|c| c == exe);
        let name = da.name.as_deref().is_some_and(|n| n == base(&exe));
        pidfile || exec || name
    }

    /// start-stop-daemon or supervise-daemon run by OpenRC's own openrc-run: `--start` starts
    /// the daemon under this task, `--stop` stops it, `--signal` signals it. None: the call is
    /// about some other process.
    async fn outside_helper(
        &mut self,
        argv: &[String],
        exported: &[(String, String)],
    ) -> Option<bool> {
        let call = helper_call::split(argv);
        if let Ok(c) = &call
            && !matches!(c.mode, HelperMode::Start)
            && !self.owns(c)
        {
            return None;
        }
        // Nothing of rcinit's to signal, or to stop (the service is not up): the image's own
        // helper does what OpenRC's would.
        if let Ok(c) = &call
            && self.daemon.is_none()
            && match c.mode {
                HelperMode::Signal(_) => true,
                HelperMode::Stop => !self.is_up(),
                HelperMode::Start => false,
            }
        {
            return None;
        }
        let mode = call.as_ref().map(|c| c.mode.clone()).map_err(Clone::clone);
        Some(match mode {
            Ok(HelperMode::Start) if self.is_up() => {
                tracing::warn!("{}: already running; not started again", self.def.name);
                false
            }
            Ok(HelperMode::Start) => {
                self.set(State::Starting, None);
                if self.helper(argv, exported).await {
                    tracing::info!("{}: started by OpenRC's openrc-run", self.def.name);
                    self.set(State::Started, None);
                    true
                } else {
                    self.set(State::Failed, Some(Why::Said("start failed".into())));
                    false
                }
            }
            Ok(HelperMode::Stop) => {
                let mut ok = true;
                if self.is_up() || self.daemon.is_some() {
                    self.feed_now(Event::StopBegan);
                    self.set(State::Stopping, None);
                    let deadline = self.own_stop_deadline();
                    let untracked = self.untracked();
                    let r = self.stop_daemon(deadline).await;
                    if untracked && let Ok(c) = &call {
                        ok = self.stop_named(c, deadline).await;
                    }
                    self.set(State::Stopped, Some(Why::Requested));
                    self.status.send_modify(|s| s.pid = None);
                    tracing::info!(
                        "{}: stopped by OpenRC's openrc-run{}",
                        self.def.name,
                        r.exit.map(|e| format!(" ({e})")).unwrap_or_default()
                    );
                }
                ok
            }
            Ok(HelperMode::Signal(_)) => self.helper(argv, exported).await,
            Err(e) => {
                tracing::error!("{}: {e}", self.def.name);
                false
            }
        })
    }

    fn on_failed(&self) {
        let said = self.vars.get("rcinit_critical").is_some_and(|v| is_yes(v));
        if (self.critical || said)
            && let Some(why) = self.status.borrow().why.clone()
        {
            let _ = self
                .ctx
                .critical_failed
                .send((self.def.name.clone(), why.to_string()));
        }
    }

    /// start_pre, start (the daemon, or the script's own), start_post (L-06, L-07), inside the
    /// start limit; a stop request ends it at any point (the stop follows, returned).
    async fn start(&mut self, rx: &mut Inbox<Request>) -> Option<StopAsk> {
        self.set(State::Starting, None);
        let began = Instant::now();
        let mut limit = match self.def.no_timeout {
            true => None,
            false => self.ctx.start_timeout,
        };
        let mut held = Vec::new();
        // The run-time pass may still be on its way: that wait is part of the start.
        let fast = Rc::clone(&self.def.fast);
        let evaluated = race(fast.get(), rx, until(began, limit), &mut held, None).await;
        let outcome = match evaluated {
            Raced::Done(Err(why)) => {
                tracing::error!("{}: {why}", self.def.name);
                self.set(State::Failed, Some(Why::Said(why)));
                Raced::Done(())
            }
            Raced::Done(Ok(ev)) => {
                let (own, warning) = crate::policy::budget::start_limit(
                    self.def.no_timeout,
                    ev.start_timeout.as_deref(),
                    self.ctx.start_timeout,
                );
                if let Some(w) = warning {
                    tracing::warn!("{}: {w}", self.def.name);
                }
                limit = own;
                let end = until(began, limit);
                self.status.send_modify(|s| s.until = end);
                // The evaluation's variables serve the first start of the boot only.
                // A service that hands variables on, or is handed some, starts through its
                // script: the values live in shells.
                let plain = self.def.reexport.is_empty() && self.reexported_env("start").is_empty();
                let fast = ev
                    .fast
                    .filter(|_| plain && self.ctx.booting.get() && !self.started_before);
                self.started_before = true;
                race(self.start_steps(fast), rx, end, &mut held, None).await
            }
            Raced::Stop(s) => Raced::Stop(s),
            Raced::Late => Raced::Late,
            Raced::Down => Raced::Down,
        };
        // A start asked for again meanwhile is over with this one: when a stop ended it, it must
        // not start the service again after the stop.
        let stopped = matches!(outcome, Raced::Stop(_));
        for r in held {
            match r {
                Request::Start(reply) if stopped => {
                    if let Some(r) = reply {
                        let _ = r.send(());
                    }
                }
                other => self.deferred.push_back(other),
            }
        }
        // A run cut short did not get to say it is over.
        self.status.send_modify(|s| {
            s.script = None;
            s.until = None;
        });
        match outcome {
            Raced::Done(()) | Raced::Down => None,
            Raced::Stop(stop) => {
                tracing::info!("{}: its start ends: a stop was asked for", self.def.name);
                Some(stop)
            }
            Raced::Late => {
                self.start_took_too_long(limit.unwrap_or_default()).await;
                None
            }
        }
    }

    /// The start limit passed: what the start began is stopped (its shell and everything in its
    /// session were killed with the run) and the start fails.
    async fn start_took_too_long(&mut self, limit: Duration) {
        let why = format!(
            "start did not finish in {}",
            crate::policy::budget::secs(limit)
        );
        tracing::error!(
            "{}: {why} (rcinit_start_timeout, RCINIT_START_TIMEOUT); stopping what it started",
            self.def.name
        );
        let _ = self.stop_all_of_it(later(Duration::from_secs(5))).await;
        self.status.send_modify(|s| s.pid = None);
        self.set(State::Failed, Some(Why::Said(why)));
    }

    /// The start's steps themselves.
    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    async fn start_steps(&mut self, fast: Option<Fast>) {
        self.start_error = None;
        // A plan of an earlier start (or an earlier version of the script) is not this one's.
        self.launch = None;
        self.feed_now(Event::Planned(lifecycle::Settings::default()));
        let scripted = fast.is_none();
        if let Some(f) = &fast
            && f.vars.get("rcinit_critical").is_some_and(|v| is_yes(v))
        {
            self.critical = true;
        }
        let run = match fast {
            Some(fast) => {
                self.vars = Rc::clone(&fast.vars);
                self.script_stop = fast.script_stop;
                let ok = self
                    .start_daemon(&fast.vars, &fast.argv, &fast.exported)
                    .await;
                ScriptRun {
                    exit: Some(Exit::Code(if ok { 0 } else { 1 })),
                    loaded: true,
                    ..ScriptRun::default()
                }
            }
            None => self.script("start", None, None, None).await,
        };
        // Inactive stands whatever the start returned (OpenRC 0.56+); stopped and failed only
        // mark a start that succeeded.
        let marked = run
            .marked
            .clone()
            .filter(|m| m.as_str() == "inactive" || matches!(run.exit, Some(Exit::Code(0))));
        match run.exit {
            _ if self.own_mark(marked.as_deref()).await => {}
            Some(Exit::Code(0)) => {
                let supervised = self
                    .launch
                    .as_ref()
                    .is_some_and(|l| l.kind == Kind::Supervised);
                match &self.daemon {
                    Some(d) => {
                        tracing::info!("{}: started (pid {})", self.def.name, d.pid);
                        self.set(State::Started, None);
                    }
                    // The script stopped its own daemon again before its start ended: the
                    // supervisor's business (V-16), counted as an exit.
                    None if supervised => {
                        self.set(State::Started, None);
                        self.feed_now(Event::DaemonExited {
                            exit: Exit::Code(-1),
                            leftovers: false,
                        });
                    }
                    // A start() of its own that names a command but left no daemon rcinit
                    // follows: the image's own start-stop-daemon ran it (by its path).
                    // A start() of its own that had rcinit start nothing: what it ran, if
                    // anything, is outside rcinit.
                    None if scripted && self.launch.is_none() => {
                        self.follow_outside().await;
                    }
                    None => match self.untracked_note.take() {
                        Some(why) => {
                            tracing::warn!(
                                "{}: started, untracked: its command left a process rcinit does \
                                 not take for its daemon ({why}); `rcinit check` will not vouch \
                                 for it",
                                self.def.name
                            );
                            self.set(State::Started, Some(Why::Untracked(why)));
                        }
                        None => {
                            tracing::info!("{}: started", self.def.name);
                            self.set(State::Started, None);
                        }
                    },
                }
            }
            other => {
                let why = match (other, run.loaded, self.start_error.take()) {
                    (_, false, _) => "its script failed to load".to_string(),
                    (_, _, Some(e)) => format!("start failed: {e}"),
                    (Some(e), _, _) => format!("start failed ({e})"),
                    (None, _, _) => "start failed".to_string(),
                };
                // T-12: OpenRC would leave a daemon started before a failing start_post running
                // while the service reads stopped; rcinit stops it (documented).
                if self.daemon.is_some() || !self.extras.is_empty() {
                    let _ = self
                        .stop_daemon(Instant::now() + Duration::from_secs(5))
                        .await;
                }
                tracing::error!("{}: {why}", self.def.name);
                self.set(State::Failed, Some(Why::Said(why)));
            }
        }
    }

    /// A successful start() that marked its service itself ends in that state, as under
    /// OpenRC 0.56+ (L-21, L-22): `inactive` (up to OpenRC's tools, not started: what needs it
    /// does not start), `stopped` (what it started is stopped again) or `failed`. True when a
    /// mark decided the state.
    async fn own_mark(&mut self, mark: Option<&str>) -> bool {
        let (state, why) = match mark {
            Some("inactive") => (State::Inactive, None),
            Some("stopped") => (State::Stopped, None),
            Some("failed") => (
                State::Failed,
                Some(Why::Said("its start marked it failed".into())),
            ),
            _ => return false,
        };
        if state != State::Inactive && (self.daemon.is_some() || !self.extras.is_empty()) {
            let _ = self
                .stop_daemon(Instant::now() + Duration::from_secs(5))
                .await;
            self.status.send_modify(|s| s.pid = None);
        }
        tracing::info!("{}: marked itself {state} by its start", self.def.name);
        self.set(state, why);
        true
    }

    /// What a start() of its own left running outside rcinit (the image's own start-stop-daemon
    /// called by its path, a `daemon &`) is PID 1's orphan: followed through the script's
    /// `pidfile`, judged as any pidfile is (this start's, rcinit's child, the service's user,
    /// named `procname` or as `command`). Orphans without a pidfile to name one make the service
    /// `started`, untracked: `check` does not vouch for what it cannot see. A start that left
    /// nothing is a one-shot, started.
    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    async fn follow_outside(&mut self) {
        self.orphan_rule = None;
        let Some((since, before)) = self.start_mark.take() else {
            self.set(State::Started, None);
            return;
        };
        let me = std::process::id() as i32;
        let escaped: Vec<i32> = crate::procfs::pids()
            .into_iter()
            .filter(|p| !before.contains(p) && !self.ctx.reaper.borrow().is_watched(*p))
            .filter(|&p| {
                crate::procfs::stat(p)
                    .is_some_and(|s| s.ppid == me && s.start >= since && s.state != 'Z')
            })
            .collect();
        let var = |k: &str| self.vars.get(k).filter(|v| !v.is_empty()).cloned();
        let path = var("pidfile").filter(|p| p.starts_with('/'));
        let name = var("procname").or(var("command"));
        let named = path
            .as_ref()
            .is_some_and(|p| !escaped.is_empty() || std::path::Path::new(p).exists());
        let uid = || var("command_user").and_then(|u| super::user::uid_of(&u).ok());
        let found = match (path, name) {
            (Some(path), Some(name)) if named => {
                let wanted = pidfile::Wanted {
                    since,
                    me,
                    before,
                    uid: uid(),
                    name,
                };
                let limit = later(self.ctx.ready_timeout.min(Duration::from_secs(5)));
                Some(
                    self.await_pidfile(&path, Some(&wanted), limit)
                        .await
                        .map(|pid| (pid, "followed through its pidfile"))
                        .map_err(|why| format!("pidfile {path}: {why}")),
                )
            }
            // No pidfile: found again by its name, as start-stop-daemon would find it.
            (None, Some(name)) if !escaped.is_empty() => {
                let wanted = pidfile::Wanted {
                    since,
                    me,
                    before,
                    // Run as rcinit when no command_user: an orphan of another user is not it.
                    uid: uid().or(Some(nix::unistd::geteuid().as_raw())),
                    name: name.clone(),
                };
                let (found, why) = self.await_orphans(&wanted).await;
                match found.first() {
                    Some(&pid) => {
                        self.orphan_rule = Some(wanted);
                        Some(Ok((pid, "no pidfile: followed by its name")))
                    }
                    None => Some(Err(
                        why.unwrap_or_else(|| format!("none of them is {name:?}"))
                    )),
                }
            }
            _ => None,
        };
        match found {
            Some(Ok((pid, how))) => {
                self.follow(pid);
                tracing::info!(
                    "{}: started (pid {pid}, outside rcinit's helpers; {how})",
                    self.def.name
                );
                self.set(State::Started, None);
            }
            _ if escaped.is_empty() => {
                tracing::info!("{}: started", self.def.name);
                self.set(State::Started, None);
            }
            other => {
                let pids: Vec<String> = escaped.iter().map(|p| p.to_string()).collect();
                let why = match other {
                    Some(Err(why)) => format!(
                        "its start left pid {} outside rcinit; {why}",
                        pids.join(", ")
                    ),
                    _ => format!(
                        "its start left pid {} outside rcinit and no pidfile names it",
                        pids.join(", ")
                    ),
                };
                tracing::warn!(
                    "{}: started, untracked: {why}; `rcinit check` will not vouch for it",
                    self.def.name
                );
                self.set(State::Started, Some(Why::Untracked(why)));
            }
        }
    }

    /// A start cut short while a forking command's pidfile was awaited: one last look, so the
    /// daemon it left (if it is the one) is followed and stopped, not orphaned.
    /// Called once the command is stopped (the daemon it forked is rcinit's child by then).
    fn adopt_forked(&mut self) -> bool {
        let Some((path, wanted)) = self.forking.take() else {
            return false;
        };
        let Ok(pid) = self.daemon_in_pidfile(&path, wanted.as_ref()) else {
            return false;
        };
        self.follow(pid);
        true
    }

    /// [`Svc::stop_daemon`], then the same for a daemon a cut-short forking start left behind
    /// (found through its pidfile once its command is gone).
    async fn stop_all_of_it(&mut self, deadline: Instant) -> StopReport {
        let first = self.stop_daemon(deadline).await;
        if !self.adopt_forked() {
            return first;
        }
        tracing::info!(
            "{}: stopping the daemon its cut-short start left (pidfile)",
            self.def.name
        );
        let mut r = self.stop_daemon(deadline).await;
        r.signal = r.signal.or(first.signal);
        r.killed |= first.killed;
        r.took += first.took;
        r
    }

    /// When a stop of this service asked for by hand, or by its own script, must be over.
    fn own_stop_deadline(&self) -> Instant {
        own_stop_deadline(self.status.borrow().stop_ask)
    }

    /// Runs one command of the script through the shim (L-06, L-09, L-15), answering its
    /// requests to start or stop the daemon. While it runs, the status names it, so a request
    /// coming from inside it can be told from any other (re-entrancy, see control).
    async fn script(
        &mut self,
        cmd: &str,
        limit: Option<Duration>,
        rx: Option<&mut Inbox<Request>>,
        down: Option<&mut watch::Receiver<bool>>,
    ) -> ScriptRun {
        let run = self.script_run(cmd, limit, rx, down).await;
        self.status.send_modify(|s| s.script = None);
        run
    }

    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    async fn script_run(
        &mut self,
        cmd: &str,
        limit: Option<Duration>,
        mut rx: Option<&mut Inbox<Request>>,
        mut down: Option<&mut watch::Receiver<bool>>,
    ) -> ScriptRun {
        let mut out = ScriptRun::default();
        let before = (cmd == "start").then(crate::procfs::pids);
        let spawned = match self.spawn_shim(cmd) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{}: {cmd}: {e:#}", self.def.name);
                return out;
            }
        };
        let (pid, exit_rx, mut recs) = spawned;
        self.start_mark = before.zip(pidfile::start_time(pid)).map(|(b, t)| (t, b));
        self.status
            .send_modify(|s| s.script = Some((pid, cmd.to_owned())));
        let mut guard = KillGroup(pid);
        let mut exit_rx = exit_rx;
        let mut parser = Parser::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut recs_open = true;
        let mut argv: Vec<String> = Vec::new();
        let mut exported: Vec<(String, String)> = Vec::new();
        let deadline = limit.map(later);
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let req = async {
                match rx.as_deref_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            };
            let going = going_down(down.as_deref_mut());
            let mut asks: Vec<String> = Vec::new();
            tokio::select! {
                biased;
                n = recs.read(&mut buf), if recs_open => match n {
                    Ok(0) | Err(_) => recs_open = false,
                    Ok(n) => {
                        for r in parser.feed(&buf[..n]) {
                            if let Some(what) = self.note(r, &mut out, &mut argv, &mut exported) {
                                asks.push(what);
                            }
                        }
                    }
                },
                e = &mut exit_rx => {
                    // Records the shell wrote just before it ended are in the pipe already.
                    while let Ok(n) = recs.try_read(&mut buf) {
                        if n == 0 { break; }
                        // The same as any record, but asks: nobody waits for their answer now.
                        for r in parser.feed(&buf[..n]) {
                            let _ = self.note(r, &mut out, &mut argv, &mut exported);
                        }
                    }
                    out.exit = e.ok();
                    // What the script left running in the background is its own business.
                    guard.0 = 0;
                    return out;
                }
                r = req => match r {
                    Some(r @ Request::Stop { after_script: true, .. }) => {
                        tracing::info!("{}: a stop asked for by its own {cmd} follows it", self.def.name);
                        self.deferred.push_back(r);
                    }
                    Some(Request::Stop { deadline, reply, .. }) => {
                        tracing::info!("{}: stop asked for during {cmd}", self.def.name);
                        out.interrupted = Some((deadline, reply));
                        return out;
                    }
                    Some(other) => self.deferred.push_back(other),
                    // Every sender is gone: stop asking (it would answer at once, for ever).
                    None => rx = None,
                },
                _ = sleep => {
                    tracing::warn!("{}: {cmd} took longer than {} ms; killed", self.def.name, limit.unwrap_or_default().as_millis());
                    out.timed_out = true;
                    return out;
                }
                _ = going => {
                    tracing::info!("{}: {cmd} ended: the container is stopping", self.def.name);
                    out.cut = true;
                    return out;
                }
            }
            for what in asks {
                let ok = match what.as_str() {
                    "start" => {
                        let vars = self.vars.clone();
                        self.start_daemon(&vars, &argv, &exported).await
                    }
                    "helper" => self.helper(&argv, &exported).await,
                    "stop" => self.stop_for_script().await,
                    _ => false,
                };
                let _ = recs.write_all(if ok { b"0\n" } else { b"1\n" }).await;
            }
        }
    }

    /// Takes one record of a script run; an ask is returned, to be answered.
    fn note(
        &mut self,
        r: Record,
        out: &mut ScriptRun,
        argv: &mut Vec<String>,
        exported: &mut Vec<(String, String)>,
    ) -> Option<String> {
        match r {
            Record::Var { name, .. } if name == "_rcinit_reset" => self.vars = Rc::default(),
            Record::Var { name, value } => {
                Rc::make_mut(&mut self.vars).insert(name, value);
            }
            Record::Argv(a) => *argv = a,
            Record::Exported(text) => *exported = parse_assignments(&text),
            Record::Reexport(text) => self.keep_reexports(&text),
            Record::End { status: 0, .. } => out.loaded = true,
            Record::Ask(what) => return Some(what),
            Record::Mark(m) => out.marked = Some(m),
            Record::Type { name, output }
                if output.contains("function") && name.starts_with("stop") =>
            {
                self.script_stop = true;
            }
            _ => {}
        }
        None
    }

    /// Spawns `sh -c SHIM rcinit-cmd cmd ...` with the script's end of its channel on fd 9
    /// (records) and fd 8 (answers).
    fn spawn_shim(&self, cmd: &str) -> Result<(i32, oneshot::Receiver<Exit>, Channel)> {
        let (chan, theirs) = Channel::pair(&format!("{} {cmd}", self.def.name))?;
        // From a memfd when there is one: `ps` then reads `sh -c ... rcinit: NAME CMD ...`, not
        // the whole shim.
        let memfd = crate::script::eval::shim_memfd();
        let (text, title) = match memfd {
            Some(_) => (
                format!(". /proc/self/fd/{}", crate::script::eval::SHIM_FD),
                format!("rcinit: {} {cmd}", self.def.name),
            ),
            None => (
                crate::script::eval::SHIM.to_owned(),
                "rcinit-cmd".to_owned(),
            ),
        };
        let argv: Vec<OsString> = vec![
            self.ctx.shell.clone().into(),
            "-c".into(),
            text.into(),
            title.into(),
            "cmd".into(),
            self.ctx.runlevel.clone().into(),
            self.def.dir.clone().into(),
            self.def.name.clone().into(),
            self.def.path.clone().into(),
            cmd.into(),
        ];
        let (out, err) = match &self.client_stdio {
            Some((o, e)) => (o.try_clone()?, e.try_clone()?),
            None => (
                forward::start(&self.def.name, Stream::Stdout)?,
                forward::start(&self.def.name, Stream::Stderr)?,
            ),
        };
        let handed = match cmd {
            "start" | "stop" => self.reexported_env(cmd),
            _ => Vec::new(),
        };
        let env: std::borrow::Cow<'_, [(OsString, OsString)]> =
            if handed.is_empty() && (cmd != "start" || self.def.reexport.is_empty()) {
                std::borrow::Cow::Borrowed(&self.ctx.env)
            } else {
                let mut env = self.ctx.env.clone();
                for (k, v) in handed {
                    env.retain(|(n, _)| n.as_os_str() != k.as_str());
                    env.push((k.into(), v.into()));
                }
                if cmd == "start" && !self.def.reexport.is_empty() {
                    env.push(("RC_REEXPORT".into(), self.def.reexport.join(" ").into()));
                }
                std::borrow::Cow::Owned(env)
            };
        let mut opts = Options::new(Grouping::Session, &env);
        opts.fds = vec![(theirs.as_raw_fd(), 9), (theirs.as_raw_fd(), 8)];
        if let Some(fd) = memfd {
            opts.fds.push((fd, crate::script::eval::SHIM_FD));
        }
        opts.stdin = Some(spawn::Io::Null);
        opts.stdout = Some(out.into());
        opts.stderr = Some(err.into());
        let child = spawn::spawn_with(&argv, opts)?;
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        Ok((child.pid, exit, chan))
    }

    /// The script asked for its daemon (default_start): plan it, spawn it, wait for readiness.
    async fn start_daemon(
        &mut self,
        vars: &BTreeMap<String, String>,
        argv: &[String],
        exported: &[(String, String)],
    ) -> bool {
        if vars.get("command").is_none_or(|c| c.is_empty()) {
            // V table: start-stop-daemon's default start without a command succeeds with
            // nothing started; supervise-daemon's fails.
            if vars.get("supervisor").map(String::as_str) == Some("supervise-daemon") {
                return self.cannot_start("the command variable is undefined".into());
            }
            tracing::warn!(
                "{}: the command variable is undefined; nothing to start",
                self.def.name
            );
            return true;
        }
        let (passwd, group) = super::user::databases();
        let plan = launch::plan(&Reported {
            vars,
            argv,
            exported,
            passwd: &passwd,
            group: &group,
        });
        let l = match plan {
            Ok(l) => l,
            Err(e) => return self.cannot_start(e.to_string()),
        };
        for w in &l.warnings {
            tracing::warn!("{}: {w}", self.def.name);
        }
        if self.vars.get("rcinit_critical").is_some_and(|v| is_yes(v)) {
            self.critical = true;
        }
        if let Err(e) = command_exists(&l) {
            return self.cannot_start(e);
        }
        let ask = crate::policy::budget::ask(&l.stop);
        self.status.send_modify(|s| s.stop_ask = Some(ask));
        let kind = l.kind;
        let settings = lifecycle::Settings::of(Some(&l));
        self.launch = Some(Box::new(l));
        self.feed_now(Event::Planned(settings));
        match kind {
            // V-16: a supervised start succeeds once spawned (and ready); what the daemon does
            // after is the respawn loop's business. A daemon that cannot be spawned at all
            // (no such directory, user, file) fails the start: OpenRC says "started", then
            // "failed"; rcinit says so at once, with the reason, and the client exits 1.
            Kind::Supervised | Kind::Background => match self.spawn_daemon().await {
                Ok(()) => true,
                Err(e) => self.cannot_start(format!("{e:#}")),
            },
            Kind::Forking => self.run_forking().await,
        }
    }

    /// A daemon could not be started: said, and kept as the reason of the failed start.
    fn cannot_start(&mut self, why: String) -> bool {
        tracing::error!("{}: {why}", self.def.name);
        self.start_error = Some(why);
        false
    }

    /// The script called start-stop-daemon or supervise-daemon itself, and rcinit stands in for
    /// them: only the call's own options apply, as they would to the real helper.
    async fn helper(&mut self, argv: &[String], exported: &[(String, String)]) -> bool {
        let call = match helper_call::split(argv) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("{}: {e}", self.def.name);
                return false;
            }
        };
        match call.mode {
            HelperMode::Start => {
                let Some(command) = call.command.clone() else {
                    tracing::error!("{}: {}: no program to start", self.def.name, argv[0]);
                    return false;
                };
                let mut vars = BTreeMap::new();
                vars.insert("command".to_owned(), command.clone());
                let key = match call.helper {
                    Helper::SuperviseDaemon => {
                        vars.insert("supervisor".to_owned(), "supervise-daemon".to_owned());
                        "supervise_daemon_args"
                    }
                    Helper::StartStopDaemon => "start_stop_daemon_args",
                };
                vars.insert(key.to_owned(), shell_words::join(&call.options));
                // Health checks still need the script's own functions.
                if let Some(e) = self.vars.get("extra_commands") {
                    vars.insert("extra_commands".to_owned(), e.clone());
                }
                let mut full = vec![command];
                full.extend(call.args);
                self.start_daemon(&vars, &full, exported).await
            }
            HelperMode::Stop => {
                if let Ok(da) = daemon_args::parse(call.helper, &call.options)
                    && (da.retry.is_some() || da.signal.is_some())
                {
                    match crate::policy::retry::parse(da.retry.as_deref(), da.signal.as_deref()) {
                        Ok(steps) => self.stop_override = Some(steps),
                        Err(e) => tracing::warn!("{}: {e}", self.def.name),
                    }
                }
                let untracked = self.untracked();
                let ok = self.stop_for_script().await;
                if untracked {
                    let end = self
                        .stop_deadline
                        .unwrap_or_else(|| self.own_stop_deadline());
                    return self.stop_named(&call, end).await && ok;
                }
                ok
            }
            HelperMode::Signal(sig) => {
                let Some(signal) = crate::policy::retry::parse_signal(&sig)
                    .or_else(|| crate::policy::retry::parse_signal(&format!("-{sig}")))
                    .and_then(|n| Signal::try_from(n).ok())
                else {
                    tracing::error!("{}: --signal {sig}: not a signal", self.def.name);
                    return false;
                };
                match &self.daemon {
                    Some(d) => kill(Pid::from_raw(d.pid), signal).is_ok(),
                    None => false,
                }
            }
        }
    }

    /// Up, and no daemon followed although there is one somewhere: a start() of its own that
    /// planned none, or whose daemon rcinit could not judge its own (`untracked`). Not a
    /// daemon of rcinit's that crashed or waits to be respawned.
    fn untracked(&self) -> bool {
        self.daemon.is_none()
            && (self.launch.is_none()
                || matches!(self.status.borrow().why, Some(Why::Untracked(_))))
    }

    /// `start-stop-daemon --stop` while rcinit follows no daemon for the service (it escaped
    /// rcinit's notice): what the call names is stopped as OpenRC's start-stop-daemon would,
    /// by the call's schedule. False, said, when something of it is still there.
    async fn stop_named(&mut self, call: &helper_call::Call, deadline: Instant) -> bool {
        if call.helper != Helper::StartStopDaemon {
            return true;
        }
        let Ok(da) = daemon_args::parse(call.helper, &call.options) else {
            return true;
        };
        // start-stop-daemon refuses a user it cannot resolve; matching every user instead
        // would stop what is not the service's.
        let known = |u: &str| {
            super::user::uid_of(u)
                .ok()
                .or_else(|| u.split(':').next()?.parse().ok())
        };
        let uid = match da.user.as_deref().map(|u| (u, known(u))) {
            None => None,
            Some((_, Some(uid))) => Some(uid),
            Some((u, None)) => {
                tracing::error!("{}: --user {u}: no such user", self.def.name);
                return false;
            }
        };
        let criteria = super::matching::Criteria {
            exec: call.command.clone(),
            name: da.name.clone(),
            uid,
        };
        let me = std::process::id() as i32;
        let found = {
            let reaper = self.ctx.reaper.borrow();
            super::matching::find(&criteria, da.pidfile.as_deref(), |p| {
                p == me || reaper.is_watched(p)
            })
        };
        if found.is_empty() {
            return true;
        }
        let pids: Vec<String> = found.iter().map(|f| f.pid.to_string()).collect();
        tracing::warn!(
            "{}: stopping pid {}: rcinit did not follow it, the stop names it",
            self.def.name,
            pids.join(", ")
        );
        let steps = crate::policy::retry::parse(da.retry.as_deref(), da.signal.as_deref())
            .ok()
            .filter(|_| da.retry.is_some() || da.signal.is_some())
            .or_else(|| self.launch.as_ref().map(|l| l.stop.clone()))
            .unwrap_or_else(crate::policy::retry::default_schedule);
        let left = super::matching::stop(&found, &steps, deadline).await;
        if left.is_empty() {
            return true;
        }
        tracing::error!(
            "{}: pid {left:?} is still running after its stop",
            self.def.name
        );
        false
    }

    /// The script's stop asked for the daemon's stop: the schedule, inside the stop's deadline;
    /// the report is kept for the shutdown report. A daemon that had to be killed outside a
    /// shutdown is a failed stop (V-13).
    async fn stop_for_script(&mut self) -> bool {
        let end = self
            .stop_deadline
            .unwrap_or_else(|| self.own_stop_deadline());
        let r = self.stop_daemon(end).await;
        let ok = !r.killed || self.ctx.going_down();
        self.last_stop = Some(r);
        ok
    }

    /// Spawns the planned daemon with its outputs and readiness.
    async fn spawn_daemon(&mut self) -> Result<()> {
        let Some(l) = self.launch.clone() else {
            anyhow::bail!("nothing to start");
        };
        let (d, ready) = self.spawn_process(&l)?;
        self.orphan_rule = None;
        let pid = d.pid;
        if let Some(old) = self.daemon.replace(d) {
            tracing::warn!(
                "{}: a second daemon (pid {pid}) for one service; pid {} is stopped with it",
                self.def.name,
                old.pid
            );
            self.extras.push(old);
        }
        self.status.send_modify(|s| s.pid = Some(pid));
        tracing::debug!(
            "{}: spawned {} as pid {pid}",
            self.def.name,
            l.argv.join(" ")
        );
        if l.kind == Kind::Background
            && let Some(p) = &l.pidfile
        {
            // Its directory is often the service user's: never written through a link.
            let path = in_chroot(&l, p);
            if let Err(e) = crate::safepath::write_pidfile(&path, pid) {
                tracing::warn!("{}: writing pidfile {path}: {e}", self.def.name);
            }
        }
        let r = match ready {
            Some(Ready::Fd(r)) => self.wait_ready_fd(r).await,
            Some(Ready::Socket(sock, path)) => self.wait_ready_socket(sock, &path).await,
            None => Ok(()),
        };
        if r.is_err()
            && let Some(d) = &self.daemon
        {
            // Not ready: it goes, and its exit is counted like any other.
            signal_daemon(d, libc::SIGKILL);
        }
        r
    }

    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    fn spawn_process(&self, l: &Launch) -> Result<(Daemon, Option<Ready>)> {
        let name = &self.def.name;
        let mut setup = Setup {
            nice: l.nice,
            ionice: l.ionice,
            oom_score_adj: l.oom_score_adj.map(|v| cstr(&v.to_string())),
            rlimits: l.rlimits.clone(),
            directory: l.directory.as_deref().map(cstr),
            umask: Some(l.umask),
            ids: l.user.as_ref().map(|u| (u.uid, u.gid, u.groups.clone())),
            no_new_privs: l.no_new_privs,
            caps: l.capabilities.map(|c| (c.inheritable, c.ambient, c.drop)),
            files: Vec::new(),
        };
        let env: Vec<(OsString, OsString)> =
            l.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut keep: Vec<OwnedFd> = Vec::new();
        // The daemon a logger serves, once spawned.
        let served = Rc::new(std::cell::Cell::new(0));
        let mut stream = |sink: &Sink, which: Stream, target: i32| -> Result<Option<OwnedFd>> {
            Ok(match sink {
                Sink::Forward => Some(forward::start(name, which)?),
                Sink::File(p) => {
                    setup.files.push((
                        cstr(p),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                        0o600,
                        target,
                    ));
                    None
                }
                Sink::Logger(cmd) => {
                    let (r, w) = forward::pipe()?;
                    self.spawn_logger(l, cmd, r, &env, Rc::clone(&served))?;
                    Some(w)
                }
            })
        };
        let out = stream(&l.stdout, Stream::Stdout, 1)?;
        let err = stream(&l.stderr, Stream::Stderr, 2)?;
        if let Some(p) = &l.stdin {
            setup.files.push((cstr(p), libc::O_RDONLY, 0, 0));
        }
        let mut fds = Vec::new();
        let mut ready_r = None;
        let mut env = env;
        match l.notify {
            Some(Notify::Fd(n)) => {
                let (r, w) = forward::pipe()?;
                fds.push((w.as_raw_fd(), n));
                keep.push(w);
                ready_r = Some(Ready::Fd(r));
            }
            Some(Notify::Socket) => {
                // Bound before the spawn: a daemon may say READY=1 at once.
                let path = format!("/run/openrc/supervise-{name}.sock");
                let _ = std::fs::create_dir_all("/run/openrc");
                let _ = std::fs::remove_file(&path);
                let sock = std::os::unix::net::UnixDatagram::bind(&path)
                    .with_context(|| format!("creating the notify socket {path}"))?;
                sock.set_nonblocking(true)?;
                env.push(("NOTIFY_SOCKET".into(), path.clone().into()));
                ready_r = Some(Ready::Socket(sock, path));
            }
            None => {}
        }
        let chroot = l.chroot.as_deref().map(std::path::Path::new);
        let mut opts = Options::new(Grouping::Session, &env);
        // start-stop-daemon's shape for a command that forks: its parent is not PID 1.
        opts.intermediate = l.kind == Kind::Forking;
        opts.chroot = chroot;
        opts.fds = fds;
        opts.setup = Some(setup);
        opts.stdin = Some(spawn::Io::Null);
        opts.stdout = Some(match out {
            Some(fd) => fd.into(),
            None => spawn::Io::Null,
        });
        opts.stderr = Some(match err {
            Some(fd) => fd.into(),
            None => spawn::Io::Null,
        });
        let argv: Vec<OsString> = l.argv.iter().map(OsString::from).collect();
        let child = spawn::spawn_with(&argv, opts)?;
        served.set(child.pid);
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        drop(keep);
        let d = Daemon::new(child.pid, Some(child.group), exit);
        Ok((d, ready_r))
    }

    fn spawn_logger(
        &self,
        l: &Launch,
        cmd: &str,
        input: OwnedFd,
        env: &[(OsString, OsString)],
        served: Rc<std::cell::Cell<i32>>,
    ) -> Result<i32> {
        let argv: Vec<OsString> = vec!["/bin/sh".into(), "-c".into(), cmd.into()];
        // OpenRC sends a logger's own output to /dev/null; rcinit forwards it like the daemon's,
        // so `tee -a FILE` keeps a file and the container's log (an extension, T-08).
        let out = forward::start(&self.def.name, Stream::Stdout)?;
        let err = forward::start(&self.def.name, Stream::Stderr)?;
        let setup = Setup {
            ids: l.user.as_ref().map(|u| (u.uid, u.gid, u.groups.clone())),
            umask: Some(l.umask),
            ..Setup::default()
        };
        let mut opts = Options::new(Grouping::Session, env);
        opts.chroot = l.chroot.as_deref().map(std::path::Path::new);
        opts.setup = Some(setup);
        opts.stdin = Some(input.into());
        opts.stdout = Some(out.into());
        opts.stderr = Some(err.into());
        let child = spawn::spawn_with(&argv, opts)
            .with_context(|| format!("starting its logger {cmd:?}"))?;
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        let name = self.def.name.clone();
        let cmd = cmd.to_owned();
        let mut status = self.status.subscribe();
        tokio::task::spawn_local(async move {
            // A logger ends when the daemon's end of its pipe closes (the daemon ended, a
            // respawn is coming): nothing was lost. Only one that ends under a daemon still
            // running leaves its output nowhere to go. The daemon closes its files before it
            // is a zombie: its end is awaited a moment (the task sees it as its pid changes).
            let Ok(e) = exit.await else {
                return;
            };
            // The daemon followed now (a forking one's, from its pidfile), else the one spawned.
            let pid = status.borrow().pid.unwrap_or(served.get());
            let ended = tokio::time::timeout(
                Duration::from_secs(1),
                status.wait_for(|s| s.pid != Some(pid)),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            // Ended because the logger was gone (SIGPIPE on its next line): that was lost.
            let lost = match ended {
                true => matches!(
                    status.borrow().why,
                    Some(Why::Exited(Exit::Signal(libc::SIGPIPE)))
                ),
                false => {
                    pid > 1
                        && crate::procfs::stat(pid)
                            .is_some_and(|s| s.state != 'Z' && s.state != 'X')
                }
            };
            if lost {
                tracing::warn!(
                    "{name}: its logger {cmd:?} ended ({e}) before the daemon (pid {pid}); its output to it is lost"
                );
            }
        });
        Ok(child.pid)
    }
}

impl Svc {
    async fn wait_ready_fd(&mut self, r: OwnedFd) -> Result<()> {
        let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(r)?;
        let mut lines = tokio::io::BufReader::new(rx);
        let mut line = String::new();
        let limit = self.ctx.ready_timeout;
        match tokio::time::timeout(limit, lines.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 && line.ends_with('\n') => Ok(()),
            Ok(_) => Err(NotReady("its readiness fd closed before it said ready".into()).into()),
            Err(_) => Err(NotReady(format!(
                "not ready after {} ms (RCINIT_READY_TIMEOUT)",
                limit.as_millis()
            ))
            .into()),
        }
    }

    async fn wait_ready_socket(
        &mut self,
        sock: std::os::unix::net::UnixDatagram,
        path: &str,
    ) -> Result<()> {
        let sock = tokio::net::UnixDatagram::from_std(sock)?;
        let limit = later(self.ctx.ready_timeout);
        let mut buf = vec![0u8; 4096];
        let r = loop {
            match tokio::time::timeout_at(limit.into(), sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let msg = String::from_utf8_lossy(&buf[..n]);
                    if msg.lines().any(|l| l.trim() == "READY=1") {
                        break Ok(());
                    }
                }
                Ok(Err(e)) => break Err(anyhow::Error::from(e)),
                Err(_) => {
                    break Err(NotReady(format!(
                        "not ready after {} ms (RCINIT_READY_TIMEOUT)",
                        self.ctx.ready_timeout.as_millis()
                    ))
                    .into());
                }
            }
        };
        let _ = std::fs::remove_file(path);
        r
    }

    /// start-stop-daemon without background: the command runs until it returns; the daemon it
    /// leaves is followed through the pidfile (V-11).
    #[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
    async fn run_forking(&mut self) -> bool {
        let Some(l) = self.launch.clone() else {
            return false;
        };
        // A pidfile left by the last run (docker restart keeps /run) that names nothing alive,
        // or a process of rcinit's own, is stale.
        let path = l.pidfile.as_deref().map(|p| in_chroot(&l, p));
        if let Some(path) = &path
            && pidfile::read(path).is_ok_and(|pid| !self.followable(pid))
        {
            let _ = crate::safepath::unlink(path);
        }
        let before = crate::procfs::pids();
        self.orphan_rule = None;
        let (d, _) = match self.spawn_process(&l) {
            Ok(d) => d,
            Err(e) => return self.cannot_start(format!("{e:#}")),
        };
        // Our child, alive until the reaper takes its exit: what the daemon's start time is
        // measured against. Without /proc nothing can be checked, and nothing is accepted.
        let since = pidfile::start_time(d.pid);
        let wanted = since.map(|since| pidfile::Wanted {
            since,
            me: std::process::id() as i32,
            before,
            uid: l.user.as_ref().map(|u| u.uid),
            name: l.procname.clone().unwrap_or_else(|| l.argv[0].clone()),
        });
        // Known from now: a start cut short while the command still waits (pg_ctl -w) still
        // finds the daemon it forked, once the command is stopped.
        let mut by_name = None;
        match &path {
            Some(path) => self.forking = Some((path.clone(), wanted)),
            None => by_name = wanted,
        }
        // While the command runs, it is what a stop (or the start limit) stops, with its group;
        // a daemon an earlier call of the same start() left stays the service's.
        self.status.send_modify(|s| s.pid = Some(d.pid));
        let main = self.daemon.is_none();
        let exit = match main {
            true => self.daemon.insert(d).ended().await,
            false => {
                self.extras.push(d);
                match self.extras.last_mut() {
                    Some(d) => d.ended().await,
                    None => Exit::Code(-1),
                }
            }
        };
        match main {
            true => self.daemon = None,
            false => drop(self.extras.pop()),
        }
        self.status
            .send_modify(|s| s.pid = self.daemon.as_ref().map(|d| d.pid));
        if exit != Exit::Code(0) {
            self.forking = None;
            return self.cannot_start(format!("{} returned {exit}", l.argv[0]));
        }
        let Some(path) = path else {
            // No pidfile: start-stop-daemon finds the daemon again by its name. What the command
            // forked is rcinit's orphan by the time its exit is seen (a child is re-parented as
            // its parent exits): judged as a pidfile's pid is, and followed.
            if let Some(mut w) = by_name {
                // Run as rcinit when no command_user: an orphan of another user is not it.
                w.uid.get_or_insert(nix::unistd::geteuid().as_raw());
                let (found, why) = self.await_orphans(&w).await;
                match found.split_first() {
                    Some((&first, rest)) => {
                        self.follow(first);
                        for &pid in rest {
                            self.follow_extra(pid);
                        }
                        self.orphan_rule = Some(w);
                    }
                    None => self.untracked_note = why,
                }
            }
            return true;
        };
        // The daemon's own child may write the pidfile after the command returned (nginx):
        // give it the readiness time limit.
        let limit = later(self.ctx.ready_timeout);
        let wanted = self.forking.as_ref().and_then(|(_, w)| w.clone());
        let found = self.await_pidfile(&path, wanted.as_ref(), limit).await;
        self.forking = None;
        match found {
            Ok(pid) => {
                self.follow(pid);
                true
            }
            Err(why) => self.cannot_start(format!(
                "pidfile {path}: {why} (after {} ms); nothing is followed or signalled",
                self.ctx.ready_timeout.as_millis()
            )),
        }
    }

    /// Polls (every 20 ms, until `limit`) for the pidfile to name this start's daemon. The caller
    /// follows the pid at once, in the same step of the single-threaded loop: the reaper cannot
    /// take its exit in between (a zombie still answers kill 0).
    async fn await_pidfile(
        &self,
        path: &str,
        wanted: Option<&pidfile::Wanted>,
        limit: Instant,
    ) -> Result<i32, String> {
        loop {
            let why = match self.daemon_in_pidfile(path, wanted) {
                Ok(pid) => return Ok(pid),
                Err(why) => why,
            };
            if Instant::now() >= limit {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes `pid` (judged this start's daemon) the service's: watched, signalled with its group.
    fn follow(&mut self, pid: i32) {
        let exit = self.ctx.reaper.borrow_mut().watch(pid);
        let pgid = own_group(pid);
        let mut found = Daemon::new(pid, pgid, exit);
        found.seen = seen(pid);
        if let Some(old) = self.daemon.replace(found) {
            tracing::warn!(
                "{}: a second daemon (pid {pid}) for one service; pid {} is stopped with it",
                self.def.name,
                old.pid
            );
            self.extras.push(old);
        }
        self.status.send_modify(|s| s.pid = Some(pid));
    }

    /// Another process of the same start, stopped with the service (not supervised).
    fn follow_extra(&mut self, pid: i32) {
        let exit = self.ctx.reaper.borrow_mut().watch(pid);
        let mut d = Daemon::new(pid, own_group(pid), exit);
        d.seen = seen(pid);
        self.extras.push(d);
    }

    /// The daemon a pidfile names, if it is this start's (see [`pidfile`]), or why not.
    fn daemon_in_pidfile(
        &self,
        path: &str,
        wanted: Option<&pidfile::Wanted>,
    ) -> Result<i32, String> {
        let pid = pidfile::read(path)?;
        if !self.followable(pid) {
            return Err(format!(
                "pid {pid} is not running, or is rcinit's, or is followed for another service"
            ));
        }
        let Some(w) = wanted else {
            return Err("no /proc to check the pid it names".into());
        };
        let info = pidfile::info(pid)?;
        pidfile::judge(pid, &info, w)?;
        Ok(pid)
    }

    /// The processes a start without a pidfile left that are its daemon: rcinit's orphans,
    /// judged as a pidfile's pid is ([`pidfile::judge`]), oldest first; and why the first one
    /// turned down was.
    fn judge_orphans(&self, w: &pidfile::Wanted) -> (Vec<i32>, Option<String>) {
        let mut why = None;
        let mut found: Vec<(u64, i32)> = crate::procfs::pids()
            .into_iter()
            .filter(|&p| {
                crate::procfs::stat(p).is_some_and(|s| s.ppid == w.me && s.state != 'Z')
                    && self.followable(p)
            })
            .filter_map(|p| {
                let info = pidfile::info(p).ok()?;
                if let Err(e) = pidfile::judge(p, &info, w) {
                    why.get_or_insert(e);
                    return None;
                }
                Some((info.start, p))
            })
            .collect();
        found.sort_unstable();
        (found.into_iter().map(|(_, p)| p).collect(), why)
    }

    /// [`Svc::judge_orphans`], once there are some: while a process this start left is not (yet)
    /// the daemon (a wrapper such as setsid or nohup, mid-exec), it is awaited, within the
    /// readiness limit (5 s at most). A start that left nothing is over at once.
    async fn await_orphans(&self, w: &pidfile::Wanted) -> (Vec<i32>, Option<String>) {
        let limit = later(self.ctx.ready_timeout.min(Duration::from_secs(5)));
        loop {
            let found = self.judge_orphans(w);
            if !found.0.is_empty() || Instant::now() >= limit {
                return found;
            }
            // Only what may still become it: this start's, of the service's user, mid-exec.
            let pending = crate::procfs::pids().into_iter().any(|p| {
                !self.ctx.reaper.borrow().is_watched(p)
                    && crate::procfs::stat(p).is_some_and(|s| {
                        s.ppid == w.me
                            && s.state != 'Z'
                            && (s.start > w.since || (s.start == w.since && !w.before.contains(&p)))
                    })
                    && w.uid
                        .is_none_or(|u| pidfile::info(p).is_ok_and(|i| i.uid == u))
            });
            if !pending {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A daemon followed by its name ended with 0 after forking again (the second fork of a
    /// double-forking daemon, nginx's binary upgrade): the process it left is the daemon now.
    /// An exit other than 0 is a crash, whatever it left (a master's workers).
    async fn successor(&mut self, exit: Exit) -> Option<i32> {
        if exit != Exit::Code(0) {
            return None;
        }
        let mut w = self.orphan_rule.clone()?;
        // Younger than the one that ended, and of its user.
        let (since, uid) = self.daemon.as_ref().and_then(|d| d.seen)?;
        w.since = since;
        w.uid = Some(uid);
        w.before.clear();
        let pid = *self.await_orphans(&w).await.0.first()?;
        self.daemon = None;
        self.follow(pid);
        Some(pid)
    }

    /// A pid a pidfile may name: alive, not rcinit, and not a process rcinit already follows
    /// for something else.
    fn followable(&self, pid: i32) -> bool {
        pid > 1
            && pid != std::process::id() as i32
            && kill(Pid::from_raw(pid), None).is_ok()
            && !self.ctx.reaper.borrow().is_watched(pid)
    }

    /// Follows the started service until a stop is asked for.
    // Its steps are boxed: it is what every started service waits in, for as long as it runs.
    /// While up: the daemon's exits, the machine's deadlines, requests and the shutdown become
    /// events of the machine ([`lifecycle`]), and what it decides is carried out, until a stop
    /// is asked for (returned) or the service is no longer up.
    async fn supervise(&mut self, rx: &mut Inbox<Request>) -> Option<StopAsk> {
        let mut down = self.ctx.down.subscribe();
        let daemon = self.daemon.is_some();
        let mut next = self.feed(Event::Supervise { daemon });
        loop {
            // What the machine asked for runs first; its outcome is the next event.
            if let Some(a) = next.take() {
                match Box::pin(self.perform(a, rx, &mut down)).await {
                    Outcome::Event(e) => next = self.feed(e),
                    Outcome::Stop(stop) => return Some(stop),
                    Outcome::Nothing => {}
                }
                continue;
            }
            if let Some(r) = self.deferred.pop_front() {
                match Box::pin(self.answer(r, rx)).await {
                    Flow::Stop(stop) => return Some(stop),
                    Flow::Down => return None,
                    Flow::Go => next = self.replanned(),
                }
                continue;
            }
            if let Some(d) = self.daemon.as_mut() {
                d.refresh_group();
            }
            let daemon_exit = async {
                match self.daemon.as_mut() {
                    Some(d) => d.ended().await,
                    None => std::future::pending().await,
                }
            };
            let quiet = self.life.is_down();
            let going = going_down(Some(&mut down).filter(|_| !quiet));
            tokio::select! {
                _ = going => next = self.feed(Event::ShutdownBegan),
                e = daemon_exit => next = Box::pin(self.daemon_ended(e)).await,
                _ = sleep_opt(self.wake) => {
                    self.wake = None;
                    next = self.feed(Event::Deadline);
                }
                r = rx.recv() => match r {
                    Some(r) => match Box::pin(self.answer(r, rx)).await {
                        Flow::Stop(stop) => return Some(stop),
                        Flow::Down => return None,
                        Flow::Go => next = self.replanned(),
                    },
                    None => return None,
                },
            }
        }
    }

    /// A command of the script that started a daemon anew (`start-stop-daemon --start` from a
    /// reload) made a new plan: supervision begins again, with its checks.
    fn replanned(&mut self) -> Option<Action> {
        if self.life.phase() != lifecycle::Phase::Idle {
            return None;
        }
        let daemon = self.daemon.is_some();
        self.feed(Event::Supervise { daemon })
    }

    /// The followed daemon ended: the process it handed over to, if any, is followed instead;
    /// otherwise the machine is told, with whether anything of its process group is left.
    async fn daemon_ended(&mut self, e: Exit) -> Option<Action> {
        let ended = self.daemon.as_ref().map_or(0, |d| d.pid);
        if let Some(pid) = Box::pin(self.successor(e)).await {
            tracing::info!(
                "{}: pid {ended} ended ({e}) leaving pid {pid}: that is the daemon now",
                self.def.name
            );
            return None;
        }
        if let Some(d) = self.daemon.as_mut() {
            d.own_group_after_exit();
        }
        let leftovers = self.daemon.as_ref().is_some_and(group_alive);
        let next = self.feed(Event::DaemonExited { exit: e, leftovers });
        // An ended daemon still held would be ready again at once: the loop would spin, and
        // every task on PID 1's one thread with it. The machine lets go of it (Forget) or has
        // its leftovers stopped (which takes it); this holds even if a row forgets to.
        if next != Some(Action::StopLeftovers)
            && let Some(d) = self.daemon.take_if(|d| d.ended.is_some())
        {
            tracing::error!(
                "{}: pid {} ended and was still followed",
                self.def.name,
                d.pid
            );
            self.status.send_modify(|s| s.pid = None);
        }
        next
    }

    /// One event for the machine, now (the container going down first, if it began to and the
    /// machine does not know yet). The actions that only change state are carried out here;
    /// the one that has an outcome (a spawn, a check, a stop), which the machine puts last, is
    /// returned for [`Svc::perform`].
    fn feed(&mut self, event: Event) -> Option<Action> {
        let now = Instant::now();
        let mut acts = Vec::new();
        if self.ctx.going_down() && !self.life.is_down() && event != Event::ShutdownBegan {
            acts = self.life.step(Event::ShutdownBegan, now);
        }
        acts.extend(self.life.step(event, now));
        let mut pending = None;
        for a in acts {
            match a {
                Action::Report(state, why) => self.set(state, why),
                Action::Forget => {
                    self.daemon = None;
                    self.status.send_modify(|s| s.pid = None);
                }
                Action::Healthy(h) => self.status.send_modify(|s| s.healthy = Some(h)),
                Action::Restarts(n) => self.status.send_modify(|s| s.restarts = n),
                Action::Arm(at) => self.wake = Some(at),
                Action::Disarm => self.wake = None,
                Action::Say(level, text) => match level {
                    lifecycle::Level::Info => tracing::info!("{}: {text}", self.def.name),
                    lifecycle::Level::Warn => tracing::warn!("{}: {text}", self.def.name),
                    lifecycle::Level::Error => tracing::error!("{}: {text}", self.def.name),
                },
                Action::Failed => self.on_failed(),
                other => pending = Some(other),
            }
        }
        pending
    }

    /// [`Svc::feed`] outside supervision (a start, a stop): only state changes can follow from
    /// these events (an exit without leftovers, a plan, a stop beginning).
    fn feed_now(&mut self, event: Event) {
        if let Some(a) = self.feed(event) {
            tracing::error!("{}: {a:?} left undone (outside supervision)", self.def.name);
        }
    }

    /// Carries out an action with an outcome: the outcome as the machine's next event, or the
    /// stop asked for meanwhile (what was started stays the task's, stopped with the service).
    async fn perform(
        &mut self,
        a: Action,
        rx: &mut Inbox<Request>,
        down: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut held = Vec::new();
        let outcome = match a {
            Action::StopLeftovers => {
                // Its workers go before anything starts again: they would keep its port, its
                // files. Meanwhile no pid is vouched for.
                self.status.send_modify(|s| s.pid = None);
                let deadline = self.own_stop_deadline();
                let end = Box::pin(self.stop_group(deadline, false));
                match race(end, rx, None, &mut held, None).await {
                    Raced::Stop(stop) => Outcome::Stop(stop),
                    _ => Outcome::Event(Event::LeftoversGone),
                }
            }
            // A readiness wait may be long: a stop or the shutdown ends it.
            Action::Spawn => match race(
                Box::pin(self.spawn_daemon()),
                rx,
                None,
                &mut held,
                Some(down),
            )
            .await
            {
                Raced::Done(Ok(())) => {
                    let pid = self.status.borrow().pid.unwrap_or(0);
                    Outcome::Event(Event::Spawned(Spawn::Ready(pid)))
                }
                Raced::Done(Err(e)) => {
                    tracing::error!("{}: {e:#}", self.def.name);
                    // Spawned, then not ready (or its readiness not watchable): it was killed,
                    // and its exit is counted when it comes. Not spawned: this is the exit.
                    Outcome::Event(Event::Spawned(match self.daemon {
                        Some(_) => Spawn::NotReady,
                        None => Spawn::Failed,
                    }))
                }
                Raced::Stop(stop) => Outcome::Stop(stop),
                Raced::Late | Raced::Down => Outcome::Nothing,
            },
            Action::RunCheck { limit } => match self.health_check(limit, rx, down).await {
                Ok(c) => Outcome::Event(Event::Checked(c)),
                Err(stop) => Outcome::Stop(stop),
            },
            Action::RestartUnhealthy { limit } => {
                let restart = Box::pin(self.restart_unhealthy(limit));
                let r = race(restart, rx, None, &mut held, Some(down)).await;
                self.status.send_modify(|s| s.script = None);
                match r {
                    Raced::Done(exit) => Outcome::Event(Event::UnhealthyStopped(exit)),
                    Raced::Stop(stop) => Outcome::Stop(stop),
                    Raced::Late | Raced::Down => Outcome::Nothing,
                }
            }
            // State changes are carried out by feed.
            _ => Outcome::Nothing,
        };
        self.deferred.extend(held);
        outcome
    }

    /// A request other than the first start: a stop, a script command, OpenRC's own helper call.
    async fn answer(&mut self, r: Request, rx: &mut Inbox<Request>) -> Flow {
        match r {
            Request::Stop {
                deadline, reply, ..
            } => Flow::Stop((deadline, reply)),
            Request::Run {
                command,
                stdio,
                reply,
            } => {
                let (code, said, stop) = self.run_command(&command, stdio, rx).await;
                let _ = reply.send((code, said));
                match stop {
                    Some(s) => Flow::Stop(s),
                    None => Flow::Go,
                }
            }
            Request::Helper {
                argv,
                exported,
                reply,
            } => {
                // A start by OpenRC's own openrc-run has the start limit, and a stop ends it.
                let starts = helper_call::split(&argv).is_ok_and(|c| c.mode == HelperMode::Start);
                let limit = match (starts, self.def.no_timeout) {
                    (true, false) => self.ctx.start_timeout,
                    _ => None,
                };
                let mut held = Vec::new();
                let call = Box::pin(self.outside_helper(&argv, &exported));
                let end = until(Instant::now(), limit);
                let r = race(call, rx, end, &mut held, None).await;
                self.deferred.extend(held);
                match r {
                    Raced::Done(ok) => {
                        let _ = reply.send(ok);
                        if self.is_up() { Flow::Go } else { Flow::Down }
                    }
                    Raced::Stop(stop) => {
                        let _ = reply.send(Some(false));
                        Flow::Stop(stop)
                    }
                    Raced::Late | Raced::Down => {
                        self.start_took_too_long(limit.unwrap_or_default()).await;
                        let _ = reply.send(Some(false));
                        Flow::Down
                    }
                }
            }
            // Already up: that start is over.
            Request::Start(Some(reply)) => {
                let _ = reply.send(());
                Flow::Go
            }
            Request::Start(None) | Request::Refuse(_) => Flow::Go,
        }
    }

    /// `healthcheck` within `limit`: passed, failed, or cut short (the daemon gone, the
    /// container going down); a stop asked for meanwhile ends it.
    async fn health_check(
        &mut self,
        limit: Duration,
        rx: &mut Inbox<Request>,
        down: &mut watch::Receiver<bool>,
    ) -> Result<lifecycle::Check, StopAsk> {
        let run = self
            .script("healthcheck", Some(limit), Some(rx), Some(down))
            .await;
        if let Some(stop) = run.interrupted {
            return Err(stop);
        }
        Ok(match run.exit {
            _ if self.daemon.is_none() || run.cut => lifecycle::Check::Gone,
            Some(Exit::Code(0)) => lifecycle::Check::Passed,
            _ => lifecycle::Check::Failed,
        })
    }

    /// After a failed health check (S-31): `unhealthy`, then the daemon's stop by its own
    /// schedule; how it ended.
    async fn restart_unhealthy(&mut self, limit: Duration) -> Option<Exit> {
        let _ = self.script("unhealthy", Some(limit), None, None).await;
        self.stop_daemon(self.own_stop_deadline()).await.exit
    }

    /// stop_pre, stop, stop_post when the script has them; otherwise the schedule directly.
    async fn stop(&mut self, deadline: Instant) -> StopReport {
        let was = self.state();
        let begin = Instant::now();
        if !was.has_work_to_stop() {
            return StopReport::nothing(&self.def.name, was);
        }
        self.feed_now(Event::StopBegan);
        self.set(State::Stopping, None);
        self.status.send_modify(|s| s.until = Some(deadline));
        let mut report = if self.script_stop {
            let limit = deadline.saturating_duration_since(Instant::now());
            self.stop_deadline = Some(deadline);
            self.last_stop = None;
            let run = self.script("stop", Some(limit), None, None).await;
            self.stop_deadline = None;
            if run.exit != Some(Exit::Code(0)) {
                let e = run.exit.map_or("killed".into(), |e| e.to_string());
                tracing::warn!("{}: stop failed ({e})", self.def.name);
            }
            // Whatever the script did, nothing of the daemon outlives the stop.
            let mut r = self.stop_all_of_it(deadline).await;
            if r.signal.is_none()
                && let Some(asked) = self.last_stop.take()
            {
                r = asked;
            }
            r.took = begin.elapsed();
            r
        } else {
            self.stop_all_of_it(deadline).await
        };
        report.was = was;
        self.set(State::Stopped, Some(Why::Requested));
        self.status.send_modify(|s| {
            s.pid = None;
            s.until = None;
        });
        report
    }

    /// Runs the stop schedule on the daemon's process group (V-20..V-23), reaping as it goes;
    /// past `deadline` (the shutdown budget) it escalates to SIGKILL at once.
    async fn stop_daemon(&mut self, deadline: Instant) -> StopReport {
        self.stop_group(deadline, true).await
    }

    /// [`Svc::stop_daemon`]; without `all`, the daemon's own process group only (what a
    /// crashed master left), by the service's schedule: daemons of earlier calls of the same
    /// start() and a schedule a script asked for stay as they are.
    async fn stop_group(&mut self, deadline: Instant, all: bool) -> StopReport {
        let begin = Instant::now();
        let mut report = StopReport::nothing(&self.def.name, self.state());
        // Everything stays the task's until it is gone: a stop cut short (by a stop request
        // or the shutdown) leaves it to the next one, never orphaned.
        let extras = if all { self.extras.as_slice() } else { &[] };
        for x in extras {
            signal_daemon(x, libc::SIGTERM);
        }
        let override_steps = if all { self.stop_override.take() } else { None };
        if self.daemon.is_none() {
            if all {
                kill_extras(std::mem::take(&mut self.extras));
            }
            return report;
        }
        if let Some(d) = self.daemon.as_mut() {
            d.refresh_group();
        }
        let steps = override_steps
            .or_else(|| self.launch.as_ref().map(|l| l.stop.clone()))
            .unwrap_or_else(crate::policy::retry::default_schedule);
        let send = signal_daemon;
        'steps: for step in steps {
            let Some(d) = self.daemon.as_mut() else {
                break;
            };
            if d.ended.is_some() && !group_alive(d) {
                break;
            }
            match step {
                Step::Signal(sig) => {
                    report.signal.get_or_insert(sig);
                    if sig == libc::SIGKILL {
                        report.killed = true;
                    }
                    send(d, sig);
                    // A stopped daemon (SIGSTOP, a debugger let go) would take its stop signal
                    // only when continued: SIGKILL at the end of the schedule instead. OpenRC
                    // does not send it (leave it out of differential comparisons).
                    if sig != libc::SIGKILL && sig != libc::SIGCONT {
                        send(d, libc::SIGCONT);
                    }
                }
                Step::Wait(_) | Step::Forever => {
                    let end = match step {
                        Step::Wait(t) => later(t).min(deadline),
                        _ => deadline,
                    };
                    if wait_gone(d, end).await || Instant::now() >= deadline {
                        break 'steps;
                    }
                }
            }
        }
        if let Some(d) = self.daemon.as_mut()
            && (d.ended.is_none() || group_alive(d))
        {
            // The schedule (or the budget) ran out with the daemon still there: SIGKILL, so
            // nothing of it is left orphaned (OpenRC would leave it running, T-02).
            report.signal.get_or_insert(libc::SIGKILL);
            report.killed = true;
            send(d, libc::SIGKILL);
            let _ = wait_gone(d, Instant::now() + Duration::from_secs(1)).await;
        }
        report.exit = self.daemon.take().and_then(|d| d.ended);
        self.orphan_rule = None;
        if all {
            kill_extras(std::mem::take(&mut self.extras));
        }
        report.took = begin.elapsed();
        report
    }
}

/// What supervision does after a request.
enum Flow {
    Go,
    /// Not up any more (stopped by OpenRC's own helper call).
    Down,
    Stop(StopAsk),
}

/// What carrying out one of the machine's actions came to.
enum Outcome {
    /// Its result, for the machine.
    Event(Event),
    /// A stop was asked for meanwhile.
    Stop(StopAsk),
    /// Cut short by the shutdown, or nothing to report.
    Nothing,
}

/// Anything of the daemon's process group still there (zombies are reaped by the loop).
fn group_alive(d: &Daemon) -> bool {
    match d.pgid {
        Some(g) => killpg(Pid::from_raw(g), None).is_ok(),
        None => false,
    }
}

/// Waits until the daemon exited and its group is empty, or `end`. The group's other members
/// are not ours to wait for, so their end is polled every 20 ms (V-22's rhythm), only while
/// the main process is gone and they linger.
async fn wait_gone(d: &mut Daemon, end: Instant) -> bool {
    if tokio::time::timeout_at(end.into(), d.ended())
        .await
        .is_err()
    {
        return false;
    }
    loop {
        if !group_alive(d) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a wait raced against the service's requests ended.
enum Raced<T> {
    Done(T),
    /// A stop was asked for: the wait is abandoned, the stop follows.
    Stop(StopAsk),
    /// Its limit passed.
    Late,
    /// The container began to go down.
    Down,
}

/// Awaits `fut` unless a stop request, `end` or (with `down`) the shutdown comes first. Other
/// requests are held, to be answered once the service is free again, never dropped.
async fn race<T>(
    fut: impl std::future::Future<Output = T>,
    rx: &mut Inbox<Request>,
    end: Option<Instant>,
    held: &mut Vec<Request>,
    mut down: Option<&mut watch::Receiver<bool>>,
) -> Raced<T> {
    tokio::pin!(fut);
    let mut open = true;
    loop {
        let recv = async {
            match open {
                true => rx.recv().await,
                false => std::future::pending().await,
            }
        };
        let going = going_down(down.as_deref_mut());
        tokio::select! {
            biased;
            v = &mut fut => return Raced::Done(v),
            r = recv => match r {
                Some(Request::Stop { deadline, reply, after_script: false }) => {
                    return Raced::Stop((deadline, reply));
                }
                Some(other) => held.push(other),
                // Every sender is gone: stop asking (it would answer at once, for ever).
                None => open = false,
            },
            _ = going => return Raced::Down,
            _ = sleep_opt(end) => return Raced::Late,
        }
    }
}

/// Returns once the container goes down; never without `down`.
async fn going_down(down: Option<&mut watch::Receiver<bool>>) {
    let gone = match down {
        Some(d) => d.wait_for(|x| *x).await.is_err(),
        None => true,
    };
    // A sender gone is no shutdown.
    if gone {
        std::future::pending::<()>().await;
    }
}

/// The end of a limit counted from `from`.
fn until(from: Instant, limit: Option<Duration>) -> Option<Instant> {
    limit.map(|l| from.checked_add(l).unwrap_or_else(|| later(l)))
}

/// A daemon's own process group, when it has one (not rcinit's, not init's).
/// What a found process is known by: its start time and uid.
fn seen(pid: i32) -> Option<(u64, u32)> {
    pidfile::info(pid).ok().map(|i| (i.start, i.uid))
}

fn own_group(pid: i32) -> Option<i32> {
    nix::unistd::getpgid(Some(Pid::from_raw(pid)))
        .ok()
        .map(|g| g.as_raw())
        .filter(|g| *g > 1 && *g != nix::unistd::getpgrp().as_raw())
}

/// What a stop asked for by hand, or by the service's own script, gets on top of its schedule:
/// the script's own stop function runs too.
pub const STOP_MARGIN: Duration = Duration::from_secs(30);

/// What a service's stop asks for before a daemon was planned: the default schedule's.
pub const DEFAULT_ASK: Duration = Duration::from_secs(5);

/// When a stop asked for by hand (or by the service's own script) must be over: what the
/// service's schedule asks for, and a margin for the script's own stop.
pub fn own_stop_deadline(ask: Option<Duration>) -> Instant {
    later(ask.unwrap_or(DEFAULT_ASK).saturating_add(STOP_MARGIN))
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Now plus `d`, saturating: a setting of 2^63 s must not overflow the clock (and abort PID 1).
pub fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// How a daemon will say it is ready.
enum Ready {
    Fd(OwnedFd),
    Socket(std::os::unix::net::UnixDatagram, String),
}

/// Earlier daemons of the service had their SIGTERM with the main one's first signal; what is
/// left of them now goes.
fn kill_extras(extras: Vec<Daemon>) {
    for x in extras
        .iter()
        .filter(|x| group_alive(x) || kill(Pid::from_raw(x.pid), None).is_ok())
    {
        signal_daemon(x, libc::SIGKILL);
    }
}

/// Sends `sig` (any number, real-time ones too) to the daemon's group, or to it alone.
fn signal_daemon(d: &Daemon, sig: i32) -> bool {
    // SAFETY: kill(2)/killpg(2) with a pid or group rcinit follows and a signal number.
    let r = unsafe {
        match d.pgid {
            Some(g) if g > 1 => libc::killpg(g, sig),
            _ if d.pid > 1 => libc::kill(d.pid, sig),
            _ => return false,
        }
    };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The daemon was not ready in time, or said it never would be.
#[derive(Debug)]
struct NotReady(String);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for NotReady {}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn is_yes(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1")
}

fn in_chroot(l: &Launch, p: &str) -> String {
    match &l.chroot {
        Some(c) => format!("{}/{}", c.trim_end_matches('/'), p.trim_start_matches('/')),
        None => p.to_owned(),
    }
}

/// The V table's check: the command must exist (absolute, under the chroot, or on PATH).
fn command_exists(l: &Launch) -> Result<(), String> {
    let cmd = &l.argv[0];
    let found = if cmd.contains('/') {
        std::path::Path::new(&in_chroot(l, cmd)).exists()
    } else {
        let path = l
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .any(|d| std::path::Path::new(&in_chroot(l, &format!("{d}/{cmd}"))).exists())
    };
    if found {
        Ok(())
    } else {
        Err(format!("{cmd} does not exist"))
    }
}

/// Kills a shim's process group when its run is abandoned (stop, time limit).
struct KillGroup(i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if self.0 > 1 {
            let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
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
