//! The container's stop: every service in reverse order within the grace, each level its share
//! of the budget.

use super::*;

/// How long past its deadline a service's task may take to answer a stop.
pub(super) const BUSY_GRACE: Duration = Duration::from_millis(500);

pub(super) fn kill_busy(
    name: &str,
    status: &watch::Receiver<Status>,
    since: Instant,
) -> StopReport {
    let st = status.borrow().clone();
    tracing::warn!(
        "{name}: did not stop in time ({}); killing its processes",
        st.state
    );
    if let Some(p) = st.pid.filter(|p| *p > 1) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    StopReport {
        name: name.to_owned(),
        signal: Some(libc::SIGKILL),
        took: since.elapsed(),
        exit: None,
        killed: true,
        was: st.state,
    }
}

impl Runlevel {
    /// Stops every service in the reverse order, dependents first, independent ones
    /// concurrently, all before `end`. Each stop gets what its schedule asks for when its turn
    /// comes, as far as every stop level after it keeps a floor ([`budget::share`]): a slow
    /// dependent cannot eat its dependencies' time, and time unused passes on.
    pub async fn stop_all(&self, end: Instant) -> Vec<StopReport> {
        let mut done: BTreeMap<String, watch::Sender<bool>> = BTreeMap::new();
        let mut done_rx: BTreeMap<String, watch::Receiver<bool>> = BTreeMap::new();
        for name in self.entries.keys() {
            let (tx, rx) = watch::channel(false);
            done.insert(name.clone(), tx);
            done_rx.insert(name.clone(), rx);
        }
        let mut set = tokio::task::JoinSet::new();
        for (name, e) in &self.entries {
            let waits: Vec<watch::Receiver<bool>> = e
                .after
                .iter()
                .filter_map(|a| done_rx.get(a).cloned())
                .collect();
            let Some(mark) = done.remove(name) else {
                continue;
            };
            let quiet = !e.planned;
            let no_stop = e.no_stop;
            let tx = e.tx.clone();
            let levels = e.levels;
            let name = name.clone();
            let status = e.status.clone();
            set.spawn_local(async move {
                for mut w in waits {
                    let _ = w.wait_for(|d| *d).await;
                }
                if no_stop {
                    // D-41: left as it is; the final sweep ends what it runs.
                    let was = status.borrow().state;
                    if was.has_work_to_stop() {
                        tracing::info!(
                            "{name}: not stopped by its script (keyword -stop/-shutdown)"
                        );
                    }
                    let _ = mark.send(true);
                    return (quiet, StopReport::nothing(&name, was));
                }
                let now = Instant::now();
                let ask = status.borrow().stop_ask.unwrap_or(service::DEFAULT_ASK);
                let share = budget::share(end.saturating_duration_since(now), levels, ask);
                let (reply, rx) = oneshot::channel();
                let deadline = now + share;
                let report = if tx
                    .send(Request::Stop {
                        deadline: Some(deadline),
                        reply,
                        after_script: false,
                    })
                    .is_ok()
                {
                    // A task busy in a start that does not end (a forking command that never
                    // returns, T-05) must not hold up the stop: past its share, its processes
                    // are killed and the stop goes on.
                    match tokio::time::timeout_at((deadline + BUSY_GRACE).into(), rx).await {
                        Ok(r) => r.ok(),
                        Err(_) => Some(kill_busy(&name, &status, now)),
                    }
                } else {
                    None
                };
                let _ = mark.send(true);
                let r = report.unwrap_or_else(|| StopReport::nothing(&name, State::Stopped));
                (quiet, r)
            });
        }
        let mut reports = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok((quiet, r)) = r
                && !(quiet && r.signal.is_none() && r.was == State::Stopped)
            {
                reports.push(r);
            }
        }
        reports
    }

    /// What the running services' schedules ask for to stop, as the stop would go: the slowest
    /// of each stop level (name and ask), the last level to stop first.
    pub fn stop_plan(&self) -> Vec<(String, Duration)> {
        let mut by_level: BTreeMap<u32, (String, Duration)> = BTreeMap::new();
        for (name, e) in &self.entries {
            let st = e.status.borrow();
            if !st.state.has_work_to_stop() {
                continue;
            }
            let ask = st.stop_ask.unwrap_or(service::DEFAULT_ASK);
            let slot = by_level
                .entry(e.levels)
                .or_insert_with(|| (name.clone(), ask));
            if ask > slot.1 {
                *slot = (name.clone(), ask);
            }
        }
        by_level.into_values().rev().collect()
    }
}
