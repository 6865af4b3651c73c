//! Running the services: what each script asks of its daemon, spawning, respawning, health
//! checks and stopping, one task per service (rcinit is the supervisor; no helper per service).

pub mod caps;
pub mod daemon_args;
pub mod forward;
pub mod helper_call;
pub mod inbox;
pub mod launch;
pub mod lifecycle;
pub mod matching;
pub mod pidfile;
pub mod runlevel;
pub mod service;
pub mod user;
