//! The byte-frame rows (`frames`, `frames-zc`): what their children share. A producer
//! sends frames of [`FRAME_MIN`]..=[`FRAME_MAX`] bytes, lengths uniform from a fixed
//! seed ([`Lengths`]), each starting with its sequence number; the consumer draws the
//! same lengths and checks both, reads the frame as a fixed-size consumer reads a
//! message ([`touch`]) and counts the bytes of its window ([`FrameWindow`]), so the
//! row's MB/s is bytes moved, not frames times a size.
//!
//! The reference of each row is the fixed-size SPSC channel of the mean frame size
//! ([`FRAME_MEAN_SIZE`]) in the same run, moved the same way: `frames` (copies:
//! `send_bytes`, `recv_into`) against `spsc` (`send`, `recv`), `frames-zc` (in place:
//! `reserve`, `recv_with`) against `spsc-zc` (`send_with`, `recv_with`).

use std::time::{Duration, Instant};

/// The shortest frame of the rows.
pub const FRAME_MIN: usize = 16;
/// The longest frame of the rows.
pub const FRAME_MAX: usize = 4096;
/// The reference's message size: the mean frame, (16 + 4096) / 2 = 2056 bytes,
/// rounded to the nearest message size the benchmark has.
pub const FRAME_MEAN_SIZE: usize = 2048;

/// The frame lengths of a run: uniform in `FRAME_MIN..=FRAME_MAX`, from a fixed seed
/// (xorshift64*), the same sequence in the producer and the consumer.
pub struct Lengths(u64);

impl Lengths {
    pub fn new() -> Lengths {
        Lengths(0x9e37_79b9_7f4a_7c15)
    }

    #[inline]
    pub fn next_len(&mut self) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        FRAME_MIN + (r % (FRAME_MAX - FRAME_MIN + 1) as u64) as usize
    }
}

/// What a consumer does with a frame: as `BenchMsg::touch`, one word of every 64
/// bytes and the last word; returns the sequence number (the first word).
#[inline]
pub fn touch(b: &[u8]) -> u64 {
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let mut x = 0;
    let mut i = 64;
    while i + 8 <= b.len() {
        x ^= word(i);
        i += 64;
    }
    x ^= word(b.len() - 8);
    std::hint::black_box(x);
    word(0)
}

/// The consumer's window of `child::Window` (it starts `warm` after the first frame
/// and ends at the last multiple of 64 received), counting bytes too.
pub struct FrameWindow {
    warm: Duration,
    n: u64,
    bytes: u64,
    first: Option<Instant>,
    base: Option<(u64, u64, Duration)>,
    last: (u64, u64, Duration),
}

impl FrameWindow {
    pub fn new(warm: Duration) -> FrameWindow {
        FrameWindow {
            warm,
            n: 0,
            bytes: 0,
            first: None,
            base: None,
            last: (0, 0, Duration::ZERO),
        }
    }

    /// Counts one frame of `len` bytes.
    #[inline]
    pub fn received(&mut self, len: usize) {
        let before = self.bytes;
        self.n += 1;
        self.bytes += len as u64;
        match self.first {
            None => self.first = Some(Instant::now()),
            Some(t) if self.n % 64 == 1 => {
                let e = t.elapsed();
                self.last = (self.n - 1, before, e);
                if self.base.is_none() && e >= self.warm {
                    self.base = Some(self.last);
                }
            }
            Some(_) => {}
        }
    }

    /// Frames received, and frames, bytes and time inside the window.
    pub fn finish(self) -> (u64, u64, u64, Duration) {
        let (n0, b0, t0) = self.base.unwrap_or_default();
        (
            self.n,
            self.last.0.saturating_sub(n0),
            self.last.1.saturating_sub(b0),
            self.last.2.saturating_sub(t0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lengths_are_uniform_over_the_range_with_the_mean_of_the_reference() {
        let mut l = Lengths::new();
        let n = 1_000_000;
        let (mut lo, mut hi, mut sum) = (usize::MAX, 0, 0u64);
        for _ in 0..n {
            let x = l.next_len();
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x as u64;
        }
        assert_eq!((lo, hi), (FRAME_MIN, FRAME_MAX));
        let mean = sum as f64 / n as f64;
        assert!((mean - 2056.0).abs() < 5.0, "{mean}");
        assert!((mean / FRAME_MEAN_SIZE as f64 - 1.0).abs() < 0.01);
    }

    #[test]
    fn the_window_counts_bytes_at_the_same_points_as_frames() {
        let mut w = FrameWindow::new(Duration::ZERO);
        for _ in 0..1000 {
            w.received(100);
        }
        let (n, wn, wb, _) = w.finish();
        assert_eq!(n, 1000);
        assert_eq!(wb, wn * 100);
    }
}
