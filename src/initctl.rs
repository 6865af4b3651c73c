//! sysvinit's `/run/initctl` FIFO, so the image's own `telinit 0`, `halt` and `reboot` end the
//! container: runlevel 0 and 6 requests ask for the orderly stop.

use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// sysvinit's request: magic, cmd, runlevel, sleeptime (4 ints), then 368 bytes of data.
pub const REQUEST_SIZE: usize = 384;
const MAGIC: i32 = 0x0309_1969;
const CMD_RUNLVL: i32 = 1;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Runlevel 0 or 6: stop the container.
    Stop(char),
    /// Anything else (other runlevels, power-fail notices): logged, not acted on.
    Other(i32, i32),
    Garbage,
}

/// Reads one request (pure).
pub fn parse(req: &[u8; REQUEST_SIZE]) -> Ask {
    let int = |o: usize| i32::from_ne_bytes([req[o], req[o + 1], req[o + 2], req[o + 3]]);
    if int(0) != MAGIC {
        return Ask::Garbage;
    }
    let (cmd, level) = (int(4), int(8));
    match (cmd, u8::try_from(level).map(char::from)) {
        (CMD_RUNLVL, Ok(c @ ('0' | '6'))) => Ask::Stop(c),
        _ => Ask::Other(cmd, level),
    }
}

/// Makes the FIFO and serves it; returns None when it cannot be made.
pub fn start(stop: mpsc::UnboundedSender<()>) -> Option<()> {
    let path = "/run/initctl";
    let _ = std::fs::remove_file(path);
    if let Err(e) = nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        tracing::debug!("{path}: {e}");
        return None;
    }
    // Read-write, so the FIFO never reports end-of-file when the last writer goes.
    let fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?
        .into();
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd).ok()?;
    tokio::task::spawn_local(async move {
        let mut buf = [0u8; REQUEST_SIZE];
        loop {
            if rx.read_exact(&mut buf).await.is_err() {
                return;
            }
            match parse(&buf) {
                Ask::Stop(c) => {
                    tracing::info!("runlevel {c} asked for on /run/initctl: stopping");
                    let _ = stop.send(());
                }
                Ask::Other(cmd, level) => {
                    tracing::info!("/run/initctl: request {cmd} (runlevel {level}) ignored")
                }
                Ask::Garbage => tracing::warn!("/run/initctl: not a sysvinit request; ignored"),
            }
        }
    });
    Some(())
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;

    pub fn request(cmd: i32, level: i32) -> [u8; REQUEST_SIZE] {
        let mut b = [0u8; REQUEST_SIZE];
        b[0..4].copy_from_slice(&MAGIC.to_ne_bytes());
        b[4..8].copy_from_slice(&cmd.to_ne_bytes());
        b[8..12].copy_from_slice(&level.to_ne_bytes());
        b
    }

    #[test]
    fn runlevel_0_and_6_stop_the_rest_do_not() {
        assert_eq!(parse(&request(1, b'0' as i32)), Ask::Stop('0'));
        assert_eq!(parse(&request(1, b'6' as i32)), Ask::Stop('6'));
        assert_eq!(parse(&request(1, b'3' as i32)), Ask::Other(1, 51));
        assert_eq!(parse(&request(2, b'0' as i32)), Ask::Other(2, 48));
        assert_eq!(parse(&[0xffu8; REQUEST_SIZE]), Ask::Garbage);
    }
}
