//! A shorthand for opening a channel in the tests of errors, roles and disconnection.

use std::time::Duration;

use sysvring::{AnyChannel, Builder, Error, Key};

/// Opens the channel at `key` with a short open timeout (200 ms), so a key whose
/// creator never finished fails fast with `NotReady`.
pub fn open<T: sysvring::Message>(key: Key) -> Result<AnyChannel<T>, Error> {
    Builder::<T>::new(key)
        .open_timeout(Duration::from_millis(200))
        .open()
}
