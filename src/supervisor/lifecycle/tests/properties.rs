//! What holds whatever happens: random event sequences.

use super::*;

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
