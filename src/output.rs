//! The writers of rcinit's stdout and stderr: rcinit's own messages and the services' lines.
//!
//! `docker logs` reads a pipe; when nobody reads it, a write blocks. PID 1's event loop must not
//! block, so everything goes through a queue to one thread per stream that does the blocking
//! writes, with raw write(2) calls (no std stream lock shared with anything else).
//!
//! rcinit's messages queue up to a byte limit a burst never reaches; only a reader that stopped
//! for good makes rcinit drop them, counted, and the count is reported once output flows again.
//! Service lines are never dropped: a service's forwarder waits for room in the queue
//! ([`service`]), so it stops reading the service's pipe and the service's own writes block —
//! back-pressure reaches the service, never the event loop.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

enum Chunk {
    Data(Vec<u8>),
    /// Service lines; the permit returns their room in the queue once written.
    Service(Vec<u8>, OwnedSemaphorePermit),
    Flush(Sender<()>),
}

struct Writer {
    /// None when the thread could not start: then messages are written directly.
    tx: Option<Mutex<Sender<Chunk>>>,
    pending: Arc<AtomicUsize>,
    dropped: AtomicU64,
    /// Room for service lines, in bytes.
    room: Arc<Semaphore>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();
static OUT_WRITER: OnceLock<Writer> = OnceLock::new();

/// How many bytes of service lines may wait for a reader, per stream.
pub const SERVICE_BYTES: usize = 1 << 20;

/// Which of rcinit's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How many bytes of rcinit's own messages may wait for a reader.
const MESSAGE_BYTES: usize = 4 << 20;

/// Writes all of `buf` to `fd`, retrying on EINTR; gives up on any other error.
fn write_fd(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: write(2) from a valid buffer of the given length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}

fn run(fd: i32, rx: Receiver<Chunk>, written: Arc<AtomicUsize>) {
    while let Ok(chunk) = rx.recv() {
        match chunk {
            Chunk::Data(b) => {
                write_fd(fd, &b);
                written.fetch_sub(b.len(), Ordering::SeqCst);
            }
            Chunk::Service(b, permit) => {
                write_fd(fd, &b);
                drop(permit);
                recycle(b);
            }
            Chunk::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn new_writer(fd: i32) -> Writer {
    let (tx, rx) = channel::<Chunk>();
    let pending = Arc::new(AtomicUsize::new(0));
    let written = Arc::clone(&pending);
    let started = std::thread::Builder::new()
        .name(format!("rcinit-out{fd}"))
        .spawn(move || run(fd, rx, written))
        .is_ok();
    if !started {
        write_fd(
            2,
            b"[rcinit] warn: cannot start an output thread; writing directly\n",
        );
    }
    Writer {
        tx: started.then(|| Mutex::new(tx)),
        pending,
        dropped: AtomicU64::new(0),
        room: Arc::new(Semaphore::new(SERVICE_BYTES)),
    }
}

/// Starts the writer threads. Call while the handled signals are still blocked (they stay
/// blocked in the threads, so signals always reach the event loop's thread). Idempotent.
pub fn start() {
    WRITER.get_or_init(|| new_writer(2));
    OUT_WRITER.get_or_init(|| new_writer(1));
    grow_pipe(1);
    grow_pipe(2);
}

/// How much of rcinit's stdout or stderr pipe (`docker logs`' pipe) may hold.
pub const PIPE_BYTES: usize = 256 * 1024;

/// Lets a pipe on `fd` hold [`PIPE_BYTES`]: with Linux's default 64 KiB, the writer thread and
/// the reader take turns every 64 KiB of a busy service's output. Only a pipe is touched, and
/// only grown; failing (a lowered pipe-max-size) costs nothing but speed.
fn grow_pipe(fd: i32) {
    // SAFETY: fstat(2) and fcntl(2) on a descriptor number, into a zeroed stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFIFO
            && libc::fcntl(fd, libc::F_GETPIPE_SZ) < PIPE_BYTES as i32
        {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int);
        }
    }
}

/// Service-line buffers written and ready for reuse. A busy service's chunks are a few hundred
/// KiB, which musl's malloc maps and unmaps each time; reusing a handful avoids that.
static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const SPARE_BUFFERS: usize = 4;

/// An empty buffer for a service's lines, with room for at least `len` bytes.
pub fn buffer(len: usize) -> Vec<u8> {
    let spare = SPARE.lock().ok().and_then(|mut s| s.pop());
    let mut b = spare.unwrap_or_default();
    b.reserve(len);
    b
}

fn recycle(mut b: Vec<u8>) {
    if b.capacity() > 2 * (PIPE_BYTES + PIPE_BYTES / 8) {
        return;
    }
    b.clear();
    if let Ok(mut s) = SPARE.lock()
        && s.len() < SPARE_BUFFERS
    {
        s.push(b);
    }
}

/// Queues a service's complete lines on `stream`, waiting (asynchronously) while the queue is
/// full. Order is kept: callers of one stream await each call before the next.
pub async fn service(stream: Stream, bytes: Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    let (w, fd) = match stream {
        Stream::Stdout => (OUT_WRITER.get(), 1),
        Stream::Stderr => (WRITER.get(), 2),
    };
    let Some(w) = w.filter(|w| w.tx.is_some()) else {
        write_fd(fd, &bytes);
        return;
    };
    let want = bytes.len().min(SERVICE_BYTES) as u32;
    let Ok(permit) = Arc::clone(&w.room).acquire_many_owned(want).await else {
        return;
    };
    if let Some(Ok(tx)) = w.tx.as_ref().map(|m| m.lock()) {
        let _ = tx.send(Chunk::Service(bytes, permit));
    }
}

fn send(w: &Writer, bytes: Vec<u8>) -> bool {
    let len = bytes.len();
    if w.pending.load(Ordering::SeqCst) + len > MESSAGE_BYTES {
        return false;
    }
    w.pending.fetch_add(len, Ordering::SeqCst);
    let Some(Ok(tx)) = w.tx.as_ref().map(|m| m.lock()) else {
        return false;
    };
    if tx.send(Chunk::Data(bytes)).is_ok() {
        true
    } else {
        w.pending.fetch_sub(len, Ordering::SeqCst);
        false
    }
}

/// Queues one message without ever waiting; returns false when it was dropped.
pub fn message(bytes: Vec<u8>) -> bool {
    let Some(w) = WRITER.get().filter(|w| w.tx.is_some()) else {
        write_fd(2, &bytes);
        return true;
    };
    let lost = w.dropped.load(Ordering::SeqCst);
    if lost > 0 {
        let note = format!(
            "[rcinit] warn: {lost} of rcinit's messages were dropped: its output was not being read\n"
        );
        if send(w, note.into_bytes()) {
            w.dropped.fetch_sub(lost, Ordering::SeqCst);
        }
    }
    if send(w, bytes) {
        return true;
    }
    w.dropped.fetch_add(1, Ordering::SeqCst);
    false
}

/// Waits until everything queued so far is written, for at most `limit` (the reader may never
/// come back). Used on the way out.
pub fn flush(limit: Duration) {
    let end = std::time::Instant::now() + limit;
    for w in [OUT_WRITER.get(), WRITER.get()].into_iter().flatten() {
        let (done_tx, done_rx) = channel();
        let sent = match w.tx.as_ref().map(|m| m.lock()) {
            Some(Ok(tx)) => tx.send(Chunk::Flush(done_tx)).is_ok(),
            _ => false,
        };
        if sent {
            let _ = done_rx.recv_timeout(end.saturating_duration_since(std::time::Instant::now()));
        }
    }
}

/// A `std::io::Write` for rcinit's messages: tracing writes one whole event per call.
pub struct MessageWriter;

impl std::io::Write for MessageWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        message(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
