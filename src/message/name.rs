//! The header's fixed-size type-name field.

use super::TYPE_NAME_LEN;

/// The header's type-name field: `name`'s UTF-8 bytes, NUL-padded to
/// [`TYPE_NAME_LEN`] (no terminator when exactly that long). A longer name is cut at
/// the last character boundary at or before byte 61 and ends in `...`, so a reader
/// sees it was truncated; the fingerprint, not the name, decides type identity.
pub fn encode_type_name(name: &str) -> [u8; TYPE_NAME_LEN] {
    let mut out = [0u8; TYPE_NAME_LEN];
    if name.len() <= TYPE_NAME_LEN {
        out[..name.len()].copy_from_slice(name.as_bytes());
    } else {
        let mut cut = TYPE_NAME_LEN - 3;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        out[..cut].copy_from_slice(&name.as_bytes()[..cut]);
        out[cut..cut + 3].copy_from_slice(b"...");
    }
    out
}

/// Reads a type-name field written by [`encode_type_name`] (or by anyone: the bytes
/// are untrusted): up to the first NUL, invalid UTF-8 replaced.
pub fn decode_type_name(raw: &[u8; TYPE_NAME_LEN]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}
