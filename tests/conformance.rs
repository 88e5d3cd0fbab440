//! The channel contract written once against the [`Channel`] trait and run on every
//! implementor: the shared-memory ring ([`ShmChannel`]), the message queue
//! ([`MsgqChannel`]) and the run-time choice ([`AnyChannel`], `Transport::Auto`), each
//! in both flavors. A new implementor passes by being added to `implementors!` below.

mod support;

use std::thread;
use std::time::Duration;

use support::create_unique;
use sysvring::{
    AnyChannel, Builder, Channel, Flavor, MsgqChannel, RecvTimeoutError, SendTimeoutError,
    ShmChannel, Transport, TryRecvError, TrySendError,
};

const TAG: u8 = 0x39;

/// A fresh channel of `u64` on `transport`, as the implementor `C`.
fn make<C: Channel<u64> + TryFrom<AnyChannel<u64>>>(
    transport: Transport,
    flavor: Flavor,
    capacity: usize,
) -> C
where
    <C as TryFrom<AnyChannel<u64>>>::Error: std::fmt::Debug,
{
    let ch = create_unique::<u64>(TAG, |b: Builder<u64>| {
        b.transport(transport).flavor(flavor).capacity(capacity)
    });
    C::try_from(ch).expect("the transport asked for")
}

/// FIFO order, exact capacity, `Full` only at `len() == capacity()`, `Empty` when
/// empty, `len`/`is_full`/`is_empty`, and the counters.
fn order_and_capacity<C: Channel<u64>>(ch: C) {
    let cap = ch.capacity();
    assert_eq!(cap, 5, "exact capacity");
    assert!(ch.is_empty());
    let tx = ch.sender().unwrap();
    let rx = ch.receiver().unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    for i in 0..cap as u64 {
        tx.try_send(i).unwrap();
    }
    assert!(ch.is_full());
    assert_eq!(ch.len(), cap);
    assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
    assert!(matches!(
        tx.send_timeout(99, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(99))
    ));
    for i in 0..cap as u64 {
        assert_eq!(rx.recv().unwrap(), i);
    }
    assert!(ch.is_empty());
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    ));
    let s = ch.stats();
    assert_eq!((s.senders, s.receivers), (1, 1));
}

/// Messages cross threads in order; dropping the sender disconnects the receiver
/// after it drained the channel.
fn stream_then_disconnect<C: Channel<u64>>(ch: C) {
    const N: u64 = 20_000;
    let tx = ch.sender().unwrap();
    let rx = ch.receiver().unwrap();
    let producer = thread::spawn(move || {
        for i in 0..N {
            tx.send(i).unwrap();
        }
    });
    for i in 0..N {
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(i));
    }
    producer.join().unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// A removed channel: what was sent is still received, then `Disconnected`.
fn remove_drains_then_disconnects<C: Channel<u64>>(ch: C) {
    let tx = ch.sender().unwrap();
    let rx = ch.receiver().unwrap();
    tx.send(7).unwrap();
    ch.remove().unwrap();
    if ch.transport() == Transport::ShmRing {
        // The segment stays mapped: the receiver drains it first.
        assert_eq!(rx.recv(), Ok(7));
    }
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());
}

/// Reports what the generic code sees of the implementor.
fn describes_itself<C: Channel<u64>>(ch: C, transport: Transport, flavor: Flavor) {
    assert_eq!(ch.flavor(), flavor);
    if transport != Transport::Auto {
        assert_eq!(ch.transport(), transport);
    }
    assert_ne!(ch.transport(), Transport::Auto, "a concrete transport");
    assert_eq!(ch.key(), ch.key());
}

/// One test per case, implementor and flavor.
macro_rules! implementors {
    ($($case:ident),* $(,)?) => {
        mod shm_ring {
            use super::*;
            $(
                #[test]
                fn $case() {
                    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
                        let ch: ShmChannel<u64> = make(Transport::ShmRing, flavor, 5);
                        super::run(stringify!($case), ch, Transport::ShmRing, flavor);
                    }
                }
            )*
        }
        mod msgq {
            use super::*;
            $(
                #[test]
                fn $case() {
                    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
                        let ch: MsgqChannel<u64> = make(Transport::MessageQueue, flavor, 5);
                        super::run(stringify!($case), ch, Transport::MessageQueue, flavor);
                    }
                }
            )*
        }
        mod auto {
            use super::*;
            $(
                #[test]
                fn $case() {
                    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
                        let ch: AnyChannel<u64> = make(Transport::Auto, flavor, 5);
                        super::run(stringify!($case), ch, Transport::Auto, flavor);
                    }
                }
            )*
        }
    };
}

/// Runs the case named `case` on `ch` (one generic entry point per implementor).
fn run<C: Channel<u64>>(case: &str, ch: C, transport: Transport, flavor: Flavor) {
    match case {
        "order_and_capacity" => order_and_capacity(ch),
        "stream_then_disconnect" => stream_then_disconnect(ch),
        "remove_drains_then_disconnects" => remove_drains_then_disconnects(ch),
        "describes_itself" => describes_itself(ch, transport, flavor),
        other => panic!("no case {other}"),
    }
}

implementors!(
    order_and_capacity,
    stream_then_disconnect,
    remove_drains_then_disconnects,
    describes_itself,
);

#[test]
fn the_wrong_transport_is_refused_and_the_channel_given_back() {
    let ch = create_unique::<u64>(TAG, |b| b.transport(Transport::MessageQueue));
    let err = ShmChannel::try_from(ch).unwrap_err();
    assert_eq!(err.expected, Transport::ShmRing);
    assert!(err.to_string().contains("MessageQueue"), "{err}");
    let back: MsgqChannel<u64> = err.channel.try_into().unwrap();
    assert_eq!(Channel::transport(&back), Transport::MessageQueue);
}
