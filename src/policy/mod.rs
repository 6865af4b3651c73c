//! Decisions without syscalls, unit-tested with tables.

pub mod exit;
pub mod signals;
