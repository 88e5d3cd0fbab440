//! IPC keys: `ftok(3)`, `IPC_PRIVATE` and raw keys.

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Result, SysError};

/// A System V IPC key (`key_t`): the name under which unrelated processes meet.
///
/// Make one from a path and a project id with [`Key::from_path`] (`ftok(3)`), from a
/// number agreed on out of band with [`Key::from_raw`], or use [`Key::private`]
/// (`IPC_PRIVATE`) for an object that only the creator and its children (or
/// processes told the id) can reach.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(libc::key_t);

impl Key {
    /// `ftok(path, id)`: a key derived from an existing file's inode and device and the
    /// low 8 bits of `id`.
    ///
    /// # Errors
    /// `ENOENT` (named `ftok`) when `path` does not exist, `EINVAL` when `id`'s low 8
    /// bits are zero (ftok(3) leaves that case unspecified) or the path holds a NUL.
    pub fn from_path<P: AsRef<Path>>(path: P, id: i32) -> Result<Key> {
        if id & 0xff == 0 {
            return Err(SysError::invalid(
                "ftok",
                "the low 8 bits of the project id must not be 0",
            ));
        }
        let c = CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|_| SysError::invalid("ftok", "path contains a NUL byte"))?;
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        let k = unsafe { libc::ftok(c.as_ptr(), id) };
        if k == -1 {
            return Err(SysError::last("ftok"));
        }
        Ok(Key(k))
    }

    /// A key given as a number. `0` is `IPC_PRIVATE`.
    pub const fn from_raw(key: i32) -> Key {
        Key(key)
    }

    /// `IPC_PRIVATE`: every create makes a new object, reachable only by its id.
    pub const fn private() -> Key {
        Key(libc::IPC_PRIVATE)
    }

    /// The raw `key_t` value.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Whether this is `IPC_PRIVATE`.
    pub const fn is_private(self) -> bool {
        self.0 == libc::IPC_PRIVATE
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_private() {
            f.write_str("Key(IPC_PRIVATE)")
        } else {
            write!(f, "Key({:#010x})", self.0 as u32)
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0 as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftok_is_stable_and_distinguishes_ids() {
        let a = Key::from_path("/", 1).unwrap();
        let b = Key::from_path("/", 1).unwrap();
        let c = Key::from_path("/", 2).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(!a.is_private());
    }

    #[test]
    fn ftok_missing_path_names_the_call() {
        let e = Key::from_path("/definitely/not/here/sysvring", 1).unwrap_err();
        assert_eq!(e.call(), "ftok");
        assert!(e.is_not_found());
    }

    #[test]
    fn ftok_zero_id_is_rejected() {
        assert!(Key::from_path("/", 0x100).is_err());
    }

    #[test]
    fn private_and_raw() {
        assert!(Key::private().is_private());
        assert_eq!(Key::from_raw(0x1234).raw(), 0x1234);
        assert_eq!(format!("{:?}", Key::private()), "Key(IPC_PRIVATE)");
    }
}
