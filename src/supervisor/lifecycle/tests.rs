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

// --- health checks (S-30..S-32) ---

#[test]
fn a_due_check_runs_within_its_interval_at_least_a_second() {
    let (mut m, t0) = up(checked(Policy::default(), secs(5), Some(secs(30))));
    assert_eq!(
        m.step(E::Deadline, t0 + secs(5)),
        vec![A::RunCheck { limit: secs(30) }]
    );
    let (mut m, t0) = up(checked(Policy::default(), ms(200), None));
    assert_eq!(
        m.step(E::Deadline, t0),
        vec![A::RunCheck { limit: secs(1) }]
    );
}

#[test]
fn a_passed_check_arms_the_next_after_healthcheck_timer() {
    let (mut m, t0) = up(checked(Policy::default(), secs(5), Some(secs(30))));
    m.step(E::Deadline, t0 + secs(5));
    assert_eq!(
        m.step(E::Checked(Check::Passed), t0 + secs(6)),
        vec![A::Healthy(true), A::Arm(t0 + secs(36))]
    );
    assert_eq!(m.phase(), Phase::Running);
}

#[test]
fn without_healthcheck_timer_there_is_one_check() {
    let (mut m, t0) = up(checked(Policy::default(), secs(5), None));
    m.step(E::Deadline, t0 + secs(5));
    assert_eq!(
        m.step(E::Checked(Check::Passed), t0 + secs(6)),
        vec![A::Healthy(true)]
    );
}

#[test]
fn a_failed_check_while_up_runs_unhealthy_and_respawns_as_healthcheck_failed() {
    let (mut m, t0) = up(checked(
        policy(10, secs(12), secs(1), ms(0)),
        secs(5),
        Some(secs(10)),
    ));
    m.step(E::Deadline, t0 + secs(5));
    assert_eq!(
        m.step(E::Checked(Check::Failed), t0 + secs(6)),
        vec![
            A::Healthy(false),
            A::Say(Level::Warn, "health check failed; restarting it".into()),
            A::RestartUnhealthy { limit: secs(10) },
        ]
    );
    let acts = m.step(E::UnhealthyStopped(Some(Exit::Signal(15))), t0 + secs(7));
    assert_eq!(
        acts,
        vec![
            A::Forget,
            A::Report(State::Crashed, Some(Why::HealthcheckFailed)),
            A::Arm(t0 + secs(8)),
        ]
    );
}

#[test]
fn unhealthy_restarts_count_toward_respawn_max() {
    let (mut m, t0) = up(checked(
        policy(1, secs(60), ms(0), ms(0)),
        secs(1),
        Some(secs(1)),
    ));
    let fail = |m: &mut Lifecycle, t: Instant| {
        m.step(E::Deadline, t);
        m.step(E::Checked(Check::Failed), t);
        m.step(E::UnhealthyStopped(None), t)
    };
    let acts = fail(&mut m, t0 + secs(1));
    m.step(E::Deadline, armed(&acts).unwrap());
    m.step(E::Spawned(Spawn::Ready(7)), t0 + secs(1));
    let acts = fail(&mut m, t0 + secs(2));
    assert!(
        acts.contains(&A::Report(State::Failed, Some(Why::GaveUp { respawns: 1 }))),
        "{acts:?}"
    );
}

#[test]
fn a_check_result_while_starting_changes_nothing() {
    let t0 = Instant::now();
    let mut m = Lifecycle::new(t0);
    m.step(E::Planned(checked(Policy::default(), secs(1), None)), t0);
    for c in [Check::Passed, Check::Failed, Check::Gone] {
        assert_eq!(m.step(E::Checked(c), t0), vec![], "{c:?}");
    }
    assert_eq!(
        m.step(E::Deadline, t0),
        vec![],
        "no check before supervision begins"
    );
    assert_eq!(m.phase(), Phase::Idle);
}

#[test]
fn a_check_result_after_the_stop_began_changes_nothing() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    assert_eq!(m.step(E::StopBegan, t0 + secs(1)), vec![A::Disarm]);
    assert_eq!(
        m.step(E::Checked(Check::Failed), t0 + secs(2)),
        vec![],
        "no unhealthy, no restart"
    );
    assert_eq!(
        m.step(E::Checked(Check::Passed), t0 + secs(2)),
        vec![],
        "no next check"
    );
    assert_eq!(m.phase(), Phase::Stopping);
}

#[test]
fn after_the_stop_no_deadline_exit_or_check_does_anything() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(exited(1), t0);
    m.step(E::StopBegan, t0);
    for e in [
        E::Deadline,
        E::LeftoversGone,
        E::Spawned(Spawn::Ready(3)),
        E::UnhealthyStopped(None),
    ] {
        assert_eq!(m.step(e.clone(), t0 + secs(1)), vec![], "{e:?}");
    }
    assert_eq!(
        m.step(exited(1), t0 + secs(1)),
        vec![ended(1), A::Forget],
        "no respawn"
    );
}

#[test]
fn a_failed_check_while_restarting_is_not_a_second_restart() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    m.step(E::Checked(Check::Failed), t0 + secs(1));
    assert_eq!(m.step(E::Checked(Check::Failed), t0 + secs(1)), vec![]);
    assert_eq!(m.step(E::Deadline, t0 + secs(1)), vec![]);
    assert_eq!(m.phase(), Phase::Restarting);
}

#[test]
fn a_check_cut_short_returns_to_running_and_the_exit_follows() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    assert_eq!(m.step(E::Checked(Check::Gone), t0 + secs(1)), vec![]);
    let acts = m.step(exited(0), t0 + secs(1));
    assert_eq!(
        armed(&acts),
        Some(t0 + secs(1) + ms(128)),
        "the default first step"
    );
}

#[test]
fn an_exit_during_a_check_is_judged_at_once() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    let acts = m.step(exited(1), t0 + secs(1));
    assert!(
        acts.contains(&A::Forget) && armed(&acts).is_some(),
        "{acts:?}"
    );
    assert_eq!(
        m.step(E::Checked(Check::Failed), t0 + secs(2)),
        vec![],
        "its check is moot"
    );
}

#[test]
fn a_new_start_after_a_stop_counts_from_zero() {
    let (mut m, t0) = up(supervised(policy(1, secs(60), ms(0), ms(0))));
    assert!(crash_and_respawn(&mut m, t0).is_some());
    m.step(E::StopBegan, t0);
    m.step(
        E::Planned(supervised(policy(1, secs(60), ms(0), ms(0)))),
        t0,
    );
    m.step(E::Supervise { daemon: true }, t0);
    assert!(crash_and_respawn(&mut m, t0).is_some());
}

#[test]
fn huge_durations_arm_far_away_instead_of_panicking() {
    // No step: the delay is respawn_delay alone, uncapped.
    let p = policy(0, Duration::MAX, Duration::MAX, Duration::ZERO);
    let (mut m, t0) = up(checked(p, Duration::MAX, Some(Duration::MAX)));
    let acts = m.step(exited(1), t0);
    assert!(
        armed(&acts).is_some_and(|t| t > t0 + secs(86_400)),
        "{acts:?}"
    );
    let mut m2 = Lifecycle::new(t0);
    m2.step(
        E::Planned(checked(Policy::default(), Duration::MAX, None)),
        t0,
    );
    assert!(armed(&m2.step(E::Supervise { daemon: true }, t0)).is_some());
}

// --- what holds whatever happens ---

fn any_event() -> impl proptest::strategy::Strategy<Value = Event> {
    use proptest::prelude::*;
    let exit = prop_oneof![
        (-1i32..3).prop_map(Exit::Code),
        (1i32..16).prop_map(Exit::Signal)
    ];
    let settings = (
        any::<bool>(),
        0u32..3,
        0u64..3000,
        any::<bool>(),
        proptest::option::of(0u64..3000),
    )
        .prop_map(|(respawned, max, period, checks, timer)| Settings {
            respawn: respawned.then(|| policy(max, ms(period), ms(period / 3), ms(100))),
            health: checks.then(|| Health {
                delay: ms(500),
                timer: timer.map(ms),
            }),
        });
    prop_oneof![
        settings.prop_map(E::Planned),
        any::<bool>().prop_map(|daemon| E::Supervise { daemon }),
        (exit.clone(), any::<bool>())
            .prop_map(|(exit, leftovers)| E::DaemonExited { exit, leftovers }),
        Just(E::LeftoversGone),
        Just(E::Deadline),
        Just(E::Deadline),
        prop_oneof![
            Just(Spawn::Ready(9)),
            Just(Spawn::NotReady),
            Just(Spawn::Failed)
        ]
        .prop_map(E::Spawned),
        prop_oneof![Just(Check::Passed), Just(Check::Failed), Just(Check::Gone)]
            .prop_map(E::Checked),
        proptest::option::of(exit).prop_map(E::UnhealthyStopped),
        Just(E::ShutdownBegan),
        Just(E::StopBegan),
    ]
}

fn has_outcome(a: &Action) -> bool {
    matches!(
        a,
        A::StopLeftovers | A::Spawn | A::RunCheck { .. } | A::RestartUnhealthy { .. }
    )
}

proptest::proptest! {
    /// The task carries out every action but the last at once: an action with an outcome may
    /// only come last, one per step. Going down, nothing is armed again and nothing is respawned;
    /// a stop is the end of everything until a start; giving up tells the critical policy once.
    #[test]
    fn whatever_happens_the_machine_keeps_its_promises(
        events in proptest::collection::vec((any_event(), 0u64..5000), 1..60)
    ) {
        let t0 = Instant::now();
        let mut m = Lifecycle::new(t0);
        let mut now = t0;
        let mut down = false;
        for (e, dt) in events {
            now += ms(dt);
            let stop_or_start = matches!(e, E::StopBegan | E::Planned(_) | E::Supervise { .. });
            let was = m.phase();
            let was_stopping = was == Phase::Stopping;
            down |= e == E::ShutdownBegan;
            let acts = m.step(e.clone(), now);
            let outcomes = acts.iter().filter(|a| has_outcome(a)).count();
            proptest::prop_assert!(outcomes <= 1, "{e:?} -> {acts:?}");
            if outcomes == 1 {
                proptest::prop_assert!(acts.last().is_some_and(has_outcome), "{e:?} -> {acts:?}");
            }
            if down {
                proptest::prop_assert!(
                    !acts.iter().any(|a| matches!(a, A::Arm(_) | A::Spawn | A::RunCheck { .. })),
                    "going down: {e:?} -> {acts:?}"
                );
            }
            if was_stopping && !stop_or_start {
                let quiet = acts.is_empty()
                    || (e == E::ShutdownBegan && acts == vec![A::Disarm])
                    || matches!(e, E::DaemonExited { .. });
                proptest::prop_assert!(quiet, "stopping: {e:?} -> {acts:?}");
            }
            // An ended daemon the task still held would be reported again at once, for ever.
            if matches!(e, E::DaemonExited { .. }) {
                proptest::prop_assert!(
                    acts.iter().any(|a| matches!(a, A::Forget | A::StopLeftovers)),
                    "{e:?} in {was:?} -> {acts:?}"
                );
            }
            let failed = acts.iter().filter(|a| **a == A::Failed).count();
            let gave_up = acts.iter().filter(|a| matches!(a, A::Report(State::Failed, Some(Why::GaveUp { .. })))).count();
            proptest::prop_assert_eq!(failed, gave_up);
            proptest::prop_assert!(failed <= 1);
        }
    }
}

// --- every end of a daemon is let go of (found by review: the task spun on an ignored one) ---

#[test]
fn an_exit_after_the_shutdown_cut_an_unhealthy_restart_is_a_stop() {
    let (mut m, t0) = up(checked(Policy::default(), secs(1), Some(secs(1))));
    m.step(E::Deadline, t0 + secs(1));
    m.step(E::Checked(Check::Failed), t0 + secs(1));
    m.step(E::ShutdownBegan, t0 + secs(2));
    assert_eq!(
        m.phase(),
        Phase::Restarting,
        "the restart was cut: no UnhealthyStopped"
    );
    assert_eq!(
        m.step(exited(3), t0 + secs(3)),
        vec![
            ended(3),
            A::Forget,
            A::Report(State::Stopped, Some(Why::Exited(Exit::Code(3))))
        ]
    );
}

#[test]
fn an_exit_of_a_daemon_that_counts_no_more_is_let_go_of_and_not_counted() {
    let (mut m, t0) = up(supervised(policy(1, secs(60), secs(5), ms(0))));
    m.step(exited(1), t0);
    assert_eq!(m.phase(), Phase::Waiting);
    // A daemon still held while a respawn is armed (its spawn failed after it was placed).
    assert_eq!(m.step(exited(9), t0), vec![ended(9), A::Forget]);
    assert_eq!(m.phase(), Phase::Waiting);
    assert_eq!(
        m.step(E::Deadline, t0 + secs(5)),
        vec![A::Restarts(1), A::Spawn]
    );
}

#[test]
fn leftovers_whose_stop_was_cut_short_are_stopped_again() {
    let (mut m, t0) = up(supervised(Policy::default()));
    let left = E::DaemonExited {
        exit: Exit::Code(1),
        leftovers: true,
    };
    m.step(left.clone(), t0);
    // A stop interrupted the clearing and was refused: supervision begins again.
    assert_eq!(
        m.step(E::Supervise { daemon: true }, t0),
        vec![A::StopLeftovers]
    );
    // The same end seen again while its group still has members: cleared again, not counted.
    assert_eq!(m.step(left, t0), vec![A::StopLeftovers]);
    let acts = m.step(exited(1), t0);
    assert_eq!(acts[0], A::Forget);
    assert!(armed(&acts).is_some(), "counted once: {acts:?}");
}

#[test]
fn a_new_plan_disarms_whatever_was_armed() {
    let (mut m, t0) = up(supervised(policy(5, secs(60), secs(5), ms(0))));
    m.step(exited(1), t0);
    let acts = m.step(E::Planned(Settings::default()), t0);
    assert_eq!(acts, vec![A::Disarm, A::Restarts(0)]);
    assert_eq!(m.step(E::Deadline, t0 + secs(5)), vec![]);
}
