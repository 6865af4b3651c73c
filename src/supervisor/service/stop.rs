//! A stop: stop_pre, stop, stop_post, and the daemon's stop schedule (V-20..V-23) within the
//! deadline the shutdown budget gives.

use super::*;
use crate::supervisor::lifecycle::stopping::{Move, Stopping};

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

impl Svc {
    /// [`Svc::stop_daemon`], then the same for a daemon a cut-short forking start left behind
    /// (found through its pidfile once its command is gone).
    pub(super) async fn stop_all_of_it(&mut self, deadline: Instant) -> StopReport {
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
    pub(super) fn own_stop_deadline(&self) -> Instant {
        own_stop_deadline(self.status.borrow().stop_ask)
    }

    /// stop_pre, stop, stop_post when the script has them; otherwise the schedule directly.
    pub(super) async fn stop(&mut self, deadline: Instant) -> StopReport {
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
    pub(super) async fn stop_daemon(&mut self, deadline: Instant) -> StopReport {
        self.stop_group(deadline, true).await
    }

    /// [`Svc::stop_daemon`]; without `all`, the daemon's own process group only (what a
    /// crashed master left), by the service's schedule: daemons of earlier calls of the same
    /// start() and a schedule a script asked for stay as they are.
    pub(super) async fn stop_group(&mut self, deadline: Instant, all: bool) -> StopReport {
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
        // The schedule's moves are decided by the pure machine; each is carried out here.
        let mut plan = Stopping::new(steps, deadline);
        while let Some(d) = self.daemon.as_mut() {
            let left = d.ended.is_none() || group_alive(d);
            match plan.next(left, Instant::now()) {
                Move::Send(signals) => {
                    for sig in signals {
                        signal_daemon(d, sig);
                    }
                }
                Move::WaitUntil(end) => {
                    let _ = wait_gone(d, end).await;
                }
                Move::Kill => {
                    signal_daemon(d, libc::SIGKILL);
                    let _ = wait_gone(d, Instant::now() + Duration::from_secs(1)).await;
                }
                Move::Done => break,
            }
        }
        report.signal = plan.signal();
        report.killed = plan.killed();
        report.exit = self.daemon.take().and_then(|d| d.ended);
        self.orphan_rule = None;
        if all {
            kill_extras(std::mem::take(&mut self.extras));
        }
        report.took = begin.elapsed();
        report
    }
}
