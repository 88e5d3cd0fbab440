//! The rows of the benchmark: every transport it measures, its names, and what it
//! can measure.

/// A measured transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tr {
    Floor,
    Ceiling,
    Spsc,
    SpscZc,
    Mpmc,
    Mpmc2x2,
    Blocking,
    ChanMsgq,
    Crossbeam,
    Semop,
    Pipe,
    Unix,
    Msgq,
    Frames,
    FramesZc,
}

impl Tr {
    /// Every row, in the table's order.
    pub const ALL: [Tr; 15] = [
        Tr::Floor,
        Tr::Ceiling,
        Tr::Spsc,
        Tr::SpscZc,
        Tr::Frames,
        Tr::FramesZc,
        Tr::Mpmc,
        Tr::Mpmc2x2,
        Tr::Crossbeam,
        Tr::Blocking,
        Tr::Semop,
        Tr::ChanMsgq,
        Tr::Pipe,
        Tr::Unix,
        Tr::Msgq,
    ];

    /// Name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Tr::Floor => "floor",
            Tr::Ceiling => "ceiling",
            Tr::Spsc => "spsc",
            Tr::SpscZc => "spsc-zc",
            Tr::Mpmc => "mpmc",
            Tr::Mpmc2x2 => "mpmc2x2",
            Tr::Blocking => "blocking",
            Tr::Crossbeam => "crossbeam",
            Tr::Semop => "semop",
            Tr::ChanMsgq => "msgq-chan",
            Tr::Pipe => "pipe",
            Tr::Unix => "unix",
            Tr::Msgq => "msgq",
            Tr::Frames => "frames",
            Tr::FramesZc => "frames-zc",
        }
    }

    /// Name in the table and the plot.
    pub fn label(self) -> &'static str {
        match self {
            Tr::Floor => "raw line (floor)",
            Tr::Ceiling => "hand ring (ceiling)",
            Tr::Spsc => "sysvring spsc",
            Tr::SpscZc => "sysvring zero-copy",
            Tr::Mpmc => "sysvring mpmc 1x1",
            Tr::Mpmc2x2 => "sysvring mpmc NxN",
            Tr::Blocking => "sysvring blocking",
            Tr::Crossbeam => "crossbeam NxN threads",
            Tr::Semop => "raw semop (wake floor)",
            Tr::ChanMsgq => "sysvring msgq",
            Tr::Pipe => "pipe",
            Tr::Unix => "unix stream",
            Tr::Msgq => "sysv msgq",
            Tr::Frames => "sysvring frames",
            Tr::FramesZc => "sysvring frames zc",
        }
    }

    /// [`Tr::label`] with the producer and consumer counts of the NxN rows filled in.
    pub fn label_for(self, pairs: usize) -> String {
        self.label().replace("NxN", &format!("{pairs}x{pairs}"))
    }

    /// Whether the row measures throughput.
    pub fn throughput(self) -> bool {
        !matches!(self, Tr::Floor | Tr::Semop)
    }

    /// Whether the row measures latency.
    pub fn latency(self) -> bool {
        !matches!(
            self,
            Tr::Ceiling | Tr::Mpmc2x2 | Tr::Crossbeam | Tr::Frames | Tr::FramesZc
        )
    }

    /// The row a frame row is compared with in the same run: the fixed-size SPSC
    /// channel of the mean frame size, moved the same way (copies or in place).
    pub fn reference(self) -> Option<Tr> {
        match self {
            Tr::Frames => Some(Tr::Spsc),
            Tr::FramesZc => Some(Tr::SpscZc),
            _ => None,
        }
    }

    /// Whether the row is one producer and one consumer process, one message at a
    /// time: what the hand ring bounds (a figure above it is suspect).
    pub fn bounded_by_ceiling(self) -> bool {
        !matches!(
            self,
            Tr::Ceiling | Tr::Mpmc2x2 | Tr::Crossbeam | Tr::Frames | Tr::FramesZc
        ) && self.throughput()
    }

    /// Whether the row is a round trip that the raw line bounds from below.
    pub fn bounded_by_floor(self) -> bool {
        self != Tr::Floor && self.latency()
    }
}

/// The transports, as `--help` lists them.
pub const HELP: &str = "\
Transports (names for --transports):
  floor     raw cache-line ping-pong through a SysV segment: the latency floor
  ceiling   hand-written SPSC ring in a SysV segment: the throughput ceiling
  spsc      sysvring SPSC channel
  spsc-zc   sysvring SPSC with send_with/recv_with: written and read in place
  frames    sysvring byte frames of 16 B-4 KiB (uniform lengths, fixed seed), copied
            (send_bytes/recv_into); MB/s are the bytes moved. Reference: spsc at
            2 KiB (the mean frame), measured in the same run (goal >= 0.8x)
  frames-zc the same frames written and read in place (reserve/recv_with);
            reference: spsc-zc at 2 KiB
  mpmc      sysvring MPMC channel, 1 producer x 1 consumer
  mpmc2x2   sysvring MPMC channel, 2 producer and 2 consumer processes (throughput;
            --pairs N for NxN)
  crossbeam crossbeam-channel, 2 producer and 2 consumer threads in one process
            (throughput; --pairs N for NxN): the in-process reference for mpmc2x2
  blocking  sysvring SPSC whose receivers never spin (Spin::Never): they sleep
  semop     raw mailbox + one semop(2) post and one sleeping semop per message
            (latency): the kernel wake-up floor for blocking
  msgq-chan sysvring SPSC channel on the message-queue transport
  pipe      anonymous pipe, one write(2) per message
  unix      Unix stream socket pair, one write(2) per message
  msgq      System V message queue, one msgsnd(2) per message

Ratios: throughput against the hand ring (ceiling) and the pipe; median latency
against the raw line (floor) and the pipe, where those were measured. A figure
more than 5 % beyond the ceiling or the floor is marked `!` (suspect: the reference run was
disturbed).

Ctrl-C (SIGINT) or SIGTERM stops the run: every child and System V object it made
is removed before it exits (status 130 or 143).";
