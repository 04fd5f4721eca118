//! gale-codec: how a Gale tuple is laid out in bytes.
//!
//! - [`Value`] and [`Fields`]: what a field holds and a stream's schema.
//! - [`Tuple`], [`TupleRef`], [`Header`]: a record for routing and acking
//!   plus its values, archived with [rkyv](https://docs.rs/rkyv) 0.8.
//! - [`Encoder`]: archives straight into a caller's buffer (a ring slot),
//!   without allocating once warm.
//! - [`TupleView`]: reads an archived record in place, fields by index or
//!   by name. Two ways in: [`view_trusted`] for bytes from Gale's own rings,
//!   [`view_checked`] for untrusted bytes (full validation, typed errors).
//! - [`Frame`] and [`FrameWriter`]: batches of records for the wire.
//!
//! ```
//! use gale_codec::{Encoder, Fields, Frame, FrameWriter, Header, Tuple, Value};
//!
//! let fields = Fields::new(["word", "count"]).unwrap();
//! let tuple = Tuple {
//!     header: Header { stream: 0, source_task: 3, edge_id: 0, roots: vec![] },
//!     values: vec![Value::from("gale"), Value::I64(2)],
//! };
//! let mut frame = FrameWriter::new();
//! frame.push(&mut Encoder::new(), tuple.as_ref()).unwrap();
//!
//! let frame = Frame::parse(frame.finish()).unwrap(); // validates every record
//! let view = frame.tuples().next().unwrap().with_fields(&fields);
//! assert_eq!(view.field("word").unwrap().as_str(), Some("gale"));
//! assert_eq!(view.field("count").unwrap().as_i64(), Some(2));
//! assert!(view.field("nope").is_err());
//! assert_eq!(view.to_tuple(), tuple);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

mod encode;
mod fields;
mod flat;
mod frame;
mod read;
mod tuple;
mod value;

pub use encode::{encode_fast, encoded_len_bound, EncodeError, Encoder};
pub use fields::{Fields, FieldsError};
pub use frame::{
    Frame, FrameError, FrameHeader, FrameWriter, RawFrame, FRAME_MAGIC, FRAME_VERSION,
    MAX_FRAME_BODY,
};
pub use read::{view_checked, view_trusted};
pub use tuple::{
    ArchivedHeader, ArchivedTuple, FieldError, Header, Tuple, TupleRef, TupleRefResolver, TupleView,
};
pub use value::{ArchivedValue, Value};

/// A growable byte buffer whose start is aligned to `A` bytes, for encoding
/// into and for receiving frames (re-exported from rkyv).
pub use rkyv::util::AlignedVec;

/// Alignment of every archived record's first byte (ring slots and frame
/// records are laid out to it).
pub const RECORD_ALIGN: usize = 8;

/// Largest archived record a reader accepts (16 MiB).
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// Nesting limit of a tuple's values, counting the tuple itself as one level:
/// a tuple may hold lists and maps nested `MAX_NESTING - 1` deep. Encoders
/// refuse deeper values ([`EncodeError::TooDeep`]) and validating readers
/// refuse records that nest deeper than what encoders produce.
pub const MAX_NESTING: usize = 64;

const _: () = assert!(std::mem::align_of::<ArchivedTuple>() <= RECORD_ALIGN);
