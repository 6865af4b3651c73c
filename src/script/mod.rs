//! Evaluating OpenRC init scripts with the shell, as OpenRC itself does.

mod batch;
pub mod channel;
pub mod discover;
pub mod env;
pub mod eval;
pub mod load;
pub mod rcconf;
pub mod record;
pub mod spec;
pub mod sysdetect;
