//! A session's queue of outgoing control messages: heartbeat echoes in a lane of their own that
//! goes first (a queue of Work deliveries must not hold them back until the agent thinks the hub
//! is gone), then everything else in order, bounded.
//!
//! One small structure instead of two tokio channels: a channel is a cache-padded block of
//! ~0.5 KiB plus its first block of 32 slots, about 0.8 KiB each, paid by every idle session
//! (heap profile of 5,000 tunnels, issue 11); an empty queue here holds no allocation at all.

use std::collections::VecDeque;
use std::sync::Arc;

use cceone_proto::v1;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Messages other than heartbeat echoes that may wait; a sender past it waits for room.
const CAPACITY: usize = 64;
/// Heartbeat echoes that may wait; more are dropped (the agent only needs the latest).
const ECHOES: usize = 4;

/// The session is gone: nothing more is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

#[derive(Default)]
struct State {
    echoes: VecDeque<Box<v1::HubMessage>>,
    queue: VecDeque<Box<v1::HubMessage>>,
    closed: bool,
}

/// Cheap to clone; the session takes messages out with [`Outbox::next`].
#[derive(Clone, Default)]
pub(crate) struct Outbox(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Something was queued (one taker: the session).
    ready: Notify,
    /// Room was made, or the outbox closed (any number of waiting senders).
    room: Notify,
}

impl Outbox {
    /// Queue `m` when there is room; false when full or closed.
    pub(crate) fn try_send(&self, m: Box<v1::HubMessage>) -> bool {
        self.try_push(m, false)
    }

    /// Queue a heartbeat echo ahead of everything else; dropped when echoes are piling up.
    pub(crate) fn try_send_echo(&self, m: Box<v1::HubMessage>) -> bool {
        self.try_push(m, true)
    }

    fn try_push(&self, m: Box<v1::HubMessage>, echo: bool) -> bool {
        let mut s = self.0.state.lock();
        if s.closed {
            return false;
        }
        let (lane, room) = if echo {
            (&mut s.echoes, ECHOES)
        } else {
            (&mut s.queue, CAPACITY)
        };
        if lane.len() >= room {
            return false;
        }
        lane.push_back(m);
        drop(s);
        self.0.ready.notify_one();
        true
    }

    /// Queue `m`, waiting while the queue is full; Err once the session is gone.
    pub(crate) async fn send(&self, m: Box<v1::HubMessage>) -> Result<(), Closed> {
        let mut m = Some(m);
        loop {
            let room = self.0.room.notified();
            tokio::pin!(room);
            // Registered before the check, so room made in between is not missed.
            room.as_mut().enable();
            {
                let mut s = self.0.state.lock();
                if s.closed {
                    return Err(Closed);
                }
                if s.queue.len() < CAPACITY {
                    if let Some(m) = m.take() {
                        s.queue.push_back(m);
                    }
                    drop(s);
                    self.0.ready.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// Whether the session is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.state.lock().closed
    }

    /// Take the next message (echoes first), waiting for one. Cancel-safe: a message is only
    /// taken when this returns it.
    pub(crate) async fn next(&self) -> Box<v1::HubMessage> {
        loop {
            if let Some(m) = self.pop() {
                return m;
            }
            // notify_one keeps a permit when nobody waits, so a message queued between the
            // check above and this wait still wakes it.
            self.0.ready.notified().await;
        }
    }

    fn pop(&self) -> Option<Box<v1::HubMessage>> {
        let mut s = self.0.state.lock();
        if let Some(m) = s.echoes.pop_front() {
            release_if_empty(&mut s.echoes);
            return Some(m);
        }
        let m = s.queue.pop_front()?;
        let was_full = s.queue.len() + 1 >= CAPACITY;
        release_if_empty(&mut s.queue);
        drop(s);
        if was_full {
            self.0.room.notify_waiters();
        }
        Some(m)
    }

    /// The session ended: drop what waits, refuse what comes, wake waiting senders.
    pub(crate) fn close(&self) {
        let mut s = self.0.state.lock();
        s.closed = true;
        s.echoes = VecDeque::new();
        s.queue = VecDeque::new();
        drop(s);
        self.0.room.notify_waiters();
    }
}

/// An idle session keeps no buffer from a burst (a relist sends hundreds of Works at once).
fn release_if_empty(q: &mut VecDeque<Box<v1::HubMessage>>) {
    if q.is_empty() && q.capacity() > 0 {
        *q = VecDeque::new();
    }
}

/// Closes the outbox when dropped: when the session's future ends however it ends.
pub(crate) struct CloseOnDrop(pub(crate) Outbox);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cceone_proto::v1::hub_message;

    fn goodbye(reason: &str) -> Box<v1::HubMessage> {
        Box::new(v1::HubMessage {
            msg: Some(hub_message::Msg::Goodbye(v1::Goodbye {
                reason: reason.into(),
            })),
        })
    }

    fn reason(m: &v1::HubMessage) -> &str {
        match &m.msg {
            Some(hub_message::Msg::Goodbye(g)) => &g.reason,
            _ => "",
        }
    }

    #[tokio::test]
    async fn echoes_go_first_then_the_queue_in_order() {
        let o = Outbox::default();
        assert!(o.try_send(goodbye("a")));
        assert!(o.try_send(goodbye("b")));
        assert!(o.try_send_echo(goodbye("echo")));
        assert_eq!(reason(&*o.next().await), "echo");
        assert_eq!(reason(&*o.next().await), "a");
        assert_eq!(reason(&*o.next().await), "b");
        for _ in 0..ECHOES {
            assert!(o.try_send_echo(goodbye("e")));
        }
        assert!(
            !o.try_send_echo(goodbye("e")),
            "echoes beyond the lane are dropped"
        );
    }

    #[tokio::test]
    async fn a_full_queue_makes_send_wait_until_room_and_close_fails_it() {
        let o = Outbox::default();
        for i in 0..CAPACITY {
            o.send(goodbye(&i.to_string())).await.unwrap();
        }
        assert!(!o.try_send(goodbye("over")));
        let sender = {
            let o = o.clone();
            tokio::spawn(async move { o.send(goodbye("late")).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !sender.is_finished(),
            "send must wait while the queue is full"
        );
        assert_eq!(reason(&*o.next().await), "0");
        assert_eq!(sender.await.unwrap(), Ok(()));
        for i in 1..CAPACITY {
            assert_eq!(reason(&*o.next().await), i.to_string());
        }
        assert_eq!(reason(&*o.next().await), "late");
        // Full again, a sender waits; closing fails it and everything after.
        for _ in 0..CAPACITY {
            o.send(goodbye("x")).await.unwrap();
        }
        let sender = {
            let o = o.clone();
            tokio::spawn(async move { o.send(goodbye("late")).await })
        };
        tokio::task::yield_now().await;
        drop(CloseOnDrop(o.clone()));
        assert_eq!(sender.await.unwrap(), Err(Closed));
        assert!(o.is_closed());
        assert!(!o.try_send(goodbye("after")));
        assert!(!o.try_send_echo(goodbye("after")));
    }

    #[tokio::test]
    async fn next_waits_for_a_message_sent_later() {
        let o = Outbox::default();
        let taker = {
            let o = o.clone();
            tokio::spawn(async move { reason(&*o.next().await).to_string() })
        };
        tokio::task::yield_now().await;
        assert!(o.try_send(goodbye("later")));
        assert_eq!(taker.await.unwrap(), "later");
    }
}
