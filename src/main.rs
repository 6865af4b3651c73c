use std::process::ExitCode;

use rcinit::cli::{self, Invocation};
use rcinit::config::Settings;
use rcinit::sweep::Role;
use rcinit::{boot, diag, panic, signals, spawn};

fn main() -> ExitCode {
    // First: a SIGTERM from `docker stop` during startup must stay pending, not be lost.
    signals::block_early();
    spawn::cloexec_inherited_fds();

    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let role = Role::detect();
    let applet = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    if cli::helper::is_helper(&applet) {
        signals::unblock_early();
        if cli::helper::inside_shim() {
            return ExitCode::from(cli::helper::run(args).clamp(0, 255) as u8);
        }
        return client_exit(cli::control::outside_helper(&args));
    }
    // OpenRC's checkpath, for the scripts rcinit runs (the shim calls `rcinit checkpath`).
    // As PID 1 rcinit always boots: a CMD named like a helper is a CMD.
    let helper_ok = role != Role::Pid1;
    if helper_ok && (applet == "checkpath" || args.get(1).map(String::as_str) == Some("checkpath"))
    {
        signals::unblock_early();
        let skip = if applet == "checkpath" { 1 } else { 2 };
        let code = cli::checkpath::run(args.get(skip..).unwrap_or_default());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // OpenRC's helper programs (mountinfo, fstabinfo, ...), as the shim calls them.
    let (name, rest) = match args.get(1) {
        Some(sub) if cli::applets::run_name(sub) => (sub.as_str(), args.get(2..)),
        _ => (applet.as_str(), args.get(1..)),
    };
    if helper_ok && cli::applets::run_name(name) {
        signals::unblock_early();
        let code = cli::applets::run(name, rest.unwrap_or_default()).unwrap_or(1);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Some(code) = applet_code(&applet, &args, role == Role::Pid1) {
        return code;
    }
    let invocation = match cli::parse(std::env::args_os().collect(), role == Role::Pid1) {
        Ok(i) => i,
        Err(e) => {
            // --help and --version land here too, with exit code 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match invocation {
        Invocation::Client(cmd) => {
            signals::unblock_early();
            client_exit(cmd.run())
        }
        Invocation::Boot { args, runlevel } => boot_exit(role, args, runlevel),
    }
}

/// rcinit called through a link named for an OpenRC or sysvinit tool (see install-applets).
fn applet_code(applet: &str, args: &[String], is_pid1: bool) -> Option<ExitCode> {
    let rest = &args[1.min(args.len())..];
    let mut out = std::io::stdout().lock();
    let result = match applet {
        "rc-status" => cli::control::rc_status(rest, &mut out),
        "rc-service" | "service" => cli::control::rc_service(rest, &mut out),
        "openrc-run" => {
            // The interpreter line: openrc-run /etc/init.d/SVC [options] CMD...
            let Some(script) = rest.first() else {
                eprintln!("usage: openrc-run SCRIPT COMMAND...");
                return Some(ExitCode::from(1));
            };
            let name = script.rsplit('/').next().unwrap_or(script).to_owned();
            let cmds: Vec<String> = rest[1..]
                .iter()
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect();
            cli::control::service(&name, &cmds, &mut out)
        }
        "halt" | "poweroff" | "reboot" | "shutdown" | "telinit" => {
            cli::control::power(applet, rest)
        }
        // `init 0` from a shell; as PID 1, init boots.
        "init" if !is_pid1 && matches!(rest, [l] if l == "0" || l == "6") => {
            cli::control::power("init", rest)
        }
        _ => return None,
    };
    signals::unblock_early();
    Some(client_exit(result))
}

fn client_exit(result: anyhow::Result<i32>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<rcinit::control::client::NotRunning>()
                .is_some() =>
        {
            eprintln!("rcinit: {e:#}");
            ExitCode::from(3)
        }
        Err(e)
            if e.downcast_ref::<rcinit::control::client::GaveUp>()
                .is_some() =>
        {
            eprintln!("rcinit: {e:#}");
            ExitCode::from(rcinit::control::GAVE_UP as u8)
        }
        Err(e) if e.downcast_ref::<rcinit::control::client::Busy>().is_some() => {
            eprintln!("rcinit: {e:#}");
            ExitCode::from(rcinit::control::BUSY as u8)
        }
        Err(e) if let Some(&cli::image::Interrupted(sig)) = e.downcast_ref() => {
            eprintln!("rcinit: {e:#}");
            ExitCode::from((128 + sig).clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("rcinit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn boot_exit(role: Role, args: cli::BootArgs, runlevel: Option<String>) -> ExitCode {
    let code = boot_code(role, args, runlevel);
    // The last messages, unless nobody reads them.
    rcinit::output::flush(std::time::Duration::from_secs(1));
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn boot_code(role: Role, args: cli::BootArgs, runlevel: Option<String>) -> i32 {
    // Before anything that takes a descriptor: said plainly, on stderr, with its own code.
    let nofile = rcinit::fdfloor::judge(rcinit::fdfloor::soft_limit());
    if let rcinit::fdfloor::Verdict::Refuse(why) = &nofile {
        eprintln!("[rcinit] error: {why}");
        return rcinit::policy::exit::EXIT_NOFILE;
    }
    diag::init(args.verbose);
    if let rcinit::fdfloor::Verdict::Degraded(why) = &nofile {
        tracing::warn!("{why}");
    }
    let settings = Settings::from_env();
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    panic::install(role, settings.kill_grace);
    if role == Role::Subreaper
        && let Err(e) = nix::sys::prctl::set_child_subreaper(true)
    {
        tracing::error!("cannot become a child subreaper: {e}; orphans will not be reaped");
    }
    let intake = match signals::Intake::install(true) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("{e:#}");
            return 70;
        }
    };
    let boot = boot::Boot {
        cmd: args.cmd,
        settings,
        role,
        runlevel,
    };
    match boot::run(boot, intake) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            70
        }
    }
}

/// `rcinit graph | head -1` ends quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
