//! rcinit: PID 1 for containers that run OpenRC init scripts.
//!
//! A pure core (policies, the process-tree arithmetic, argument rules) inside a thin shell of
//! syscalls (signals, spawn, reap, sweep). `../shared/docs/design.md` has the picture.

pub mod boot;
pub mod cli;
pub mod closer;
pub mod config;
pub mod control;
pub mod deadline;
pub mod deptree;
pub mod diag;
pub mod ere;
pub mod fdfloor;
pub mod graph;
pub mod initctl;
pub mod logs;
pub mod mirror;
pub mod output;
pub mod panic;
pub mod policy;
pub mod procfs;
pub mod reaper;
pub mod runfs;
pub mod safepath;
pub mod script;
pub mod signals;
pub mod spawn;
pub mod state;
pub mod supervisor;
pub mod sweep;
pub mod words;

/// The OpenRC release whose behaviour rcinit follows where 0.45 and 0.6x differ (respawn
/// defaults and backoff, durations, notify): scripts read it as RC_VERSION.
pub const OPENRC_VERSION: &str = "0.64.1";
