//! Property-based fuzzing of everything that reads input rcinit does not control: the shim's
//! record stream, control requests, sysvinit requests, mountinfo, retry and stop schedules,
//! durations, ulimits, capabilities, helper command lines, and a whole launch plan from
//! arbitrary script variables. Each must answer (Ok or a clear Err), never panic: a panic in
//! PID 1 is a dead container. (cargo-fuzz needs a nightly toolchain, which this machine cannot
//! fetch; proptest runs on stable, inside the test command, bounded.)

use std::collections::BTreeMap;

use proptest::prelude::*;

use rcinit::control::Request;
use rcinit::script::record::Parser;
use rcinit::supervisor::daemon_args::{self, Helper};
use rcinit::supervisor::{caps, helper_call, launch};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words that look like what scripts write, and anything else.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-a-zA-Z0-9_/:=.,+%^!]{0,12}",
        Just("--".to_owned()),
        Just("-".to_owned()),
        Just("--retry".to_owned()),
        Just("--signal".to_owned()),
        Just("--start".to_owned()),
        Just("--stop".to_owned()),
        Just("--pidfile".to_owned()),
        Just("TERM/5/KILL/5".to_owned()),
        Just("99999999999999999999".to_owned()),
        ".{0,8}",
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// The record stream from the shim: any bytes, in any chunking, give the same records.
    #[test]
    fn record_parser_takes_any_bytes_in_any_chunks(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let whole = Parser::default().feed(&bytes);
        let cut = cut.min(bytes.len());
        let mut p = Parser::default();
        let mut parts = p.feed(&bytes[..cut]);
        parts.extend(p.feed(&bytes[cut..]));
        prop_assert_eq!(format!("{whole:?}"), format!("{parts:?}"));
    }

    /// Records built like the shim's, with hostile field contents.
    #[test]
    fn record_parser_takes_shim_like_records(fields in proptest::collection::vec(prop_oneof!["[ABDESVTZQX]", ".{0,6}", "[0-9]{1,3}"], 0..24)) {
        let mut bytes = Vec::new();
        for f in &fields {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
        }
        let _ = Parser::default().feed(&bytes);
    }

    /// Control requests: garbage is an error, never a panic, and what parses round-trips.
    #[test]
    fn control_requests_parse_or_fail_cleanly(text in prop_oneof![
        ".{0,64}",
        r#"\{"op":"(status|check|start|stop|restart|run|helper|shutdown)"(,"[a-z]{1,8}":("[a-z]{0,4}"|\[("[a-z]{0,4}",?){0,3}\]|[0-9]{1,3}|null))*\}"#,
    ]) {
        if let Ok(r) = serde_json::from_str::<Request>(&text) {
            let again: Request = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            prop_assert_eq!(r, again);
        }
    }

    /// sysvinit's 384-byte requests.
    #[test]
    fn initctl_requests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 384)) {
        let req: [u8; 384] = bytes.try_into().unwrap();
        let _ = rcinit::initctl::parse(&req);
    }

    /// /proc/self/mountinfo as the kernel could write it, or not.
    #[test]
    fn mountinfo_never_panics(text in "([0-9 /a-z\\\\]{0,40}\n){0,6}") {
        for m in rcinit::runfs::mounts_beneath(&text, "/run") {
            prop_assert!(m.starts_with("/run/"));
        }
    }

    /// retry and stopsig as scripts set them.
    #[test]
    fn retry_schedules_parse_or_fail_cleanly(retry in proptest::option::of(word()), stopsig in proptest::option::of(word())) {
        if let Ok(steps) = rcinit::policy::retry::parse(retry.as_deref(), stopsig.as_deref()) {
            prop_assert!(!steps.is_empty());
        }
    }

    #[test]
    fn durations_ulimits_and_capabilities_parse_or_fail_cleanly(a in word(), b in ".{0,24}") {
        let _ = rcinit::policy::respawn::parse_duration(&a);
        let _ = launch::parse_ulimit(&format!("{a} {b}"));
        let _ = caps::parse(&b);
        let _ = rcinit::supervisor::env::parse_assignments(&b);
    }

    /// start-stop-daemon and supervise-daemon command lines, from a script or from OpenRC.
    #[test]
    fn helper_command_lines_parse_or_fail_cleanly(words in proptest::collection::vec(word(), 0..10)) {
        let _ = daemon_args::parse(Helper::StartStopDaemon, &words);
        let _ = daemon_args::parse(Helper::SuperviseDaemon, &words);
        for argv0 in ["start-stop-daemon", "supervise-daemon", "/sbin/supervise-daemon"] {
            let mut argv = vec![argv0.to_owned()];
            argv.extend(words.iter().cloned());
            let _ = helper_call::split(&argv);
        }
    }

    /// A whole launch plan from arbitrary values of the variables it reads.
    #[test]
    fn launch_plans_from_any_variables(values in proptest::collection::vec(word(), 24), argv in proptest::collection::vec(word(), 0..4)) {
        const KEYS: [&str; 24] = [
            "command", "command_args", "command_background", "pidfile", "supervisor",
            "command_user", "directory", "umask", "chroot", "respawn_delay", "respawn_max",
            "respawn_period", "retry", "stopsig", "capabilities", "rc_ulimit", "notify",
            "input_file", "output_log", "error_logger", "healthcheck_timer", "healthcheck_delay",
            "start_stop_daemon_args", "supervise_daemon_args",
        ];
        let vars: BTreeMap<String, String> = KEYS.iter().map(|k| k.to_string()).zip(values).collect();
        let passwd = "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n";
        let group = "root:x:0:\nu:x:1000:u\n";
        let _ = launch::plan(&launch::Reported {
            vars: &vars,
            argv: &argv,
            exported: &[],
            passwd,
            group,
        });
    }
}
