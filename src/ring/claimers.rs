//! The claimer table of an MPMC segment: who the tag in a claimed slot's stamp is.
//!
//! Each process that uses an MPMC ring takes one entry (tag = index + 1) before its
//! first claim and clears it when it closes the channel. An entry holds the process's
//! identity: `pid << 32 | start time (low 32 bits)` in one word, taken by a CAS, and
//! its pid-namespace inode. A killed process's entry stays, and is what proves its
//! claims abandoned (see `mpmc`); the entry is given to a new process only once that
//! process is proven gone **and** no slot carries its tag any more, so a tag never
//! names two processes while a claim with it can still be seen.
//!
//! The words are untrusted like the rest of the segment: a corrupt entry can make a
//! live process look dead only to a peer that can already write the whole ring.

use super::layout::CLAIMERS;
use super::mpmc::tag_in_use;
use super::RawRing;
use crate::sync::Ordering;

/// A claimer's identity as stored in its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimerId {
    /// `pid << 32 | (start time & 0xffff_ffff)`; never 0 for a registered process.
    pub id: u64,
    /// The inode of the process's pid namespace, 0 if unknown.
    pub pid_ns: u64,
}

impl ClaimerId {
    /// The identity word for `pid` started at `start` (clock ticks since boot).
    pub fn new(pid: u32, start: u64, pid_ns: u64) -> ClaimerId {
        ClaimerId {
            id: u64::from(pid) << 32 | (start & 0xffff_ffff),
            pid_ns,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        (self.id >> 32) as u32
    }

    /// The low 32 bits of the start time.
    pub fn start(&self) -> u32 {
        self.id as u32
    }
}

/// Takes an entry for `me`: a free one, else one whose process `gone` proves dead and
/// whose tag no slot carries. Returns the tag, or `None` when every entry belongs to
/// a process that may be alive (or `ring` is not MPMC).
pub fn register(ring: &RawRing, me: ClaimerId, gone: impl Fn(ClaimerId) -> bool) -> Option<u16> {
    debug_assert_ne!(me.id, 0);
    let take = |tag: u16, from: u64| {
        let e = ring.claimer(tag)?;
        // SYNC(claimer): SeqCst; the entry is complete before this process claims
        // any slot, and every claim is an AcqRel CAS, so whoever reads our tag from a
        // stamp with Acquire reads this entry too.
        e.id.compare_exchange(from, me.id, Ordering::SeqCst, Ordering::Relaxed)
            .ok()?;
        e.pid_ns.store(me.pid_ns, Ordering::SeqCst);
        Some(tag)
    };
    let tags = 1..=CLAIMERS as u16;
    for tag in tags.clone() {
        if entry(ring, tag).is_some_and(|e| e.id == 0) {
            if let Some(t) = take(tag, 0) {
                return Some(t);
            }
        }
    }
    for tag in tags {
        let Some(e) = entry(ring, tag) else { continue };
        if e.id != 0 && gone(e) && !tag_in_use(ring, tag) {
            if let Some(t) = take(tag, e.id) {
                return Some(t);
            }
        }
    }
    None
}

/// Gives back the entry of `tag` if it still names `me` (no claim with it may be in
/// flight: the caller closed every handle that claims with it).
pub fn unregister(ring: &RawRing, tag: u16, me: ClaimerId) {
    if let Some(e) = ring.claimer(tag) {
        let _ =
            e.id.compare_exchange(me.id, 0, Ordering::SeqCst, Ordering::Relaxed);
    }
}

/// The identity in the entry of `tag` (`None` for a tag out of range).
pub fn entry(ring: &RawRing, tag: u16) -> Option<ClaimerId> {
    let e = ring.claimer(tag)?;
    // SYNC(claimer): SeqCst loads; pair with the entry's writes in `register`.
    Some(ClaimerId {
        id: e.id.load(Ordering::SeqCst),
        pid_ns: e.pid_ns.load(Ordering::SeqCst),
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::options::Flavor;
    use crate::ring::mpmc::Mpmc;
    use crate::ring::test_region::Region;

    #[test]
    fn entries_are_taken_freed_and_reclaimed_only_from_the_dead_without_claims() {
        let r = Region::new(Flavor::Mpmc, 2, 2, 8, 8);
        let ring = r.ring();
        Mpmc::<u64>::init(&ring);
        let a = ClaimerId::new(100, 5, 1);
        let b = ClaimerId::new(200, 6, 1);
        let never = |_| false;
        let ta = register(&ring, a, never).unwrap();
        let tb = register(&ring, b, never).unwrap();
        assert_ne!(ta, tb);
        assert_eq!(entry(&ring, ta), Some(a));
        unregister(&ring, ta, a);
        assert_eq!(entry(&ring, ta).unwrap().id, 0);
        // Fill the table with `a`-like processes that may be alive.
        let mut n = 1; // b
        while register(&ring, ClaimerId::new(1000 + n, 1, 1), never).is_some() {
            n += 1;
        }
        assert_eq!(n as usize, CLAIMERS);
        // b "dies" while it holds a claim: its entry is not given away...
        // SAFETY: the region is laid out for u64 and initialised; tb is b's.
        let qb = unsafe { Mpmc::<u64>::new(ring, tb) };
        let held = qb.push_with(|_| std::thread::panicking());
        assert!(held.is_some());
        // (push_with published; claim a slot by hand and keep it.)
        let s = ring.stamp(1).load(Ordering::Relaxed);
        ring.stamp(1).store(s | u64::from(tb), Ordering::Relaxed);
        let c = ClaimerId::new(300, 7, 1);
        let dead_b = |e: ClaimerId| e == b;
        assert_eq!(
            register(&ring, c, dead_b),
            None,
            "b's claim is still visible"
        );
        ring.stamp(1).store(s, Ordering::Relaxed);
        assert_eq!(register(&ring, c, dead_b), Some(tb));
        assert_eq!(entry(&ring, tb), Some(c));
    }

    #[test]
    fn identity_words() {
        let id = ClaimerId::new(4_194_304, 0x1_2345_6789, 0);
        assert_eq!(id.pid(), 4_194_304);
        assert_eq!(id.start(), 0x2345_6789);
    }
}
