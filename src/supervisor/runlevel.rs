//! The runlevel's services together: started as soon as what they order after has settled,
//! stopped only after everything that depends on them has stopped, inside one time budget.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::service::{self, Ctx, Def, Request, Status, StopReport};
use crate::graph::Graph;
use crate::state::{State, Why};

struct Entry {
    status: watch::Receiver<Status>,
    tx: mpsc::UnboundedSender<Request>,
    /// Start order: these settle first.
    before: Vec<String>,
    /// Stop order: these stop first.
    after: Vec<String>,
    /// What it needs (D-32).
    needs: Vec<String>,
    /// Stop levels below and including this one, to share the budget.
    levels: u32,
}

/// How long past its deadline a service's task may take to answer a stop.
const BUSY_GRACE: Duration = Duration::from_millis(500);

fn kill_busy(name: &str, status: &watch::Receiver<Status>, since: Instant) -> StopReport {
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

/// Every planned service of the runlevel.
pub struct Runlevel {
    entries: BTreeMap<String, Entry>,
}

impl Runlevel {
    /// Starts one task per planned service; nothing runs until [`Runlevel::start_all`].
    pub fn new(graph: &Graph, defs: Vec<Def>, ctx: Rc<Ctx>) -> Self {
        let wave: BTreeMap<&str, u32> = graph
            .start
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.iter().map(move |s| (s.as_str(), i as u32)))
            .collect();
        let mut entries = BTreeMap::new();
        for def in defs {
            let name = def.name.clone();
            let Some(&level) = wave.get(name.as_str()) else {
                continue;
            };
            let phase = graph.phase.get(&name).copied().unwrap_or(0);
            let mut before: Vec<String> = graph
                .edges
                .iter()
                .filter(|(_, t)| *t == name)
                .map(|(d, _)| d.clone())
                .collect();
            let mut after: Vec<String> = graph
                .edges
                .iter()
                .filter(|(d, _)| *d == name)
                .map(|(_, t)| t.clone())
                .collect();
            // Phases are sequential: sysinit, then boot, then the runlevel.
            for (other, p) in &graph.phase {
                if *p < phase {
                    before.push(other.clone());
                } else if *p > phase {
                    after.push(other.clone());
                }
            }
            let needs = graph
                .needs
                .iter()
                .filter(|(_, t)| *t == name)
                .map(|(d, _)| d.clone())
                .collect();
            let (status, tx) = service::spawn_task(def, Rc::clone(&ctx));
            entries.insert(
                name,
                Entry {
                    status,
                    tx,
                    before,
                    after,
                    needs,
                    levels: level + 1,
                },
            );
        }
        Self { entries }
    }

    /// Status of every service, by name.
    pub fn statuses(&self) -> BTreeMap<String, Status> {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.status.borrow().clone()))
            .collect()
    }

    /// Starts every service once what it orders after has settled; returns when all settled.
    pub async fn start_all(&self) {
        let mut set = tokio::task::JoinSet::new();
        for (name, e) in &self.entries {
            let waits: Vec<(String, watch::Receiver<Status>)> = e
                .before
                .iter()
                .filter_map(|b| Some((b.clone(), self.entries.get(b)?.status.clone())))
                .collect();
            let needs = e.needs.clone();
            let tx = e.tx.clone();
            let mut own = e.status.clone();
            let name = name.clone();
            set.spawn_local(async move {
                let mut settled: BTreeMap<String, Status> = BTreeMap::new();
                for (b, mut rx) in waits {
                    let s = match rx.wait_for(|s| s.settled).await {
                        Ok(s) => s.clone(),
                        Err(_) => continue,
                    };
                    settled.insert(b, s);
                }
                let failed_need = needs.iter().find_map(|n| {
                    let s = settled.get(n)?;
                    (!matches!(s.state, State::Started | State::Crashed))
                        .then(|| (n.clone(), s.state))
                });
                let _ = match failed_need {
                    Some((dep, state)) => tx.send(Request::Refuse(Why::Needs {
                        service: dep,
                        reason: format!("would not start ({state})"),
                    })),
                    None => tx.send(Request::Start),
                };
                let _ = own.wait_for(|s| s.settled).await;
                name
            });
        }
        while set.join_next().await.is_some() {}
    }

    /// Stops every service in the reverse order, dependents first, independent ones
    /// concurrently, all before `end`. Each stop gets a share of what is left of the budget
    /// by how many stop levels still follow it, so a slow dependent cannot eat its
    /// dependencies' time.
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
            let tx = e.tx.clone();
            let levels = e.levels;
            let name = name.clone();
            let status = e.status.clone();
            set.spawn_local(async move {
                for mut w in waits {
                    let _ = w.wait_for(|d| *d).await;
                }
                let now = Instant::now();
                let share = end.saturating_duration_since(now) / levels.max(1);
                let (reply, rx) = oneshot::channel();
                let deadline = now + share;
                let report = if tx.send(Request::Stop { deadline, reply }).is_ok() {
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
                report.unwrap_or(StopReport {
                    name,
                    signal: None,
                    took: Duration::ZERO,
                    exit: None,
                    killed: false,
                    was: State::Stopped,
                })
            });
        }
        let mut reports = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                reports.push(r);
            }
        }
        reports
    }
}
