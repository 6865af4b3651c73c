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
    // A status answers at once; a stop may take the service's whole schedule.
    let limit = match req {
        Request::Status { .. } | Request::Check => Some(Duration::from_secs(10)),
        _ => None,
    };
    s.set_read_timeout(limit)?;
    let mut r = BufReader::new(s);
    let mut text = String::new();
    if let Err(e) = r.read_line(&mut text) {
        sent?;
        return Err(e).context("reading the reply");
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
