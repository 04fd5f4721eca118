//! [`TopologyError`]: what is wrong with a topology, found before it runs.

use gale_codec::FieldsError;

/// A mistake in a topology's definition, found by
/// [`TopologyBuilder::build`](crate::TopologyBuilder::build) before anything
/// runs. Every variant names the component (and stream or field) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The topology has no spout, so nothing would ever flow.
    #[error("topology `{topology}` has no spout")]
    NoSpout {
        /// Topology name.
        topology: String,
    },
    /// Two components share a name.
    #[error("component `{component}` is declared twice")]
    DuplicateComponent {
        /// The repeated name.
        component: String,
    },
    /// A component name that is empty or reserved (starts with `__`).
    #[error("component name `{component}` is invalid: {reason}")]
    InvalidComponentName {
        /// The name.
        component: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Parallelism 0.
    #[error("component `{component}` has parallelism 0; it needs at least one task")]
    ZeroParallelism {
        /// The component.
        component: String,
    },
    /// More tasks than task ids (a tree's root id holds its spout's task
    /// id in 24 bits).
    #[error(
        "topology `{topology}` has {tasks} tasks (acker tasks included); at most {max} are allowed"
    )]
    TooManyTasks {
        /// The topology.
        topology: String,
        /// Its task count.
        tasks: usize,
        /// [`MAX_TASKS`](crate::MAX_TASKS).
        max: usize,
    },
    /// A bolt subscribes to a component that does not exist.
    #[error("bolt `{bolt}` subscribes to unknown component `{source_component}`")]
    UnknownComponent {
        /// The subscribing bolt.
        bolt: String,
        /// The missing component.
        source_component: String,
    },
    /// A bolt subscribes to a stream its source does not declare.
    #[error("bolt `{bolt}` subscribes to stream `{stream}` of `{source_component}`, which declares {declared:?}")]
    UnknownStream {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The missing stream.
        stream: String,
        /// Streams the source declares.
        declared: Vec<String>,
    },
    /// A fields or partial-key grouping names a field the stream lacks.
    #[error("bolt `{bolt}` groups stream `{stream}` of `{source_component}` by field `{field}`, which is not among its fields {declared}")]
    UnknownField {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
        /// The missing field.
        field: String,
        /// The stream's declared fields.
        declared: gale_codec::Fields,
    },
    /// A fields or partial-key grouping with no fields.
    #[error(
        "bolt `{bolt}` groups stream `{stream}` of `{source_component}` by an empty list of fields"
    )]
    EmptyGroupingFields {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
    },
    /// A direct grouping on a stream not declared direct.
    #[error("bolt `{bolt}` uses a direct grouping on stream `{stream}` of `{source_component}`, which is not declared as a direct stream")]
    DirectGroupingOnNonDirectStream {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
    },
    /// A direct stream consumed with a grouping other than direct.
    #[error("bolt `{bolt}` subscribes to direct stream `{stream}` of `{source_component}` without a direct grouping")]
    NonDirectGroupingOnDirectStream {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
    },
    /// The same bolt subscribes twice to one stream.
    #[error("bolt `{bolt}` subscribes twice to stream `{stream}` of `{source_component}`")]
    DuplicateSubscription {
        /// The subscribing bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
    },
    /// A component declares the same stream twice, or a reserved one.
    #[error("component `{component}` declares stream `{stream}` {reason}")]
    BadStream {
        /// The component.
        component: String,
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stream's fields are malformed (duplicate or empty names).
    #[error("component `{component}` declares stream `{stream}` with bad fields: {source}")]
    BadFields {
        /// The component.
        component: String,
        /// The stream.
        stream: String,
        /// What is wrong with the fields.
        source: FieldsError,
    },
    /// A bolt with no inputs.
    #[error("bolt `{bolt}` subscribes to nothing, so it would never receive a tuple")]
    NoInputs {
        /// The bolt.
        bolt: String,
    },
    /// A max spout pending of zero (the spout would never be called).
    #[error("component `{component}` has a max spout pending of 0; it needs at least 1")]
    ZeroMaxSpoutPending {
        /// The spout, or the topology for its default.
        component: String,
    },
    /// A message timeout of zero.
    #[error("topology `{topology}` has a message timeout of 0")]
    ZeroMessageTimeout {
        /// Topology name.
        topology: String,
    },
    /// A tick frequency of zero.
    #[error("component `{component}` has a tick tuple frequency of 0")]
    ZeroTickFrequency {
        /// The component.
        component: String,
    },
    /// A message timeout or tick interval beyond
    /// [`MAX_DURATION`](crate::MAX_DURATION).
    #[error(
        "{what} of {secs} s is longer than the longest allowed, {} s (one year)",
        crate::MAX_DURATION.as_secs()
    )]
    DurationTooLong {
        /// Which setting, e.g. "topology `t`'s message timeout".
        what: String,
        /// The value given, in seconds.
        secs: u64,
    },
    /// A windowed bolt's window is malformed (a zero length or slide,
    /// event-time options without a timestamp field).
    #[error("windowed bolt `{component}` has a bad window: {reason}")]
    BadWindow {
        /// The bolt.
        component: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An event-time windowed bolt subscribes to a stream without its
    /// timestamp field.
    #[error("windowed bolt `{bolt}` reads timestamps from field `{field}`, but stream `{stream}` of `{source_component}` has only {declared}")]
    WindowTimestampField {
        /// The windowed bolt.
        bolt: String,
        /// The source component.
        source_component: String,
        /// The stream.
        stream: String,
        /// The timestamp field.
        field: String,
        /// The stream's declared fields.
        declared: gale_codec::Fields,
    },
    /// With acking on, a time window holds tuples longer than the message
    /// timeout, so they would time out while still in a window.
    #[error("windowed bolt `{bolt}` holds tuples up to {hold_ms} ms (window length + slide + lag), longer than the message timeout of {timeout_ms} ms; raise the message timeout or shorten the window")]
    WindowExceedsTimeout {
        /// The windowed bolt.
        bolt: String,
        /// How long the window holds a tuple, at most.
        hold_ms: u64,
        /// The topology's message timeout.
        timeout_ms: u64,
    },
    /// With acking on, a count window needs more tuples than the spouts
    /// may have in flight, so it would never fire.
    #[error("windowed bolt `{bolt}` needs {needed} tuples in flight (window length + slide), but the spouts' max spout pending allows only {in_flight}")]
    WindowExceedsMaxPending {
        /// The windowed bolt.
        bolt: String,
        /// Window length plus slide, in tuples.
        needed: usize,
        /// What all spout tasks may have in flight together.
        in_flight: usize,
    },
}
