//! One side of an SPSC ring shared by the threads of a process: [`Exclusive`].
//!
//! The SPSC algorithm needs a single producer and a single consumer. Across
//! processes the roles are exclusive (a semaphore taken with `SEM_UNDO`); inside the
//! process that holds a role, a `Sender`/`Receiver` is `Sync` and its clones share
//! the role, so concurrent calls from several threads are serialized here by a small
//! lock: one uncontended atomic swap per call. A call never blocks while holding it
//! except inside the user's closure of `send_with`/`recv_with`, which must not use
//! the same handle again (that is reported with a panic, not a hang).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytemuck::Pod;

use crate::ring::spsc::{Consumer, Producer};

/// An SPSC side behind a lock (see the module docs).
#[derive(Debug)]
pub(crate) struct Exclusive<Q> {
    busy: AtomicBool,
    /// The thread holding the lock (an address unique to it), for reporting
    /// re-entrant use instead of spinning forever.
    holder: AtomicUsize,
    q: UnsafeCell<Q>,
}

// SAFETY: `Q` is only reached through `with`, which holds the lock, so one thread at a
// time uses it: sharing an `Exclusive` between threads is sound when `Q` may be sent
// between them.
unsafe impl<Q: Send> Sync for Exclusive<Q> {}

/// An address unique to the calling thread while it lives.
#[inline(always)]
fn thread_token() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

impl<Q> Exclusive<Q> {
    pub(crate) fn new(q: Q) -> Exclusive<Q> {
        Exclusive {
            busy: AtomicBool::new(false),
            holder: AtomicUsize::new(0),
            q: UnsafeCell::new(q),
        }
    }

    /// Runs `f` on the side, holding the lock (released even if `f` panics). `f`
    /// runs no user code (it cannot re-enter).
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&Q) -> R) -> R {
        self.lock();
        struct Unlock<'a, Q>(&'a Exclusive<Q>);
        impl<Q> Drop for Unlock<'_, Q> {
            #[inline(always)]
            fn drop(&mut self) {
                // SYNC(busy): Release; pairs with the Acquire of the next holder.
                self.0.busy.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(self);
        // SAFETY: we hold the lock, so no other thread uses `q` until `_unlock` drops.
        f(unsafe { &*self.q.get() })
    }

    /// Takes the lock.
    #[inline(always)]
    fn lock(&self) {
        // SYNC(busy): Acquire on taking the lock; pairs with the Release in the
        // unlocking guards: the previous holder's accesses to `q` happen before ours.
        if self.busy.swap(true, Ordering::Acquire) {
            self.contended();
        }
    }

    /// As [`with`](Self::with), for an `f` that runs the user's closure: records this
    /// thread as the holder, so a re-entrant call panics instead of spinning forever.
    #[inline]
    fn with_user<R>(&self, f: impl FnOnce(&Q) -> R) -> R {
        self.lock();
        self.holder.store(thread_token(), Ordering::Relaxed);
        struct Unlock<'a, Q>(&'a Exclusive<Q>);
        impl<Q> Drop for Unlock<'_, Q> {
            #[inline(always)]
            fn drop(&mut self) {
                // Names a holder only while it holds the lock.
                self.0.holder.store(0, Ordering::Relaxed);
                // SYNC(busy): Release; pairs with the Acquire of the next holder.
                self.0.busy.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(self);
        // SAFETY: we hold the lock, so no other thread uses `q` until `_unlock` drops.
        f(unsafe { &*self.q.get() })
    }

    #[cold]
    fn contended(&self) {
        let mut spins = 0u32;
        loop {
            if self.holder.load(Ordering::Relaxed) == thread_token()
                && self.busy.load(Ordering::Relaxed)
            {
                panic!(
                    "sysvring: an SPSC sender or receiver was used again from inside its \
                     own send_with/recv_with closure"
                );
            }
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
            if !self.busy.load(Ordering::Relaxed) && !self.busy.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }
}

impl<T: Pod> Exclusive<Producer<T>> {
    #[inline(always)]
    pub(crate) fn push(&self, v: T) -> Result<(), T> {
        self.with(|p| p.push(v))
    }

    #[inline]
    pub(crate) fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.with_user(|p| p.push_with(f))
    }

    #[inline]
    pub(crate) fn push_slice(&self, vs: &[T]) -> usize {
        self.with(|p| p.push_slice(vs))
    }

    /// The untyped path of the C interface (`transport::raw`); `f` may run C code.
    #[inline]
    pub(crate) fn push_raw<R>(&self, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        self.with_user(|p| p.push_raw(f))
    }
}

impl<T: Pod> Exclusive<Consumer<T>> {
    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<T> {
        self.with(|c| c.pop())
    }

    #[inline]
    pub(crate) fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.with_user(|c| c.pop_with(f))
    }

    #[inline]
    pub(crate) fn pop_slice(&self, out: &mut [T]) -> usize {
        self.with(|c| c.pop_slice(out))
    }

    /// The untyped path of the C interface (`transport::raw`); `f` may run C code.
    #[inline]
    pub(crate) fn pop_raw<R>(&self, f: impl FnOnce(*const u8) -> R) -> Option<R> {
        self.with_user(|c| c.pop_raw(f))
    }
}
