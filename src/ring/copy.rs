//! Copying a message into or out of a slot: [`copy_message`].
//!
//! A large copy through `memcpy` ends in glibc's `rep movsb` path, which on AMD Zen
//! machines slows down several-fold when the destination sits a little after the
//! source modulo 4 KiB (4K aliasing). A ring's slots move through every page offset
//! (the stride is the message plus its stamp, not a multiple of 4 KiB), so a by-value
//! send or receive of 4 KiB messages hit that case often: measured at about a tenth
//! of the hand ring's throughput. Large messages are therefore copied here with
//! 16-byte vector loads and stores (SSE2, part of every x86_64), which have no such
//! case; small ones stay with the compiler's inline copy.

/// From this size up a message is copied by the vector loop.
pub const LARGE: usize = 256;

/// Copies one `T` from `src` to `dst`.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `size_of::<T>()` bytes, both
/// aligned for `T`, and they do not overlap.
#[inline(always)]
pub unsafe fn copy_message<T: Copy>(src: *const T, dst: *mut T) {
    let n = std::mem::size_of::<T>();
    if n < LARGE {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, 1) };
        return;
    }
    // SAFETY: the caller's contract, in bytes.
    unsafe { copy_bytes(src.cast::<u8>(), dst.cast::<u8>(), n) }
}

/// Copies `n` bytes with 16-byte vector moves (x86_64), the tail with a plain copy.
///
/// # Safety
/// As for [`copy_message`], in bytes.
#[inline(never)]
pub unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
        let chunks = n / 64;
        let mut i = 0;
        while i < chunks {
            let off = i * 64;
            // SAFETY: off + 64 <= n: in bounds of both buffers; unaligned loads and
            // stores have no alignment requirement. The volatile-free intrinsics keep
            // the compiler from turning the loop back into a `memcpy` call only if it
            // cannot see through them, so the loop body is opaque (`black_box`).
            unsafe {
                let s = src.add(off).cast::<__m128i>();
                let d = dst.add(off).cast::<__m128i>();
                let a = _mm_loadu_si128(s);
                let b = _mm_loadu_si128(s.add(1));
                let c = _mm_loadu_si128(s.add(2));
                let e = _mm_loadu_si128(s.add(3));
                _mm_storeu_si128(d, a);
                _mm_storeu_si128(d.add(1), b);
                _mm_storeu_si128(d.add(2), c);
                _mm_storeu_si128(d.add(3), e);
            }
            i = std::hint::black_box(i) + 1;
        }
        let done = chunks * 64;
        // SAFETY: the remaining n - done bytes are in bounds of both buffers.
        unsafe { std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n - done) };
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    // SAFETY: the caller's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, n)
    };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn copies_every_byte_for_every_size_and_offset() {
        for n in [0, 1, 15, 63, 64, 65, 255, 256, 257, 1000, 4096, 4104, 8191] {
            for off in [0, 1, 8, 13] {
                let src: Vec<u8> = (0..n + off).map(|i| (i * 31 + 7) as u8).collect();
                let mut dst = vec![0xAAu8; n + off + 3];
                // SAFETY: both buffers hold n bytes from `off`, and do not overlap.
                unsafe { copy_bytes(src.as_ptr().add(off), dst.as_mut_ptr().add(off), n) };
                assert_eq!(&dst[off..off + n], &src[off..off + n], "n={n} off={off}");
                assert!(dst[..off].iter().all(|&b| b == 0xAA));
                assert!(dst[off + n..].iter().all(|&b| b == 0xAA), "no overrun");
            }
        }
    }

    #[test]
    fn copy_message_of_a_large_array() {
        let src = [7u64; 512];
        let mut dst = [0u64; 512];
        // SAFETY: two distinct arrays of the same type.
        unsafe { copy_message(&src, &mut dst) };
        assert_eq!(src, dst);
    }
}
