//! The client side: connect, send one request (with our stdout and stderr when the command's
//! output should reach us), read one reply.

use std::io::{BufRead, BufReader, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::{Reply, Request};

/// rcinit does not run here (no socket answers).
#[derive(Debug)]
pub struct NotRunning(pub String);

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rcinit is not running here ({})", self.0)
    }
}

impl std::error::Error for NotRunning {}

/// The client stopped waiting: rcinit went silent, or its own limit for what the request
/// waited for passed long ago.
#[derive(Debug)]
pub struct GaveUp(pub String);

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for GaveUp {}

/// How long a long request may go without a word from rcinit (it says what it waits for every
/// HEARTBEAT).
const SILENCE: Duration = Duration::from_secs(15);

/// How long past the server's own limit the client still waits for the reply.
const PAST_LIMIT: Duration = Duration::from_secs(10);

/// Reads lines into `text` until the reply (the last line read; empty at end of stream),
/// following what rcinit says it waits for: past its own limit by [`PAST_LIMIT`], or silent for
/// [`SILENCE`] (10 s for a quick request), the client gives up.
fn read_reply(
    r: &mut BufReader<UnixStream>,
    quick: bool,
    text: &mut String,
) -> std::io::Result<Result<(), GaveUp>> {
    let begin = std::time::Instant::now();
    let silence = if quick {
        Duration::from_secs(10)
    } else {
        SILENCE
    };
    let mut waited_for: Option<super::Waiting> = None;
    let mut limit_end: Option<std::time::Instant> = None;
    loop {
        let now = std::time::Instant::now();
        let wait = match limit_end {
            Some(end) => silence.min(end.saturating_duration_since(now)),
            None => silence,
        };
        text.clear();
        let read = match wait.is_zero() {
            true => Err(std::io::ErrorKind::TimedOut.into()),
            false => r
                .get_ref()
                .set_read_timeout(Some(wait))
                .and_then(|()| r.read_line(text)),
        };
        match read {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let what = waited_for
                    .as_ref()
                    .map(|w| format!(" for {}", w.what))
                    .unwrap_or_default();
                let why = match limit_end {
                    Some(end) if end <= std::time::Instant::now() => {
                        format!("rcinit's own limit passed {} s ago", PAST_LIMIT.as_secs())
                    }
                    _ => format!("rcinit said nothing for {} s", wait.as_secs()),
                };
                return Ok(Err(GaveUp(format!(
                    "gave up after {} s waiting{what}: {why}",
                    begin.elapsed().as_secs()
                ))));
            }
            Err(e) => return Err(e),
        }
        let Some(w) = serde_json::from_str::<Reply>(text)
            .ok()
            .and_then(|reply| reply.waiting)
        else {
            return Ok(Ok(()));
        };
        limit_end = match (w.left_ms, limit_end) {
            // Past its limit already: that end does not move on with every heartbeat.
            (Some(0), Some(end)) => Some(end),
            (Some(ms), _) => {
                Some(std::time::Instant::now() + Duration::from_millis(ms) + PAST_LIMIT)
            }
            (None, _) => None,
        };
        waited_for = Some(w);
    }
}

/// rcinit refused the connection for want of a slot (too many of this user's at once).
#[derive(Debug)]
pub struct Busy(pub String);

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Busy {}

fn connect() -> Result<UnixStream> {
    let mut tried = Vec::new();
    for p in super::socket_candidates() {
        match UnixStream::connect(&p) {
            Ok(s) => return Ok(s),
            Err(e) => tried.push(format!("{}: {e}", p.display())),
        }
    }
    Err(NotRunning(tried.join("; ")).into())
}

/// Sends `req` and waits for the reply. With `stdio`, the command's output goes to our own
/// stdout and stderr (passed to rcinit with the request).
pub fn call(req: &Request, stdio: bool) -> Result<Reply> {
    let mut s = connect()?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    let sent = if stdio {
        let fds = [std::io::stdout().as_raw_fd(), std::io::stderr().as_raw_fd()];
        let iov = [IoSlice::new(&line)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(s.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(std::io::Error::from)
            .and_then(|n| s.write_all(line.get(n..).unwrap_or_default()))
    } else {
        s.write_all(&line)
    };
    // A refused connection was answered ("busy") and closed, maybe before the request went:
    // the answer is still there to read.
    let sent = sent.context("sending the request");
    // A status answers at once; a stop may take the service's whole schedule, and meanwhile
    // rcinit says what it waits for and how long its own limit still runs.
    let quick = matches!(req, Request::Status { .. } | Request::Check { .. });
    let mut r = BufReader::new(s);
    let mut text = String::new();
    match read_reply(&mut r, quick, &mut text) {
        Ok(Ok(())) => {}
        Ok(Err(gave_up)) => return Err(gave_up.into()),
        Err(e) => {
            sent?;
            return Err(e).context("reading the reply");
        }
    }
    if *req == Request::Shutdown {
        // rcinit starts the stop when this connection closes: at our exit, so the stop's
        // final sweep never catches us half-way out.
        std::mem::forget(r);
    }
    if text.is_empty() {
        sent?;
        anyhow::bail!("rcinit closed the connection without a reply");
    }
    let reply: Reply = serde_json::from_str(&text).context("reading the reply")?;
    if reply.code == super::BUSY {
        return Err(Busy(reply.messages.join("; ")).into());
    }
    Ok(reply)
}
