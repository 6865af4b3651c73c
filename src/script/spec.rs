//! What one script evaluated to (pure): dependency lists, variables, functions, argv, errors.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::Record;

/// The dependency lists of one service, per kind, in recorded order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deps {
    pub need: Vec<String>,
    #[serde(rename = "use")]
    pub use_: Vec<String>,
    pub want: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    pub provide: Vec<String>,
    pub keyword: Vec<String>,
    pub config: Vec<String>,
    /// 0.64: variables the started service hands to the services that start after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reexport: Vec<String>,
}

impl Deps {
    fn list(&mut self, verb: &str) -> Option<&mut Vec<String>> {
        Some(match verb {
            "need" => &mut self.need,
            "use" => &mut self.use_,
            "want" => &mut self.want,
            "after" => &mut self.after,
            "before" => &mut self.before,
            "provide" => &mut self.provide,
            "keyword" => &mut self.keyword,
            "config" => &mut self.config,
            "reexport" => &mut self.reexport,
            _ => return None,
        })
    }
}

/// The system types `-containers` stands for on Linux (E-34, 0.6x list).
pub const CONTAINERS: &[&str] = &[
    "docker",
    "podman",
    "lxc",
    "openvz",
    "rkt",
    "systemd-nspawn",
    "uml",
    "vserver",
    "wsl",
];

/// Adds one depend() record. `raw` gets D-01 (no self, no `.sh` targets) and D-03 (`!X` removes X
/// of the same kind); `deps` also gets D-02 (a later `before X` takes X out of `after`, and a later
/// need/use/want/after X takes X out of `before`).
pub fn add_dep(name: &str, raw: &mut Deps, deps: &mut Deps, verb: &str, words: &str) {
    let target_kind = !matches!(verb, "keyword" | "config" | "reexport");
    for word in words.split_whitespace() {
        let expanded: Vec<String> = match (verb, word) {
            ("keyword", "-containers") => CONTAINERS.iter().map(|c| format!("-{c}")).collect(),
            ("keyword", "!-containers") => CONTAINERS.iter().map(|c| format!("!-{c}")).collect(),
            _ => vec![word.to_owned()],
        };
        for w in expanded {
            if let Some(x) = w.strip_prefix('!') {
                for d in [&mut *raw, &mut *deps] {
                    if let Some(l) = d.list(verb) {
                        l.retain(|e| e != x);
                    }
                }
                continue;
            }
            if target_kind && (w == name || w.ends_with(".sh")) {
                continue;
            }
            for d in [&mut *raw, &mut *deps] {
                if let Some(l) = d.list(verb)
                    && !l.contains(&w)
                {
                    l.push(w.clone());
                }
            }
            match verb {
                "before" => deps.after.retain(|e| *e != w),
                "after" | "need" | "want" | "use" => deps.before.retain(|e| *e != w),
                _ => {}
            }
        }
    }
}

/// One service as evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    /// Script path inside the root.
    pub path: String,
    /// What inspect shows: the generator's lists with D-01 and D-03 applied.
    pub raw: Deps,
    /// What the graph uses: `raw` with D-02 applied too.
    pub deps: Deps,
    /// Run-time variables that are set.
    pub vars: BTreeMap<String, String>,
    /// Functions the script (or its configuration) defines.
    pub functions: Vec<String>,
    /// The daemon's argv if start_pre changes nothing.
    pub argv: Vec<String>,
    /// What the script exports (`export -p` after loading it), for the daemon's environment.
    /// Without openrc-run's per-service names (RC_SVCNAME, SVCNAME, RC_SERVICE, RC_CMD), which
    /// no daemon gets (V-19): the lists are then the same for most services, and shared.
    pub exported: Exported,
    /// Why the script cannot be used, if it cannot.
    pub error: Option<String>,
    /// What the script printed while being evaluated.
    pub messages: Vec<String>,
    /// The run-time pass ran (vars, functions, argv and exported are its results).
    pub run_pass: bool,
}

/// An exported environment, shared between the services whose lists are the same.
pub type Exported = std::sync::Arc<[(String, String)]>;

/// Distinct lists kept for sharing; past this many, lists are not shared (bounded).
const SHARED_EXPORTS: usize = 256;

thread_local! {
    static EXPORTS: std::cell::RefCell<std::collections::HashMap<Vec<(String, String)>, Exported>> =
        Default::default();
}

/// `export -p`'s text as a list without the per-service names, shared with every equal one.
pub fn shared_exports(text: &str) -> Exported {
    let mut list = super::env::parse_assignments(text);
    list.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "RC_SVCNAME" | "SVCNAME" | "RC_SERVICE" | "RC_CMD"
        )
    });
    EXPORTS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(e) = m.get(&list) {
            return std::sync::Arc::clone(e);
        }
        let e: Exported = list.clone().into();
        if m.len() < SHARED_EXPORTS {
            m.insert(list, std::sync::Arc::clone(&e));
        }
        e
    })
}

/// Collects one pass's records and stderr for a service.
#[derive(Debug, Default)]
pub struct PassLog {
    pub records: Vec<Record>,
    /// What `export -p` said, parsed and shared (see [`shared_exports`]).
    pub exported: Option<Exported>,
    /// Records past [`MAX_RECORDS`], dropped.
    pub records_dropped: u64,
    pub stderr: Tail,
    pub timed_out: Option<u64>,
}

/// Records one pass may leave (a script calling `need` in a loop must not grow PID 1).
pub const MAX_RECORDS: usize = 20_000;

impl PassLog {
    /// Keeps what [`build`] reads, compactly: a `type` answer only for a function, the
    /// exported environment parsed and shared. Thousands of scripts are evaluated at once.
    pub fn record(&mut self, r: Record) {
        let r = match r {
            Record::Type { name, output } if !is_function(&name, &output) => return,
            Record::Exported(text) => {
                self.exported = Some(shared_exports(&text));
                return;
            }
            r => r,
        };
        if self.records.len() < MAX_RECORDS {
            self.records.push(r);
        } else {
            self.records_dropped = self.records_dropped.saturating_add(1);
        }
    }
}

/// The end of what a script printed: the last [`Tail::KEEP`] bytes or so, and how much went
/// before them. A script writing without end costs PID 1 this much, not what it wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tail {
    text: String,
    dropped: u64,
}

impl Tail {
    pub const KEEP: usize = 4096;

    pub fn push_str(&mut self, s: &str) {
        let s = if s.len() > Self::KEEP {
            let cut = floor_char(s, s.len() - Self::KEEP);
            self.dropped = self.dropped.saturating_add(cut as u64);
            &s[cut..]
        } else {
            s
        };
        self.text.push_str(s);
        if self.text.len() > 2 * Self::KEEP {
            let cut = floor_char(&self.text, self.text.len() - Self::KEEP);
            self.dropped = self.dropped.saturating_add(cut as u64);
            self.text.drain(..cut);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The char boundary at or after `i` (so a cut never splits a character).
fn floor_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

impl std::ops::Deref for Tail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl From<&str> for Tail {
    fn from(s: &str) -> Self {
        let mut t = Tail::default();
        t.push_str(s);
        t
    }
}

/// Builds a [`Spec`] from the two passes (pure).
pub fn build(name: &str, path: &str, dep: &PassLog, run: Option<&PassLog>) -> Spec {
    let mut spec = Spec {
        name: name.to_owned(),
        path: path.to_owned(),
        ..Spec::default()
    };
    let mut messages: Vec<String> = pass_messages(dep);
    let mut sourced = None;
    for r in &dep.records {
        match r {
            Record::Dep { verb, words } => {
                add_dep(name, &mut spec.raw, &mut spec.deps, verb, words)
            }
            Record::Sourced(s) => sourced = Some(*s),
            _ => {}
        }
    }
    spec.error = dep_error(path, dep, sourced);
    if let Some(run) = run {
        spec.run_pass = true;
        messages.extend(pass_messages(run));
        if let Some(e) = &run.exported {
            spec.exported = std::sync::Arc::clone(e);
        }
        let (run_status, failed_file) = read_run_records(&mut spec, run);
        if spec.error.is_none() {
            spec.error = run_error(name, path, run, run_status, failed_file);
        }
    }
    spec.messages = messages;
    spec
}

/// What a pass printed, for the spec's messages: what was dropped of it said first.
fn pass_messages(log: &PassLog) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    if log.stderr.dropped() > 0 {
        messages.push(format!(
            "({} earlier bytes of output dropped; the last {} kept)",
            log.stderr.dropped(),
            log.stderr.len()
        ));
    }
    for l in log
        .stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
    {
        messages.push(l.to_owned());
    }
    if log.records_dropped > 0 {
        messages.push(format!(
            "{} records past the first {MAX_RECORDS} dropped",
            log.records_dropped
        ));
    }
    messages
}

/// Why the dependency pass makes the script unusable, if it does (`sourced`: the status of its
/// last top-level command, when it got that far).
fn dep_error(path: &str, dep: &PassLog, sourced: Option<i32>) -> Option<String> {
    match (dep.timed_out, sourced) {
        (Some(ms), _) => Some(format!(
            "{path}: evaluating it took longer than {ms} ms (a hung depend()?); killed"
        )),
        // Loaded. Without an end record, `exit` ran inside depend(): OpenRC keeps what was
        // recorded before it.
        (None, Some(0)) => None,
        (None, Some(s)) => Some(format!(
            "error loading {path}: its last top-level command returned {s}{}",
            tail(&dep.stderr)
        )),
        (None, None) => Some(format!("error loading {path}{}", tail(&dep.stderr))),
    }
}

/// Takes the run-time pass's variables, functions and argv into `spec`; returns the pass's
/// end status and the file that failed to load, if they were recorded.
fn read_run_records(spec: &mut Spec, run: &PassLog) -> (Option<i32>, Option<String>) {
    let mut run_status = None;
    let mut failed_file = None;
    for r in &run.records {
        match r {
            Record::Var { name, value } if name == "_rcinit_failed_file" => {
                failed_file = Some(value.clone())
            }
            Record::Var { name, .. } if name.starts_with("_rcinit") => {}
            Record::Var { name, value } => {
                spec.vars.insert(name.clone(), value.clone());
            }
            Record::Type { name, output }
                if is_function(name, output) && !spec.functions.contains(name) =>
            {
                spec.functions.push(name.clone());
            }
            Record::Argv(a) => spec.argv = a.clone(),
            Record::End { status, .. } => run_status = Some(*status),
            _ => {}
        }
    }
    (run_status, failed_file)
}

/// Why the run-time pass makes the script unusable, if it does.
fn run_error(
    name: &str,
    path: &str,
    run: &PassLog,
    run_status: Option<i32>,
    failed_file: Option<String>,
) -> Option<String> {
    match (run.timed_out, run_status, failed_file) {
        (Some(ms), _, _) => Some(format!(
            "{path}: loading it took longer than {ms} ms; killed"
        )),
        (None, Some(0), _) => None,
        (None, _, Some(f)) => Some(format!(
            "error loading {f} (for {name}){}",
            tail(&run.stderr)
        )),
        (None, _, None) => Some(format!("error loading {path}{}", tail(&run.stderr))),
    }
}

/// What `type NAME` says of a shell function: dash "NAME is a shell function", busybox ash
/// "NAME is a function", bash the same followed by the function's body.
fn is_function(name: &str, type_output: &str) -> bool {
    let t = type_output.lines().next().unwrap_or("").trim();
    t.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(" is a"))
        .is_some_and(|rest| rest.trim_end().ends_with("function"))
}

/// The last lines of a script's stderr, as context for an error.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(3);
    format!(": {}", lines[from..].join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps_of(name: &str, recs: &[(&str, &str)]) -> (Deps, Deps) {
        let (mut raw, mut deps) = (Deps::default(), Deps::default());
        for (v, w) in recs {
            add_dep(name, &mut raw, &mut deps, v, w);
        }
        (raw, deps)
    }

    #[test]
    fn output_keeps_a_bounded_tail_and_counts_the_rest() {
        let mut t = Tail::default();
        for _ in 0..10_000 {
            t.push_str("0123456789abcdef\n");
        }
        assert!(t.len() <= 2 * Tail::KEEP);
        assert_eq!(t.dropped() as usize + t.len(), 170_000);
        assert!(t.ends_with("abcdef\n"));
        let mut big = Tail::default();
        big.push_str(&"é".repeat(1 << 20));
        assert!(big.len() <= Tail::KEEP + 1);
        assert_eq!(big.dropped() as usize + big.len(), 2 << 20);
        let mut log = PassLog::default();
        for _ in 0..MAX_RECORDS + 5 {
            log.record(Record::Sourced(0));
        }
        assert_eq!((log.records.len(), log.records_dropped), (MAX_RECORDS, 5));
    }

    #[test]
    fn self_and_sh_targets_are_dropped_d01() {
        let (raw, _) = deps_of(
            "a",
            &[("need", "a b c.sh"), ("after", "a *"), ("provide", "a x")],
        );
        assert_eq!(raw.need, ["b"]);
        assert_eq!(raw.after, ["*"]);
        assert_eq!(raw.provide, ["x"]);
    }

    #[test]
    fn bang_removes_earlier_entries_of_the_same_kind_d03() {
        let (raw, _) = deps_of(
            "a",
            &[("provide", "net dns"), ("need", "net"), ("provide", "!net")],
        );
        assert_eq!(raw.provide, ["dns"]);
        assert_eq!(raw.need, ["net"]);
    }

    #[test]
    fn later_statement_wins_between_before_and_after_d02() {
        // `after foo; before *`: foo becomes a before.
        let (raw, deps) = deps_of("a", &[("after", "foo"), ("before", "foo bar")]);
        assert_eq!(raw.after, ["foo"], "inspect keeps the generator's lists");
        assert!(deps.after.is_empty());
        assert_eq!(deps.before, ["foo", "bar"]);
        // `before *; after foo`: foo stays an after.
        let (_, deps) = deps_of("a", &[("before", "foo"), ("after", "foo")]);
        assert_eq!(deps.after, ["foo"]);
        assert!(deps.before.is_empty());
    }

    #[test]
    fn containers_keyword_expands_e34() {
        let (raw, _) = deps_of("a", &[("keyword", "-containers -stop")]);
        assert_eq!(raw.keyword.len(), CONTAINERS.len() + 1);
        assert!(raw.keyword.contains(&"-docker".to_owned()));
        assert!(raw.keyword.contains(&"-wsl".to_owned()));
        let (raw, _) = deps_of("a", &[("keyword", "-containers"), ("keyword", "!-docker")]);
        assert!(!raw.keyword.contains(&"-docker".to_owned()));
        assert!(raw.keyword.contains(&"-lxc".to_owned()));
    }

    #[test]
    fn function_detection_is_exact() {
        assert!(is_function("start", "start is a shell function"));
        assert!(is_function("start", "start is a function\n"));
        assert!(is_function(
            "start",
            "start is a function\nstart () \n{ \n    :\n}\n"
        ));
        assert!(!is_function("testfunction", "testfunction: not found"));
        assert!(!is_function("start", "start is /usr/bin/start"));
    }

    #[test]
    fn duplicates_are_kept_once() {
        let (raw, _) = deps_of("a", &[("need", "b b"), ("need", "b c")]);
        assert_eq!(raw.need, ["b", "c"]);
    }

    #[test]
    fn a_script_that_fails_to_load_says_why() {
        let dep = PassLog {
            records: vec![
                Record::Sourced(1),
                Record::End {
                    pass: "dep".into(),
                    status: 1,
                },
            ],
            stderr: "sh: 3: /etc/init.d/x: Syntax error: end of file unexpected\n".into(),
            ..PassLog::default()
        };
        let s = build("x", "/etc/init.d/x", &dep, None);
        let e = s.error.unwrap();
        assert!(e.contains("error loading /etc/init.d/x"), "{e}");
        assert!(e.contains("Syntax error"), "{e}");
        let hung = PassLog {
            timed_out: Some(5000),
            ..PassLog::default()
        };
        assert!(
            build("x", "/p", &hung, None)
                .error
                .unwrap()
                .contains("longer than 5000 ms")
        );
    }
}
