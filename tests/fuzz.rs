//! Property-based fuzzing of everything that reads input rcinit does not control: the shim's
//! record stream, control requests, sysvinit requests, mountinfo, retry and stop schedules,
//! durations, ulimits, capabilities, helper command lines, a whole launch plan from arbitrary
//! script variables, runlevel and conf.d discovery over arbitrary trees, and the committed corpus
//! of real inputs (tests/corpus) replayed and mutated. Each must answer (Ok or a clear Err), never panic: a panic in
//! PID 1 is a dead container. (cargo-fuzz needs a nightly toolchain, which this machine cannot
//! fetch; proptest runs on stable, inside the test command, bounded.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "a test: a failed expectation is its failure, and a scenario reads top to bottom"
)]

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

    /// The extremes a script can write on fd 9 (issue 17: an argv count near u64::MAX made PID 1
    /// panic): counts at every limit, empty and megabyte fields, in random chunks. Nothing
    /// panics, and the records do not depend on how the bytes came.
    #[test]
    fn record_parser_survives_extreme_fields_in_random_chunks(
        fields in proptest::collection::vec(prop_oneof![
            8 => "[ABDESVTZQX]",
            4 => ".{0,6}",
            4 => "[0-9]{1,3}",
            4 => prop_oneof![
                Just(u64::MAX.to_string()),
                Just((u64::MAX - 1).to_string()),
                Just(usize::MAX.to_string()),
                Just(i32::MAX.to_string()),
                Just(String::new()),
                Just("-1".to_owned()),
                Just("99999999999999999999999".to_owned()),
                Just(rcinit::script::record::MAX_ARGV.to_string()),
                Just((rcinit::script::record::MAX_ARGV + 1).to_string()),
            ],
            1 => Just("y".repeat(1 << 20)),
        ], 0..24),
        chunks in proptest::collection::vec(1usize..65536, 1..8),
    ) {
        let mut bytes = Vec::new();
        for f in &fields {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
        }
        let whole = Parser::default().feed(&bytes);
        let mut p = Parser::default();
        let mut parts = Vec::new();
        let mut at = 0;
        for size in chunks.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + size).min(bytes.len());
            parts.extend(p.feed(&bytes[at..end]));
            at = end;
        }
        prop_assert_eq!(whole, parts);
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
        let _ = rcinit::script::env::parse_assignments(&b);
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

// ---- The committed corpus (tests/corpus, regenerated by tests/corpus/make.sh): real inputs,
// replayed as they are, then mutated byte by byte.

fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("seed"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Each seed with up to 16 bytes overwritten and possibly cut short.
fn mutate(seed: &[u8], flips: &[(usize, u8)], keep: usize) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(at, v) in flips {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] = v;
        }
    }
    b.truncate(keep.max(1).min(b.len()));
    b
}

fn flips() -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16)
}

#[test]
fn corpus_seeds_are_understood_as_they_are() {
    use rcinit::script::record::Record;
    for seed in corpus("records") {
        let recs = Parser::default().feed(&seed);
        assert!(recs.len() > 20, "{recs:?}");
        assert!(
            !recs.iter().any(|r| matches!(r, Record::Garbage(_))),
            "{recs:?}"
        );
        assert_eq!(recs.last(), Some(&Record::Done));
    }
    for seed in corpus("control") {
        for line in String::from_utf8(seed).expect("utf-8").lines() {
            let r: Request = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let again: Request = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(r, again);
        }
    }
    for seed in corpus("initctl") {
        let req: [u8; 384] = seed.try_into().expect("384 bytes");
        assert!(matches!(
            rcinit::initctl::parse(&req),
            rcinit::initctl::Ask::Stop('0')
        ));
    }
    for seed in corpus("mountinfo") {
        let text = String::from_utf8(seed).expect("utf-8");
        let beneath = rcinit::runfs::mounts_beneath(&text, "/run");
        assert_eq!(beneath, ["/run/secrets", "/run/my app.sock"], "{beneath:?}");
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn mutated_records_parse_the_same_in_any_chunks(i in any::<usize>(), f in flips(), keep in any::<usize>(), cut in any::<usize>()) {
        let seeds = corpus("records");
        let b = mutate(&seeds[i % seeds.len()], &f, keep % 4096);
        let whole = Parser::default().feed(&b);
        let cut = cut % (b.len() + 1);
        let mut p = Parser::default();
        let mut parts = p.feed(&b[..cut]);
        parts.extend(p.feed(&b[cut..]));
        prop_assert_eq!(format!("{whole:?}"), format!("{parts:?}"));
    }

    #[test]
    fn mutated_control_requests_parse_or_fail_cleanly(i in any::<usize>(), f in flips(), keep in any::<usize>()) {
        let seeds = corpus("control");
        let lines: Vec<&[u8]> = seeds.iter().flat_map(|s| s.split(|&c| c == b'\n')).filter(|l| !l.is_empty()).collect();
        let b = mutate(lines[i % lines.len()], &f, keep % 512);
        if let Ok(r) = serde_json::from_slice::<Request>(&b) {
            let again: Request = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            prop_assert_eq!(r, again);
        }
    }

    #[test]
    fn mutated_initctl_requests_and_mountinfo_never_panic(i in any::<usize>(), f in flips(), keep in any::<usize>()) {
        let seed = &corpus("initctl")[0];
        let b = mutate(seed, &f, 384);
        let req: [u8; 384] = b.try_into().unwrap();
        let _ = rcinit::initctl::parse(&req);
        let seeds = corpus("mountinfo");
        let m = mutate(&seeds[i % seeds.len()], &f, keep % 2048);
        for p in rcinit::runfs::mounts_beneath(&String::from_utf8_lossy(&m), "/run") {
            prop_assert!(p.starts_with("/run/"));
        }
    }
}

// ---- Runlevel and conf.d discovery over arbitrary trees: links anywhere (dangling, looping,
// absolute, climbing out of the root), stacked runlevels that loop, files of any content.

#[derive(Debug, Clone)]
enum Entry {
    Script { name: u8, text: u8, mode: u32 },
    Link { at: u8, name: u8, target: u8 },
    Stack { level: u8, into: u8 },
    Text { at: u8, name: u8, text: String },
}

const NAMES: [&str; 8] = ["a", "b", "web", ".hidden", "x.sh", "a~", "default", "boot"];
const DIRS: [&str; 6] = [
    "etc/init.d",
    "etc/runlevels/default",
    "etc/runlevels/boot",
    "etc/conf.d",
    "etc/rc.conf.d",
    "usr/local/etc/init.d",
];
const TARGETS: [&str; 8] = [
    "/etc/init.d/a",
    "../init.d/b",
    "/etc/runlevels/boot",
    "/",
    "../../../../../../etc/passwd",
    "loop",
    "/etc/init.d/web",
    "",
];
const TEXTS: [&str; 5] = [
    "#!/sbin/openrc-run\ncommand=/bin/sleep\n",
    "#!/sbin/openrc-run\r\n",
    "#!/bin/sh\n",
    "",
    "\u{0}\u{1}binary",
];

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            prop_oneof![Just(0o755u32), Just(0o644u32), Just(0o000u32)]
        )
            .prop_map(|(name, text, mode)| Entry::Script { name, text, mode }),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(at, name, target)| Entry::Link {
            at,
            name,
            target
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(level, into)| Entry::Stack { level, into }),
        (any::<u8>(), any::<u8>(), ".{0,40}").prop_map(|(at, name, text)| Entry::Text {
            at,
            name,
            text
        }),
    ]
}

fn pick<T: Copy>(v: &[T], i: u8) -> T {
    v[i as usize % v.len()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..cases() })]

    #[test]
    fn discovery_of_any_tree_answers(entries in proptest::collection::vec(entry(), 0..16)) {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = std::env::temp_dir().join(format!("rcinit-fuzz-discovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in DIRS {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for e in &entries {
            let _ = match e {
                Entry::Script { name, text, mode } => {
                    let p = dir.join("etc/init.d").join(pick(&NAMES, *name));
                    std::fs::write(&p, pick(&TEXTS, *text)).and_then(|_| {
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
                    })
                }
                Entry::Link { at, name, target } => symlink(
                    pick(&TARGETS, *target),
                    dir.join(pick(&DIRS, *at)).join(pick(&NAMES, *name)),
                ),
                Entry::Stack { level, into } => symlink(
                    format!("/etc/runlevels/{}", pick(&NAMES, *into)),
                    dir.join("etc/runlevels").join(pick(&NAMES, *level)).join(pick(&NAMES, *into)),
                ),
                Entry::Text { at, name, text } => {
                    std::fs::write(dir.join(pick(&DIRS, *at)).join(pick(&NAMES, *name)), text)
                }
            };
        }
        std::fs::write(dir.join("etc/rc.conf"), "rc_parallel=NO\nunicode=\"YES").unwrap();
        let scripts = rcinit::script::discover::scripts(&dir);
        for s in &scripts {
            prop_assert!(!rcinit::script::discover::ignored_name(&s.name), "{}", s.name);
        }
        for level in ["default", "boot", "a", "nonexistent"] {
            if let Ok(stack) = rcinit::script::discover::runlevel_stack(&dir, level) {
                prop_assert_eq!(stack.last().map(|(l, _)| l.as_str()), Some(level));
            }
        }
        let _ = rcinit::script::rcconf::load(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
