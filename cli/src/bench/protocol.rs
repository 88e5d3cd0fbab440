//! What the parent tells a child and what the child answers, as typed values: the
//! parent passes one [`ChildSpec`] (JSON, one argument after the hidden
//! [`CHILD_COMMAND`]); the child writes [`ChildMsg`]s on its stderr, one JSON
//! document a line. Both sides parse them here and nowhere else.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Result;

/// The hidden subcommand that runs a child role.
pub const CHILD_COMMAND: &str = "__bench-child";

/// How long a child waits for the start signal, and for a peer's message.
pub const WAIT: Duration = Duration::from_secs(20);

/// Everything a child needs: the message size, the time box, the start semaphore,
/// where it runs, what it does and through what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSpec {
    /// Message size in bytes.
    pub size: usize,
    /// Time box of a run, in seconds (when `count` of the role is `None`).
    pub secs: f64,
    /// How long after the first message a consumer starts its window, in seconds.
    pub warm: f64,
    /// The parent's start semaphore set.
    pub go: i32,
    /// The parent's pid: the child dies with it.
    pub parent: i32,
    /// The CPU to pin the child on.
    pub cpu: Option<usize>,
    /// What the child does.
    pub role: Role,
    /// Through what.
    pub wire: Wire,
}

/// What a child does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Role {
    /// Sends for the time box or `count` messages; `producer` tags its sequence
    /// numbers.
    Produce { producer: u64, count: Option<u64> },
    /// Receives and checks every sequence number of `producers` producers (in order
    /// per producer when `exact`).
    Consume { producers: usize, exact: bool },
    /// Sends, waits for the echo, measures round trips.
    Ping { count: Option<u64> },
    /// Echoes what it receives.
    Pong,
    /// The in-process reference: `pairs` producer and consumer threads over a
    /// crossbeam channel of `cap` slots.
    Threads {
        pairs: u64,
        cap: usize,
        count: Option<u64>,
    },
}

/// `sysvring::Flavor` on the wire: its header word (the library has no serde).
mod flavor_word {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use sysvring::Flavor;

    pub fn serialize<S: Serializer>(f: &Flavor, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(f.word())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Flavor, D::Error> {
        let w = u32::deserialize(d)?;
        Flavor::from_word(w).ok_or_else(|| D::Error::custom(format!("no flavor has word {w}")))
    }
}

/// The sysvring channels of a child: `fwd` carries data and pings, `back` pongs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SysvWire {
    pub fwd: i32,
    pub back: Option<i32>,
    #[serde(with = "flavor_word")]
    pub flavor: sysvring::Flavor,
    /// Receivers never spin (`Spin::Never`).
    pub spin_never: bool,
}

/// Through what a child sends and receives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Wire {
    /// sysvring channels, by value.
    Sysv(SysvWire),
    /// sysvring channels, written and read in place (`send_with`/`recv_with`).
    SysvInPlace(SysvWire),
    /// The hand-written ring in segment `shm` with `cap` slots.
    Hand { shm: i32, cap: usize },
    /// The spun-on mailboxes in segment `shm`: the latency floor.
    Mailbox { shm: i32 },
    /// Mailboxes in `shm` plus a semaphore post per message in set `sem`.
    SemMail { shm: i32, sem: i32 },
    /// Stdin and stdout (a pipe or a Unix socket).
    Stream,
    /// The System V message queue `msgq`.
    Msgq { msgq: i32 },
    /// Threads of the child itself (the role is [`Role::Threads`]).
    Threads,
    /// The sysvring frame channel at `key` (frames of 16 B to 4 KiB, `bench::frames`):
    /// copied (`send_bytes`, `recv_into`), or in place (`reserve`, `recv_with`).
    Frames { key: i32, zero_copy: bool },
}

/// What a child reports when it is done.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Report {
    /// A producer: messages sent, seconds it sent for.
    Sent { sent: u64, secs: f64 },
    /// A consumer: messages received, and messages and seconds inside its window.
    Received { recv: u64, wn: u64, ws: f64 },
    /// A frame consumer: as `Received`, and the bytes inside its window.
    ReceivedBytes {
        recv: u64,
        wn: u64,
        wbytes: u64,
        ws: f64,
    },
    /// The threads reference: both.
    Both {
        sent: u64,
        recv: u64,
        wn: u64,
        ws: f64,
        secs: f64,
    },
    /// A pinger: round trips kept and their distribution, in nanoseconds.
    Latency {
        rtts: u64,
        min: u32,
        p50: u32,
        p99: u32,
        p999: u32,
        mean: f64,
    },
    /// A ponger: messages echoed.
    Echoed { echoed: u64 },
}

/// One line of a child's stderr.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChildMsg {
    /// Connected; waiting for the start signal.
    Ready,
    /// Done.
    Done(Report),
    /// Failed (the child exits with status 1).
    Failed(String),
}

impl ChildSpec {
    /// The argument that carries the spec.
    pub fn to_arg(&self) -> String {
        serde_json::to_string(self).expect("a spec serializes")
    }

    /// Parses the argument of a child.
    pub fn from_arg(arg: &str) -> Result<ChildSpec> {
        serde_json::from_str(arg).map_err(|e| format!("bad child spec: {e}").into())
    }
}

impl ChildMsg {
    /// Writes the message as one line on stderr.
    pub fn emit(&self) {
        eprintln!(
            "{}",
            serde_json::to_string(self).expect("a message serializes")
        );
    }

    /// Parses one line of a child's stderr; `None` for anything else (a panic
    /// message, a warning), which the parent keeps as a note.
    pub fn parse(line: &str) -> Option<ChildMsg> {
        serde_json::from_str(line).ok()
    }
}
