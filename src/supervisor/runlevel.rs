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

    /// What `name` needs, transitively, needs first, then `name` itself.
    fn needs_closure(&self, name: &str) -> Vec<String> {
        fn visit(rl: &Runlevel, n: &str, seen: &mut Vec<String>) {
            if seen.iter().any(|s| s == n) {
                return;
            }
            seen.push(n.to_owned());
            if let Some(e) = rl.entries.get(n) {
                for d in &e.needs {
                    visit(rl, d, seen);
                }
            }
            // Post-order: a service after everything it needs.
            seen.retain(|s| s != n);
            seen.push(n.to_owned());
        }
        let mut out = Vec::new();
        visit(self, name, &mut out);
        out.retain(|n| self.entries.contains_key(n));
        out
    }

    /// Services that need `name`, transitively, the farthest first, then `name` itself.
    fn dependents_closure(&self, name: &str) -> Vec<String> {
        fn visit(rl: &Runlevel, n: &str, out: &mut Vec<String>, seen: &mut Vec<String>) {
            if seen.iter().any(|s| s == n) {
                return;
            }
            seen.push(n.to_owned());
            for (other, e) in &rl.entries {
                if e.needs.iter().any(|d| d == n) {
                    visit(rl, other, out, seen);
                }
            }
            out.push(n.to_owned());
        }
        let mut out = Vec::new();
        visit(self, name, &mut out, &mut Vec::new());
        out
    }

    /// Starts `name` and, first, every stopped service it needs (L-05). Returns what happened,
    /// one line per service, and whether `name` is up.
    pub async fn start(&self, name: &str) -> (bool, Vec<String>) {
        let mut said = Vec::new();
        for n in self.needs_closure(name) {
            // Inactive is up too: its start ran, and OpenRC does not run it again.
            let up = |s: Option<State>| s.is_some_and(State::is_up);
            if up(self.state(&n)) {
                if n == name {
                    said.push(format!("{n} has already been started"));
                }
                continue;
            }
            let Some(e) = self.entries.get(&n) else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            if e.tx.send(Request::Start(Some(reply))).is_err() {
                said.push(format!("{n}: its task is gone"));
                return (false, said);
            }
            // The service's own start has its limit; a need of it is waited for as D-34 says.
            if n == name || e.no_timeout {
                let _ = rx.await;
            } else if tokio::time::timeout(DEPENDENT_WAIT, rx).await.is_err() {
                said.push(format!(
                    "{name}: timed out waiting for {n} ({}), which it needs",
                    budget::secs(DEPENDENT_WAIT)
                ));
                return (false, said);
            }
            let st = e.status.borrow().clone();
            if !up(Some(st.state)) {
                let why = st.why.map(|w| format!(" ({w})")).unwrap_or_default();
                said.push(if n == name {
                    format!("{n} failed to start{why}")
                } else {
                    format!("{name} needs {n}, which failed to start{why}")
                });
                return (false, said);
            }
            said.push(format!("{n} started"));
        }
        (true, said)
    }

    /// The service whose start or stop (or other command, `Any`) runs in session `sid` now.
    pub fn running_script(&self, sid: i32) -> Option<(String, String)> {
        self.entries.iter().find_map(|(n, e)| {
            let st = e.status.borrow();
            match &st.script {
                Some((pid, cmd)) if *pid == sid => Some((n.clone(), cmd.clone())),
                _ => None,
            }
        })
    }

    /// Whether acting on `target` (`start`: it and what it needs; `stop`: it and what needs
    /// it; `restart`: both) would act on `asker`.
    pub fn involves(&self, asker: &str, target: &str, op: &str) -> bool {
        target == asker
            || (matches!(op, "start" | "restart")
                && self.needs_closure(target).iter().any(|n| n == asker))
            || (matches!(op, "stop" | "restart")
                && self.dependents_closure(target).iter().any(|n| n == asker))
    }

    /// The refusal to give when `asker`'s own start or stop (`cmd`) asks for an `op` on
    /// `target` that would act on `asker` itself, so wait for itself (OpenRC locks a service
    /// during its start and stop); None otherwise.
    pub fn waits_on_itself(
        &self,
        asker: &str,
        cmd: &str,
        target: &str,
        op: &str,
    ) -> Option<String> {
        if !matches!(cmd, "start" | "stop") || !self.involves(asker, target, op) {
            return None;
        }
        Some(if target == asker {
            format!(
                "{target}: its own {cmd} asked to {op} it; refused, as it would wait for itself"
            )
        } else {
            let how = if matches!(op, "start" | "restart")
                && self.needs_closure(target).iter().any(|n| n == asker)
            {
                "needs"
            } else {
                "is needed by"
            };
            format!(
                "{target} {how} {asker}, whose {cmd} asked to {op} it; refused, as it would wait for itself"
            )
        })
    }

    /// Stops `name` and, first, every service that needs it (L-08). Returns the services that
    /// were stopped (dependents included) and what happened.
    pub async fn stop(&self, name: &str) -> (bool, Vec<String>, Vec<String>) {
        self.stop_from(name, None).await
    }

    /// [`Runlevel::stop`], asked for by `asker`'s own running command: its stop follows that
    /// command instead of interrupting it.
    pub async fn stop_from(
        &self,
        name: &str,
        asker: Option<&str>,
    ) -> (bool, Vec<String>, Vec<String>) {
        let mut said = Vec::new();
        let mut stopped = Vec::new();
        for n in self.dependents_closure(name) {
            let busy = self
                .state(&n)
                .is_some_and(|s| s.has_work_to_stop() || s == State::Stopping);
            if !busy {
                if n == name {
                    said.push(format!("{n} is already stopped"));
                }
                continue;
            }
            let Some(e) = self.entries.get(&n) else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            // Its own limit, counted from when its stop begins (it may be busy first).
            let deadline = None;
            let after_script = asker == Some(n.as_str());
            if e.tx
                .send(Request::Stop {
                    deadline,
                    reply,
                    after_script,
                })
                .is_err()
            {
                said.push(format!("{n}: its task is gone"));
                return (false, stopped, said);
            }
            let r = rx.await;
            // left alone while openrc-run holds its lock.
            if r.as_ref().is_ok_and(|r| r.was.is_up()) && self.state(&n).is_some_and(|s| s.is_up())
            {
                said.push(format!(
                    "{n}: not stopped: OpenRC's openrc-run is starting or stopping it"
                ));
                return (false, stopped, said);
            }
            match r {
                Ok(r) if r.killed => said.push(format!("{n} stopped (killed)")),
                _ => said.push(format!("{n} stopped")),
            }
            stopped.push(n);
        }
        (true, stopped, said)
    }

    /// Stops `name` (and what needs it), starts it, then starts again what the stop took
    /// down (L-11).
    pub async fn restart(&self, name: &str) -> (bool, Vec<String>) {
        self.restart_from(name, None).await
    }

    /// [`Runlevel::restart`] asked for by `asker`'s own running command (not its start or
    /// stop): the stop waits for that command to end.
    pub async fn restart_from(&self, name: &str, asker: Option<&str>) -> (bool, Vec<String>) {
        let (stopped_ok, stopped, mut said) = self.stop_from(name, asker).await;
        if !stopped_ok {
            // Not stopped (openrc-run holds its lock): no restart happened.
            return (false, said);
        }
        let (ok, more) = self.start(name).await;
        said.extend(more);
        if !ok {
            return (false, said);
        }
        for d in stopped.iter().filter(|d| *d != name) {
            let (_, more) = self.start(d).await;
            said.extend(more);
        }
        (true, said)
    }

    /// Sends a request to one service's task.
    pub fn send(&self, name: &str, req: Request) -> bool {
        self.entries
            .get(name)
            .is_some_and(|e| e.tx.send(req).is_ok())
    }
}
