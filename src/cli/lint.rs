//! `rcinit lint`: for a `RUN rcinit lint` step: errors fail the build, warnings explain what will
//! not work in a container. Each finding names the file, the line where known, and the fix.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::image::ImageArgs;
use super::inspect::header;
use crate::script::discover::{Skip, resolve_in_root};
use crate::script::load::Loaded;
use crate::script::spec::Spec;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub error: bool,
    pub file: String,
    pub line: Option<usize>,
    pub what: String,
    pub fix: String,
}

/// Services that set up hardware or the host's network: nothing for them to do in a container.
const HOST_ONLY: &[&str] = &[
    "hwdrivers",
    "machine-id",
    "modules",
    "modules-load",
    "udev",
    "udev-trigger",
    "udev-settle",
    "devfs",
    "dmesg",
    "hwclock",
    "swap",
    "fsck",
    "root",
    "mtab",
    "kmod-static-nodes",
    "sysfs",
    "procfs",
    "networking",
    "net.lo",
    "consolefont",
    "keymaps",
];

pub fn run(image: &ImageArgs, out: &mut impl Write) -> Result<i32> {
    let l = image.load(true)?;
    let findings = check(&l, &image.root);
    header(&l, out)?;
    let errors = findings.iter().filter(|f| f.error).count();
    for f in &findings {
        let at = match f.line {
            Some(n) => format!("{}:{n}", f.file),
            None => f.file.clone(),
        };
        let kind = if f.error { "error" } else { "warning" };
        writeln!(out, "{kind}: {at}: {}\n  fix: {}", f.what, f.fix)?;
    }
    writeln!(
        out,
        "{} service(s) checked: {errors} error(s), {} warning(s)",
        l.specs.len(),
        findings.len() - errors
    )?;
    Ok(if errors > 0 { 1 } else { 0 })
}

/// The 1-based line of the first line of `path` (inside `root`) that contains every needle.
fn line_of(root: &Path, path: &str, needles: &[&str]) -> Option<usize> {
    let text = std::fs::read_to_string(resolve_in_root(root, path)?).ok()?;
    text.lines()
        .position(|l| needles.iter().all(|n| l.contains(n)))
        .map(|i| i + 1)
}

/// All findings for a loaded image.
pub fn check(l: &Loaded, root: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |error: bool, file: &str, line: Option<usize>, what: String, fix: &str| {
        out.push(Finding {
            error,
            file: file.to_owned(),
            line,
            what,
            fix: fix.to_owned(),
        })
    };
    shebangs(l, root, &mut push);
    scripts(l, root, &mut push);
    need_cycles(l, root, &mut push);
    missing_needs(l, root, &mut push);
    ordering_cycles(l, &mut push);
    stop_budget(l, root, &crate::config::Settings::from_env(), &mut push);
    excluded(l, root, &mut push);
    out
}

/// A script OpenRC would skip for its first line (CRLF, or no openrc-run shebang) is an error,
/// when it looks meant as a service.
fn shebangs(
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    for f in &l.files {
        if let Some(Skip::Shebang { crlf, first_line }) = &f.skipped {
            let text = resolve_in_root(root, &f.path())
                .and_then(|p| std::fs::read(p).ok())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let meant = text.contains("depend()")
                || text.contains("openrc-run")
                || text.contains("runscript");
            if *crlf {
                push(
                    true,
                    &f.path(),
                    Some(1),
                    "CRLF line endings: OpenRC ignores this script".into(),
                    "convert it to LF line endings (dos2unix)",
                );
            } else if meant {
                push(
                    true,
                    &f.path(),
                    Some(1),
                    format!(
                        "first line {first_line:?}: OpenRC only runs scripts whose first line is #!/sbin/openrc-run"
                    ),
                    "make the first line #!/sbin/openrc-run",
                );
            }
        }
    }
}

/// A script that does not evaluate cannot be checked further; the others are, one by one.
fn scripts(
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    for s in &l.specs {
        if let Some(e) = &s.error {
            push(
                true,
                &s.path,
                None,
                format!("the script does not evaluate: {e}"),
                "run `sh -n` on it and make its last top-level command succeed",
            );
            continue;
        }
        check_service(s, l, root, push);
    }
}

/// Need cycles fail the services in them; each is reported at its script.
fn need_cycles(
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    for (name, why) in &l.graph.failed {
        let Some(s) = l
            .specs
            .iter()
            .find(|s| &s.name == name && s.error.is_none())
        else {
            continue;
        };
        if why.starts_with("need cycle") {
            push(
                true,
                &s.path,
                line_of(root, &s.path, &["need"]),
                format!("{name}: {why}"),
                "break the cycle: one of these services must not need the next (`use` or `after` orders without requiring)",
            );
        }
    }
}

/// Every script's needs, as OpenRC's generator checks them: the runlevel's fail to start
/// (errors); the others would fail when started (warnings).
fn missing_needs(
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    for (name, missing) in &l.graph.missing_needs {
        let Some(s) = l.specs.iter().find(|s| &s.name == name) else {
            continue;
        };
        let planned = l.graph.phase.contains_key(name) || l.graph.failed_in_plan.contains(name);
        for t in missing {
            let when = match planned {
                true => "",
                false => " (it is in no runlevel started here: it would fail when started)",
            };
            push(
                planned,
                &s.path,
                line_of(root, &s.path, &["need", t]),
                format!("{name} needs {t}, which does not exist{when}"),
                "install or add the missing service, or use `use`/`want` if it is optional; rc_provide=\"NAME\" in some service's conf.d if another service does the job",
            );
        }
    }
}

/// OpenRC breaks ordering cycles and starts the services anyway: an error, so it is fixed.
fn ordering_cycles(l: &Loaded, push: &mut impl FnMut(bool, &str, Option<usize>, String, &str)) {
    for c in &l.graph.cycles {
        let first = c[0].as_str();
        let path = l
            .specs
            .iter()
            .find(|s| s.name == first)
            .map(|s| s.path.clone())
            .unwrap_or_default();
        push(
            true,
            &path,
            None,
            format!(
                "ordering cycle {} (OpenRC breaks it at {} -> {} and starts both)",
                c.join(" -> "),
                c[c.len() - 2],
                c[c.len() - 1]
            ),
            "remove one of the after/before/use/want edges of the cycle",
        );
    }
}

/// Services kept out by a keyword or rc_sys: fine if intended, so only a warning.
fn excluded(
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    for (name, why) in &l.graph.excluded {
        let path = l
            .specs
            .iter()
            .find(|s| &s.name == name)
            .map(|s| s.path.clone())
            .unwrap_or_default();
        push(
            false,
            &path,
            line_of(root, &path, &["keyword"]),
            format!("{name} will not run here: {why}"),
            "fine if intended; otherwise remove the keyword, or set rc_sys in /etc/rc.conf",
        );
    }
}

/// The scripts' own stop schedules against the stop budget: what the stop would ask for, level
/// by level (the slowest of each), when some `retry` asks for more than the default 5 s.
fn stop_budget(
    l: &Loaded,
    root: &Path,
    settings: &crate::config::Settings,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    use crate::policy::budget;
    let default = budget::ask(&crate::policy::retry::default_schedule());
    let mut slowest: Vec<(&Spec, std::time::Duration)> = Vec::new();
    for level in &l.graph.stop {
        let worst = level
            .iter()
            .filter_map(|n| l.specs.iter().find(|s| &s.name == n))
            .filter_map(|s| {
                let v = |k: &str| s.vars.get(k).map(String::as_str);
                let steps = crate::policy::retry::parse(v("retry"), v("stopsig")).ok()?;
                Some((s, budget::ask(&steps)))
            })
            .filter(|(_, a)| *a > default)
            .max_by_key(|(_, a)| *a);
        slowest.extend(worst);
    }
    let total = budget::total(&slowest.iter().map(|(_, a)| vec![*a]).collect::<Vec<_>>());
    let grace = settings.services_grace;
    if total <= grace {
        return;
    }
    let list: Vec<String> = slowest
        .iter()
        .map(|(s, a)| format!("{} {}", s.name, budget::secs(*a)))
        .collect();
    let Some((first, _)) = slowest.iter().max_by_key(|(_, a)| *a) else {
        return;
    };
    let needed = budget::needed(total, true);
    let docker = (needed + settings.kill_grace).as_secs() + 1;
    push(
        false,
        &first.path,
        line_of(root, &first.path, &["retry"]),
        format!(
            "the scripts' retry asks for up to {} to stop ({}); RCINIT_SERVICES_GRACETIME is {}: those past it are killed",
            budget::secs(total),
            list.join(", "),
            budget::secs(grace)
        ),
        &format!(
            "ENV RCINIT_SERVICES_GRACETIME={} (twice what the services ask: a CMD may take up to half) and docker run --stop-timeout {docker} (compose: stop_grace_period: {docker}s); or ask for less in retry",
            needed.as_millis()
        ),
    );
}

/// Every check of one script that evaluated.
fn check_service(
    s: &Spec,
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    let custom_start = s.functions.iter().any(|f| f == "start");
    if let Some(cmd) = var(s, "command").filter(|_| !custom_start) {
        command_exists(s, root, cmd, push);
    }
    if let Some(user) = var(s, "command_user") {
        command_user_exists(s, root, user, push);
    }
    host_only(s, l, root, push);
    followable(s, custom_start, push);
    healthcheck_listed(s, root, push);
}

/// A variable of the script, an empty value counting as unset.
fn var<'a>(s: &'a Spec, k: &str) -> Option<&'a str> {
    s.vars.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// A missing program would only show when the service starts; the build is the time to know.
fn command_exists(
    s: &Spec,
    root: &Path,
    cmd: &str,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    let chroot = var(s, "chroot").unwrap_or("");
    match find_command(root, chroot, cmd) {
        Ok(()) => {}
        Err(why) => push(
            true,
            &s.path,
            line_of(root, &s.path, &["command="]),
            format!("command {cmd}: {why}"),
            "install the program or correct `command`",
        ),
    }
}

/// The user and group must exist in the image, not on the machine that builds it.
fn command_user_exists(
    s: &Spec,
    root: &Path,
    user: &str,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    let (u, g) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    if !known(root, "/etc/passwd", u) {
        push(
            true,
            &s.path,
            line_of(root, &s.path, &["command_user"]),
            format!("command_user {user}: no user {u} in /etc/passwd"),
            "create the user in the image (adduser) or correct command_user",
        );
    }
    if let Some(g) = g.filter(|g| !known(root, "/etc/group", g)) {
        push(
            true,
            &s.path,
            line_of(root, &s.path, &["command_user"]),
            format!("command_user {user}: no group {g} in /etc/group"),
            "create the group in the image (addgroup) or correct command_user",
        );
    }
}

/// Hardware and host network services have nothing to do in a container.
fn host_only(
    s: &Spec,
    l: &Loaded,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    let in_plan = l.graph.start.iter().flatten().any(|x| *x == s.name);
    let host_dep = s
        .deps
        .need
        .iter()
        .chain(&s.deps.use_)
        .chain(&s.deps.want)
        .find(|d| HOST_ONLY.contains(&d.as_str()));
    if in_plan && HOST_ONLY.contains(&s.name.as_str()) {
        push(
            false,
            &s.path,
            None,
            format!(
                "{} sets up hardware or the host's network, which the container runtime owns",
                s.name
            ),
            "remove it from the runlevel, or add `keyword -docker -podman` (or -containers)",
        );
    } else if let Some(d) = host_dep {
        push(
            false,
            &s.path,
            line_of(root, &s.path, &[d.as_str()]),
            format!(
                "{} depends on {d}, which sets up hardware or the host's network",
                s.name
            ),
            "drop the dependency in containers (rc_need/rc_use in conf.d), or keyword {d} out",
        );
    }
}

/// A start-stop-daemon service needs a pidfile or command_background to be followed at all.
fn followable(
    s: &Spec,
    custom_start: bool,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    let sd = var(s, "supervisor") == Some("supervise-daemon");
    let background = var(s, "command_background").is_some_and(crate::words::yes);
    if !sd
        && !custom_start
        && var(s, "command").is_some()
        && !background
        && var(s, "pidfile").is_none()
    {
        push(
            false,
            &s.path,
            None,
            format!(
                "{}: a start-stop-daemon service without pidfile or command_background: a daemon that forks cannot be followed, one that does not fork blocks the start",
                s.name
            ),
            "set supervisor=supervise-daemon (foreground daemon), or pidfile= (forking daemon)",
        );
    }
}

/// Replacing extra_commands drops healthcheck, and OpenRC then kills the daemon at every check.
fn healthcheck_listed(
    s: &Spec,
    root: &Path,
    push: &mut impl FnMut(bool, &str, Option<usize>, String, &str),
) {
    if var(s, "healthcheck_timer").is_some()
        && !var(s, "extra_commands")
            .is_some_and(|e| e.split_whitespace().any(|w| w == "healthcheck"))
    {
        push(
            false,
            &s.path,
            line_of(root, &s.path, &["extra_commands"]),
            format!(
                "{}: healthcheck_timer is set but extra_commands no longer lists healthcheck (OpenRC then kills the daemon at every check)",
                s.name
            ),
            "append to extra_commands (extra_commands=\"$extra_commands foo\") instead of replacing it",
        );
    }
}

/// Whether `cmd` exists and is executable inside the image (absolute, under `chroot`, or in PATH).
fn find_command(root: &Path, chroot: &str, cmd: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![format!("{chroot}{cmd}")]
    } else {
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .map(|d| format!("{chroot}{d}/{cmd}"))
        .collect()
    };
    for c in &candidates {
        if let Some(p) = resolve_in_root(root, c)
            && let Ok(m) = std::fs::metadata(&p)
        {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(());
            }
            return Err("exists but is not an executable file".into());
        }
    }
    Err("does not exist".into())
}

/// Whether a name or number is in /etc/passwd or /etc/group of the image.
fn known(root: &Path, file: &str, who: &str) -> bool {
    if who.chars().all(|c| c.is_ascii_digit()) && !who.is_empty() {
        return true;
    }
    let Some(text) = resolve_in_root(root, file).and_then(|p| std::fs::read_to_string(p).ok())
    else {
        return false;
    };
    text.lines().any(|l| l.split(':').next() == Some(who))
}
