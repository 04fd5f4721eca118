//! The acker's component id and system streams, by name and by the stream
//! id tuple headers carry.

/// Component id of the acker tasks.
pub const ACKER_COMPONENT: &str = "__acker";
/// System stream carrying batched XOR updates to acker tasks.
pub const ACK_STREAM: &str = "__ack";
/// System stream carrying batched completions to spout tasks.
pub const ACK_DONE_STREAM: &str = "__ack_done";

/// Stream id of [`ACK_STREAM`] in tuple headers.
pub(crate) const ACK_STREAM_ID: u32 = u32::MAX - 1;
/// Stream id of [`ACK_DONE_STREAM`] in tuple headers.
pub(crate) const ACK_DONE_STREAM_ID: u32 = u32::MAX - 2;
