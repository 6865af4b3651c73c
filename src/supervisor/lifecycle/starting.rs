//! A start, decided without doing any of it (pure): the start limit (L-06 with rcinit's limit),
//! the wait for the run-time evaluation, which way the start goes (from what the evaluation
//! reported, or through the script), a stop asked for during it, and what ends it. The task
//! races each step against requests and the machine's deadline, and feeds what happened.
//!
//! | phase      | event                 | actions                                            | next    |
//! |------------|-----------------------|----------------------------------------------------|---------|
//! | (new)      |                       | Report(starting); deadline: the container's limit  | Waiting |
//! | Waiting    | Evaluated(Err(why))   | Say, Report(failed: why)                           | Over    |
//! | Waiting    | Evaluated(Ok(shape))  | Say(a bad rcinit_start_timeout), Limit(own), Run   | Running |
//! | Running    | StepsDone             | (the steps reported their own state)               | Over    |
//! | Waiting/Running | StopAsked        | Say                                                | Over    |
//! | Waiting/Running | Deadline         | Say, StopWhatStarted                               | Cleaning|
//! | Cleaning   | Cleaned               | Report(failed: did not finish in …)                | Over    |
//! | Waiting/Running | ShutdownBegan    | (the shutdown stops it in turn; not raced today)   | Over    |

use std::time::{Duration, Instant};

use super::Level;
use crate::deadline::until;
use crate::policy::budget;
use crate::state::{State, Why};

/// Where a start stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The run-time pass of its script may still be on its way.
    Waiting,
    /// Its steps run (start_pre, start, start_post, or the daemon straight away).
    Running,
    /// The limit passed: what the start began is being stopped.
    Cleaning,
    Over,
}

/// What the evaluation reported that decides the start's way and limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// The script's own `rcinit_start_timeout`, as written.
    pub own_timeout: Option<String>,
    /// The evaluation has what a start without a script run needs (no start functions).
    pub scriptless: bool,
    /// It hands variables on (reexport) or is handed some: the values live in shells.
    pub shares_variables: bool,
    /// The boot's own first start of the runlevel (rc.conf and conf.d as just read).
    pub booting: bool,
    /// A start of this service began before.
    pub started_before: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Evaluated(Result<Shape, String>),
    StepsDone,
    StopAsked,
    /// The start's deadline ([`Starting::deadline`]) came.
    Deadline,
    /// What the start began was stopped after its deadline.
    Cleaned,
    ShutdownBegan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Report(State, Option<Why>),
    Say(Level, String),
    /// The start's limit is known: when it ends (shown in the status), None: no limit.
    Limit(Option<Instant>),
    /// Run the start's steps, from the evaluation's report (`scriptless`) or through the script.
    Run {
        scriptless: bool,
    },
    /// Stop what the start began (its shell's session, a daemon), within a short grace.
    StopWhatStarted,
}

/// One start in progress.
#[derive(Debug, Clone)]
pub struct Starting {
    began: Instant,
    no_timeout: bool,
    container: Option<Duration>,
    /// The limit in force: the container's until the script's own is read.
    limit: Option<Duration>,
    phase: Phase,
}

impl Starting {
    /// A start begins at `began`: its limit is the container's (RCINIT_START_TIMEOUT) unless
    /// `keyword -timeout` says none, until the script's own is known.
    pub fn new(
        began: Instant,
        no_timeout: bool,
        container: Option<Duration>,
    ) -> (Starting, Vec<Action>) {
        let limit = container.filter(|_| !no_timeout);
        let s = Starting {
            began,
            no_timeout,
            container,
            limit,
            phase: Phase::Waiting,
        };
        (s, vec![Action::Report(State::Starting, None)])
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// When the start must be over (None: no limit).
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting | Phase::Running => until(self.began, self.limit),
            Phase::Cleaning | Phase::Over => None,
        }
    }

    pub fn step(&mut self, event: Event) -> Vec<Action> {
        use Phase as P;
        let mut out = Vec::new();
        match (self.phase, event) {
            (P::Waiting, Event::Evaluated(Err(why))) => {
                self.phase = P::Over;
                out.push(Action::Say(Level::Error, why.clone()));
                out.push(Action::Report(State::Failed, Some(Why::Said(why))));
            }
            (P::Waiting, Event::Evaluated(Ok(shape))) => {
                let (own, warning) = budget::start_limit(
                    self.no_timeout,
                    shape.own_timeout.as_deref(),
                    self.container,
                );
                if let Some(w) = warning {
                    out.push(Action::Say(Level::Warn, w));
                }
                self.limit = own;
                self.phase = P::Running;
                out.push(Action::Limit(until(self.began, own)));
                // The evaluation's variables serve the boot's first start only: any later start
                // reads rc.conf and conf.d again, as openrc-run does at every start.
                let scriptless = shape.scriptless
                    && !shape.shares_variables
                    && shape.booting
                    && !shape.started_before;
                out.push(Action::Run { scriptless });
            }
            (P::Running, Event::StepsDone) => self.phase = P::Over,
            (P::Waiting | P::Running, Event::StopAsked) => {
                self.phase = P::Over;
                out.push(Action::Say(
                    Level::Info,
                    "its start ends: a stop was asked for".into(),
                ));
            }
            (P::Waiting | P::Running, Event::Deadline) => {
                self.phase = P::Cleaning;
                out.push(Action::Say(
                    Level::Error,
                    format!(
                        "{} (rcinit_start_timeout, RCINIT_START_TIMEOUT); stopping what it started",
                        self.too_long()
                    ),
                ));
                out.push(Action::StopWhatStarted);
            }
            (P::Cleaning, Event::Cleaned) => {
                self.phase = P::Over;
                out.push(Action::Report(
                    State::Failed,
                    Some(Why::Said(self.too_long())),
                ));
            }
            (P::Waiting | P::Running, Event::ShutdownBegan) => self.phase = P::Over,
            _ => {}
        }
        out
    }

    fn too_long(&self) -> String {
        budget::start_too_long(self.limit.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn shape() -> Shape {
        Shape {
            scriptless: true,
            booting: true,
            ..Shape::default()
        }
    }

    fn evaluated(s: &mut Starting, shape: Shape) -> Vec<Action> {
        s.step(Event::Evaluated(Ok(shape)))
    }

    #[test]
    fn a_start_reports_starting_and_waits_within_the_containers_limit() {
        let t0 = Instant::now();
        let (s, acts) = Starting::new(t0, false, Some(secs(90)));
        assert_eq!(acts, vec![Action::Report(State::Starting, None)]);
        assert_eq!(s.deadline(), Some(t0 + secs(90)));
        assert_eq!(s.phase(), Phase::Waiting);
    }

    #[test]
    fn keyword_timeout_means_no_limit_at_all() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, true, Some(secs(90)));
        assert_eq!(s.deadline(), None);
        let mut sh = shape();
        sh.own_timeout = Some("5".into());
        let acts = evaluated(&mut s, sh);
        assert_eq!(
            acts[0],
            Action::Limit(None),
            "-timeout wins over the script's own"
        );
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn the_scripts_own_limit_replaces_the_containers() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, false, Some(secs(90)));
        let mut sh = shape();
        sh.own_timeout = Some("5".into());
        assert_eq!(
            evaluated(&mut s, sh),
            vec![
                Action::Limit(Some(t0 + secs(5))),
                Action::Run { scriptless: true }
            ]
        );
        assert_eq!(s.deadline(), Some(t0 + secs(5)));
    }

    #[test]
    fn a_limit_that_does_not_read_is_said_and_the_containers_applies() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, false, Some(secs(90)));
        let mut sh = shape();
        sh.own_timeout = Some("soon".into());
        let acts = evaluated(&mut s, sh);
        assert!(
            matches!(&acts[0], Action::Say(Level::Warn, w) if w.starts_with("rcinit_start_timeout:"))
        );
        assert_eq!(acts[1], Action::Limit(Some(t0 + secs(90))));
    }

    #[test]
    fn only_the_boots_first_start_goes_without_the_script() {
        let t0 = Instant::now();
        let cases = [
            (shape(), true),
            (
                Shape {
                    booting: false,
                    ..shape()
                },
                false,
            ),
            (
                Shape {
                    started_before: true,
                    ..shape()
                },
                false,
            ),
            (
                Shape {
                    shares_variables: true,
                    ..shape()
                },
                false,
            ),
            (
                Shape {
                    scriptless: false,
                    ..shape()
                },
                false,
            ),
        ];
        for (sh, want) in cases {
            let (mut s, _) = Starting::new(t0, false, None);
            let acts = evaluated(&mut s, sh.clone());
            assert_eq!(
                acts.last(),
                Some(&Action::Run { scriptless: want }),
                "{sh:?}"
            );
        }
    }

    #[test]
    fn a_failed_evaluation_fails_the_start_with_its_reason() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, false, None);
        let acts = s.step(Event::Evaluated(Err("syntax error".into())));
        assert_eq!(
            acts,
            vec![
                Action::Say(Level::Error, "syntax error".into()),
                Action::Report(State::Failed, Some(Why::Said("syntax error".into()))),
            ]
        );
        assert_eq!(s.phase(), Phase::Over);
    }

    #[test]
    fn a_stop_during_the_wait_or_the_steps_ends_the_start() {
        for evaluate_first in [false, true] {
            let (mut s, _) = Starting::new(Instant::now(), false, None);
            if evaluate_first {
                evaluated(&mut s, shape());
            }
            let acts = s.step(Event::StopAsked);
            assert_eq!(
                acts,
                vec![Action::Say(
                    Level::Info,
                    "its start ends: a stop was asked for".into()
                )]
            );
            assert_eq!(s.phase(), Phase::Over);
            assert_eq!(s.step(Event::StepsDone), vec![], "nothing after it");
        }
    }

    #[test]
    fn past_the_limit_what_it_began_is_stopped_then_it_fails() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, false, Some(secs(2)));
        evaluated(&mut s, shape());
        let acts = s.step(Event::Deadline);
        assert!(
            matches!(&acts[0], Action::Say(Level::Error, m) if m == "start did not finish in 2 s (rcinit_start_timeout, RCINIT_START_TIMEOUT); stopping what it started"),
            "{acts:?}"
        );
        assert_eq!(acts[1], Action::StopWhatStarted);
        assert_eq!(s.deadline(), None, "the clean-up has its own grace");
        assert_eq!(
            s.step(Event::StopAsked),
            vec![],
            "a stop now waits for the clean-up"
        );
        assert_eq!(
            s.step(Event::Cleaned),
            vec![Action::Report(
                State::Failed,
                Some(Why::Said("start did not finish in 2 s".into()))
            )]
        );
    }

    #[test]
    fn the_limit_also_covers_the_wait_for_the_evaluation() {
        let t0 = Instant::now();
        let (mut s, _) = Starting::new(t0, false, Some(secs(3)));
        assert_eq!(s.step(Event::Deadline)[1], Action::StopWhatStarted);
        assert_eq!(s.phase(), Phase::Cleaning);
    }

    #[test]
    fn the_shutdown_ends_a_start_without_a_verdict() {
        let (mut s, _) = Starting::new(Instant::now(), false, Some(secs(3)));
        evaluated(&mut s, shape());
        assert_eq!(s.step(Event::ShutdownBegan), vec![]);
        assert_eq!(s.phase(), Phase::Over);
        assert_eq!(s.step(Event::Deadline), vec![]);
    }

    #[test]
    fn steps_that_finish_end_the_start_and_late_events_change_nothing() {
        let (mut s, _) = Starting::new(Instant::now(), false, Some(secs(3)));
        assert_eq!(
            s.step(Event::StepsDone),
            vec![],
            "not before the evaluation"
        );
        assert_eq!(s.phase(), Phase::Waiting);
        evaluated(&mut s, shape());
        assert_eq!(s.step(Event::StepsDone), vec![]);
        assert_eq!(s.phase(), Phase::Over);
        for e in [Event::Deadline, Event::StopAsked, Event::Cleaned] {
            assert_eq!(s.step(e.clone()), vec![], "{e:?}");
        }
    }

    #[test]
    fn a_huge_limit_does_not_overflow_the_clock() {
        let t0 = Instant::now();
        let (s, _) = Starting::new(t0, false, Some(Duration::MAX));
        assert!(s.deadline().is_some_and(|d| d > t0 + secs(86_400)));
    }
}
