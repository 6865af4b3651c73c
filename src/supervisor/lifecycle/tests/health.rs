//! Health checks (S-30..S-32) on synthetic time.

use super::*;

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
