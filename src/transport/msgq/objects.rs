//! A process's hold on one message-queue channel: [`MsgqObjects`] (the queue, the
//! companion semaphore set), connect/disconnect and peer presence, and the
//! non-blocking send and receive of one frame. Creating and opening (`setup.rs`) and
//! waiting (`wait.rs`) add their methods in their own files.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Error;
use crate::options::Flavor;
use crate::sys::{self, Key, MsgQueue, RecvSelect, SemOp, SemSet};
use crate::transport::presence;
use crate::transport::setup::{self, Ownership};
use crate::transport::terms::Side;

use super::sems::{
    S_EVER_RECEIVERS, S_EVER_SENDERS, S_HOLDERS, S_RECEIVERS, S_RECEIVER_ROLE, S_SENDERS,
    S_SENDER_ROLE,
};

/// Wrong-sized frames one non-blocking receive drops at most.
const MAX_DROPS_PER_CALL: usize = 64;

/// `mtype` of every data message.
pub(crate) const DATA: i64 = 1;

/// This process's count in [`S_HOLDERS`] (taken with `SEM_UNDO` when the channel is
/// made or opened, given back on drop by the process that took it: a forked child
/// holds nothing, as its kernel undo list is empty).
#[derive(Debug)]
pub(crate) struct Hold {
    fork_gen: u64,
}

impl Hold {
    pub(super) fn take(sems: &SemSet) -> Result<Hold, Error> {
        match sems.op(&[SemOp::new(S_HOLDERS, 1).undo()]) {
            Ok(()) => Ok(Hold {
                fork_gen: sys::fork_generation(),
            }),
            Err(e) if e.is_removed() => Err(Error::Removed),
            Err(e) => Err(e.into()),
        }
    }
}

/// How many queue endpoints of each side (senders, receivers) this process has
/// dropped, on any channel: what the queue has in place of the ring's shared mirror
/// of the counts (`link::Mirror::Queue`). An endpoint of the other side that sees the
/// count move asks the kernel at its next look (a send, a failed poll), so a peer
/// dropped in this process is seen at once without a syscall per message.
/// Process-wide rather than per `MsgqObjects`, so two handles of one channel opened
/// apart see each other's drops.
static DEPARTED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The departure count of `side` (see [`DEPARTED`]).
pub(crate) fn departed(side: Side) -> &'static AtomicU64 {
    match side {
        Side::Send => &DEPARTED[0],
        Side::Recv => &DEPARTED[1],
    }
}

/// Process-local state of one message-queue channel.
#[derive(Debug)]
pub(crate) struct MsgqObjects {
    pub(super) hold: Hold,
    pub(crate) sems: SemSet,
    pub(crate) queue: MsgQueue,
    pub(crate) key: Key,
    pub(crate) kind: Flavor,
    pub(super) capacity: u64,
    pub(super) own: Ownership,
    pub(super) dropped: AtomicU64,
    /// Messages this process sent and received through the channel: the queue has
    /// no shared word to count in, and a semaphore would cost a system call per
    /// message, so the counts are process-local (one relaxed add per message, beside
    /// the `msgsnd`/`msgrcv` it counts).
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    /// Process-local: whether a peer of the other side (senders, receivers) was ever
    /// seen connected.
    pub(super) seen_peers: [AtomicBool; 2],
}

impl MsgqObjects {
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn len(&self) -> u64 {
        self.queue.stat().map(|s| s.qnum).unwrap_or(0)
    }

    /// Frames dropped because they had the wrong size (a foreign or hostile sender).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages this process sent through the channel.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Messages this process received from the channel.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Whether this process created the channel and will remove it on drop.
    pub(crate) fn is_owner(&self) -> bool {
        self.own.is_owner()
    }

    /// Gives up ownership: the objects stay after drop.
    pub(crate) fn disown(&self) {
        self.own.disown();
    }

    /// Removes the queue (and the messages still in it) and the semaphore set now.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        self.disown();
        setup::removed([self.queue.remove(), self.sems.remove()])
    }

    pub(crate) fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error> {
        let (count, role, ever) = match side {
            Side::Send => (S_SENDERS, S_SENDER_ROLE, S_EVER_SENDERS),
            Side::Recv => (S_RECEIVERS, S_RECEIVER_ROLE, S_EVER_RECEIVERS),
        };
        presence::register(&self.sems, count, role, exclusive)?;
        self.sems.set_val(ever, 1)?;
        Ok(())
    }

    pub(crate) fn disconnect(&self, side: Side, exclusive: bool) {
        let (count, role) = match side {
            Side::Send => (S_SENDERS, S_SENDER_ROLE),
            Side::Recv => (S_RECEIVERS, S_RECEIVER_ROLE),
        };
        presence::unregister(&self.sems, count, role, exclusive);
        // SYNC(departed): Release, after unregistering; pairs with the Acquire in
        // `Link::gone`: an endpoint that sees this increment reads the kernel's count
        // without us.
        departed(side).fetch_add(1, Ordering::Release);
    }

    /// Whether a peer of the other side may still act (see the ring's `peers_alive`).
    pub(crate) fn peers_alive(&self, side: Side) -> bool {
        let (count, ever, seen) = match side {
            Side::Recv => (S_SENDERS, S_EVER_SENDERS, &self.seen_peers[0]),
            Side::Send => (S_RECEIVERS, S_EVER_RECEIVERS, &self.seen_peers[1]),
        };
        // "A peer has connected" never becomes false again: once seen, one syscall
        // (the live count) answers.
        if !seen.load(Ordering::Relaxed) {
            match self.sems.get_val(ever) {
                Ok(0) => return true,
                Ok(_) => seen.store(true, Ordering::Relaxed),
                Err(_) => return false,
            }
        }
        self.sems.get_val(count).is_ok_and(|n| n > 0)
    }

    /// Sends one frame without blocking: `Ok(true)` sent, `Ok(false)` full.
    pub(crate) fn try_send_bytes(&self, bytes: &[u8]) -> Result<bool, ()> {
        match self.queue.send(DATA, bytes, true) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) if e.is_would_block() => Ok(false),
            Err(_) => Err(()),
        }
    }

    /// Receives one frame of exactly `buf.len()` bytes without blocking:
    /// `Ok(true)` received, `Ok(false)` empty. A frame of another size is dropped and
    /// counted (never handed out as a `T`).
    pub(crate) fn try_recv_bytes(&self, buf: &mut [u8]) -> Result<bool, ()> {
        self.try_recv_frame(buf, true).map(|n| n.is_some())
    }

    /// Receives one frame of at most `buf.len()` bytes (exactly, when `exact`)
    /// without blocking: `Ok(Some(len))` received, `Ok(None)` empty. A frame longer
    /// than `buf` (or, when `exact`, shorter) is dropped and counted, never handed out.
    pub(crate) fn try_recv_frame(&self, buf: &mut [u8], exact: bool) -> Result<Option<usize>, ()> {
        // A peer flooding wrong frames cannot keep a "try" busy: after this many drops
        // the call reports empty and the next one goes on.
        for _ in 0..MAX_DROPS_PER_CALL {
            match self.queue.recv(buf, RecvSelect::Type(DATA), true) {
                Ok((_, n)) if n == buf.len() || (!exact && n < buf.len()) => {
                    self.received.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(n));
                }
                Ok(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.is_would_block() => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    // Longer than the buffer (E2BIG, left in the queue): take it out
                    // unread.
                    if self.queue.discard(RecvSelect::Type(DATA), true).is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => return Err(()),
            }
        }
        Ok(None)
    }

    /// Whether a frame of `len` bytes fits in the queue now (`IPC_STAT`: the rule of
    /// `msgsnd`, bytes and message count within `msg_qbytes`); `Err` when the queue
    /// is gone. With one sender, a `msgsnd` after a `true` finds the room still
    /// there (a receiver only frees room).
    pub(crate) fn has_room(&self, len: usize) -> Result<bool, ()> {
        match self.queue.stat() {
            Ok(st) => Ok(st.cbytes.saturating_add(len as u64) <= st.qbytes
                && st.qnum.saturating_add(1) <= st.qbytes),
            Err(_) => Err(()),
        }
    }

    /// Bytes of the frames in the queue now (`msg_cbytes`).
    pub(crate) fn bytes_used(&self) -> u64 {
        self.queue.stat().map(|s| s.cbytes).unwrap_or(0)
    }
}

impl Drop for MsgqObjects {
    fn drop(&mut self) {
        if self.hold.fork_gen == sys::fork_generation() {
            let _ = self.sems.op(&[SemOp::new(S_HOLDERS, -1).nowait().undo()]);
        }
        if self.own.removes_on_drop() {
            let _ = self.remove();
        }
    }
}
