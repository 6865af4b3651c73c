//! What the outside sees of a service ([`Status`]) and asks of it ([`Request`]), what every
//! task shares ([`Ctx`]) and what each is made from ([`Def`]).

use super::*;

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
pub(super) type StopAsk = (Option<Instant>, oneshot::Sender<StopReport>);

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
    pub fast: Rc<PendingEvaluation>,
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
