//! The message types of the benchmark: plain byte arrays of a fixed size whose first
//! eight bytes carry a sequence number (little-endian) that receivers verify.
//!
//! bytemuck's `Pod` is implemented for arrays of the common sizes only (without its
//! `min_const_generics` feature), so the types are declared by a macro, one per size,
//! rather than as one `Msg<const N: usize>`.

/// A benchmark message: `Pod`, with a sequence number in its first eight bytes.
pub trait BenchMsg: sysvring::Message + Send + 'static {
    /// Size in bytes.
    const SIZE: usize;

    /// The sequence number.
    #[inline]
    fn seq(&self) -> u64 {
        let b = bytemuck::bytes_of(self);
        u64::from_le_bytes(b[..8].try_into().expect("messages are at least 8 bytes"))
    }

    /// What a consumer does with a message: reads one word of every 64 bytes and
    /// the last word (so every transport moves the whole message to the reader,
    /// whatever its alignment, even where the compiler could otherwise load just the
    /// sequence number) and returns the sequence number.
    #[inline]
    fn touch(&self) -> u64 {
        let b = bytemuck::bytes_of(self);
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        // In address order, as a reader walks a message (the prefetchers follow it).
        let mut x = 0;
        let mut i = 64;
        while i + 8 <= b.len() {
            x ^= word(i);
            i += 64;
        }
        x ^= word(b.len() - 8);
        std::hint::black_box(x);
        self.seq()
    }

    /// Sets the sequence number in place (the rest of the message is left alone, so a
    /// producer does not rewrite 4 KiB of zeros per message).
    #[inline]
    fn set_seq(&mut self, seq: u64) {
        bytemuck::bytes_of_mut(self)[..8].copy_from_slice(&seq.to_le_bytes());
    }
}

macro_rules! messages {
    ($($name:ident = $n:literal),* $(,)?) => {
        $(
            #[doc = concat!("A ", stringify!($n), "-byte message.")]
            #[repr(C)]
            #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
            pub struct $name(pub [u8; $n]);

            impl BenchMsg for $name {
                const SIZE: usize = $n;
            }
        )*

        /// The message sizes the benchmark supports.
        pub const SIZES: &[usize] = &[$($n),*];

        /// Runs `$body` with `$M` bound to the message type of `$size` bytes; the
        /// body must evaluate to a `Result<_, super::error::Error>`.
        macro_rules! with_msg {
            ($size:expr, $M:ident => $body:expr) => {
                match $size {
                    $($n => {
                        #[allow(dead_code)]
                        type $M = $crate::bench::msg::$name;
                        $body
                    })*
                    other => Err(format!("unsupported message size {other} B").into()),
                }
            };
        }
        pub(crate) use with_msg;
    };
}

messages!(
    Msg8 = 8,
    Msg16 = 16,
    Msg32 = 32,
    Msg64 = 64,
    Msg128 = 128,
    Msg256 = 256,
    Msg512 = 512,
    Msg1K = 1024,
    Msg2K = 2048,
    Msg4K = 4096,
);
