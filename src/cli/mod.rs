//! The command line: one rule for booting versus running a subcommand.
//!
//! Docker appends CMD to `ENTRYPOINT ["/sbin/rcinit"]` without `--`, so:
//! - as PID 1, rcinit always boots, and every word after its own options is the CMD;
//! - not as PID 1, a first word that names a subcommand runs it; anything else boots as a subreaper
//!   with those words as the CMD;
//! - called as `init`, the one optional word is a runlevel.

use std::ffi::OsString;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub mod applets;
pub mod checkpath;
pub mod control;
pub mod graph;
pub mod helper;
pub mod image;
pub mod inspect;
pub mod lint;

use image::ImageArgs;

/// Options of a boot (as PID 1 or as a subreaper).
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct BootArgs {
    /// More of rcinit's own messages (-v debug, -vv trace); overrides RCINIT_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The CMD: run in the foreground once the services are up; its exit code is rcinit's.
    #[arg(value_name = "CMD", trailing_var_arg = true)]
    pub cmd: Vec<OsString>,
}

/// What `--version` prints: the release, the commit it was built from, the target.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("RCINIT_COMMIT"),
    ", ",
    env!("RCINIT_TARGET"),
    ")"
);

/// rcinit: the init for containers that run your OpenRC init scripts.
#[derive(Parser, Debug)]
#[command(
    name = "rcinit",
    version = VERSION,
    about,
    long_about = "rcinit is PID 1 for containers that run several services: it starts the runlevel's \
OpenRC init scripts in dependency order, supervises them, reaps every zombie, and on SIGTERM stops \
everything in reverse order and exits 0.\n\nAs PID 1 every word after rcinit's options is the CMD \
(Docker's CMD after ENTRYPOINT [\"/sbin/rcinit\"]). Run elsewhere, a first word that names a \
subcommand runs it; anything else boots rcinit as a subreaper with those words as the CMD.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub boot: BootArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Client commands (they talk to a running rcinit or read an image; they never boot).
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Show what rcinit evaluated for each init script: dependencies, variables, functions, argv.
    Inspect {
        #[command(flatten)]
        image: ImageArgs,
        /// Output JSON (an array of objects).
        #[arg(long)]
        json: bool,
        /// Services to show (default: every service script of init.d).
        #[arg(value_name = "SVC")]
        services: Vec<String>,
    },
    /// Show the resolved dependency graph and the start and stop plans.
    Graph {
        #[command(flatten)]
        image: ImageArgs,
        #[arg(long, value_enum, default_value_t = graph::Format::Text)]
        format: graph::Format,
    },
    /// Check the init scripts for a container: non-zero exit on errors (for `RUN rcinit lint`).
    Lint {
        #[command(flatten)]
        image: ImageArgs,
    },
    /// Show what runs, what crashed and why (every user may look).
    Status {
        /// Output JSON: {"runlevel": ..., "services": [...]}.
        #[arg(long)]
        json: bool,
        /// Services to show (default: the runlevel's, and any other that is not stopped).
        #[arg(value_name = "SVC")]
        services: Vec<String>,
    },
    /// Start services, and first what they need.
    Start {
        #[arg(value_name = "SVC", required = true)]
        services: Vec<String>,
    },
    /// Stop services, and first what needs them.
    Stop {
        #[arg(value_name = "SVC", required = true)]
        services: Vec<String>,
    },
    /// Stop and start services; what needed them is started again.
    Restart {
        #[arg(value_name = "SVC", required = true)]
        services: Vec<String>,
    },
    /// Readiness: exit 0 once the runlevel is up (nothing starting or stopping, nothing failed,
    /// crashed or failing its health check); else 1 with the reasons. For HEALTHCHECK and
    /// readiness probes.
    Check {
        /// Liveness instead: exit 1 only for failed or crashed services, failing health checks
        /// and starts stuck past their limit (a container worth restarting).
        #[arg(long)]
        alive: bool,
    },
    /// Stop every service and end the container cleanly (exit 0).
    Shutdown,
    /// Link rc-status, rc-service, openrc-run, halt, poweroff, reboot, shutdown and telinit to
    /// rcinit, never over an existing file.
    InstallApplets {
        #[arg(long, default_value = "/sbin")]
        dir: std::path::PathBuf,
    },
    /// Run commands of a service's script: `rcinit SVC CMD...` (start, stop, restart, status,
    /// reload, extra commands).
    #[command(hide = true)]
    Service {
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        commands: Vec<String>,
    },
}

impl Command {
    /// Runs the command; returns the exit code. Errors are printed by the caller.
    pub fn run(&self) -> anyhow::Result<i32> {
        let mut out = std::io::stdout().lock();
        match self {
            Command::Inspect {
                image,
                json,
                services,
            } => inspect::run(image, services, *json, &mut out),
            Command::Graph { image, format } => graph::run(image, *format, &mut out),
            Command::Lint { image } => lint::run(image, &mut out),
            Command::Status { json, services } => control::status(services, *json, &mut out),
            Command::Start { services } => control::op(
                crate::control::Request::Start {
                    services: services.clone(),
                },
                &mut out,
            ),
            Command::Stop { services } => control::op(
                crate::control::Request::Stop {
                    services: services.clone(),
                },
                &mut out,
            ),
            Command::Restart { services } => control::op(
                crate::control::Request::Restart {
                    services: services.clone(),
                },
                &mut out,
            ),
            Command::Check { alive } => control::check(*alive, &mut out),
            Command::Shutdown => control::shutdown(),
            Command::InstallApplets { dir } => control::install_applets(dir, &mut out),
            Command::Service { service, commands } => control::service(service, commands, &mut out),
        }
    }
}

/// The boot-only parser used as PID 1, where no word is a subcommand.
#[derive(Parser, Debug)]
#[command(name = "rcinit", version = VERSION, about)]
pub struct Pid1Cli {
    #[command(flatten)]
    pub boot: BootArgs,
}

/// `init [RUNLEVEL]`, the drop-in /sbin/init.
#[derive(Parser, Debug)]
#[command(
    name = "init",
    version = VERSION,
    about = "rcinit as /sbin/init: boot RUNLEVEL (default: default)"
)]
pub struct InitCli {
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The runlevel to boot.
    pub runlevel: Option<String>,
}

/// What this invocation is.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Boot {
        args: BootArgs,
        runlevel: Option<String>,
    },
    Client(Command),
}

/// Applies the argument rule. `argv` includes argv[0].
pub fn parse(argv: Vec<OsString>, is_pid1: bool) -> Result<Invocation, clap::Error> {
    let called_as = argv
        .first()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("rcinit")
        .to_owned();
    if called_as == "init" {
        let c = InitCli::try_parse_from(argv)?;
        return Ok(Invocation::Boot {
            args: BootArgs {
                verbose: c.verbose,
                cmd: Vec::new(),
            },
            runlevel: c.runlevel,
        });
    }
    if is_pid1 {
        let c = Pid1Cli::try_parse_from(argv)?;
        return Ok(Invocation::Boot {
            args: c.boot,
            runlevel: None,
        });
    }
    // `rcinit SVC CMD...`: a first word naming an init script, and a command after it.
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if words.len() >= 3
        && !words[1].starts_with('-')
        && !subcommand_names().contains(&words[1])
        && crate::script::discover::resolve(&words[1]).is_some()
    {
        return Ok(Invocation::Client(Command::Service {
            service: words[1].clone(),
            commands: words[2..].to_vec(),
        }));
    }
    let c = Cli::try_parse_from(argv)?;
    Ok(match c.command {
        Some(cmd) => Invocation::Client(cmd),
        None => Invocation::Boot {
            args: c.boot,
            runlevel: None,
        },
    })
}

/// Names of the subcommands, for messages and tests.
pub fn subcommand_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn boot(cmd: &[&str]) -> Invocation {
        Invocation::Boot {
            args: BootArgs {
                verbose: 0,
                cmd: argv(cmd),
            },
            runlevel: None,
        }
    }

    #[test]
    fn cmd_words_with_or_without_double_dash() {
        for pid1 in [true, false] {
            assert_eq!(
                parse(argv(&["rcinit", "sh", "-c", "x"]), pid1).unwrap(),
                boot(&["sh", "-c", "x"])
            );
            assert_eq!(
                parse(argv(&["rcinit", "--", "sh", "-c", "x"]), pid1).unwrap(),
                boot(&["sh", "-c", "x"])
            );
            assert_eq!(parse(argv(&["/sbin/rcinit"]), pid1).unwrap(), boot(&[]));
            // A CMD's own options are the CMD's, even ones rcinit also has.
            assert_eq!(
                parse(argv(&["rcinit", "ls", "-v", "--help"]), pid1).unwrap(),
                boot(&["ls", "-v", "--help"])
            );
        }
    }

    #[test]
    fn rcinit_options_before_the_cmd() {
        let got = parse(argv(&["rcinit", "-vv", "sleep", "1"]), true).unwrap();
        assert_eq!(
            got,
            Invocation::Boot {
                args: BootArgs {
                    verbose: 2,
                    cmd: argv(&["sleep", "1"])
                },
                runlevel: None
            }
        );
        // An unknown option of rcinit's is an error, not a CMD.
        assert!(parse(argv(&["rcinit", "--bogus", "sleep"]), true).is_err());
    }

    #[test]
    fn as_pid1_a_subcommand_name_is_a_cmd() {
        for name in subcommand_names() {
            assert_eq!(
                parse(argv(&["rcinit", &name]), true).unwrap(),
                boot(&[&name])
            );
        }
        assert_eq!(
            parse(argv(&["rcinit", "status"]), true).unwrap(),
            boot(&["status"])
        );
    }

    #[test]
    fn called_as_init_takes_a_runlevel() {
        assert_eq!(
            parse(argv(&["/sbin/init", "nonetwork"]), true).unwrap(),
            Invocation::Boot {
                args: BootArgs::default(),
                runlevel: Some("nonetwork".into())
            }
        );
        assert_eq!(
            parse(argv(&["init"]), false).unwrap(),
            Invocation::Boot {
                args: BootArgs::default(),
                runlevel: None
            }
        );
        assert!(parse(argv(&["init", "a", "b"]), true).is_err());
    }

    #[test]
    fn help_and_version_follow_clap() {
        let e = parse(argv(&["rcinit", "--version"]), false).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("rcinit {}", env!("CARGO_PKG_VERSION"))),
            "{shown}"
        );
        assert!(shown.contains(env!("RCINIT_TARGET")) && !env!("RCINIT_TARGET").is_empty());
        let e = parse(argv(&["rcinit", "--help"]), false).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        Cli::command().debug_assert();
        Pid1Cli::command().debug_assert();
        InitCli::command().debug_assert();
    }
}
