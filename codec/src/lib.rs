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
mod encode_error;
mod fields;
mod flat;
mod format;
mod frame;
mod frame_error;
mod read;
mod tuple;
mod value;

pub use encode::{
    encode_archived, encode_fast, encode_fast_as, encode_few, encode_forwarded, encoded_len_bound,
    Encoder,
};
pub use encode_error::EncodeError;
pub use fields::{Fields, FieldsError};
pub use flat::{le_word, FastKind};
pub use format::{
    FRAME_MAGIC, FRAME_VERSION, MAX_FRAME_BODY, MAX_NESTING, MAX_RECORD_LEN, MAX_VALUE_LEN,
    RECORD_ALIGN,
};
pub use frame::{BodyRecords, Frame, FrameHeader, FrameWriter, RawFrame};
pub use frame_error::FrameError;
pub use read::{view_checked, view_trusted};
pub use tuple::{
    ArchivedHeader, ArchivedTuple, FieldError, Header, PlainHeader, Tuple, TupleRef,
    TupleRefResolver, TupleView,
};
pub use value::{ArchivedValue, Value};

/// A growable byte buffer whose start is aligned to `A` bytes, for encoding
/// into and for receiving frames (re-exported from rkyv).
pub use rkyv::util::AlignedVec;
