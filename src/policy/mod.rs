//! Decisions without syscalls, unit-tested with tables.

pub mod budget;
pub mod exit;
pub mod respawn;
pub mod retry;
pub mod signals;
