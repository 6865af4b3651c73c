//! Running the services: what each script's variables ask of its daemon, then (to come) spawning,
//! respawning and stopping it.

pub mod daemon_args;
pub mod env;
pub mod user;
