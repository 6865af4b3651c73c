//! What each control request does, once `server` has read it and found it allowed: the status
//! report, the readiness and liveness checks, starts, stops and restarts, a script's command,
//! and OpenRC's helpers called from a service's own openrc-run.

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::report::{Report, Service};
use super::server::{NOT_OURS, Shared, limit_note};
use super::{Reply, Request};
use crate::state::{self, State};
use crate::supervisor::runlevel::Runlevel;
use crate::supervisor::service::Request as SvcRequest;

fn health(h: Option<bool>) -> Option<String> {
    h.map(|ok| if ok { "ok" } else { "failing" }.to_owned())
}

/// The report of the named services (all when none is named).
pub fn report(shared: &Shared, names: &[String]) -> (Report, Vec<String>) {
    let missing;
    let mut services = Vec::new();
    if let Some(rl) = shared.services.borrow().as_ref() {
        let all = rl.statuses();
        for (name, st) in &all {
            let listed = names.is_empty() || names.contains(name);
            let in_runlevel = rl.planned(name);
            // Scripts outside the runlevel that nobody started are not news.
            if !listed || (names.is_empty() && !in_runlevel && st.state == State::Stopped) {
                continue;
            }
            services.push(Service {
                name: name.clone(),
                state: st.state,
                pid: st.pid,
                since: Instant::now().saturating_duration_since(st.since).as_secs(),
                restarts: st.restarts,
                health: health(st.healthy),
                why: st.why.as_ref().map(|w| w.to_string()),
                in_runlevel,
            });
        }
        missing = names
            .iter()
            .filter(|n| !all.contains_key(*n))
            .map(|n| format!("service `{n}' does not exist"))
            .collect();
    } else {
        missing = names
            .iter()
            .map(|n| format!("service `{n}' does not exist"))
            .collect();
    }
    let report = Report {
        runlevel: shared.runlevel.borrow().clone(),
        services,
    };
    (report, missing)
}

/// Answers one request; `asker` is the client's pid, for requests from a service's own command.
pub(super) async fn handle(
    req: Request,
    stdio: Option<(OwnedFd, OwnedFd)>,
    shared: &Shared,
    asker: Option<i32>,
) -> Reply {
    let rl = shared.services.borrow().clone();
    // The service whose command runs in the asker's session, if any, and which command.
    let from = || {
        let sid = crate::procfs::session(asker?)?;
        rl.as_ref()?.running_script(sid)
    };
    match req {
        Request::Status { services } => status(shared, &services),
        Request::Check { alive } => check(shared, alive),
        // Sent once the asker has its answer (see `connection`).
        Request::Shutdown => Reply::default(),
        Request::Start { services }
        | Request::Stop { services }
        | Request::Restart { services }
            if rl.is_none() =>
        {
            Reply::error(
                1,
                format!("service `{}' does not exist", services.join(" ")),
            )
        }
        Request::Start { services } => each(rl.clone(), &services, Op::Start, from()).await,
        Request::Stop { services } => each(rl.clone(), &services, Op::Stop, from()).await,
        Request::Restart { services } => each(rl.clone(), &services, Op::Restart, from()).await,
        Request::Run { service, command }
            if matches!(command.as_str(), "start" | "stop" | "restart") =>
        {
            let op = match command.as_str() {
                "start" => Op::Start,
                "stop" => Op::Stop,
                _ => Op::Restart,
            };
            each(rl.clone(), &[service], op, from()).await
        }
        Request::Run { command, .. } if matches!(command.as_str(), "status" | "zap") => {
            Reply::error(
                2,
                format!("{command} is rcinit's own: use the status request"),
            )
        }
        Request::Run { service, command } => {
            // Its task runs that command now, and would answer once it ends: never.
            let own = from().filter(|(asker, _)| *asker == service);
            run_command(rl, service, command, stdio, own).await
        }
        Request::Helper { service, argv, env } => helper(rl, service, argv, env).await,
    }
}

/// The status request: the report, and code 1 when a service named does not exist.
fn status(shared: &Shared, services: &[String]) -> Reply {
    let (report, missing) = report(shared, services);
    Reply {
        code: if missing.is_empty() { 0 } else { 1 },
        messages: missing,
        status: Some(report),
        ..Reply::default()
    }
}

/// A script's command, run by the service's task; `own` is the asker's service and command
/// when a command of the service asks (it would wait for itself).
async fn run_command(
    rl: Option<Rc<Runlevel>>,
    service: String,
    command: String,
    stdio: Option<(OwnedFd, OwnedFd)>,
    own: Option<(String, String)>,
) -> Reply {
    let Some(rl) = rl.filter(|r| r.exists(&service)) else {
        return Reply::error(1, format!("service `{service}' does not exist"));
    };
    if let Some((_, cmd)) = own {
        return Reply::error(
            1,
            format!(
                "{service}: its own {cmd} asked to run {command}; refused, as it would wait for itself"
            ),
        );
    }
    let (reply, rx) = oneshot::channel();
    if !rl.send(
        &service,
        SvcRequest::Run {
            command,
            stdio,
            reply,
        },
    ) {
        return Reply::error(1, format!("{service}: not reachable"));
    }
    match rx.await {
        Ok((code, said)) => Reply {
            code,
            messages: said.into_iter().collect(),
            ..Reply::default()
        },
        Err(_) => Reply::error(1, format!("{service}: busy stopping; try again")),
    }
}

/// OpenRC's helper, called by the service's openrc-run: its task stands in for it when the call
/// is about its daemon, and says so when not (the image's own helper then runs).
async fn helper(
    rl: Option<Rc<Runlevel>>,
    service: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
) -> Reply {
    let Some(rl) = rl.filter(|r| r.exists(&service)) else {
        return Reply::error(1, format!("service `{service}' does not exist"));
    };
    let (reply, rx) = oneshot::channel();
    let sent = rl.send(
        &service,
        SvcRequest::Helper {
            argv,
            exported: env,
            reply,
        },
    );
    match sent {
        true => match rx.await {
            Ok(Some(true)) => Reply::default(),
            Ok(None) => Reply::error(NOT_OURS, format!("{service}: not its daemon")),
            _ => Reply::error(1, format!("{service}: refused")),
        },
        false => Reply::error(1, format!("{service}: not reachable")),
    }
}

#[derive(Clone, Copy)]
enum Op {
    Start,
    Stop,
    Restart,
}

impl Op {
    fn word(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
        }
    }
}

/// `from`: the service whose running command asked, and that command (re-entrancy).
async fn each(
    rl: Option<Rc<Runlevel>>,
    names: &[String],
    op: Op,
    from: Option<(String, String)>,
) -> Reply {
    let Some(rl) = rl else {
        return Reply::error(1, "no services");
    };
    let mut reply = Reply::default();
    if names.is_empty() {
        return Reply::error(2, "name at least one service");
    }
    for n in names {
        if !rl.exists(n) {
            reply.code = 1;
            reply.messages.push(format!("service `{n}' does not exist"));
            continue;
        }
        if let Some((asker, cmd)) = &from {
            // OpenRC locks a service during its start and stop only: from those, acting on
            // the service (or through a need chain back to it) would wait for itself.
            if let Some(why) = rl.waits_on_itself(asker, cmd, n, op.word()) {
                tracing::warn!("{why}");
                reply.code = 1;
                reply.messages.push(why);
                continue;
            }
            // From another command of its own (a reload that restarts it, an extra command
            // that starts it or what needs it), what touches the service follows that command:
            // it is done after this answer, which the command awaits.
            if rl.involves(asker, n, op.word()) {
                let later = Rc::clone(&rl);
                let (name, who) = (n.clone(), asker.clone());
                tokio::task::spawn_local(async move {
                    let (_, said) = match op {
                        Op::Start => later.start(&name).await,
                        Op::Stop => {
                            let (ok, _, said) = later.stop_from(&name, Some(&who)).await;
                            (ok, said)
                        }
                        Op::Restart => later.restart_from(&name, Some(&who)).await,
                    };
                    for line in said {
                        tracing::info!("{line}");
                    }
                });
                reply
                    .messages
                    .push(format!("{n}: {} follows its {cmd}", op.word()));
                continue;
            }
        }
        let (ok, said) = match op {
            Op::Start => rl.start(n).await,
            Op::Stop => {
                let (ok, _, said) = rl.stop(n).await;
                (ok, said)
            }
            Op::Restart => rl.restart(n).await,
        };
        if !ok {
            reply.code = 1;
        }
        reply.messages.extend(said);
    }
    reply
}

/// How long past its limit a start or stop counts as stuck (the limit itself ends it).
const STUCK: Duration = Duration::from_secs(5);

/// `rcinit check`: readiness, "is the runlevel up?": not while the boot or any service is still
/// starting or stopping, nor when one failed, crashed or fails its health check; a service
/// stopped on purpose is fine. `--alive`: liveness, "should this container be restarted?":
/// only failed and crashed services, failing health checks, and starts or stops stuck past
/// their limit.
fn check(shared: &Shared, alive: bool) -> Reply {
    let mut reply = Reply::default();
    let mut say = |line: String| {
        reply.code = 1;
        reply.messages.push(line);
    };
    let rl = shared.services.borrow().clone();
    let now = Instant::now();
    for (name, st) in rl.as_ref().map(|r| r.statuses()).unwrap_or_default() {
        let health_ok = st.healthy != Some(false);
        let planned = rl.as_ref().is_some_and(|r| r.planned(&name));
        if !planned && st.state == State::Stopped {
            continue;
        }
        if !state::healthy(st.state, st.why.as_ref(), health_ok) {
            let why = st.why.map(|w| format!(": {w}")).unwrap_or_default();
            let what = if st.state == State::Started && !health_ok {
                "failing its health check".to_string()
            } else {
                st.state.to_string()
            };
            say(format!("{name} {what}{why}"));
            continue;
        }
        if let Some(w @ crate::state::Why::Untracked(_)) = &st.why {
            if !alive && st.state == State::Started {
                say(format!("{name} started, {w}"));
            }
            continue;
        }
        if !matches!(st.state, State::Starting | State::Stopping) {
            continue;
        }
        let for_ =
            crate::control::report::duration(now.saturating_duration_since(st.since).as_secs());
        match st.until {
            Some(u) if now > u + STUCK => say(format!(
                "{name} stuck {}: its limit passed {} ago",
                st.state,
                crate::control::report::duration(now.saturating_duration_since(u).as_secs())
            )),
            _ if alive => {}
            until => say(format!(
                "{name} {} for {for_} {}",
                st.state,
                limit_note(until.map(|u| u.saturating_duration_since(now)))
            )),
        }
    }
    if !alive && !shared.booted.get() {
        say("the runlevel is still starting".into());
    }
    reply
}
