//! What `inspect`, `graph` and `lint` share: which image, which runlevel, which system.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::script::load::{self, Loaded, Options};

/// Options naming the image to read.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ImageArgs {
    /// Read the image rooted at DIR from outside (evaluates inside it with chroot: needs root).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The runlevel to plan (default: RCINIT_RUNLEVEL, rc.conf's rc_default_runlevel, `default`).
    #[arg(long, value_name = "NAME")]
    pub runlevel: Option<String>,
    /// Force the system type (docker, podman, lxc, ..., or `none`) instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub sys: Option<String>,
}

impl ImageArgs {
    pub fn options(&self) -> Options {
        let settings = crate::config::Settings::from_env();
        for w in &settings.warnings {
            eprintln!("rcinit: warning: {w}");
        }
        let mut o = Options::from_settings(&self.root, &settings, self.runlevel.clone());
        o.sys = self.sys.clone();
        o
    }

    /// Loads the image on a runtime of its own (client commands are not PID 1).
    pub fn load(&self, run_pass: bool) -> Result<Loaded> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting the event loop")?;
        let mut opts = self.options();
        opts.run_pass = run_pass;
        // Ctrl-C must stop the evaluation shells too (they run in sessions of their own), and the
        // shells that end are reaped: signals go through the same intake as PID 1's.
        let intake = crate::signals::Intake::install(false)?;
        rt.block_on(async {
            let intake = intake.into_async()?;
            let mut reaper = crate::reaper::Reaper::default();
            let fut = load::load(&opts);
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    res = &mut fut => return res,
                    sigs = intake.next() => {
                        for sig in sigs {
                            match sig {
                                libc::SIGCHLD => {
                                    reaper.reap();
                                }
                                libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT => {
                                    return Err(Interrupted(sig).into());
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
        })
        .with_context(|| format!("reading the services of {}", self.root.display()))
    }
}

/// A client command stopped by a signal; exits 128 + the signal, as a shell reports it.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", crate::signals::name(self.0))
    }
}

impl std::error::Error for Interrupted {}
