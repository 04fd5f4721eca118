//! Typed streams: a stream declared with a Rust type
//! ([`OutputFieldsDeclarer::declare_typed`](crate::OutputFieldsDeclarer::declare_typed))
//! carries values of that type archived with [rkyv](https://docs.rs/rkyv)
//! (one field, the archived bytes): a bolt reads one in place as
//! `&T::Archived` ([`Input::typed`](crate::Input::typed)), with no
//! [`Value`](gale_codec::Value) built on either side.
//!
//! The type must derive rkyv's `Archive` and `Serialize` (rkyv 0.8, with
//! its `bytecheck` feature, which the derive uses to make the archived form
//! checkable); `gale_engine::rkyv` re-exports the version Gale uses:
//!
//! ```
//! use gale_engine::rkyv::{Archive, Serialize};
//!
//! #[derive(Archive, Serialize)]
//! #[rkyv(crate = gale_engine::rkyv)]
//! struct Reading {
//!     sensor: u32,
//!     celsius: f64,
//!     label: String,
//! }
//! ```
//!
//! A typed tuple is an ordinary tuple underneath (its one field holds the
//! bytes): every grouping, acking, the link and multi-lang consumers (which
//! see the bytes) work as for any other stream; a fields grouping on the
//! field hashes the archived bytes. Reading validates the bytes (rkyv's
//! bytecheck) every time, so a tuple from another node or a malformed one
//! is an error, never undefined behaviour.

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::{Archive, Portable, Serialize};

/// A Rust type that can travel a typed stream: archived with rkyv into a
/// tuple when emitted.
pub trait Typed:
    Archive + for<'a> Serialize<HighSerializer<Vec<u8>, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T> Typed for T where
    T: Archive + for<'a> Serialize<HighSerializer<Vec<u8>, ArenaHandle<'a>, rancor::Error>>
{
}

/// The archived form of a [`Typed`] value, as a bolt reads it in place:
/// checkable by rkyv's validator.
pub trait TypedArchive: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>> {}

impl<A> TypedArchive for A where A: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>> {}

/// Why an input could not be read as a typed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedError {
    /// The input's stream is not declared with the type asked for.
    #[error("stream `{stream}` is declared {declared}, not typed `{requested}`")]
    WrongType {
        /// The input's stream.
        stream: String,
        /// What the stream is declared as (`untyped`, or `typed T`).
        declared: String,
        /// The type asked for.
        requested: &'static str,
    },
    /// The bytes are not a valid archived value of the type.
    #[error("stream `{stream}`: not a valid archived `{requested}`: {reason}")]
    Invalid {
        /// The input's stream.
        stream: String,
        /// The type asked for.
        requested: &'static str,
        /// What rkyv's validator found.
        reason: String,
    },
}

/// Archives `value` into `buf` (cleared first); returns the buffer.
pub(crate) fn archive<T: Typed>(value: &T, mut buf: Vec<u8>) -> Result<Vec<u8>, rancor::Error> {
    buf.clear();
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, buf)
}

/// Reads `bytes`, a typed tuple's field of stream `stream`, as an archived
/// `T`, validating it first.
pub(crate) fn access<'a, T>(bytes: &'a [u8], stream: &str) -> Result<&'a T::Archived, TypedError>
where
    T: Archive,
    T::Archived: TypedArchive,
{
    rkyv::access::<T::Archived, rancor::Error>(bytes).map_err(|e| TypedError::Invalid {
        stream: stream.to_owned(),
        requested: std::any::type_name::<T>(),
        reason: e.to_string(),
    })
}
