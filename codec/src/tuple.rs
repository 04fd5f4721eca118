//! Tuple records: a [`Header`] for routing and acking plus the values.
//!
//! Three shapes of the same record:
//! - [`Tuple`]: owned, for a user who keeps a tuple past `execute`.
//! - [`TupleRef`]: borrowed parts, what the engine archives on `emit`
//!   without building an owned tuple first.
//! - [`TupleView`]: the archived record read in place from a ring or a
//!   frame, with fields by index or by name and no deserialization.

use rkyv::{
    munge::munge,
    rancor::Fallible,
    ser::{Allocator, Writer},
    vec::{ArchivedVec, VecResolver},
    Archive, Archived, Deserialize, Place, Portable, Serialize,
};

use crate::{ArchivedValue, Fields, Value};

/// Routing and acking information carried by every tuple.
///
/// `roots` and `edge_id` implement Storm's XOR acking: a tuple belongs to the
/// trees of every root in `roots`, and `edge_id` is the random id of the edge
/// that created it (XORed into each of those trees when it is emitted and
/// again when it is acked). An unreliable tuple has no roots and edge id 0.
///
/// Archived as [`ArchivedHeader`]: the stream and source task, and one
/// vector of the edge id followed by the roots (empty for an unreliable
/// tuple), so that an untracked tuple's header takes 16 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Stream id (the engine numbers each component's streams; system
    /// streams such as ticks have reserved ids).
    pub stream: u32,
    /// Task id of the emitting task.
    pub source_task: u32,
    /// Random 64-bit id of this tuple's edge in its trees; 0 if unanchored.
    pub edge_id: u64,
    /// Root ids of the tuple trees this tuple belongs to.
    pub roots: Vec<u64>,
}

/// The archived form of a [`Header`], read in place: 16 bytes, the stream
/// and source task, then the relative pointer and length of its *tracking*
/// words (the edge id, then the roots), which are none for an unreliable
/// tuple (no roots and edge id 0), the commonest one on the data path.
#[derive(rkyv::bytecheck::CheckBytes)]
#[bytecheck(crate = rkyv::bytecheck)]
#[repr(C)]
pub struct ArchivedHeader {
    stream: Archived<u32>,
    source_task: Archived<u32>,
    tracking: ArchivedVec<Archived<u64>>,
}

// SAFETY: `repr(C)` of portable fields (little-endian integers and a
// relative vector), with no padding and no interior mutability: its layout
// is the same on every target.
unsafe impl Portable for ArchivedHeader {}

impl ArchivedHeader {
    /// Stream id.
    #[inline(always)]
    pub fn stream(&self) -> u32 {
        self.stream.to_native()
    }

    /// Task id of the emitting task.
    #[inline(always)]
    pub fn source_task(&self) -> u32 {
        self.source_task.to_native()
    }

    /// Edge id (0 if unanchored).
    #[inline(always)]
    pub fn edge_id(&self) -> u64 {
        self.tracking.first().map_or(0, |e| e.to_native())
    }

    /// Root ids of the trees this tuple belongs to, archived.
    #[inline(always)]
    pub fn roots(&self) -> &[Archived<u64>] {
        self.tracking.get(1..).unwrap_or(&[])
    }

    /// The tracking words: none, or the edge id and then the roots.
    #[inline(always)]
    pub(crate) fn tracking(&self) -> &[Archived<u64>] {
        self.tracking.as_slice()
    }
}

impl std::fmt::Debug for ArchivedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivedHeader")
            .field("stream", &self.stream())
            .field("source_task", &self.source_task())
            .field("edge_id", &self.edge_id())
            .field("roots", &self.roots())
            .finish()
    }
}

/// The words archived after a [`Header`]'s stream and task: none for an
/// unreliable tuple, else its edge id and then its roots.
#[derive(Clone)]
struct TrackingWords<'a> {
    edge: Option<u64>,
    roots: std::slice::Iter<'a, u64>,
}

impl<'a> TrackingWords<'a> {
    fn of(header: &'a Header) -> Self {
        let tracked = header.is_tracked();
        Self {
            edge: tracked.then_some(header.edge_id),
            roots: if tracked {
                header.roots.iter()
            } else {
                [].iter()
            },
        }
    }
}

impl Iterator for TrackingWords<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.edge.take().or_else(|| self.roots.next().copied())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.edge.is_some()) + self.roots.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for TrackingWords<'_> {}

/// Resolver for [`Header`] (rkyv plumbing).
pub struct HeaderResolver {
    tracking: VecResolver,
}

impl Archive for Header {
    type Archived = ArchivedHeader;
    type Resolver = HeaderResolver;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        munge!(let ArchivedHeader { stream, source_task, tracking } = out);
        self.stream.resolve((), stream);
        self.source_task.resolve((), source_task);
        ArchivedVec::<Archived<u64>>::resolve_from_len(
            self.tracking_len(),
            resolver.tracking,
            tracking,
        );
    }
}

impl<S> Serialize<S> for Header
where
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        Ok(HeaderResolver {
            tracking: ArchivedVec::<Archived<u64>>::serialize_from_iter::<u64, _, _>(
                TrackingWords::of(self),
                serializer,
            )?,
        })
    }
}

impl<D: Fallible + ?Sized> Deserialize<Header, D> for ArchivedHeader {
    fn deserialize(&self, _: &mut D) -> Result<Header, D::Error> {
        Ok(Header {
            stream: self.stream(),
            source_task: self.source_task(),
            edge_id: self.edge_id(),
            roots: self.roots().iter().map(|r| r.to_native()).collect(),
        })
    }
}

impl Header {
    /// Whether the tuple is tracked (has roots or an edge id): only then
    /// are its edge id and roots archived.
    #[inline(always)]
    pub fn is_tracked(&self) -> bool {
        self.edge_id != 0 || !self.roots.is_empty()
    }

    /// How many 8-byte tracking words its archived form holds: none for
    /// an untracked tuple, else the edge id and each root.
    #[inline(always)]
    pub(crate) fn tracking_len(&self) -> usize {
        if self.is_tracked() {
            1 + self.roots.len()
        } else {
            0
        }
    }

    /// The header's fields other than its roots.
    #[inline(always)]
    pub fn plain(&self) -> PlainHeader {
        PlainHeader {
            stream: self.stream,
            source_task: self.source_task,
            edge_id: self.edge_id,
        }
    }
}

/// A [`Header`] without roots (an untracked tuple's, or a tracked one's
/// before its roots are added), small enough to copy: what
/// [`encode_fast_as`](crate::encode_fast_as) takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlainHeader {
    /// Stream id.
    pub stream: u32,
    /// Task id of the emitting task.
    pub source_task: u32,
    /// The edge id (0 if unanchored).
    pub edge_id: u64,
}

/// An owned tuple: a header and its values.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Tuple {
    /// Routing and acking information.
    pub header: Header,
    /// The field values, in the order of the stream's declared [`Fields`].
    pub values: Vec<Value>,
}

impl Tuple {
    /// Borrows this tuple as a [`TupleRef`] for encoding.
    pub fn as_ref(&self) -> TupleRef<'_> {
        TupleRef {
            header: &self.header,
            values: &self.values,
        }
    }
}

/// A tuple made of borrowed parts; it archives to the same bytes as the
/// equivalent [`Tuple`]. This is what `emit` encodes: the engine keeps one
/// [`Header`] per task and the user's values are never copied into an owned
/// record first.
#[derive(Debug, Clone, Copy)]
pub struct TupleRef<'a> {
    /// Routing and acking information.
    pub header: &'a Header,
    /// The field values.
    pub values: &'a [Value],
}

/// Resolver for [`TupleRef`] (rkyv plumbing).
pub struct TupleRefResolver {
    header: <Header as Archive>::Resolver,
    values: VecResolver,
}

impl Archive for TupleRef<'_> {
    type Archived = ArchivedTuple;
    type Resolver = TupleRefResolver;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        munge!(let ArchivedTuple { header, values } = out);
        self.header.resolve(resolver.header, header);
        ArchivedVec::resolve_from_slice(self.values, resolver.values, values);
    }
}

impl<S> Serialize<S> for TupleRef<'_>
where
    S: Fallible + Allocator + Writer + ?Sized,
    S::Error: rkyv::rancor::Source,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        Ok(TupleRefResolver {
            header: self.header.serialize(serializer)?,
            values: ArchivedVec::serialize_from_slice(self.values, serializer)?,
        })
    }
}

/// Errors from reading a field of a [`TupleView`] by name or index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The view has no schema attached, so names cannot be resolved.
    #[error("cannot look up field `{field}`: no fields are declared for this tuple's stream")]
    NoSchema {
        /// The requested name.
        field: String,
    },
    /// The name is not among the stream's declared fields.
    #[error("unknown field `{field}`; the stream declares {declared}")]
    Unknown {
        /// The requested name.
        field: String,
        /// The declared fields.
        declared: Fields,
    },
    /// The field is declared but the tuple carries fewer values.
    #[error("field `{field}` is at position {index} but the tuple has {len} values")]
    Missing {
        /// The requested name (or the index as text).
        field: String,
        /// Its declared position.
        index: usize,
        /// How many values the tuple has.
        len: usize,
    },
}

/// A borrowed view of an archived tuple, read in place.
///
/// Getting a field by index or by name neither deserializes nor allocates.
/// Use [`TupleView::to_tuple`] to keep an owned copy.
#[derive(Clone, Copy)]
pub struct TupleView<'a> {
    record: &'a ArchivedTuple,
    /// The record's bytes (`record` is their root, at their end).
    bytes: &'a [u8],
    fields: Option<&'a Fields>,
}

impl<'a> TupleView<'a> {
    /// The view of `record`, the root at the end of `bytes`.
    pub(crate) fn new(record: &'a ArchivedTuple, bytes: &'a [u8]) -> Self {
        Self {
            record,
            bytes,
            fields: None,
        }
    }

    /// The bytes of the record, its root at their end.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Attaches the stream's declared fields so fields can be read by name.
    pub fn with_fields(self, fields: &'a Fields) -> Self {
        Self {
            fields: Some(fields),
            ..self
        }
    }

    /// The attached schema, if any.
    pub fn fields(&self) -> Option<&'a Fields> {
        self.fields
    }

    /// The archived record itself.
    pub fn archived(&self) -> &'a ArchivedTuple {
        self.record
    }

    /// Stream id.
    pub fn stream(&self) -> u32 {
        self.record.header.stream()
    }

    /// Task id of the emitting task.
    pub fn source_task(&self) -> u32 {
        self.record.header.source_task()
    }

    /// Edge id (0 if unanchored).
    pub fn edge_id(&self) -> u64 {
        self.record.header.edge_id()
    }

    /// Root ids of the trees this tuple belongs to.
    pub fn roots(&self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.record.header.roots().iter().map(|r| r.to_native())
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.record.values.len()
    }

    /// `true` if the tuple has no values.
    pub fn is_empty(&self) -> bool {
        self.record.values.is_empty()
    }

    /// All values, in place.
    pub fn values(&self) -> &'a [ArchivedValue] {
        self.record.values.as_slice()
    }

    /// The value at `index`, if present.
    pub fn get(&self, index: usize) -> Option<&'a ArchivedValue> {
        self.record.values.get(index)
    }

    /// The value of the declared field `name`.
    pub fn field(&self, name: &str) -> Result<&'a ArchivedValue, FieldError> {
        let fields = self.fields.ok_or_else(|| FieldError::NoSchema {
            field: name.to_owned(),
        })?;
        let index = fields.index_of(name).ok_or_else(|| FieldError::Unknown {
            field: name.to_owned(),
            declared: fields.clone(),
        })?;
        self.get(index).ok_or_else(|| FieldError::Missing {
            field: name.to_owned(),
            index,
            len: self.len(),
        })
    }

    /// Copies the header into an owned [`Header`].
    pub fn header(&self) -> Header {
        Header {
            stream: self.stream(),
            source_task: self.source_task(),
            edge_id: self.edge_id(),
            roots: self.roots().collect(),
        }
    }

    /// Copies the record into an owned [`Tuple`].
    pub fn to_tuple(&self) -> Tuple {
        Tuple {
            header: self.header(),
            values: self.values().iter().map(ArchivedValue::to_value).collect(),
        }
    }
}

impl std::fmt::Debug for TupleView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TupleView")
            .field("stream", &self.stream())
            .field("source_task", &self.source_task())
            .field("edge_id", &self.edge_id())
            .field("roots", &self.record.header.roots())
            .field("values", &self.values())
            .finish()
    }
}
