//! The shim's record channel (fd 9, and fd 8 for rcinit's answers): a Unix stream socket whose
//! every chunk carries its writer's credentials (SCM_CREDENTIALS). Any process a script runs
//! inherits the descriptor, including one that runs as another user (`su nobody -c ...`): what
//! that process writes is dropped, unread by the parser, so it can never ask PID 1 to spawn,
//! stop or set anything. Only writers whose real uid is rcinit's own are heard (SECURITY.md).
//!
//! With SO_PASSCRED on the receiving end the kernel never joins bytes of two writers with
//! different credentials into one read, so a refused chunk is dropped whole and the trusted
//! stream stays byte-exact. SO_PEERCRED would prove nothing here: on a socketpair it names the
//! creator, PID 1 itself. Answers go the other way on the same socket: a process that writes on
//! its end reaches PID 1 (and is refused), never the script, so answers cannot be forged either.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, setsockopt,
    socketpair, sockopt,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// What was refused on one channel: logged at the first refusal, summed up when it closes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Refused {
    chunks: u64,
    bytes: u64,
    /// The first refused writer: (uid, pid); uid `None` when the kernel said nothing.
    first: Option<(Option<u32>, i32)>,
}

/// PID 1's end of one script run's channel.
pub struct Channel {
    fd: AsyncFd<OwnedFd>,
    owner: u32,
    label: String,
    refused: Refused,
}

/// Whose bytes a chunk is, as the kernel tells it.
enum Chunk {
    Trusted(usize),
    Refused(usize, Option<u32>, i32),
    End,
}

impl Channel {
    /// A new channel: PID 1's end, and the script's end (to be placed on fds 9 and 8).
    /// `label` names the service or batch in the refusal messages.
    pub fn pair(label: &str) -> Result<(Channel, OwnedFd)> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("creating the script channel")?;
        // Before anything is written: credentials are attached as each chunk is sent.
        setsockopt(&ours, sockopt::PassCred, &true).context("SO_PASSCRED")?;
        // The script's end stays blocking (a shell's `read` and printf expect that).
        let flags = nix::fcntl::fcntl(&ours, nix::fcntl::FcntlArg::F_GETFL).context("F_GETFL")?;
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&ours, nix::fcntl::FcntlArg::F_SETFL(flags)).context("F_SETFL")?;
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open, the same description,
        // for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(ours) }
            .map_err(|e| anyhow::anyhow!("registering the script channel: {e}"))?;
        Ok((
            Channel {
                fd,
                owner: nix::unistd::getuid().as_raw(),
                label: label.to_owned(),
                refused: Refused::default(),
            },
            theirs,
        ))
    }

    /// Reads trusted bytes; refused chunks are dropped (and counted) on the way.
    /// `Ok(0)` once every writer has closed its end.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| receive(fd.get_ref().as_raw_fd(), buf)) {
                Ok(Ok(c)) => {
                    if let Some(n) = self.sort(c) {
                        return Ok(n);
                    }
                    // A refused writer that never stops must not hold the event loop: readiness
                    // waits take no cooperative budget, so give the others their turn.
                    tokio::task::yield_now().await;
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// What is readable now without waiting (`WouldBlock` when nothing is, or when only
    /// refused bytes keep coming: the loop is bounded).
    pub fn try_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for _ in 0..64 {
            let c = receive(self.fd.get_ref().as_raw_fd(), buf)?;
            if let Some(n) = self.sort(c) {
                return Ok(n);
            }
        }
        Err(std::io::ErrorKind::WouldBlock.into())
    }

    fn sort(&mut self, c: Chunk) -> Option<usize> {
        match c {
            Chunk::End => Some(0),
            Chunk::Trusted(n) => Some(n),
            Chunk::Refused(n, uid, pid) => {
                let r = &mut self.refused;
                r.chunks = r.chunks.saturating_add(1);
                r.bytes = r.bytes.saturating_add(n as u64);
                if r.first.is_none() {
                    r.first = Some((uid, pid));
                    tracing::warn!(
                        "{}: refused {n} bytes on the script channel from {} (pid {pid}): rcinit takes \
                         records only from uid {} (a program the script runs as another user inherited it)",
                        self.label,
                        uid.map_or("an unknown uid".to_owned(), |u| format!("uid {u}")),
                        self.owner
                    );
                }
                None
            }
        }
    }

    /// Writes an answer for the script to read on its fd 8.
    pub async fn write_all(&self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let n = self
                .fd
                .async_io(Interest::WRITABLE, |fd| {
                    nix::sys::socket::send(
                        fd.as_raw_fd(),
                        bytes,
                        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                    )
                    .map_err(std::io::Error::from)
                })
                .await?;
            bytes = bytes.get(n..).unwrap_or_default();
        }
        Ok(())
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let r = self.refused;
        if r.chunks > 1 {
            tracing::warn!(
                "{}: {} writes ({} bytes) in all were refused on the script channel",
                self.label,
                r.chunks,
                r.bytes
            );
        }
    }
}

/// One recvmsg: the bytes and whose they are. Descriptors a writer passed along are closed at
/// once (room for SCM_MAX_FD, so none is left installed in PID 1 by a truncated message).
fn receive(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Chunk> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(libc::ucred, [RawFd; 253]);
    let msg = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    let mut who = None;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        match c {
            ControlMessageOwned::ScmCredentials(cred) => who = Some((cred.uid(), cred.pid())),
            ControlMessageOwned::ScmRights(fds) => {
                for f in fds {
                    // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
                    crate::closer::close_later(unsafe { OwnedFd::from_raw_fd(f) });
                }
            }
            _ => {}
        }
    }
    let n = msg.bytes;
    if n == 0 {
        return Ok(Chunk::End);
    }
    let me = nix::unistd::getuid().as_raw();
    Ok(match who {
        Some((uid, _)) if uid == me => Chunk::Trusted(n),
        Some((uid, pid)) => Chunk::Refused(n, Some(uid), pid),
        None => Chunk::Refused(n, None, 0),
    })
}

/// For the helper applets (`start-stop-daemon`, `supervise-daemon` stand-ins) on the script's
/// side: whether this process may speak on fd 9 at all. The socket belongs to the uid that
/// made it (rcinit); a caller of another uid would only be refused and wait for an answer.
pub fn may_speak(fd: RawFd) -> Result<(), String> {
    // SAFETY: fstat on a descriptor number into a zeroed stat; a closed fd fails with EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, exclusively borrowed stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(format!("fd {fd}: {}", std::io::Error::last_os_error()));
    }
    let me = nix::unistd::getuid().as_raw();
    if st.st_mode & libc::S_IFMT == libc::S_IFSOCK && st.st_uid != me {
        return Err(format!(
            "called as uid {me}; rcinit takes requests only from uid {} (the script's own)",
            st.st_uid
        ));
    }
    Ok(())
}

// Plain blocking I/O on the script's side, for the applets.
pub fn send_record(fd: RawFd, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: a borrowed view of the inherited fd for the duration of the write; ManuallyDrop
    // leaves it open.
    let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    f.write_all(bytes)
}

/// Reads one answer line (byte by byte: nothing beyond the newline is taken from the socket).
pub fn read_answer(fd: RawFd) -> std::io::Result<String> {
    // SAFETY: as in send_record.
    let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 64 {
        match f.read(&mut b)? {
            0 => break,
            _ if b[0] == b'\n' => break,
            _ => line.push(b[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
