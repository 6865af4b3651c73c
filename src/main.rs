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
    if args.first().is_some_and(|a| cli::helper::is_helper(a)) {
        signals::unblock_early();
        return ExitCode::from(cli::helper::run(args).clamp(0, 255) as u8);
    }
    let role = Role::detect();
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

fn client_exit(result: anyhow::Result<i32>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
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
    diag::init(args.verbose);
    let settings = Settings::from_env();
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    panic::install(role, settings.kill_grace);
    if role == Role::Subreaper {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::error!("cannot become a child subreaper: {e}; orphans will not be reaped");
        }
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
