//! The claimer table of an MPMC segment: who the tag in a claimed slot's stamp is.
//!
//! Each process that uses an MPMC ring holds one entry (tag = index + 1) from before
//! its first claim until it closes the channel. **Holding** an entry is not written
//! here: it is a liveness semaphore of the channel's set that the holder raised from 0
//! to 1 with `SEM_UNDO` (see `transport::shm::liveness`), which the kernel lowers
//! again when the holder dies, however it dies and in whatever PID namespace it
//! lived. This module keeps the words a holder records once it holds the entry:
//!
//! - a **generation**, bumped on every take, so a proof of death ("the semaphore is 0
//!   and the entry still has the generation I read before") cannot be confused by a
//!   new holder that took the entry in between;
//! - the holder's pid, start time and pid-namespace inode: **diagnostics only** (a pid
//!   means nothing in another PID namespace), cleared when the entry is given back
//!   cleanly, left behind by a killed holder.
//!
//! The words are untrusted like the rest of the segment: a corrupt entry can only
//! delay a proof (a changed generation is read as "not proven") or mislabel a
//! diagnostic, to a peer that can already write the whole ring.

use super::mpmc::tag_in_use;
use super::RawRing;
use crate::sync::Ordering;

/// A claimer's identity as its entry records it (diagnostics, never a proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimerId {
    /// `pid << 32 | (start time & 0xffff_ffff)`; 0 for an entry given back cleanly.
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

    /// The process id (in the holder's own PID namespace).
    pub fn pid(&self) -> u32 {
        (self.id >> 32) as u32
    }

    /// The low 32 bits of the start time.
    pub fn start(&self) -> u32 {
        self.id as u32
    }
}

/// One entry as read from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What the last holder recorded (0s when given back cleanly or never taken).
    pub who: ClaimerId,
    /// Takes so far (0: never taken).
    pub generation: u64,
}

/// Records `me` as the holder of `tag`, which the caller has just taken (its liveness
/// semaphore raised): bumps the generation and writes the diagnostics. Returns the
/// new generation (`None` for a tag the ring has no entry for).
pub fn record(ring: &RawRing, tag: u16, me: ClaimerId) -> Option<u64> {
    let e = ring.claimer(tag)?;
    // SYNC(claimer): SeqCst; the entry is complete before this process claims any
    // slot, and every claim is an AcqRel CAS, so whoever reads our tag from a stamp
    // with Acquire reads this generation too (pairs with the loads in `entry`).
    let generation = e.generation.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    e.id.store(me.id, Ordering::SeqCst);
    e.pid_ns.store(me.pid_ns, Ordering::SeqCst);
    Some(generation)
}

/// Clears the diagnostics of `tag` before its holder gives the entry back (no claim
/// with it may be in flight: the caller closed every handle that claims with it).
/// Leaves the entry alone if another generation has it (a corrupt table).
pub fn clear(ring: &RawRing, tag: u16, generation: u64) {
    if let Some(e) = ring.claimer(tag) {
        // SYNC(claimer): SeqCst, as in `record`.
        if e.generation.load(Ordering::SeqCst) == generation {
            e.id.store(0, Ordering::SeqCst);
            e.pid_ns.store(0, Ordering::SeqCst);
        }
    }
}

/// The entry of `tag` (`None` for a tag out of range or an SPSC ring).
pub fn entry(ring: &RawRing, tag: u16) -> Option<Entry> {
    let e = ring.claimer(tag)?;
    // SYNC(claimer): SeqCst loads; pair with the writes in `record`.
    Some(Entry {
        generation: e.generation.load(Ordering::SeqCst),
        who: ClaimerId {
            id: e.id.load(Ordering::SeqCst),
            pid_ns: e.pid_ns.load(Ordering::SeqCst),
        },
    })
}

/// Whether a process that has just taken `tag`'s liveness semaphore may keep the
/// entry: no slot still carries a claim made with it by an earlier holder (one that
/// died mid-claim; its slots are skipped by recovery, after which the entry is free
/// to take). An entry never taken or given back cleanly needs no scan.
pub fn reusable(ring: &RawRing, tag: u16) -> bool {
    match entry(ring, tag) {
        None => false,
        Some(e) if e.generation == 0 || e.who.id == 0 => true,
        Some(_) => !tag_in_use(ring, tag),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::options::Flavor;
    use crate::ring::mpmc::Mpmc;
    use crate::ring::test_region::Region;

    #[test]
    fn takes_bump_the_generation_and_a_dead_holders_claims_block_reuse() {
        let r = Region::new(Flavor::Mpmc, 2, 2, 8, 8);
        let ring = r.ring();
        Mpmc::<u64>::init(&ring);
        let a = ClaimerId::new(100, 5, 1);
        let b = ClaimerId::new(200, 6, 1);
        assert!(reusable(&ring, 1), "never taken");
        let ga = record(&ring, 1, a).unwrap();
        assert_eq!(ga, 1);
        assert_eq!(
            entry(&ring, 1),
            Some(Entry {
                who: a,
                generation: 1
            })
        );
        // A dead holder (its record left behind) with no claim: reusable.
        assert!(reusable(&ring, 1));
        // ...but not while a slot carries its tag.
        let s = ring.stamp(1).load(Ordering::Relaxed);
        ring.stamp(1).store(s | 1, Ordering::Relaxed);
        assert!(!reusable(&ring, 1));
        ring.stamp(1).store(s, Ordering::Relaxed);
        let gb = record(&ring, 1, b).unwrap();
        assert_eq!(gb, 2);
        // A stale generation does not clear the new holder's record.
        clear(&ring, 1, ga);
        assert_eq!(entry(&ring, 1).unwrap().who, b);
        clear(&ring, 1, gb);
        assert_eq!(entry(&ring, 1).unwrap().who.id, 0);
        assert_eq!(entry(&ring, 1).unwrap().generation, 2);
        assert!(reusable(&ring, 1), "given back cleanly");
        assert_eq!(entry(&ring, 0), None);
        assert_eq!(entry(&ring, 257), None);
    }

    #[test]
    fn identity_words() {
        let id = ClaimerId::new(4_194_304, 0x1_2345_6789, 0);
        assert_eq!(id.pid(), 4_194_304);
        assert_eq!(id.start(), 0x2345_6789);
    }
}
