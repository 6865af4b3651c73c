//! Service output to rcinit's streams: one task per pipe, `[service] line`, back-pressure.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use anyhow::{Context, Result};

use crate::logs::Lines;
use crate::output::{self, Stream};

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")
}

thread_local! {
    /// One read buffer for every forwarder: reads happen synchronously once a pipe is readable,
    /// so a hundred services cost a hundred small tasks, not a hundred 64 KiB buffers.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0u8; PIPE_BYTES]);
}

enum Read {
    Data(Vec<u8>),
    Again,
    End,
}

/// Forwards everything read from `fd` until every writer closed it, then flushes a last line
/// without newline. While rcinit's stream is slow the task waits, and the pipe fills.
pub async fn forward(prefix: String, fd: OwnedFd, stream: Stream) {
    let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        tracing::warn!("{prefix}: cannot read its output");
        return;
    };
    let mut lines = Lines::new(&prefix);
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        let read = SCRATCH.with(|s| {
            let mut buf = s.borrow_mut();
            match rx.try_read(&mut buf) {
                Ok(0) => Read::End,
                Ok(n) => {
                    let mut out = output::buffer(n + n / 8 + 64);
                    lines.feed(&buf[..n], &mut out);
                    Read::Data(out)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Read::Again
                }
                Err(e) => {
                    tracing::warn!("{prefix}: reading its output: {e}");
                    Read::End
                }
            }
        });
        match read {
            Read::Data(out) => output::service(stream, out).await,
            Read::Again => continue,
            Read::End => break,
        }
    }
    let mut out = Vec::new();
    lines.finish(&mut out);
    output::service(stream, out).await;
}

/// Forwarders still running.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static DONE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// How much a service's output pipe holds. Linux's default (64 KiB) makes a busy service, PID 1
/// and its writer thread take turns every 64 KiB; four times that cuts the wake-ups by four. The
/// pages are taken only while output waits, and a failure (a lowered pipe-max-size) is harmless.
const PIPE_BYTES: usize = output::PIPE_BYTES;

/// Starts forwarding a new pipe's read end; returns the write end for the child.
pub fn start(prefix: &str, stream: Stream) -> Result<OwnedFd> {
    let (r, w) = pipe()?;
    let _ = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES as i32));
    let prefix = prefix.to_owned();
    LIVE.fetch_add(1, Ordering::SeqCst);
    tokio::task::spawn_local(async move {
        forward(prefix, r, stream).await;
        LIVE.fetch_sub(1, Ordering::SeqCst);
        DONE.notify_waiters();
    });
    Ok(w)
}

/// Waits until every forwarder has passed on what it read (their writers are gone), for at most
/// `limit`: the last lines of the services reach the log before rcinit exits.
pub async fn drained(limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        let notified = DONE.notified();
        if LIVE.load(Ordering::SeqCst) == 0 {
            return true;
        }
        if tokio::time::timeout_at(end.into(), notified).await.is_err() {
            return LIVE.load(Ordering::SeqCst) == 0;
        }
    }
}
