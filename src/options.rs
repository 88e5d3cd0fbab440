//! Channel options and counters shared by every layer (a leaf module: it imports
//! nothing from the crate): [`Flavor`], [`Transport`], [`Spin`], [`Stats`].

use std::time::Duration;

/// The queue algorithm of a channel; also the word a segment's header stores for it
/// (`Spsc` = 1, `Mpmc` = 2: one name for the idea in every layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum Flavor {
    /// One sender and one receiver at a time (exclusive roles); the fastest.
    #[default]
    Spsc = 1,
    /// Any number of senders and receivers, in any processes (per-slot sequence
    /// numbers).
    Mpmc = 2,
}

impl Flavor {
    /// Decodes a header's flavor word (`None` for a word no flavor has).
    pub fn from_word(v: u32) -> Option<Flavor> {
        match v {
            1 => Some(Flavor::Spsc),
            2 => Some(Flavor::Mpmc),
            _ => None,
        }
    }

    /// The word a segment's header stores for this flavor.
    pub fn word(self) -> u32 {
        self as u32
    }
}

/// Where a channel's messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// A ring in a System V shared-memory segment.
    ShmRing,
    /// A System V message queue (one `msgsnd` per message).
    MessageQueue,
    /// Shared memory, or the message queue when no segment can be made.
    #[default]
    Auto,
}

/// How long a blocked side spins before it sleeps in the kernel.
///
/// Spinning on the ring polls once per CPU spin hint (a message is seen within one
/// poll of its arrival), reads the clock every 64 polls (the budget is checked then,
/// so the shortest spin is 64 polls, a few microseconds) and, after a few thousand
/// polls, also yields the CPU now and then in case the peer shares it. A full ring's
/// sender polls less often (the receiver has plenty to read meanwhile). The
/// message-queue transport polls with a system call each time, with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spin {
    /// Never spin: register and sleep at once (least CPU, highest latency).
    Never,
    /// Spin for up to this long, then sleep.
    For(Duration),
    /// Never sleep: spin until done. Lowest latency, one busy core per blocked side.
    /// Peer presence and deadlines are still checked.
    Forever,
}

impl Default for Spin {
    /// Spin for 50 µs: about twice a kernel wake-up on common hardware, so a busy
    /// channel stays off the kernel while an idle one costs ~0 CPU.
    fn default() -> Spin {
        Spin::For(Duration::from_micros(50))
    }
}

/// Counters of a channel. On the shared-memory ring they are shared by every process
/// using it; on the message queue (which has no shared word to count in) `sent`,
/// `received` and `skipped` count what this process did, and the live counts are
/// the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Messages sent so far (positions claimed by senders).
    pub sent: u64,
    /// Messages received so far.
    pub received: u64,
    /// Wake-ups posted to sleeping peers (semaphore increments).
    pub wakeups: u64,
    /// Times a blocked side went to sleep in the kernel.
    pub sleeps: u64,
    /// MPMC slots skipped because their producer died before publishing.
    pub skipped: u64,
    /// Live senders (from the kernel's `SEM_UNDO` count).
    pub senders: u32,
    /// Live receivers (likewise).
    pub receivers: u32,
}
