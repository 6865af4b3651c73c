//! What supervision decides for one service, without doing any of it (pure): no tokio, no
//! syscalls, no files, no clock of its own. The service task turns what happens (an exit, a
//! timer, a health check's result) into an [`Event`], calls [`Lifecycle::step`] with the time
//! it happened, and carries out the [`Action`]s in order; an action whose outcome matters (a
//! spawn, a check) comes back as the next event. Part 1 of the move: respawn and give-up (S-11,
//! S-20) and health checks (S-30..S-32); the start and stop schedules are still the task's.
//!
//! The table, phase × event (anything not listed changes nothing and does nothing):
//!
//! | phase     | event                      | actions                                 | next      |
//! |-----------|----------------------------|-----------------------------------------|-----------|
//! | any       | Planned(settings)          | Disarm, Restarts(0); count begins again | Idle      |
//! | any¹      | Supervise { daemon }       | Arm(first check) when daemon and checks | Running   |
//! | Clearing  | Supervise                  | StopLeftovers (again: it was cut short) | Clearing  |
//! | following²| DaemonExited, no leftovers | Say, Forget, then **exit rule**         | …         |
//! | following²| DaemonExited, leftovers    | Say, Report(crashed), StopLeftovers     | Clearing  |
//! | Clearing  | LeftoversGone              | Forget, then **exit rule**              | …         |
//! | Restarting| DaemonExited               | Say, Forget, then **exit rule**         | …         |
//! | others³   | DaemonExited               | Say, Forget                             | (same)    |
//! | Running   | Deadline (check due)       | RunCheck                                | Checking  |
//! | Checking  | Checked(Passed)            | Healthy(true), Arm(next) if a timer     | Running   |
//! | Checking  | Checked(Failed)            | Healthy(false), Say, RestartUnhealthy   | Restarting|
//! | Checking  | Checked(Gone)              | (the exit follows)                      | Running   |
//! | Restarting| UnhealthyStopped(exit)     | Forget, then **exit rule** (unhealthy)  | …         |
//! | Waiting   | Deadline (respawn due)     | Restarts(n + 1), Spawn                  | Spawning  |
//! | Spawning  | Spawned(Ready)             | Say, Report(started), Arm(first check)  | Running   |
//! | Spawning  | Spawned(NotReady)          | (killed: its exit follows)              | Running   |
//! | Spawning  | Spawned(Failed)            | **exit rule** (exit code 127)           | …         |
//! | any       | ShutdownBegan              | Disarm; a pending respawn is dropped    | (Dead)    |
//! | any       | StopBegan                  | Disarm                                  | Stopping  |
//!
//! ¹ a pending respawn, a give-up or a dead daemon stay as they are.
//! ² Idle, Running, Checking, Spawning: a daemon is followed.
//! ³ Waiting, Dead, GaveUp, Stopping: every exit the task reports ends in Forget or
//! StopLeftovers (which takes the daemon), so no ended daemon is reported twice.
//!
//! The **exit rule** (S-11, S-20): a daemon rcinit does not respawn (not supervise-daemon's)
//! leaves the service crashed; while the container goes down it is stopped; otherwise the
//! respawn counter (policy::respawn) says respawn after a delay (crashed, Waiting) or give up
//! (failed, said, the critical-service policy told).

use std::time::{Duration, Instant};

use super::launch::{Health, Kind, Launch};
use crate::deadline::after;
use crate::policy::exit::Exit;
use crate::policy::respawn::{Counter, Decision, Policy};
use crate::state::{State, Why};

/// What supervision needs to know of the service's plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    /// Respawned by rcinit with this policy (supervise-daemon's kind); None: an exit leaves it
    /// crashed, as OpenRC leaves a start-stop-daemon service "started" with its daemon dead.
    pub respawn: Option<Policy>,
    pub health: Option<Health>,
}

impl Settings {
    /// What supervision needs of a plan: respawns and checks for supervise-daemon's kind only.
    pub fn of(l: &Launch) -> Settings {
        match l.kind {
            Kind::Supervised => Settings {
                respawn: Some(l.respawn),
                health: l.health,
            },
            _ => Settings::default(),
        }
    }

    /// A check may take as long as the interval between checks (at least 1 s); OpenRC waits
    /// without limit (T-10) and stops supervising meanwhile.
    fn check_limit(&self) -> Duration {
        self.health.map_or(Duration::from_secs(1), |h| {
            h.timer.unwrap_or(h.delay).max(Duration::from_secs(1))
        })
    }
}

/// Where supervision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not supervising yet: a start is under way, or nothing was started.
    Idle,
    /// The daemon runs (a check may be armed).
    Running,
    /// A health check runs.
    Checking,
    /// A check failed: `unhealthy` and the daemon's stop run.
    Restarting,
    /// The daemon ended; what is left of its process group is being stopped.
    Clearing(Exit),
    /// The daemon is dead; a respawn is armed.
    Waiting,
    /// A respawn's spawn (and its readiness wait) runs.
    Spawning,
    /// The daemon is dead and nothing will start it again but a start: not respawned (not
    /// supervise-daemon's, or the container is going down).
    Dead,
    /// The respawn limit was reached.
    GaveUp,
    /// A stop began: nothing of supervision goes on.
    Stopping,
}

/// What the task tells the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A start planned a daemon with these settings (or planned none: the default).
    Planned(Settings),
    /// The service is up: supervision (re)begins; `daemon`: rcinit follows one.
    Supervise { daemon: bool },
    /// The followed daemon ended; `leftovers`: its process group still has members.
    DaemonExited { exit: Exit, leftovers: bool },
    /// What was left of the dead daemon's group is gone.
    LeftoversGone,
    /// The armed deadline came.
    Deadline,
    /// A respawn's spawn ended.
    Spawned(Spawn),
    /// A health check ended.
    Checked(Check),
    /// `unhealthy` ran and the daemon was stopped; how it ended, if it was seen to.
    UnhealthyStopped(Option<Exit>),
    /// The container began to go down.
    ShutdownBegan,
    /// A stop of the service began (rcinit's, or OpenRC's helper call).
    StopBegan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawn {
    /// Spawned (and ready) as this pid.
    Ready(i32),
    /// Spawned, not ready: it was killed, and its exit is an exit like any other.
    NotReady,
    /// Not spawned at all.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Passed,
    Failed,
    /// Cut short: the daemon is gone or the container goes down.
    Gone,
}

/// How loud a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// What the task does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set the service's state (and OpenRC's mirror of it).
    Report(State, Option<Why>),
    /// The daemon is gone: no pid to show or follow.
    Forget,
    Healthy(bool),
    /// The respawn count the status shows.
    Restarts(u32),
    /// Wake the machine with [`Event::Deadline`] at this time (replacing any armed one).
    Arm(Instant),
    Disarm,
    /// Log a line about the service.
    Say(Level, String),
    /// Tell the critical-service policy the service failed.
    Failed,
    /// Stop what is left of the dead daemon's process group by the service's schedule, then
    /// [`Event::LeftoversGone`].
    StopLeftovers,
    /// Spawn the planned daemon again, then [`Event::Spawned`].
    Spawn,
    /// Run `healthcheck` within `limit`, then [`Event::Checked`].
    RunCheck {
        limit: Duration,
    },
    /// Run `unhealthy` within `limit`, stop the daemon by its schedule, then
    /// [`Event::UnhealthyStopped`].
    RestartUnhealthy {
        limit: Duration,
    },
}

/// One service's supervision: its phase, respawn count and what it was planned with.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    settings: Settings,
    phase: Phase,
    counter: Counter,
    restarts: u32,
    /// The container goes down: no checks, no respawns.
    down: bool,
    /// What the respawn counter's milliseconds count from.
    origin: Instant,
}

impl Lifecycle {
    pub fn new(origin: Instant) -> Lifecycle {
        Lifecycle {
            settings: Settings::default(),
            phase: Phase::Idle,
            counter: Counter::default(),
            restarts: 0,
            down: false,
            origin,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_down(&self) -> bool {
        self.down
    }

    /// One event at `now`: the actions, in the order they are to be carried out.
    #[expect(
        clippy::too_many_lines,
        reason = "the phase × event table, one arm per row"
    )]
    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Action> {
        use Phase as P;
        let mut out = Vec::new();
        match (self.phase, event) {
            (_, Event::Planned(s)) => {
                self.settings = s;
                self.counter = Counter::default();
                self.restarts = 0;
                self.phase = P::Idle;
                out.push(Action::Disarm);
                out.push(Action::Restarts(0));
            }
            (P::Waiting | P::Dead | P::GaveUp, Event::Supervise { .. }) => {}
            // Back to supervision with the leftovers' stop cut short (a stop refused): again.
            (P::Clearing(_), Event::Supervise { .. }) => out.push(Action::StopLeftovers),
            (_, Event::Supervise { daemon }) => {
                self.phase = P::Running;
                out.push(self.first_check(now, daemon));
            }
            (_, Event::StopBegan) => {
                self.phase = P::Stopping;
                out.push(Action::Disarm);
            }
            (_, Event::ShutdownBegan) => self.shutdown(&mut out),
            (
                P::Idle | P::Running | P::Checking | P::Spawning,
                Event::DaemonExited { exit, leftovers },
            ) => {
                out.push(Action::Say(Level::Warn, format!("daemon ended ({exit})")));
                out.push(Action::Disarm);
                if leftovers {
                    out.push(Action::Say(
                        Level::Warn,
                        "stopping what is left of its process group".into(),
                    ));
                    // Meanwhile it is not vouched for.
                    out.push(Action::Report(State::Crashed, Some(Why::Exited(exit))));
                    out.push(Action::StopLeftovers);
                    self.phase = P::Clearing(exit);
                } else {
                    out.push(Action::Forget);
                    self.exit_rule(exit, Why::Exited(exit), now, &mut out);
                }
            }
            (
                P::Clearing(exit),
                Event::LeftoversGone
                | Event::DaemonExited {
                    leftovers: false, ..
                },
            ) => {
                out.push(Action::Forget);
                self.exit_rule(exit, Why::Exited(exit), now, &mut out);
            }
            (P::Clearing(_), Event::DaemonExited { .. }) => out.push(Action::StopLeftovers),
            // Its stop was cut short (the container going down) and it ended since.
            (P::Restarting, Event::DaemonExited { exit, .. }) => {
                out.push(Action::Say(Level::Warn, format!("daemon ended ({exit})")));
                out.push(Action::Forget);
                self.exit_rule(exit, Why::HealthcheckFailed, now, &mut out);
            }
            // A daemon whose end counts no more (its respawn is armed, given up, or a stop
            // runs): let go of it, or the task would be told of the same end for ever.
            (P::Waiting | P::Dead | P::GaveUp | P::Stopping, Event::DaemonExited { exit, .. }) => {
                out.push(Action::Say(Level::Warn, format!("daemon ended ({exit})")));
                out.push(Action::Forget);
            }
            (P::Running, Event::Deadline) if !self.down => {
                self.phase = P::Checking;
                out.push(Action::RunCheck {
                    limit: self.settings.check_limit(),
                });
            }
            (P::Checking, Event::Checked(Check::Passed)) => {
                self.phase = P::Running;
                out.push(Action::Healthy(true));
                if let Some(every) = self.settings.health.and_then(|h| h.timer)
                    && !self.down
                {
                    out.push(Action::Arm(after(now, every)));
                }
            }
            (P::Checking, Event::Checked(Check::Failed)) => {
                self.phase = P::Restarting;
                out.push(Action::Healthy(false));
                out.push(Action::Say(
                    Level::Warn,
                    "health check failed; restarting it".into(),
                ));
                out.push(Action::RestartUnhealthy {
                    limit: self.settings.check_limit(),
                });
            }
            (P::Checking, Event::Checked(Check::Gone)) => self.phase = P::Running,
            (P::Restarting, Event::UnhealthyStopped(exit)) => {
                out.push(Action::Forget);
                let exit = exit.unwrap_or(Exit::Code(-1));
                self.exit_rule(exit, Why::HealthcheckFailed, now, &mut out);
            }
            (P::Waiting, Event::Deadline) => {
                self.phase = P::Spawning;
                self.restarts = self.restarts.saturating_add(1);
                out.push(Action::Restarts(self.restarts));
                out.push(Action::Spawn);
            }
            (P::Spawning, Event::Spawned(Spawn::Ready(pid))) => {
                self.phase = P::Running;
                let max = self.settings.respawn.map_or(0, |p| p.max);
                out.push(Action::Say(
                    Level::Info,
                    format!(
                        "respawned as pid {pid} (restart {}, respawn_max={max})",
                        self.restarts
                    ),
                ));
                out.push(Action::Report(State::Started, None));
                out.push(self.first_check(now, true));
            }
            (P::Spawning, Event::Spawned(Spawn::NotReady)) => self.phase = P::Running,
            (P::Spawning, Event::Spawned(Spawn::Failed)) => {
                let exit = Exit::Code(127);
                self.exit_rule(exit, Why::Exited(exit), now, &mut out);
            }
            _ => {}
        }
        out
    }

    /// The first check after a (re)start, or none.
    fn first_check(&self, now: Instant, daemon: bool) -> Action {
        match self.settings.health {
            Some(h) if daemon && !self.down => Action::Arm(after(now, h.delay)),
            _ => Action::Disarm,
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.down {
            return;
        }
        self.down = true;
        out.push(Action::Disarm);
        if self.phase == Phase::Waiting {
            self.phase = Phase::Dead;
            out.push(Action::Say(
                Level::Info,
                "not respawned: the container is stopping".into(),
            ));
        }
    }

    /// After the daemon's end (S-11, S-20).
    fn exit_rule(&mut self, exit: Exit, why: Why, now: Instant, out: &mut Vec<Action>) {
        let Some(policy) = self.settings.respawn else {
            self.phase = Phase::Dead;
            out.push(Action::Report(State::Crashed, Some(why)));
            return;
        };
        if self.down {
            // The container is going down (the final sweep may be what killed it).
            self.phase = Phase::Dead;
            out.push(Action::Report(State::Stopped, Some(Why::Exited(exit))));
            return;
        }
        let ms = u64::try_from(now.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX);
        match self.counter.on_exit(ms, &policy) {
            Decision::Respawn { after: delay, .. } => {
                self.phase = Phase::Waiting;
                out.push(Action::Report(State::Crashed, Some(why)));
                out.push(Action::Arm(after(now, delay)));
            }
            Decision::GiveUp { respawns } => {
                self.phase = Phase::GaveUp;
                out.push(Action::Say(
                    Level::Error,
                    format!(
                        "respawned {respawns} times; giving up (respawn_max={})",
                        policy.max
                    ),
                ));
                out.push(Action::Report(
                    State::Failed,
                    Some(Why::GaveUp { respawns }),
                ));
                out.push(Action::Failed);
            }
        }
    }
}

pub mod starting;
pub mod stopping;

#[cfg(test)]
mod tests;
