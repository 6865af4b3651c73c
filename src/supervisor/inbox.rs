//! A service task's requests: a single-consumer queue on the event loop's thread. A tokio
//! channel allocates a block of 32 slots up front; thousands of idle services would hold that
//! for nothing, where this holds an empty queue until a request comes.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use tokio::sync::Notify;

struct Shared<T> {
    queue: RefCell<VecDeque<T>>,
    notify: Notify,
    senders: Cell<usize>,
    /// The receiver is gone: sends fail, as a closed channel's do.
    closed: Cell<bool>,
}

/// The sending side (cloneable).
pub struct Outbox<T>(Rc<Shared<T>>);

/// The receiving side (one).
pub struct Inbox<T>(Rc<Shared<T>>);

pub fn inbox<T>() -> (Outbox<T>, Inbox<T>) {
    let s = Rc::new(Shared {
        queue: RefCell::new(VecDeque::new()),
        notify: Notify::new(),
        senders: Cell::new(1),
        closed: Cell::new(false),
    });
    (Outbox(Rc::clone(&s)), Inbox(s))
}

impl<T> Outbox<T> {
    /// Queues `v`; gives it back when the receiver is gone.
    pub fn send(&self, v: T) -> Result<(), T> {
        if self.0.closed.get() {
            return Err(v);
        }
        self.0.queue.borrow_mut().push_back(v);
        // Stores a permit when the receiver is not waiting yet: nothing is missed.
        self.0.notify.notify_one();
        Ok(())
    }
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        self.0.senders.set(self.0.senders.get() + 1);
        Outbox(Rc::clone(&self.0))
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        let n = self.0.senders.get().saturating_sub(1);
        self.0.senders.set(n);
        if n == 0 {
            self.0.notify.notify_one();
        }
    }
}

impl<T> Inbox<T> {
    /// The next request; None once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.0.queue.borrow_mut().pop_front() {
                return Some(v);
            }
            if self.0.senders.get() == 0 {
                return None;
            }
            self.0.notify.notified().await;
        }
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        self.0.closed.set(true);
        // Requests nobody will answer: their reply senders drop, and the askers hear so.
        let pending = std::mem::take(&mut *self.0.queue.borrow_mut());
        drop(pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn in_order_then_none_when_senders_are_gone() {
        block_on(async {
            let (tx, mut rx) = inbox();
            let tx2 = tx.clone();
            tx.send(1).unwrap();
            tx2.send(2).unwrap();
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, Some(2));
            drop(tx);
            tx2.send(3).unwrap();
            drop(tx2);
            assert_eq!(rx.recv().await, Some(3));
            assert_eq!(rx.recv().await, None);
        });
    }

    #[test]
    fn a_send_while_waiting_wakes_and_sends_fail_once_the_receiver_is_gone() {
        block_on(async {
            let (tx, mut rx) = inbox();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    let waiter = tokio::task::spawn_local(async move {
                        let v = rx.recv().await;
                        (v, rx)
                    });
                    tokio::task::yield_now().await;
                    tx.send(7).unwrap();
                    let (v, rx) = waiter.await.unwrap();
                    assert_eq!(v, Some(7));
                    drop(rx);
                    assert_eq!(tx.send(8), Err(8));
                })
                .await;
        });
    }
}
