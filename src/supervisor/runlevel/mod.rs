//! The runlevel's services together: started as soon as what they order after has settled,
//! stopped only after everything that depends on them has stopped, inside one time budget.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::inbox::Outbox;
use super::service::{self, Ctx, Def, Request, Status, StopReport};
use crate::graph::Graph;
use crate::policy::budget::{self, DEPENDENT_WAIT};
use crate::state::{State, Why};

mod by_hand;
mod shutdown;

struct Entry {
    status: watch::Receiver<Status>,
    tx: Outbox<Request>,
    /// Start order: these settle first.
    before: Vec<String>,
    /// Stop order: these stop first.
    after: Vec<String>,
    /// What it needs (D-32).
    needs: Vec<String>,
    /// Stop levels below and including this one, to share the budget.
    levels: u32,
    /// Part of the runlevel (started at boot), not only known from init.d.
    planned: bool,
    /// `keyword -timeout`: what orders after it waits for it without limit (D-34).
    no_timeout: bool,
    /// `keyword -stop`/`-shutdown`: not stopped by its script at the shutdown (D-41).
    no_stop: bool,
    /// Why it cannot start at all (its script failed to evaluate, a need cycle...): its start
    /// at boot is refused with that.
    unstartable: Option<String>,
}

/// Why a dependent does not start: what its need is, and why.
fn need_reason(st: &Status) -> String {
    match (st.state, &st.why) {
        (State::Inactive, _) => "is inactive (its start marked it so: OpenRC would start this \
             once it is started; rcinit does not)"
            .into(),
        (State::Starting, _) => format!(
            "did not start in time (timed out waiting for it after {}, D-34)",
            crate::policy::budget::secs(DEPENDENT_WAIT)
        ),
        (state, Some(why)) if state != State::Stopped => {
            format!("would not start ({state}: {why})")
        }
        (state, _) => format!("would not start ({state})"),
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
        // Edges by their ends, once (a scan of every edge per service is quadratic).
        let mut into: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut out_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (d, t) in &graph.edges {
            into.entry(t.as_str()).or_default().push(d.as_str());
            out_of.entry(d.as_str()).or_default().push(t.as_str());
        }
        let mut need_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (d, t) in &graph.needs {
            need_of.entry(t.as_str()).or_default().push(d.as_str());
        }
        let mut by_phase: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for (s, p) in &graph.phase {
            by_phase.entry(*p).or_default().push(s.as_str());
        }
        let mut entries = BTreeMap::new();
        for def in defs {
            let name = def.name.clone();
            let unstartable = graph
                .failed_in_plan
                .contains(&name)
                .then(|| graph.failed.get(&name).cloned().unwrap_or_default());
            let planned = wave.contains_key(name.as_str()) || unstartable.is_some();
            let level = wave.get(name.as_str()).copied().unwrap_or(0);
            let phase = graph.phase.get(&name).copied().unwrap_or(0);
            let owned = |v: Option<&Vec<&str>>| -> Vec<String> {
                v.map(|v| v.iter().map(|s| (*s).to_owned()).collect())
                    .unwrap_or_default()
            };
            let mut before = owned(into.get(name.as_str()));
            let mut after = owned(out_of.get(name.as_str()));
            // Phases are sequential: sysinit, then boot, then the runlevel.
            for (p, members) in &by_phase {
                let to = match p.cmp(&phase) {
                    std::cmp::Ordering::Less => &mut before,
                    std::cmp::Ordering::Greater => &mut after,
                    std::cmp::Ordering::Equal => continue,
                };
                to.extend(members.iter().map(|m| (*m).to_owned()));
            }
            let mut needs = owned(need_of.get(name.as_str()));
            if !planned {
                // Outside the runlevel the graph has no edges: the script's own needs.
                needs = def.needs.clone();
            }
            let no_timeout = def.no_timeout;
            let no_stop = def.no_stop;
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
                    planned,
                    no_timeout,
                    no_stop,
                    unstartable,
                },
            );
        }
        Self { entries }
    }

    /// How many services are up (started, or crashed with a respawn pending), and how many
    /// are planned; nothing is copied.
    pub fn count_up(&self) -> (usize, usize) {
        let up = self
            .entries
            .values()
            .filter(|e| matches!(e.status.borrow().state, State::Started | State::Crashed))
            .count();
        (up, self.entries.values().filter(|e| e.planned).count())
    }

    /// What `name` needs and what needs it, transitively, `name` included: what a start, stop
    /// or restart of it may wait for.
    pub fn related(&self, name: &str) -> Vec<String> {
        let mut v = self.needs_closure(name);
        v.extend(self.dependents_closure(name));
        v
    }

    /// Status of the named services that exist, by name.
    pub fn statuses_of(&self, names: &[String]) -> Vec<(String, Status)> {
        names
            .iter()
            .filter_map(|n| Some((n.clone(), self.entries.get(n)?.status.borrow().clone())))
            .collect()
    }

    /// Status of every service, by name.
    pub fn statuses(&self) -> BTreeMap<String, Status> {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.status.borrow().clone()))
            .collect()
    }

    /// Starts every service once what it orders after has settled; returns when all settled.
    /// Only the starts in flight are awaited (a chain of 10,000 services holds one waiter, not
    /// 10,000): each one that settles may release the services ordered after it.
    pub async fn start_all(&self) {
        use std::collections::HashMap;
        let planned: BTreeMap<&str, &Entry> = self
            .entries
            .iter()
            .filter(|(_, e)| e.planned)
            .map(|(n, e)| (n.as_str(), e))
            .collect();
        let mut waiting: HashMap<&str, usize> = HashMap::with_capacity(planned.len());
        let mut released: HashMap<&str, Vec<&str>> = HashMap::new();
        for (&n, e) in &planned {
            let mut count = 0;
            for b in &e.before {
                if let Some((b, _)) = self.entries.get_key_value(b.as_str()) {
                    count += 1;
                    released.entry(b.as_str()).or_default().push(n);
                }
            }
            waiting.insert(n, count);
        }
        let mut ready: Vec<&str> = planned
            .keys()
            .copied()
            .filter(|n| waiting.get(n) == Some(&0))
            .collect();
        let mut in_flight = tokio::task::JoinSet::new();
        // A service ordered after one outside the runlevel that never settles waits for ever,
        // as it always did; its task is still asked nothing.
        loop {
            for n in ready.drain(..) {
                if let Some(e) = planned.get(n) {
                    self.ask_to_start(n, e, &mut in_flight);
                }
            }
            let Some(done) = in_flight.join_next().await else {
                break;
            };
            let Ok((done, in_time)) = done else {
                continue;
            };
            if !in_time {
                tracing::warn!(
                    "timed out waiting for {done} ({}): what orders after it goes on (D-34)",
                    budget::secs(DEPENDENT_WAIT)
                );
            }
            for &d in released
                .get(done.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if let Some(w) = waiting.get_mut(d) {
                    *w = w.saturating_sub(1);
                    if *w == 0 {
                        ready.push(d);
                    }
                }
            }
        }
    }

    /// Asks one service whose turn came to start, or refuses it (a need that did not start, a
    /// plan that cannot start it), and waits in `in_flight` for it to settle (D-34's wait).
    fn ask_to_start(
        &self,
        n: &str,
        e: &Entry,
        in_flight: &mut tokio::task::JoinSet<(String, bool)>,
    ) {
        // What it needs settled already (needs are ordered before it), or was waited
        // for long enough (D-34): started or not.
        let failed_need = e.needs.iter().find_map(|d| {
            let st = self.entries.get(d.as_str())?.status.borrow().clone();
            let waited = e.before.iter().any(|b| b == d);
            (waited && !matches!(st.state, State::Started | State::Crashed))
                .then(|| (d.clone(), need_reason(&st)))
        });
        let _ = match (&e.unstartable, failed_need) {
            (Some(why), _) => e.tx.send(Request::Refuse(Why::Said(why.clone()))),
            (None, Some((dep, reason))) => e.tx.send(Request::Refuse(Why::Needs {
                service: dep,
                reason,
            })),
            (None, None) => e.tx.send(Request::Start(None)),
        };
        let mut own = e.status.clone();
        let name = n.to_owned();
        let no_timeout = e.no_timeout;
        in_flight.spawn_local(async move {
            let settled = async {
                let _ = own.wait_for(|s| s.settled).await;
            };
            // D-34: what orders after it waits 60 s, then goes on without it (a need
            // of it fails); `keyword -timeout` makes the wait unlimited.
            let in_time = match no_timeout {
                true => {
                    settled.await;
                    true
                }
                false => tokio::time::timeout(DEPENDENT_WAIT, settled).await.is_ok(),
            };
            (name, in_time)
        });
    }

    pub fn exists(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether the service belongs to the booted runlevel.
    pub fn planned(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|e| e.planned)
    }

    fn state(&self, name: &str) -> Option<State> {
        self.entries.get(name).map(|e| e.status.borrow().state)
    }

    /// Sends a request to one service's task.
    pub fn send(&self, name: &str, req: Request) -> bool {
        self.entries
            .get(name)
            .is_some_and(|e| e.tx.send(req).is_ok())
    }
}
