//! rcinit's own messages: stderr, one line each, prefixed `[rcinit]` so they stand apart from the
//! services' `[name]` lines in `docker logs`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

struct Prefixed;

impl<S, N> FormatEvent<S, N> for Prefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        match level {
            Level::INFO => write!(w, "[rcinit] ")?,
            _ => write!(w, "[rcinit] {}: ", level.as_str().to_lowercase())?,
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The level from `-v` (repeatable) or `RCINIT_LOG`; `-v` wins.
pub fn level(verbose: u8, env: Option<&str>) -> Result<Level, String> {
    match verbose {
        0 => {}
        1 => return Ok(Level::DEBUG),
        _ => return Ok(Level::TRACE),
    }
    match env.map(str::trim) {
        None | Some("") => Ok(Level::INFO),
        Some(v) => v
            .parse::<Level>()
            .map_err(|_| format!("RCINIT_LOG={v:?} is not one of error, warn, info, debug, trace")),
    }
}

/// Installs the subscriber. Safe to call once; later calls are ignored.
pub fn init(verbose: u8) {
    let env = std::env::var("RCINIT_LOG").ok();
    let (lvl, problem) = match level(verbose, env.as_deref()) {
        Ok(l) => (l, None),
        Err(e) => (Level::INFO, Some(e)),
    };
    crate::output::start();
    let _ = tracing_subscriber::fmt()
        .with_writer(|| crate::output::MessageWriter)
        .with_max_level(lvl)
        .with_ansi(false)
        .event_format(Prefixed)
        .try_init();
    if let Some(p) = problem {
        tracing::warn!("{p}; using info");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_from_flag_and_env() {
        assert_eq!(level(0, None), Ok(Level::INFO));
        assert_eq!(level(0, Some("debug")), Ok(Level::DEBUG));
        assert_eq!(level(0, Some("WARN")), Ok(Level::WARN));
        assert_eq!(level(1, Some("error")), Ok(Level::DEBUG));
        assert_eq!(level(2, None), Ok(Level::TRACE));
        assert!(
            level(0, Some("loud"))
                .unwrap_err()
                .contains("RCINIT_LOG=\"loud\"")
        );
    }
}
