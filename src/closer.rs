//! Descriptors someone else handed PID 1 (SCM_RIGHTS on the control socket or a script
//! channel) are closed by a thread of their own: the last close of a TCP socket with SO_LINGER
//! set and unacknowledged data waits in the kernel until the linger ends, and PID 1's event
//! loop must never wait on what a peer chose.

use std::os::fd::OwnedFd;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};

static CLOSER: OnceLock<Option<Mutex<Sender<OwnedFd>>>> = OnceLock::new();

fn closer() -> Option<&'static Mutex<Sender<OwnedFd>>> {
    CLOSER
        .get_or_init(|| {
            let (tx, rx) = channel::<OwnedFd>();
            std::thread::Builder::new()
                .name("rcinit-close".into())
                .stack_size(64 << 10)
                .spawn(move || {
                    while let Ok(fd) = rx.recv() {
                        drop(fd);
                    }
                })
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// Closes `fd` on the closer thread (or here, when that thread could not be made).
pub fn close_later(fd: OwnedFd) {
    let Some(c) = closer() else {
        drop(fd);
        return;
    };
    let back = match c.lock() {
        Ok(tx) => tx.send(fd).err().map(|e| e.0),
        Err(_) => Some(fd),
    };
    drop(back);
}

/// Descriptors a peer passed, closed by the closer when this goes.
#[derive(Default)]
pub struct Handed(pub Vec<OwnedFd>);

impl Handed {
    /// Closes (later) all that is held now.
    pub fn clear(&mut self) {
        for fd in self.0.drain(..) {
            close_later(fd);
        }
    }
}

impl Drop for Handed {
    fn drop(&mut self) {
        self.clear();
    }
}
