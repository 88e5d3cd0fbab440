//! One side of an SPSC ring shared by the threads of a process: [`Exclusive`].
//!
//! The SPSC algorithm needs a single producer and a single consumer. Across
//! processes the roles are exclusive (a semaphore taken with `SEM_UNDO`); inside the
//! process that holds a role, a `Sender`/`Receiver` is `Sync` and its clones share
//! the role, so concurrent calls from several threads must be serialized here.
//!
//! A lock with an atomic swap per call costs a locked instruction (a full barrier)
//! per message, about a third of SPSC throughput. So the side is **biased** to the
//! first thread that uses it (as a JVM's biased locks): that thread's calls take no
//! locked instruction and no fence, only plain stores to a flag on a line of its own
//! (`owner_busy`) around the operation. Another thread that uses the side takes the
//! lock (`busy`), **revokes** the bias once (the owner word becomes `REVOKED`), issues
//! an asymmetric barrier (`membarrier`: every running thread of the process executes a
//! full fence) and waits until the owner is not inside an operation; from then on
//! every call takes the lock, as before. A program that uses a side from one thread,
//! the common case, never pays for the lock; one that shares it pays what it paid
//! before. Without membarrier (old kernels, a seccomp filter) the side starts revoked.
//!
//! A call never blocks while holding the side except inside the user's closure of
//! `send_with`/`recv_with`, which must not use the same handle again (that is
//! reported with a panic, not a hang). docs/ARCHITECTURE.md §4 has the argument.

use std::cell::UnsafeCell;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicUsize, Ordering};

use bytemuck::Pod;

use crate::ring::spsc::{Consumer, Producer};

use super::payload::Put;
use crate::sys;

/// The owner word of a side nobody used yet.
const UNOWNED: usize = 0;
/// The owner word of a side whose bias was revoked: every call takes the lock.
const REVOKED: usize = usize::MAX;

/// A cache line of its own (the owner's flag is written per call).
#[repr(align(128))]
#[derive(Debug)]
struct Line<T>(T);

/// An SPSC side behind a biased lock (see the module docs).
#[derive(Debug)]
pub(crate) struct Exclusive<Q> {
    /// The id ([`thread_id`]) of the thread the side is biased to, `UNOWNED` or
    /// `REVOKED`. Written only under `busy`.
    owner: AtomicUsize,
    /// Set by the owner while it runs an operation without the lock.
    owner_busy: Line<AtomicBool>,
    /// The lock of every thread but the owner (and of everyone once revoked).
    busy: AtomicBool,
    /// The thread holding `busy` (its [`thread_id`]), for reporting re-entrant use
    /// instead of spinning forever.
    holder: AtomicUsize,
    q: UnsafeCell<Q>,
}

// SAFETY: `Q` is only reached through `with`/`with_user`, which either are the bias
// owner's (with `owner_busy` set and the bias checked after it; a revoker waits for
// `owner_busy` to clear after its barrier) or hold `busy`, so one thread at a time
// uses it: sharing an `Exclusive` between threads is sound when `Q` may be sent
// between them.
unsafe impl<Q: Send> Sync for Exclusive<Q> {}

/// A number unique to the calling thread while it lives: the address of a
/// thread-local (never 0 or `usize::MAX`). Another thread may get the same address
/// after this one exited: it then inherits the bias, which is sound, since the dead
/// thread is in no operation and its last writes to the side happen before the new
/// thread starts (the thread library hands the memory on under its own lock).
#[inline(always)]
fn thread_id() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

/// Clears the owner's flag when the operation ends (also on a panic).
struct OwnerDone<'a>(&'a AtomicBool);
impl Drop for OwnerDone<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SYNC(owner_busy): Release; pairs with the revoker's Acquire in `revoke`: our
        // accesses to `q` happen before its.
        self.0.store(false, Ordering::Release);
    }
}

/// Releases `busy` when the operation ends (also on a panic).
struct Unlock<'a, Q>(&'a Exclusive<Q>);
impl<Q> Drop for Unlock<'_, Q> {
    #[inline(always)]
    fn drop(&mut self) {
        // Names a holder only while it holds the lock.
        self.0.holder.store(UNOWNED, Ordering::Relaxed);
        // SYNC(busy): Release; pairs with the Acquire of the next holder.
        self.0.busy.store(false, Ordering::Release);
    }
}

impl<Q> Exclusive<Q> {
    pub(crate) fn new(q: Q) -> Exclusive<Q> {
        // Revocation needs the asymmetric barrier; without it, a plain lock.
        let owner = if sys::membarrier_registered() {
            UNOWNED
        } else {
            REVOKED
        };
        Exclusive {
            owner: AtomicUsize::new(owner),
            owner_busy: Line(AtomicBool::new(false)),
            busy: AtomicBool::new(false),
            holder: AtomicUsize::new(UNOWNED),
            q: UnsafeCell::new(q),
        }
    }

    /// Runs `f` on the side with exclusive use of it (see the module docs). `f` may
    /// run the user's closure: a re-entrant call from it panics.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&Q) -> R) -> R {
        let me = thread_id();
        let mut f = Some(f);
        if let Some(r) = self.biased(me, &mut f) {
            return r;
        }
        let f = f.take().expect("not called on the biased path");
        self.with_lock(me, f)
    }

    /// The owner's path alone: runs `f` (taking it out of `f`) when the side is
    /// biased to thread `me`; `None` (and `f` left in place) otherwise. Never calls
    /// out of line, so a caller whose `f` holds the address of a local (a message
    /// by value) does not make the compiler copy that local first.
    #[inline(always)]
    fn biased<R, F: FnOnce(&Q) -> R>(&self, me: usize, f: &mut Option<F>) -> Option<R> {
        if self.owner.load(Ordering::Relaxed) != me {
            return None;
        }
        let flag = &self.owner_busy.0;
        if flag.load(Ordering::Relaxed) {
            reentered();
        }
        // SYNC(owner_busy): a Dekker pair with `revoke`, made of this plain store, a
        // compiler fence and the load of `owner` below on our side, and the revoker's
        // store of REVOKED, membarrier (a full fence on our CPU) and load of
        // `owner_busy` on its: either we see REVOKED here, or it sees our flag and
        // waits for it to clear.
        flag.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let _done = OwnerDone(flag);
        if self.owner.load(Ordering::Relaxed) != me {
            return None;
        }
        let f = f.take()?;
        // SAFETY: biased to us and not revoked after our flag was up (above); a
        // re-entrant call from `f` is refused by the flag check.
        Some(f(unsafe { &*self.q.get() }))
    }

    /// The path of every thread but the owner: takes `busy` and, the first time,
    /// biases the side to this thread or revokes another thread's bias.
    #[cold]
    #[inline(never)]
    fn with_lock<R>(&self, me: usize, f: impl FnOnce(&Q) -> R) -> R {
        self.lock(me);
        let _unlock = Unlock(self);
        let first = match self.owner.load(Ordering::Relaxed) {
            UNOWNED => true,
            REVOKED => false,
            o if o == me => false,
            _ => {
                self.revoke();
                false
            }
        };
        self.holder.store(me, Ordering::Relaxed);
        // SAFETY: we hold `busy`, and no owner runs without it (none yet, revoked, or
        // us: the bias is taken only after `f`, so a re-entrant call from `f` finds
        // the lock held by us and panics).
        let r = f(unsafe { &*self.q.get() });
        if first {
            // The first user: the side is biased to us from our next call on.
            self.owner.store(me, Ordering::Relaxed);
        }
        r
    }

    /// Revokes the owner's bias (under `busy`) and waits until it is out of any
    /// operation.
    #[cold]
    fn revoke(&self) {
        self.owner.store(REVOKED, Ordering::Relaxed);
        // The asymmetric half of the Dekker pair in `with`: after this, an owner whose
        // flag is not visible to us will see REVOKED.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !sys::membarrier_global() {
            // Registered at `new`; a kernel refusing now is not expected.
            panic!("sysvring: membarrier failed while sharing an SPSC handle between threads");
        }
        let mut spins = 0u32;
        // SYNC(owner_busy): Acquire; pairs with the owner's Release in `OwnerDone`.
        while self.owner_busy.0.load(Ordering::Acquire) {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Takes `busy`.
    #[inline]
    fn lock(&self, me: usize) {
        // SYNC(busy): Acquire on taking the lock; pairs with the Release in `Unlock`:
        // the previous holder's accesses to `q` happen before ours.
        if self.busy.swap(true, Ordering::Acquire) {
            self.contended(me);
        }
    }

    #[cold]
    fn contended(&self, me: usize) {
        let mut spins = 0u32;
        loop {
            if self.holder.load(Ordering::Relaxed) == me && self.busy.load(Ordering::Relaxed) {
                reentered();
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

#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!(
        "sysvring: an SPSC sender or receiver was used again from inside its \
         own send_with/recv_with closure"
    );
}

impl<T: Pod> Exclusive<Producer<T>> {
    /// `msg` into the next slot, published; `Some(false)` when full, `None` when this
    /// thread is not the bias owner (the caller then takes its slow path, which goes
    /// through [`push_ptr`](Self::push_ptr)). Nothing here is out of line, so `msg`
    /// may point at the caller's argument without the compiler copying it first.
    #[inline(always)]
    pub(crate) fn push_biased(&self, msg: &impl Put) -> Option<bool> {
        let push = |p: &Producer<T>| {
            // SAFETY: `push_ptr` lends a free slot's payload of the element size,
            // aligned for it; shared memory never overlaps the mover's memory.
            p.push_ptr(|slot| unsafe { msg.put(slot) }).is_some()
        };
        self.biased(thread_id(), &mut Some(push))
    }

    #[inline]
    pub(crate) fn push_slice(&self, vs: &[T]) -> usize {
        self.with(|p| p.push_slice(vs))
    }

    /// [`push_ptr`](Self::push_ptr) for a plain copy (as [`pop_copy`](Self::pop_copy));
    /// `false` when full.
    #[inline(always)]
    pub(crate) fn push_copy(&self, f: impl FnOnce(*mut u8)) -> bool {
        self.push_ptr(f).is_some()
    }

    /// Lets `f` fill the next slot in place through a pointer (every send but the
    /// owner's fast path: typed, bytes, or a user's or C callback).
    #[inline(always)]
    pub(crate) fn push_ptr<R>(&self, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        self.with(|p| p.push_ptr(f))
    }
}

impl<T: Pod> Exclusive<Consumer<T>> {
    #[inline]
    pub(crate) fn pop_slice(&self, out: &mut [T]) -> usize {
        self.with(|c| c.pop_slice(out))
    }

    /// [`pop_ptr`](Self::pop_ptr) for a plain copy (the name the MPMC ring gives its
    /// guard-free twin); `false` when empty.
    #[inline(always)]
    pub(crate) fn pop_copy(&self, f: impl FnOnce(*const u8)) -> bool {
        self.pop_ptr(f).is_some()
    }

    /// Lets `f` read the next message in place through a pointer (every receive:
    /// typed, bytes, or a user's or C callback, which may not re-enter).
    #[inline(always)]
    pub(crate) fn pop_ptr<R>(&self, f: impl FnOnce(*const u8) -> R) -> Option<R> {
        self.with(|c| c.pop_ptr(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Arc;

    /// A non-atomic counter: a lost update shows two threads inside at once.
    #[derive(Debug, Default)]
    struct Counter(Cell<u64>);
    // SAFETY: used only through `Exclusive`, which serializes the threads.
    unsafe impl Send for Counter {}

    fn bump(e: &Exclusive<Counter>) {
        e.with(|c| {
            let v = c.0.get();
            std::hint::black_box(&c.0);
            c.0.set(v + 1);
        });
    }

    #[test]
    fn first_user_gets_the_bias_and_a_second_thread_revokes_it() {
        let registered = sys::membarrier_register();
        let e = Arc::new(Exclusive::new(Counter::default()));
        bump(&e);
        let me = thread_id();
        if registered {
            assert_eq!(
                e.owner.load(Ordering::Relaxed),
                me,
                "biased to the first user"
            );
        } else {
            assert_eq!(
                e.owner.load(Ordering::Relaxed),
                REVOKED,
                "no membarrier: a lock"
            );
        }
        const N: u64 = 200_000;
        let other = {
            let e = e.clone();
            std::thread::spawn(move || (0..N).for_each(|_| bump(&e)))
        };
        (0..N).for_each(|_| bump(&e));
        other.join().unwrap();
        assert_eq!(e.with(|c| c.0.get()), 2 * N + 1, "no update lost");
        assert_eq!(e.owner.load(Ordering::Relaxed), REVOKED);
    }

    #[test]
    fn many_threads_each_get_exclusive_use() {
        sys::membarrier_register();
        let e = Arc::new(Exclusive::new(Counter::default()));
        const N: u64 = 50_000;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || (0..N).for_each(|_| bump(&e)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(e.with(|c| c.0.get()), 4 * N);
    }

    #[test]
    fn reentry_panics_in_both_modes_and_leaves_the_side_usable() {
        sys::membarrier_register();
        let e = Exclusive::new(Counter::default());
        // First call: taken under the lock (the bias comes after it).
        let r = catch_unwind(AssertUnwindSafe(|| e.with(|_| bump(&e))));
        assert!(r.is_err(), "re-entry under the lock");
        bump(&e);
        // Now biased (when membarrier is there): the owner's flag refuses re-entry.
        let r = catch_unwind(AssertUnwindSafe(|| e.with(|_| bump(&e))));
        assert!(r.is_err(), "re-entry of the owner");
        bump(&e);
        assert_eq!(e.with(|c| c.0.get()), 2);
        assert!(!e.owner_busy.0.load(Ordering::Relaxed));
        assert!(!e.busy.load(Ordering::Relaxed));
    }
}
