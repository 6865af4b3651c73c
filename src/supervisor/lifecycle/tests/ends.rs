//! Every end of a daemon is let go of (found by review: the task spun on an ignored one).

use super::*;

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
