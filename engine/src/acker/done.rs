//! [`Done`]: the completion records acker tasks send to spout tasks.

/// What an acker tells a spout about one of its roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    Acked = 1,
    Failed = 2,
    Reset = 3,
}

/// Bytes of one completion record: root, kind.
pub(crate) const DONE_RECORD: usize = 16;

/// Appends a completion record (root, kind) for a spout.
#[inline]
pub(crate) fn push_done(out: &mut Vec<u8>, root: u64, done: Done) {
    // One append (one capacity check) per record.
    let mut record = [0u8; DONE_RECORD];
    record[..8].copy_from_slice(&root.to_le_bytes());
    record[8..].copy_from_slice(&(done as u64).to_le_bytes());
    out.extend_from_slice(&record);
}

/// Reads completion records; malformed trailing bytes are ignored (the
/// bytes come from our own acker tasks).
pub(crate) fn read_done(bytes: &[u8]) -> impl Iterator<Item = (u64, Option<Done>)> + '_ {
    bytes.chunks_exact(16).map(|c| {
        let root = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
        let kind = match u64::from_le_bytes(c[8..].try_into().unwrap_or_default()) {
            1 => Some(Done::Acked),
            2 => Some(Done::Failed),
            3 => Some(Done::Reset),
            _ => None,
        };
        (root, kind)
    })
}
