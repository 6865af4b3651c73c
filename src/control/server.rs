//! PID 1's side of the control socket. Every connection is its own task with a time limit and
//! a size limit, so a client that never sends, sends garbage or sends too much costs one task
//! for a while and nothing else.

use std::cell::{Cell, RefCell};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::gate::Gate;
use super::handlers::handle;
use super::{MAX_REQUEST, Reply, Request};
use crate::state::State;
use crate::supervisor::runlevel::Runlevel;

pub use super::handlers::report;

/// What the server reaches.
pub struct Shared {
    pub services: RefCell<Option<Rc<Runlevel>>>,
    pub runlevel: RefCell<String>,
    /// Asks the init to stop the container (exit 0).
    pub shutdown: mpsc::UnboundedSender<()>,
    /// rcinit's own user: besides root, the one user that may change things.
    pub own_uid: u32,
    /// The container is stopping: no more changes.
    pub stopping: Cell<bool>,
    /// The boot's starts are over (the runlevel may still have services starting: D-34).
    pub booted: Cell<bool>,
}

/// A helper call that is not about the service's daemon: the image's own helper should run it.
pub const NOT_OURS: i32 = 5;

/// How long a client may take to send its request.
const REQUEST_TIME: Duration = Duration::from_secs(10);
/// How long one connection may go on taking requests: a client that polls on one connection
/// gives its slot back at least this often.
const LIFETIME: Duration = Duration::from_secs(60);

/// Binds the first socket location that works; returns the listener and its path.
pub fn bind() -> Result<(UnixListener, PathBuf)> {
    let mut errors = Vec::new();
    for path in super::socket_candidates() {
        match bind_at(&path) {
            Ok(l) => return Ok((l, path)),
            Err(e) if e.downcast_ref::<AnotherRunning>().is_some() => return Err(e),
            Err(e) => errors.push(format!("{}: {e:#}", path.display())),
        }
    }
    anyhow::bail!("no control socket: {}", errors.join("; "))
}

/// Another rcinit answers on the socket already (rcinit run again from `docker exec`).
#[derive(Debug)]
pub struct AnotherRunning(pub PathBuf);

impl std::fmt::Display for AnotherRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another rcinit answers on {}", self.0.display())
    }
}

impl std::error::Error for AnotherRunning {}

fn bind_at(path: &Path) -> Result<UnixListener> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(AnotherRunning(path.to_owned()).into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // In a shared /tmp someone else may have made it first, or left a symlink: only a
        // directory of our own that nobody else may write into will do.
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(dir)?;
        let me = nix::unistd::geteuid().as_raw();
        if !m.file_type().is_dir() || m.uid() != me {
            anyhow::bail!("{} is not a directory of uid {me}", dir.display());
        }
        if m.mode() & 0o022 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    // A socket left by an earlier run of this container: nobody listens on it any more.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("removing the old socket"),
    }
    let l = UnixListener::bind(path).context("binding")?;
    // Every user may connect; what each may do is decided by its credentials.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

/// Serves connections until the listener fails.
pub async fn serve(listener: UnixListener, shared: Rc<Shared>) {
    let gate = Rc::new(RefCell::new(Gate::default()));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(uid) = stream.peer_cred().map(|c| c.uid()) else {
            continue;
        };
        let privileged = uid == 0 || uid == shared.own_uid;
        // A burst of connections already closed by their clients still counts until their
        // tasks run (this loop accepts without yielding while the backlog lasts): let them run
        // before refusing anyone. Idle connections that hold their slots are not waited for.
        for _ in 0..3 {
            if gate.borrow().would_admit(uid, privileged) {
                break;
            }
            tokio::task::yield_now().await;
        }
        let admitted = gate.borrow_mut().admit(uid, privileged);
        if let Err(why) = admitted {
            if let Some(line) = gate.borrow_mut().refused(uid, why, Instant::now()) {
                tracing::warn!("{line}");
            }
            // Said without waiting: a client that does not read loses the answer, not PID 1
            // its time.
            let mut busy = serde_json::to_vec(&Reply::error(
                super::BUSY,
                "busy: too many connections of this user or kind; try again",
            ))
            .unwrap_or_default();
            busy.push(b'\n');
            let _ = stream.try_write(&busy);
            continue;
        }
        let shared = Rc::clone(&shared);
        let gate = Rc::clone(&gate);
        tokio::task::spawn_local(async move {
            if let Err(e) = connection(stream, uid, &shared).await {
                tracing::debug!("control connection: {e:#}");
            }
            gate.borrow_mut().release(uid, privileged);
        });
    }
}

async fn connection(mut stream: UnixStream, uid: u32, shared: &Shared) -> Result<()> {
    // The asker's pid: a request from inside a service's own running command is told apart
    // by its session (read only for requests that change something).
    let asker = stream.peer_cred().ok().and_then(|c| c.pid());
    let mut buf: Vec<u8> = Vec::new();
    // What the peer passes is closed off the event loop (see closer), whatever happens here.
    let mut handed = crate::closer::Handed::default();
    let fds = &mut handed.0;
    let end = Instant::now() + LIFETIME;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let wait = left.min(REQUEST_TIME);
        let line = match tokio::time::timeout(wait, read_line(&stream, &mut buf, fds)).await {
            Err(_) => return Ok(()),
            Ok(Err(e)) => {
                let r = Reply::error(2, format!("bad request: {e}"));
                let _ = write_reply(&mut stream, &r).await;
                return Ok(());
            }
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(l))) => l,
        };
        let mut shutdown = false;
        let reply = match serde_json::from_slice::<Request>(&line) {
            Err(e) => Reply::error(2, format!("bad request: {e}")),
            Ok(req) if req.changes() && uid != 0 && uid != shared.own_uid => {
                Reply::error(4, "permission denied: only root may change services")
            }
            Ok(req) if req.changes() && shared.stopping.get() && req != Request::Shutdown => {
                Reply::error(1, "the container is stopping")
            }
            Ok(req) => {
                shutdown = req == Request::Shutdown;
                // Only a command's run uses the asker's stdout and stderr (and only root or
                // rcinit's user may ask for one); anything else passed goes to the closer.
                let stdio = match req {
                    Request::Run { .. } => take_stdio(fds),
                    _ => None,
                };
                for fd in fds.drain(..) {
                    crate::closer::close_later(fd);
                }
                let involved = involved(shared, &req);
                let work = handle(req, stdio, shared, asker);
                match involved {
                    Some(names) => with_heartbeats(work, &mut stream, shared, &names).await,
                    None => work.await,
                }
            }
        };
        write_reply(&mut stream, &reply).await?;
        if shutdown {
            // The asker lives in the container too: let it read the answer and go before the
            // stop's final sweep would kill it mid-exit.
            let _ = tokio::time::timeout(Duration::from_secs(1), read_line(&stream, &mut buf, fds))
                .await;
            tracing::info!("shutdown asked for on the control socket");
            let _ = shared.shutdown.send(());
            return Ok(());
        }
    }
}

/// The services a long request may wait for (its own, what they need and what needs them); None
/// for a request that answers at once.
fn involved(shared: &Shared, req: &Request) -> Option<Vec<String>> {
    let names: Vec<String> = match req {
        Request::Start { services }
        | Request::Stop { services }
        | Request::Restart { services } => services.clone(),
        Request::Run { service, .. } | Request::Helper { service, .. } => vec![service.clone()],
        Request::Status { .. } | Request::Check { .. } | Request::Shutdown => return None,
    };
    let rl = shared.services.borrow().clone();
    let mut all: Vec<String> = match (&rl, req) {
        (Some(rl), Request::Start { .. } | Request::Stop { .. } | Request::Restart { .. }) => {
            names.iter().flat_map(|n| rl.related(n)).collect()
        }
        _ => names,
    };
    all.sort();
    all.dedup();
    Some(all)
}

/// Awaits a long request, telling the client every [`HEARTBEAT`] what it waits for, so the
/// client's own deadline follows the server's limits. A heartbeat is written without waiting:
/// what the socket does not take now goes out before the next one and before the reply, so a
/// line is never cut; a client gone hears no more, and the request is still carried out to its
/// end (a restart's start included).
async fn with_heartbeats(
    work: impl std::future::Future<Output = Reply>,
    stream: &mut UnixStream,
    shared: &Shared,
    involved: &[String],
) -> Reply {
    tokio::pin!(work);
    let beat = super::HEARTBEAT;
    let mut tick = tokio::time::interval_at((Instant::now() + beat).into(), beat);
    let mut rest: Vec<u8> = Vec::new();
    let mut gone = false;
    let reply = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick(), if !gone => {
                if rest.is_empty() {
                    let w = Reply {
                        waiting: Some(waiting(shared, involved)),
                        ..Reply::default()
                    };
                    rest = serde_json::to_vec(&w).unwrap_or_default();
                    rest.push(b'\n');
                }
                match stream.try_write(&rest) {
                    Ok(n) => drop(rest.drain(..n.min(rest.len()))),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => gone = true,
                }
            }
        }
    };
    if !rest.is_empty() && !gone {
        // The reply follows a whole line, or the client is not reading (its reply fails too).
        let _ = tokio::time::timeout(REQUEST_TIME, stream.write_all(&rest)).await;
    }
    reply
}

/// `(its limit in 1m27s)`, or `(no limit)`.
pub(super) fn limit_note(left: Option<Duration>) -> String {
    match left {
        Some(l) => format!("(its limit in {})", super::report::duration(l.as_secs())),
        None => "(no limit)".into(),
    }
}

/// How many busy services a heartbeat names.
const NAMED: usize = 4;

/// What the request's services are busy with now (starts and stops), and the latest of their
/// limits.
fn waiting(shared: &Shared, involved: &[String]) -> super::Waiting {
    let now = Instant::now();
    let mut busy = Vec::new();
    let mut more = 0usize;
    let mut left = Some(Duration::ZERO);
    if let Some(rl) = shared.services.borrow().as_ref() {
        for (name, st) in rl.statuses_of(involved) {
            if !matches!(st.state, State::Starting | State::Stopping) {
                continue;
            }
            let until = st.until.map(|u| u.saturating_duration_since(now));
            left = match (left, until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            if busy.len() < NAMED {
                busy.push(format!("{name} {} {}", st.state, limit_note(until)));
            } else {
                more += 1;
            }
        }
    }
    if busy.is_empty() {
        // A script command (reload...) or a task between two steps: no limit of rcinit's.
        return super::Waiting {
            what: "the service's command".into(),
            left_ms: None,
        };
    }
    let mut what = busy.join(", ");
    if more > 0 {
        what.push_str(&format!(", and {more} more"));
    }
    super::Waiting {
        what,
        left_ms: left.map(|l| l.as_millis().min(u64::MAX as u128) as u64),
    }
}

async fn write_reply(stream: &mut UnixStream, r: &Reply) -> Result<()> {
    let mut text = serde_json::to_vec(r)?;
    text.push(b'\n');
    tokio::time::timeout(REQUEST_TIME, stream.write_all(&text))
        .await
        .context("client does not read")??;
    Ok(())
}

fn take_stdio(fds: &mut Vec<OwnedFd>) -> Option<(OwnedFd, OwnedFd)> {
    if fds.len() < 2 {
        return None;
    }
    let err = fds.pop()?;
    let out = fds.pop()?;
    Some((out, err))
}

/// Reads up to a newline, keeping descriptors passed along; Ok(None) at end of stream.
async fn read_line(
    stream: &UnixStream,
    buf: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> std::io::Result<Option<Vec<u8>>> {
    loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            return Ok(Some(line));
        }
        if buf.len() > MAX_REQUEST {
            return Err(std::io::Error::other(format!(
                "longer than {MAX_REQUEST} bytes"
            )));
        }
        stream.readable().await?;
        let mut chunk = [0u8; 8192];
        let got = stream.try_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(&mut chunk)];
            // Room for the most a message can carry (SCM_MAX_FD): a truncated message would leave
            // descriptors installed in PID 1 that nothing owns, a leak any user could repeat.
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 253]);
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
            )
            .map_err(std::io::Error::from)?;
            let mut passed = Vec::new();
            for c in msg.cmsgs().map_err(std::io::Error::from)? {
                if let ControlMessageOwned::ScmRights(v) = c {
                    passed.extend(v);
                }
            }
            Ok((msg.bytes, passed))
        });
        let (n, passed) = match got {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        for fd in passed {
            // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            if fds.len() < 4 {
                fds.push(fd);
            } else {
                crate::closer::close_later(fd);
            }
        }
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
