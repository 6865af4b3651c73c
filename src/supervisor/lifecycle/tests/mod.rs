//! The machine's table, on synthetic time: every test starts its clock at `T0` and moves it by
//! hand; nothing sleeps, nothing is spawned.

use super::*;

use Action as A;
use Event as E;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A supervised service: respawn_max, respawn_period, respawn_delay, and the 0.6x delay step.
fn policy(max: u32, period: Duration, delay: Duration, step: Duration) -> Policy {
    Policy {
        delay,
        max,
        period,
        step,
        cap: secs(30),
    }
}

fn supervised(p: Policy) -> Settings {
    Settings {
        respawn: Some(p),
        health: None,
    }
}

fn checked(p: Policy, delay: Duration, timer: Option<Duration>) -> Settings {
    Settings {
        respawn: Some(p),
        health: Some(Health { delay, timer }),
    }
}

/// A machine planned with `s` and supervising a running daemon, at `t0`.
fn up(s: Settings) -> (Lifecycle, Instant) {
    let t0 = Instant::now();
    let mut m = Lifecycle::new(t0);
    m.step(E::Planned(s), t0);
    m.step(E::Supervise { daemon: true }, t0);
    (m, t0)
}

fn exited(code: i32) -> Event {
    E::DaemonExited {
        exit: Exit::Code(code),
        leftovers: false,
    }
}

fn crashed(code: i32) -> Action {
    A::Report(State::Crashed, Some(Why::Exited(Exit::Code(code))))
}

fn ended(code: i32) -> Action {
    A::Say(Level::Warn, format!("daemon ended (exit code {code})"))
}

/// The deadline armed by the last of `acts`, if any.
fn armed(acts: &[Action]) -> Option<Instant> {
    acts.iter().rev().find_map(|a| match a {
        A::Arm(t) => Some(*t),
        _ => None,
    })
}

/// An exit at `t`, then the respawn when it is due: the respawn's delay.
fn crash_and_respawn(m: &mut Lifecycle, t: Instant) -> Option<Duration> {
    let acts = m.step(exited(1), t);
    let due = armed(&acts)?;
    m.step(E::Deadline, due);
    m.step(E::Spawned(Spawn::Ready(100)), due);
    Some(due - t)
}

// --- planning and the start of supervision ---

#[test]
fn a_plan_starts_the_count_again_and_shows_zero_restarts() {
    let (mut m, t0) = up(supervised(policy(1, secs(60), ms(0), ms(0))));
    assert!(crash_and_respawn(&mut m, t0).is_some());
    assert_eq!(
        m.step(
            E::Planned(supervised(policy(1, secs(60), ms(0), ms(0)))),
            t0
        ),
        vec![A::Disarm, A::Restarts(0)]
    );
    m.step(E::Supervise { daemon: true }, t0);
    assert!(
        crash_and_respawn(&mut m, t0).is_some(),
        "the new plan's first respawn is allowed"
    );
}

#[test]
fn supervision_arms_the_first_check_after_healthcheck_delay() {
    let t0 = Instant::now();
    let mut m = Lifecycle::new(t0);
    m.step(
        E::Planned(checked(Policy::default(), secs(5), Some(secs(30)))),
        t0,
    );
    assert_eq!(
        m.step(E::Supervise { daemon: true }, t0),
        vec![A::Arm(t0 + secs(5))]
    );
    assert_eq!(m.phase(), Phase::Running);
}

#[test]
fn no_checks_without_a_healthcheck_or_without_a_daemon() {
    let t0 = Instant::now();
    let mut m = Lifecycle::new(t0);
    m.step(E::Planned(supervised(Policy::default())), t0);
    assert_eq!(m.step(E::Supervise { daemon: true }, t0), vec![A::Disarm]);
    m.step(E::Planned(checked(Policy::default(), secs(5), None)), t0);
    assert_eq!(m.step(E::Supervise { daemon: false }, t0), vec![A::Disarm]);
}

#[test]
fn supervising_again_keeps_a_pending_respawn() {
    let (mut m, t0) = up(supervised(policy(5, secs(60), secs(3), ms(0))));
    m.step(exited(1), t0);
    assert_eq!(m.phase(), Phase::Waiting);
    assert_eq!(m.step(E::Supervise { daemon: false }, t0 + secs(1)), vec![]);
    assert_eq!(
        m.phase(),
        Phase::Waiting,
        "a refused stop's return to supervision"
    );
}

// --- respawn and give-up (S-11, S-20) ---

#[test]
fn an_exit_of_a_supervised_daemon_respawns_after_respawn_delay() {
    let (mut m, t0) = up(supervised(policy(10, secs(12), secs(2), ms(0))));
    let acts = m.step(exited(3), t0 + secs(1));
    assert_eq!(
        acts,
        vec![
            ended(3),
            A::Disarm,
            A::Forget,
            crashed(3),
            A::Arm(t0 + secs(3))
        ]
    );
    assert_eq!(m.phase(), Phase::Waiting);
}

#[test]
fn a_due_respawn_counts_a_restart_and_spawns() {
    let (mut m, t0) = up(supervised(policy(10, secs(12), ms(0), ms(0))));
    m.step(exited(1), t0);
    assert_eq!(m.step(E::Deadline, t0), vec![A::Restarts(1), A::Spawn]);
    assert_eq!(m.phase(), Phase::Spawning);
}

#[test]
fn a_ready_respawn_says_its_pid_reports_started_and_arms_the_first_check() {
    let (mut m, t0) = up(checked(policy(4, secs(12), ms(0), ms(0)), secs(7), None));
    m.step(E::Deadline, t0 + secs(7));
    m.step(E::Checked(Check::Gone), t0 + secs(7));
    m.step(exited(1), t0 + secs(8));
    m.step(E::Deadline, t0 + secs(8));
    let acts = m.step(E::Spawned(Spawn::Ready(4242)), t0 + secs(9));
    assert_eq!(
        acts,
        vec![
            A::Say(
                Level::Info,
                "respawned as pid 4242 (restart 1, respawn_max=4)".into()
            ),
            A::Report(State::Started, None),
            A::Arm(t0 + secs(16)),
        ]
    );
}

#[test]
fn the_delay_grows_by_the_step_per_respawn_and_stops_at_the_cap() {
    let mut p = policy(0, Duration::ZERO, ms(100), ms(500));
    p.cap = secs(2);
    let (mut m, t0) = up(supervised(p));
    let delays: Vec<Duration> = (0..6)
        .map(|k| crash_and_respawn(&mut m, t0 + secs(10 * k)).unwrap())
        .collect();
    assert_eq!(
        delays,
        vec![ms(600), ms(1100), ms(1600), secs(2), secs(2), secs(2)]
    );
}

#[test]
fn respawn_max_within_the_period_then_give_up_with_the_count_said() {
    let (mut m, t0) = up(supervised(policy(2, secs(60), ms(0), ms(0))));
    assert!(crash_and_respawn(&mut m, t0 + secs(1)).is_some());
    assert!(crash_and_respawn(&mut m, t0 + secs(2)).is_some());
    let acts = m.step(exited(1), t0 + secs(3));
    assert_eq!(
        acts,
        vec![
            ended(1),
            A::Disarm,
            A::Forget,
            A::Say(
                Level::Error,
                "respawned 2 times; giving up (respawn_max=2)".into()
            ),
            A::Report(State::Failed, Some(Why::GaveUp { respawns: 2 })),
            A::Failed,
        ]
    );
    assert_eq!(m.phase(), Phase::GaveUp);
}

#[test]
fn exits_further_apart_than_the_period_are_never_given_up_on() {
    // The window opens at the first exit; an exit after it closed resets the count (S-11).
    let (mut m, t0) = up(supervised(policy(2, secs(10), ms(0), ms(0))));
    for k in 0..20 {
        assert!(
            crash_and_respawn(&mut m, t0 + secs(11 * k)).is_some(),
            "exit {k}, 11 s after the last"
        );
    }
}

#[test]
fn the_window_counts_from_its_first_exit_not_from_the_last() {
    let (mut m, t0) = up(supervised(policy(2, secs(10), ms(0), ms(0))));
    // Exits at 0, 6 and 9 s: the third is inside the 10 s window that opened at 0.
    assert!(crash_and_respawn(&mut m, t0).is_some());
    assert!(crash_and_respawn(&mut m, t0 + secs(6)).is_some());
    let acts = m.step(exited(1), t0 + secs(9));
    assert!(acts.contains(&A::Failed), "{acts:?}");
}

#[test]
fn the_exit_that_resets_the_window_is_not_counted() {
    let (mut m, t0) = up(supervised(policy(1, secs(10), ms(0), ms(0))));
    assert!(crash_and_respawn(&mut m, t0).is_some());
    // 11 s later: the window closed; this exit resets it and is not counted itself.
    assert!(crash_and_respawn(&mut m, t0 + secs(11)).is_some());
    // So the next one, at 12 s, is the first counted of the new window.
    assert!(crash_and_respawn(&mut m, t0 + secs(12)).is_some());
    assert!(m.step(exited(1), t0 + secs(13)).contains(&A::Failed));
}

#[test]
fn respawn_max_zero_never_gives_up() {
    let (mut m, t0) = up(supervised(policy(0, secs(60), ms(0), ms(0))));
    for k in 0..1000 {
        assert!(crash_and_respawn(&mut m, t0 + ms(k)).is_some(), "exit {k}");
    }
    assert_eq!(m.phase(), Phase::Running);
}

#[test]
fn after_giving_up_nothing_respawns_or_checks() {
    let (mut m, t0) = up(checked(
        policy(1, secs(60), ms(0), ms(0)),
        secs(1),
        Some(secs(1)),
    ));
    assert!(crash_and_respawn(&mut m, t0).is_some());
    assert!(m.step(exited(1), t0).contains(&A::Failed));
    for e in [
        E::Deadline,
        E::Checked(Check::Failed),
        E::Supervise { daemon: true },
    ] {
        assert_eq!(m.step(e.clone(), t0 + secs(5)), vec![], "{e:?}");
    }
    assert_eq!(
        m.step(exited(1), t0 + secs(5)),
        vec![ended(1), A::Forget],
        "let go, not counted"
    );
    assert_eq!(m.phase(), Phase::GaveUp);
}

#[test]
fn a_daemon_that_is_not_respawned_leaves_the_service_crashed() {
    // start-stop-daemon's kind: OpenRC keeps it "started" with its daemon dead.
    let (mut m, t0) = up(Settings::default());
    let acts = m.step(exited(2), t0);
    assert_eq!(acts, vec![ended(2), A::Disarm, A::Forget, crashed(2)]);
    assert_eq!(m.phase(), Phase::Dead);
    assert_eq!(m.step(E::Deadline, t0 + secs(60)), vec![]);
}

#[test]
fn what_a_dead_daemon_left_is_stopped_before_it_is_respawned() {
    let (mut m, t0) = up(supervised(policy(10, secs(12), secs(1), ms(0))));
    let acts = m.step(
        E::DaemonExited {
            exit: Exit::Signal(9),
            leftovers: true,
        },
        t0,
    );
    assert_eq!(
        acts,
        vec![
            A::Say(Level::Warn, "daemon ended (killed by SIGKILL)".into()),
            A::Disarm,
            A::Say(
                Level::Warn,
                "stopping what is left of its process group".into()
            ),
            A::Report(State::Crashed, Some(Why::Exited(Exit::Signal(9)))),
            A::StopLeftovers,
        ]
    );
    assert_eq!(
        m.step(E::Deadline, t0 + secs(5)),
        vec![],
        "no respawn is armed yet"
    );
    let acts = m.step(E::LeftoversGone, t0 + secs(2));
    assert_eq!(
        acts,
        vec![
            A::Forget,
            A::Report(State::Crashed, Some(Why::Exited(Exit::Signal(9)))),
            A::Arm(t0 + secs(3)),
        ]
    );
}

#[test]
fn a_spawn_that_fails_counts_as_an_exit_127() {
    let (mut m, t0) = up(supervised(policy(10, secs(12), ms(0), ms(0))));
    m.step(exited(1), t0);
    m.step(E::Deadline, t0);
    let acts = m.step(E::Spawned(Spawn::Failed), t0 + secs(1));
    assert_eq!(acts, vec![crashed(127), A::Arm(t0 + secs(1))]);
    assert_eq!(m.phase(), Phase::Waiting);
}

#[test]
fn a_respawn_that_is_not_ready_waits_for_the_kills_exit_which_counts() {
    let (mut m, t0) = up(supervised(policy(1, secs(60), ms(0), ms(0))));
    m.step(exited(1), t0);
    m.step(E::Deadline, t0);
    assert_eq!(m.step(E::Spawned(Spawn::NotReady), t0), vec![]);
    let acts = m.step(
        E::DaemonExited {
            exit: Exit::Signal(9),
            leftovers: false,
        },
        t0,
    );
    assert!(
        acts.contains(&A::Failed),
        "the second exit in the window: {acts:?}"
    );
}

#[test]
fn an_exit_during_a_start_is_judged_as_any_other() {
    // A supervised start() whose daemon is gone before the start ended (V-16).
    let t0 = Instant::now();
    let mut m = Lifecycle::new(t0);
    m.step(
        E::Planned(supervised(policy(3, secs(12), secs(1), ms(0)))),
        t0,
    );
    let acts = m.step(exited(-1), t0);
    assert_eq!(armed(&acts), Some(t0 + secs(1)));
    assert_eq!(
        m.step(E::Supervise { daemon: false }, t0),
        vec![],
        "the respawn stays armed"
    );
}

// --- the container going down ---

#[test]
fn going_down_drops_a_pending_respawn_and_says_so() {
    let (mut m, t0) = up(supervised(policy(10, secs(12), secs(5), ms(0))));
    m.step(exited(1), t0);
    assert_eq!(
        m.step(E::ShutdownBegan, t0 + secs(1)),
        vec![
            A::Disarm,
            A::Say(
                Level::Info,
                "not respawned: the container is stopping".into()
            ),
        ]
    );
    assert_eq!(m.step(E::Deadline, t0 + secs(5)), vec![]);
    assert_eq!(m.step(E::ShutdownBegan, t0 + secs(6)), vec![], "said once");
}

#[test]
fn an_exit_while_going_down_is_a_stop_not_a_crash() {
    let (mut m, t0) = up(supervised(Policy::default()));
    m.step(E::ShutdownBegan, t0);
    let acts = m.step(
        E::DaemonExited {
            exit: Exit::Signal(15),
            leftovers: false,
        },
        t0,
    );
    assert_eq!(
        acts[2..],
        [
            A::Forget,
            A::Report(State::Stopped, Some(Why::Exited(Exit::Signal(15))))
        ]
    );
    assert_eq!(m.phase(), Phase::Dead);
}

#[test]
fn going_down_ends_health_checks() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    assert_eq!(m.step(E::ShutdownBegan, t0), vec![A::Disarm]);
    assert_eq!(
        m.step(E::Deadline, t0 + secs(1)),
        vec![],
        "a deadline armed before is not a check"
    );
}

#[test]
fn a_check_that_passes_as_the_container_goes_down_arms_no_other() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    m.step(E::ShutdownBegan, t0 + secs(1));
    assert_eq!(
        m.step(E::Checked(Check::Passed), t0 + secs(2)),
        vec![A::Healthy(true)]
    );
}

mod ends;
mod health;
mod properties;
