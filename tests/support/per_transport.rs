//! The conformance macro: every behaviour that both transports promise is written
//! once, as a generic body `fn case(t: Transport)`, and [`per_transport!`]
//! instantiates one `#[test]` per transport for it (after iceoryx2's
//! `instantiate_conformance_tests_with_module!`).
//!
//! ```ignore
//! fn role_taken_for_a_second_spsc_sender(t: Transport) { /* ... */ }
//!
//! per_transport!(role_taken_for_a_second_spsc_sender, /* more cases */);
//! // -> shm_ring::role_taken_for_a_second_spsc_sender
//! //    msgq::role_taken_for_a_second_spsc_sender
//! ```
//!
//! Run one transport's cases with `cargo test --test errors_open shm_ring::` (or `msgq::`).
//! Behaviours only the ring has (its shared counters, zero-copy access in place,
//! crafted segment headers, messages outliving removal) stay plain `#[test]`s, each
//! with a comment saying why.

/// Instantiates each listed case (a `fn(sysvring::Transport)` of the invoking file)
/// as `shm_ring::<case>` and `msgq::<case>`. Attributes written before a case (e.g.
/// `#[ignore]`) are applied to both instances. Invoke it once per test file.
#[allow(unused_macros)] // Only the files with per-transport cases invoke it.
macro_rules! per_transport {
    ($($(#[$attr:meta])* $case:ident),* $(,)?) => {
        /// The conformance cases on the shared-memory ring transport.
        mod shm_ring {
            $(
                $(#[$attr])*
                #[test]
                fn $case() {
                    super::$case(::sysvring::Transport::ShmRing)
                }
            )*
        }

        /// The conformance cases on the message-queue transport.
        mod msgq {
            $(
                $(#[$attr])*
                #[test]
                fn $case() {
                    super::$case(::sysvring::Transport::MessageQueue)
                }
            )*
        }
    };
}
