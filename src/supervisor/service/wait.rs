//! Waits that a stop, the container going down or a deadline can end, and the guards that
//! clean up after a wait that was cut short.

use super::*;

/// How a wait raced against the service's requests ended.
pub(super) enum Raced<T> {
    Done(T),
    /// A stop was asked for: the wait is abandoned, the stop follows.
    Stop(StopAsk),
    /// Its limit passed.
    Late,
    /// The container began to go down.
    Down,
}

/// Awaits `fut` unless a stop request, `end` or (with `down`) the shutdown comes first. Other
/// requests are held, to be answered once the service is free again, never dropped.
pub(super) async fn race<T>(
    fut: impl std::future::Future<Output = T>,
    rx: &mut Inbox<Request>,
    end: Option<Instant>,
    held: &mut Vec<Request>,
    mut down: Option<&mut watch::Receiver<bool>>,
) -> Raced<T> {
    tokio::pin!(fut);
    let mut open = true;
    loop {
        let recv = async {
            match open {
                true => rx.recv().await,
                false => std::future::pending().await,
            }
        };
        let going = going_down(down.as_deref_mut());
        tokio::select! {
            biased;
            v = &mut fut => return Raced::Done(v),
            r = recv => match r {
                Some(Request::Stop { deadline, reply, after_script: false }) => {
                    return Raced::Stop((deadline, reply));
                }
                Some(other) => held.push(other),
                // Every sender is gone: stop asking (it would answer at once, for ever).
                None => open = false,
            },
            _ = going => return Raced::Down,
            _ = sleep_opt(end) => return Raced::Late,
        }
    }
}

/// Returns once the container goes down; never without `down`.
pub(super) async fn going_down(down: Option<&mut watch::Receiver<bool>>) {
    let gone = match down {
        Some(d) => d.wait_for(|x| *x).await.is_err(),
        None => true,
    };
    // A sender gone is no shutdown.
    if gone {
        std::future::pending::<()>().await;
    }
}

pub(super) async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
