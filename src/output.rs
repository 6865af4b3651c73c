//! The one writer of rcinit's own messages on stderr.
//!
//! `docker logs` reads a pipe; when nobody reads it, a write blocks. PID 1's event loop must not
//! block, so rcinit's messages go through a queue to a thread of its own that does the blocking
//! writes, with raw write(2) calls (no std stream lock shared with anything else). Messages queue
//! up to a byte limit a burst never reaches; only a reader that stopped for good makes rcinit drop
//! them, counted, and the count is reported once output flows again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

enum Chunk {
    Data(Vec<u8>),
    Flush(Sender<()>),
}

struct Writer {
    /// None when the thread could not start: then messages are written directly.
    tx: Option<Mutex<Sender<Chunk>>>,
    pending: Arc<AtomicUsize>,
    dropped: AtomicU64,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

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

fn run(rx: Receiver<Chunk>, written: Arc<AtomicUsize>) {
    while let Ok(chunk) = rx.recv() {
        match chunk {
            Chunk::Data(b) => {
                write_fd(2, &b);
                written.fetch_sub(b.len(), Ordering::SeqCst);
            }
            Chunk::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Starts the writer thread. Call while the handled signals are still blocked (they stay blocked
/// in the thread, so signals always reach the event loop's thread). Idempotent.
pub fn start() {
    WRITER.get_or_init(|| {
        let (tx, rx) = channel::<Chunk>();
        let pending = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&pending);
        let started = std::thread::Builder::new()
            .name("rcinit-output".into())
            .spawn(move || run(rx, written))
            .is_ok();
        if !started {
            write_fd(
                2,
                b"[rcinit] warn: cannot start the output thread; writing directly\n",
            );
        }
        Writer {
            tx: started.then(|| Mutex::new(tx)),
            pending,
            dropped: AtomicU64::new(0),
        }
    });
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
    let Some(w) = WRITER.get() else {
        return;
    };
    let (done_tx, done_rx) = channel();
    let sent = match w.tx.as_ref().map(|m| m.lock()) {
        Some(Ok(tx)) => tx.send(Chunk::Flush(done_tx)).is_ok(),
        _ => false,
    };
    if sent {
        let _ = done_rx.recv_timeout(limit);
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
