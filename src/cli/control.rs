//! The commands that talk to a running rcinit: status, check, start, stop, restart, shutdown,
//! a script's own commands; and the applets that speak OpenRC's and sysvinit's command lines.

use std::io::Write;

use anyhow::Result;

use crate::control::report::{self, Report};
use crate::control::{Reply, Request, client};
use crate::state::State;
use crate::supervisor::helper_call::REAL_HELPERS;

fn print_messages(r: &Reply, out: &mut dyn Write) -> Result<()> {
    for m in &r.messages {
        if r.code == 0 {
            writeln!(out, " * {m}")?;
        } else {
            eprintln!("rcinit: {m}");
        }
    }
    Ok(())
}

/// `rcinit status [SVC...] [--json]`.
pub fn status(services: &[String], json: bool, out: &mut dyn Write) -> Result<i32> {
    let r = client::call(
        &Request::Status {
            services: services.to_vec(),
        },
        false,
    )?;
    for m in &r.messages {
        eprintln!("rcinit: {m}");
    }
    if let Some(rep) = &r.status {
        if json {
            serde_json::to_writer_pretty(&mut *out, rep)?;
            writeln!(out)?;
        } else {
            out.write_all(report::table(rep).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(r.code)
}

/// `rcinit check [--alive]`: 0 when ready (alive), else 1 with the reasons on stdout.
pub fn check(alive: bool, out: &mut dyn Write) -> Result<i32> {
    let r = client::call(&Request::Check { alive }, false)?;
    for m in &r.messages {
        writeln!(out, "{m}")?;
    }
    Ok(r.code)
}

/// start, stop or restart.
pub fn op(req: Request, out: &mut dyn Write) -> Result<i32> {
    let r = client::call(&req, false)?;
    print_messages(&r, out)?;
    Ok(r.code)
}

pub fn shutdown() -> Result<i32> {
    let r = client::call(&Request::Shutdown, false)?;
    print_messages(&r, &mut std::io::stdout())?;
    Ok(r.code)
}

fn one_status(service: &str) -> Result<Option<crate::control::report::Service>> {
    let r = client::call(
        &Request::Status {
            services: vec![service.to_owned()],
        },
        false,
    )?;
    Ok(r.status.and_then(|s| s.services.into_iter().next()))
}

/// `rc-service SVC CMD...`, `/etc/init.d/SVC CMD...`, `rcinit SVC CMD...`: each command in
/// order (L-02); start, stop, restart and status are rcinit's, the rest the script's.
pub fn service(service: &str, commands: &[String], out: &mut dyn Write) -> Result<i32> {
    if commands.is_empty() {
        eprintln!(
            "rcinit: {service}: name a command (start, stop, restart, status, or the script's own)"
        );
        return Ok(1);
    }
    let mut last = 0;
    for c in commands {
        let services = vec![service.to_owned()];
        let code = match c.as_str() {
            "start" => op(Request::Start { services }, out)?,
            "stop" => op(Request::Stop { services }, out)?,
            "restart" => op(Request::Restart { services }, out)?,
            "status" => status_word(service, out)?,
            // Nothing to forget: rcinit's state is its own processes.
            "zap" => 0,
            _ => {
                let r = client::call(
                    &Request::Run {
                        service: service.to_owned(),
                        command: c.clone(),
                    },
                    true,
                )?;
                print_messages(&r, out)?;
                r.code
            }
        };
        // T-22: a failed start, stop or restart is 1 whatever the reason; refused is 4.
        if code != 0 && matches!(c.as_str(), "start" | "stop" | "restart") {
            return Ok(if code == 4 { 4 } else { 1 });
        }
        if code != 0 {
            last = code;
        }
    }
    Ok(last)
}

/// openrc-run's `status`: its words and exit codes (0 started, 3 stopped, 4 stopping,
/// 8 starting, 32 crashed).
fn status_word(service: &str, out: &mut dyn Write) -> Result<i32> {
    let Some(s) = one_status(service)? else {
        eprintln!("rcinit: service `{service}' does not exist");
        return Ok(1);
    };
    let (word, code) = match s.state {
        State::Started => ("started", 0),
        State::Stopping => ("stopping", 4),
        State::Starting => ("starting", 8),
        State::Inactive => ("inactive", 16),
        State::Crashed => ("crashed", 32),
        State::Failed => ("failed", 3),
        State::Stopped => ("stopped", 3),
    };
    writeln!(out, " * status: {word}")?;
    Ok(code)
}

/// rc-status's status words (C-03), for the services rcinit knows.
fn rc_word(s: &crate::control::report::Service) -> String {
    match s.state {
        State::Started if s.since > 0 || s.pid.is_some() => {
            let t = s.since;
            let (d, h, m, sec) = (t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
            match d {
                0 => format!(" started {h:02}:{m:02}:{sec:02} ({})", s.restarts),
                1 => format!(" started 1 day {h:02}:{m:02}:{sec:02} ({})", s.restarts),
                _ => format!(" started {d} days {h:02}:{m:02}:{sec:02} ({})", s.restarts),
            }
        }
        State::Started => " started ".into(),
        State::Crashed => " crashed ".into(),
        State::Starting => "starting ".into(),
        State::Stopping => "stopping ".into(),
        State::Inactive => "inactive ".into(),
        State::Failed => "failed".into(),
        State::Stopped => " stopped ".into(),
    }
}

/// One rc-status line without colour (C-04).
pub fn rc_line(name: &str, word: &str, width: usize) -> String {
    let mut l = format!(" {name}");
    let col = width.saturating_sub(word.len() + 5);
    while l.len() < col {
        l.push(' ');
    }
    l.push_str(&format!(" [ {word} ]"));
    l
}

/// `rc-status [-a|-s] [-r] [-c] [-f ini] [RUNLEVEL]`, from rcinit's status.
pub fn rc_status(args: &[String], out: &mut dyn Write) -> Result<i32> {
    let has = |f: &str| args.iter().any(|a| a == f);
    let r = client::call(&Request::Status { services: vec![] }, false)?;
    let rep: Report = r.status.unwrap_or(Report {
        runlevel: String::new(),
        services: vec![],
    });
    if has("-r") || has("--runlevel") {
        writeln!(out, "{}", rep.runlevel)?;
        return Ok(0);
    }
    if has("-c") || has("--crashed") {
        let crashed: Vec<_> = rep
            .services
            .iter()
            .filter(|s| s.state == State::Crashed)
            .collect();
        for s in &crashed {
            writeln!(out, "{}", s.name)?;
        }
        return Ok(if crashed.is_empty() { 1 } else { 0 });
    }
    let ini = args.windows(2).any(|w| w[0] == "-f" && w[1] == "ini");
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80usize);
    let (planned, manual): (Vec<_>, Vec<_>) = rep.services.iter().partition(|s| s.in_runlevel);
    let mut section = |title: &str, ini_title: &str, list: &[&report::Service]| -> Result<()> {
        if ini {
            writeln!(out, "[{ini_title}]")?;
        } else {
            writeln!(out, "{title}")?;
        }
        for s in list {
            let w = rc_word(s);
            if ini {
                writeln!(out, "{} = {w}", s.name)?;
            } else {
                writeln!(out, "{}", rc_line(&s.name, &w, width))?;
            }
        }
        Ok(())
    };
    section(
        &format!("Runlevel: {}", rep.runlevel),
        &rep.runlevel,
        &planned,
    )?;
    if !manual.is_empty() {
        section("Dynamic Runlevel: manual", "Dynamic manual", &manual)?;
    }
    out.flush()?;
    Ok(0)
}

/// `rc-service [-e|-r|-l|-i|-s|-S|-c|-N|-D] SVC CMD...` (C-10).
pub fn rc_service(args: &[String], out: &mut dyn Write) -> Result<i32> {
    let mut i = 0;
    let mut ifexists = false;
    let mut cond: Option<&str> = None;
    while i < args.len() && args[i].starts_with('-') {
        let a = args[i].as_str();
        match a {
            "-l" | "--list" => {
                for n in crate::script::discover::service_names() {
                    writeln!(out, "{n}")?;
                }
                return Ok(0);
            }
            "-e" | "--exists" | "-r" | "--resolve" => {
                let Some(n) = args.get(i + 1) else {
                    eprintln!("rc-service: {a} needs a service");
                    return Ok(1);
                };
                let path = crate::script::discover::resolve(n);
                if let (Some(p), true) = (&path, a.starts_with("-r") || a == "--resolve") {
                    writeln!(out, "{p}")?;
                }
                return Ok(if path.is_some() { 0 } else { 1 });
            }
            "-i" | "--ifexists" => ifexists = true,
            "-s" | "--ifstarted" | "-S" | "--ifstopped" | "-c" | "--ifcrashed" | "-N"
            | "--ifnotstarted" | "-I" | "--ifinactive" => cond = Some(a),
            "-D" | "--nodeps" | "-d" | "--debug" | "-q" | "--quiet" | "-v" | "--verbose" | "-C"
            | "--nocolor" => {}
            _ => {
                eprintln!("rc-service: unknown option {a}");
                return Ok(1);
            }
        }
        i += 1;
    }
    let Some(svc) = args.get(i) else {
        eprintln!("usage: rc-service [options] SERVICE COMMAND...");
        return Ok(1);
    };
    if crate::script::discover::resolve(svc).is_none() {
        if ifexists {
            return Ok(0);
        }
        eprintln!(" * rc-service: service `{svc}' does not exist");
        return Ok(1);
    }
    if let Some(c) = cond {
        let st = one_status(svc)?.map(|s| s.state);
        let holds = match c {
            "-s" | "--ifstarted" => st == Some(State::Started),
            "-S" | "--ifstopped" => matches!(st, None | Some(State::Stopped | State::Failed)),
            "-c" | "--ifcrashed" => st == Some(State::Crashed),
            "-I" | "--ifinactive" => st == Some(State::Inactive),
            _ => st != Some(State::Started),
        };
        if !holds {
            return Ok(0);
        }
    }
    service(svc, &args[i + 1..], out)
}

/// `halt`, `poweroff`, `reboot`, `shutdown`, `telinit 0|6`: the container ends cleanly.
pub fn power(name: &str, args: &[String]) -> Result<i32> {
    if matches!(name, "telinit" | "init") {
        match args.first().map(String::as_str) {
            Some("0" | "6") => {}
            Some(l) => {
                eprintln!("{name}: runlevel {l}: rcinit only ends the container (0 or 6)");
                return Ok(1);
            }
            None => {
                eprintln!("usage: {name} 0|6");
                return Ok(1);
            }
        }
    }
    shutdown()
}

/// Runs the image's own helper (the call is not a service's, or rcinit is not running).
fn real_helper(name: &str, argv: &[String]) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let covered = std::path::Path::new(REAL_HELPERS).join(name);
    let me = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    // The image's own: kept aside when rcinit covered it, else the first of that name on the
    // usual directories that is not rcinit (a link on openrc-run's PATH).
    let real = std::iter::once(covered.clone())
        .filter(|p| p.metadata().is_ok_and(|m| m.len() > 0))
        .chain(
            ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(name))
                .filter(|p| p.exists() && std::fs::canonicalize(p).ok() != me),
        )
        .next();
    if let Some(real) = real {
        let e = std::process::Command::new(&real)
            .arg0(&argv[0])
            .args(&argv[1..])
            .exec();
        anyhow::bail!("{}: {e}", real.display());
    }
    eprintln!("{name} (rcinit): which service? (RC_SVCNAME is not set)");
    Ok(1)
}

/// start-stop-daemon and supervise-daemon run by OpenRC's own openrc-run (rc-service from a
/// shell, in an image with OpenRC): the call reaches PID 1, which runs it in the service's task.
pub fn outside_helper(argv: &[String]) -> Result<i32> {
    let name = argv[0].rsplit('/').next().unwrap_or_default();
    if std::env::var_os("RC_SVCNAME").is_none() {
        return real_helper(name, argv);
    }
    // supervise-daemon's first word is the service, and must be RC_SVCNAME (as the real one
    // checks); start-stop-daemon's service is RC_SVCNAME.
    let svcname = std::env::var("RC_SVCNAME").ok();
    let service = match name {
        "supervise-daemon" => argv
            .get(1)
            .filter(|a| Some(*a) == svcname.as_ref())
            .cloned(),
        _ => svcname,
    };
    let Some(service) = service else {
        return real_helper(name, argv);
    };
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let r = match client::call(
        &Request::Helper {
            service,
            argv: argv.to_vec(),
            env,
        },
        false,
    ) {
        Err(e) if e.downcast_ref::<client::NotRunning>().is_some() => {
            return real_helper(name, argv);
        }
        r => r?,
    };
    if r.code == crate::control::server::NOT_OURS {
        return real_helper(name, argv);
    }
    for m in &r.messages {
        eprintln!("{name} (rcinit): {m}");
    }
    Ok(r.code)
}

/// The applets `install-applets` links: OpenRC's and sysvinit's everyday commands.
pub const APPLETS: &[&str] = &[
    "rc-status",
    "rc-service",
    "openrc-run",
    "halt",
    "poweroff",
    "reboot",
    "shutdown",
    "telinit",
];

/// Links the applets to this binary in `dir`, never over an existing file.
pub fn install_applets(dir: &std::path::Path, out: &mut dyn Write) -> Result<i32> {
    let exe = std::env::current_exe()?;
    let mut code = 0;
    for a in APPLETS {
        let link = dir.join(a);
        if link.symlink_metadata().is_ok() {
            writeln!(out, "{}: exists; left alone", link.display())?;
            continue;
        }
        match std::os::unix::fs::symlink(&exe, &link) {
            Ok(()) => writeln!(out, "{} -> {}", link.display(), exe.display())?,
            Err(e) => {
                eprintln!("rcinit: {}: {e}", link.display());
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_status_lines_are_as_wide_as_the_terminal() {
        let l = rc_line("webapp", " started ", 80);
        assert_eq!(l.len(), 80);
        assert!(l.starts_with(" webapp "));
        assert!(l.ends_with(" [  started  ]"));
    }
}
