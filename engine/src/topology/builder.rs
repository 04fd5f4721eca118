//! [`TopologyBuilder`]: Storm's builder, with validation before anything runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::component::{
    BoltFactory, Component, ComponentConfig, Kind, Saves, SpoutFactory, Subscription,
};
use super::config::TopologyConfig;
use super::definition::{task_count, Topology};
use super::error::TopologyError;
use super::max_duration::MAX_DURATION;
use crate::component::{OutputFieldsDeclarer, DEFAULT_STREAM};
use crate::state::checkpoint::{
    CheckpointBolt, CheckpointSpout, Inner, Plain, Rewind, Slot, CHECKPOINT_FIELD,
    CHECKPOINT_STREAM,
};
use crate::state::{Checkpointing, RewindableSpout, StatefulBolt};
use crate::window::{Length, Window, WindowedBolt, WindowedExecutor};
use crate::{Bolt, Grouping, Spout};

/// Builds a [`Topology`]: spouts, bolts, their parallelism and the
/// groupings that connect them.
///
/// ```
/// use gale_engine::{Bolt, BoltOutput, Input, OutputFieldsDeclarer, Spout, SpoutOutput,
///                   TopologyBuilder};
/// # struct Words; struct Count;
/// # impl Spout for Words {
/// #     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) { d.declare(["word"]); }
/// #     fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
/// # }
/// # impl Bolt for Count {
/// #     fn declare_output_fields(&self, _d: &mut OutputFieldsDeclarer) {}
/// #     fn execute(&mut self, _input: &Input<'_>, _out: &mut BoltOutput<'_>) {}
/// # }
/// let mut builder = TopologyBuilder::new("word-count");
/// builder.set_spout("words", || Words, 1);
/// builder.set_bolt("count", || Count, 4).fields_grouping("words", ["word"]);
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.parallelism("count"), Some(4));
///
/// // Mistakes are found before anything runs, naming what is wrong:
/// let mut bad = TopologyBuilder::new("bad");
/// bad.set_spout("words", || Words, 1);
/// bad.set_bolt("count", || Count, 2).fields_grouping("words", ["wrod"]);
/// let err = bad.build().unwrap_err();
/// assert!(err.to_string().contains("`wrod`"), "{err}");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct TopologyBuilder {
    name: String,
    components: Vec<Component>,
    errors: Vec<TopologyError>,
    config: TopologyConfig,
    /// The windowed bolts and their windows, checked by `build`.
    windows: Vec<(String, Window)>,
    /// Checkpointed state, if any; the wrappers read it from `slot`.
    checkpointing: Option<Arc<Checkpointing>>,
    slot: Slot,
    /// Components already wrapped for checkpoints (rewindable spouts,
    /// stateful bolts).
    wrapped: HashSet<String>,
    /// What each of those keeps.
    saves: HashMap<String, Saves>,
}

impl TopologyBuilder {
    /// A builder for a topology called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            components: Vec::new(),
            errors: Vec::new(),
            config: TopologyConfig::default(),
            windows: Vec::new(),
            checkpointing: None,
            slot: Slot::default(),
            wrapped: HashSet::new(),
            saves: HashMap::new(),
        }
    }

    /// Number of acker tasks (default 1); 0 turns tuple tracking off and
    /// acks every spout emit at once.
    pub fn set_num_ackers(&mut self, ackers: usize) -> &mut Self {
        self.config.ackers = ackers;
        self
    }

    /// Whether shuffle groupings are load aware (default true): a task on
    /// a busier worker thread of the node gets fewer tuples (see
    /// [`Grouping::Shuffle`](crate::Grouping::Shuffle)); false gives
    /// every task an even share (Storm's
    /// `topology.disable.loadaware.messaging`).
    pub fn set_load_aware(&mut self, on: bool) -> &mut Self {
        self.config.load_aware = on;
        self
    }

    /// Tuple trees not completed within `timeout` fail (default 30 s).
    pub fn set_message_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.message_timeout = timeout;
        self
    }

    /// Default bound on trees in flight per spout task (a spout's own
    /// `max_spout_pending` wins).
    pub fn set_max_spout_pending(&mut self, pending: usize) -> &mut Self {
        self.config.max_spout_pending = Some(pending);
        self
    }

    /// Adds a spout component with `parallelism` tasks; `factory` makes one
    /// instance per task.
    pub fn set_spout<S, F>(
        &mut self,
        name: &str,
        factory: F,
        parallelism: usize,
    ) -> SpoutDeclarer<'_>
    where
        S: Spout,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let mut declarer = OutputFieldsDeclarer::new(name);
        factory().declare_output_fields(&mut declarer);
        let factory: SpoutFactory = Arc::new(move || Box::new(factory()));
        self.add(name, Kind::Spout(factory), parallelism, declarer);
        SpoutDeclarer {
            component: self.components.last_mut().expect("just pushed"),
        }
    }

    /// Adds a bolt component with `parallelism` tasks; `factory` makes one
    /// instance per task. Chain groupings on the returned declarer.
    pub fn set_bolt<B, F>(&mut self, name: &str, factory: F, parallelism: usize) -> BoltDeclarer<'_>
    where
        B: Bolt,
        F: Fn() -> B + Send + Sync + 'static,
    {
        let mut declarer = OutputFieldsDeclarer::new(name);
        factory().declare_output_fields(&mut declarer);
        let factory: BoltFactory = Arc::new(move || Box::new(factory()));
        self.add(name, Kind::Bolt(factory), parallelism, declarer);
        BoltDeclarer {
            component: self.components.last_mut().expect("just pushed"),
        }
    }

    /// Checkpoints the state of every stateful bolt and the position of
    /// every rewindable spout as `checkpointing` says (see
    /// [`state`](crate::state)): every spout and bolt is wrapped to align
    /// and forward barriers. Over several nodes, each node joins the
    /// checkpoints when it starts (see
    /// [`ClusterPlan::join_checkpoints`](crate::cluster::ClusterPlan::join_checkpoints)).
    pub fn set_checkpointing(&mut self, checkpointing: Arc<Checkpointing>) -> &mut Self {
        self.checkpointing = Some(checkpointing);
        self
    }

    /// Adds a spout that can rewind to a saved position (exactly-once
    /// state when checkpointing).
    pub fn set_rewindable_spout<S, F>(
        &mut self,
        name: &str,
        factory: F,
        parallelism: usize,
    ) -> SpoutDeclarer<'_>
    where
        S: RewindableSpout,
        F: Fn() -> S + Send + Sync + 'static,
    {
        self.wrapped.insert(name.to_owned());
        self.saves.insert(name.to_owned(), Saves::Position);
        let slot = Arc::clone(&self.slot);
        self.set_spout(
            name,
            move || CheckpointSpout::new(Box::new(Rewind(factory())), Arc::clone(&slot)),
            parallelism,
        )
    }

    /// Adds a bolt with key-value state, restored before its first tuple
    /// and saved at every checkpoint.
    pub fn set_stateful_bolt<B, F>(
        &mut self,
        name: &str,
        factory: F,
        parallelism: usize,
    ) -> BoltDeclarer<'_>
    where
        B: StatefulBolt,
        F: Fn() -> B + Send + Sync + 'static,
    {
        self.wrapped.insert(name.to_owned());
        self.saves.insert(name.to_owned(), Saves::State);
        let slot = Arc::clone(&self.slot);
        self.set_bolt(
            name,
            move || CheckpointBolt::new(Inner::Stateful(Box::new(factory())), Arc::clone(&slot)),
            parallelism,
        )
    }

    /// Wraps every component not wrapped yet, declares the barrier stream
    /// on each and subscribes each bolt to its sources' barriers.
    fn add_checkpoints(&mut self, checkpointing: &Arc<Checkpointing>) {
        let _ = self.slot.set(Arc::clone(checkpointing));
        checkpointing.set_tasks(self.components.iter().map(|c| c.parallelism).sum());
        checkpointing.set_layout(
            self.components
                .iter()
                .map(|c| (c.name.as_str(), c.parallelism)),
        );
        let fields = gale_codec::Fields::new([CHECKPOINT_FIELD])
            .unwrap_or_else(|_| gale_codec::Fields::empty());
        for c in &mut self.components {
            if !self.wrapped.contains(&c.name) {
                let slot = Arc::clone(&self.slot);
                c.kind = match &c.kind {
                    Kind::Spout(f) => {
                        let f = Arc::clone(f);
                        Kind::Spout(Arc::new(move || {
                            Box::new(CheckpointSpout::new(
                                Box::new(Plain(f())),
                                Arc::clone(&slot),
                            ))
                        }))
                    }
                    Kind::Bolt(f) => {
                        let f = Arc::clone(f);
                        Kind::Bolt(Arc::new(move || {
                            Box::new(CheckpointBolt::new(Inner::Plain(f()), Arc::clone(&slot)))
                        }))
                    }
                    Kind::Acker => Kind::Acker,
                };
            }
            c.streams.push(crate::StreamDecl {
                name: CHECKPOINT_STREAM.to_owned(),
                fields: fields.clone(),
                direct: false,
                typed: None,
            });
            let mut sources: Vec<String> = c.inputs.iter().map(|s| s.component.clone()).collect();
            sources.sort();
            sources.dedup();
            for source in sources {
                c.inputs.push(Subscription {
                    component: source,
                    stream: CHECKPOINT_STREAM.to_owned(),
                    grouping: Grouping::All,
                });
            }
        }
    }

    /// Adds a windowed bolt component (Storm's `setBolt` with a
    /// `BaseWindowedBolt`): each task runs an instance made by `factory` on
    /// the windows `window` describes (see [`window`](crate::window)).
    /// Chain the groupings on the returned declarer as for any bolt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gale_engine::window::{TupleWindow, Window, WindowOutput, WindowedBolt};
    /// use gale_codec::Value;
    /// use gale_engine::{OutputFieldsDeclarer, Spout, SpoutOutput, TopologyBuilder};
    /// # struct Words;
    /// # impl Spout for Words {
    /// #     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) { d.declare(["word", "ts"]); }
    /// #     fn next_tuple(&mut self, _out: &mut SpoutOutput<'_>) {}
    /// # }
    /// struct Tally;
    /// impl WindowedBolt for Tally {
    ///     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
    ///         d.declare(["end", "tuples"]);
    ///     }
    ///     fn execute(&mut self, window: &TupleWindow<'_>, out: &mut WindowOutput<'_, '_>) {
    ///         let n = window.get().len() as i64;
    ///         out.emit(&[Value::I64(window.end_timestamp()), Value::I64(n)]);
    ///     }
    /// }
    ///
    /// let mut builder = TopologyBuilder::new("tally");
    /// builder.set_spout("words", || Words, 1);
    /// let window = Window::sliding(Duration::from_secs(10), Duration::from_secs(5))
    ///     .with_timestamp_field("ts");
    /// builder.set_windowed_bolt("tally", || Tally, window, 2).shuffle_grouping("words");
    /// builder.set_message_timeout(Duration::from_secs(10));
    /// // With acking on, a window holding tuples longer than the timeout is refused.
    /// let err = builder.build().unwrap_err();
    /// assert!(err.to_string().contains("message timeout"), "{err}");
    /// ```
    pub fn set_windowed_bolt<W, F>(
        &mut self,
        name: &str,
        factory: F,
        window: Window,
        parallelism: usize,
    ) -> BoltDeclarer<'_>
    where
        W: WindowedBolt,
        F: Fn() -> W + Send + Sync + 'static,
    {
        self.windows.push((name.to_owned(), window.clone()));
        self.set_bolt(
            name,
            move || WindowedExecutor::new(factory(), window.clone()),
            parallelism,
        )
    }

    fn add(&mut self, name: &str, kind: Kind, parallelism: usize, declarer: OutputFieldsDeclarer) {
        self.errors.extend(declarer.errors);
        self.components.push(Component {
            name: name.to_owned(),
            kind,
            parallelism,
            streams: declarer.streams,
            inputs: Vec::new(),
            config: ComponentConfig::default(),
        });
    }

    /// Validates the whole topology and returns it, or the first mistake
    /// found: duplicate or reserved names, zero parallelism, no spout,
    /// unknown components, streams or fields, direct groupings on streams
    /// not declared direct (and the reverse), bolts with no input.
    pub fn build(mut self) -> Result<Topology, TopologyError> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        if let Some(c) = self.checkpointing.clone() {
            self.add_checkpoints(&c);
        }
        validate(&self.name, &self.components)?;
        let tasks = task_count(&self.components, &self.config);
        if tasks > crate::MAX_TASKS {
            return Err(TopologyError::TooManyTasks {
                topology: self.name,
                tasks,
                max: crate::MAX_TASKS,
            });
        }
        for (name, window) in &self.windows {
            check_window(&self.config, &self.components, name, window)?;
        }
        if self.config.max_spout_pending == Some(0) {
            return Err(TopologyError::ZeroMaxSpoutPending {
                component: self.name,
            });
        }
        if self.config.message_timeout.is_zero() {
            return Err(TopologyError::ZeroMessageTimeout {
                topology: self.name,
            });
        }
        if self.config.message_timeout > MAX_DURATION {
            return Err(TopologyError::DurationTooLong {
                what: format!("topology `{}`'s message timeout", self.name),
                secs: self.config.message_timeout.as_secs(),
            });
        }
        Ok(Topology {
            name: self.name,
            components: self.components,
            config: self.config,
            checkpointing: self.checkpointing,
            saves: self.saves,
        })
    }
}

fn validate(topology: &str, components: &[Component]) -> Result<(), TopologyError> {
    let mut names = HashSet::new();
    for c in components {
        if c.name.is_empty() {
            return Err(TopologyError::InvalidComponentName {
                component: c.name.clone(),
                reason: "names must not be empty",
            });
        }
        if c.name.starts_with("__") {
            return Err(TopologyError::InvalidComponentName {
                component: c.name.clone(),
                reason: "names starting with `__` are reserved for system components",
            });
        }
        if !names.insert(c.name.as_str()) {
            return Err(TopologyError::DuplicateComponent {
                component: c.name.clone(),
            });
        }
        if c.parallelism == 0 {
            return Err(TopologyError::ZeroParallelism {
                component: c.name.clone(),
            });
        }
        if c.config.max_spout_pending == Some(0) {
            return Err(TopologyError::ZeroMaxSpoutPending {
                component: c.name.clone(),
            });
        }
        if c.config.tick_interval == Some(Duration::ZERO) {
            return Err(TopologyError::ZeroTickFrequency {
                component: c.name.clone(),
            });
        }
        if let Some(t) = c.config.tick_interval.filter(|t| *t > MAX_DURATION) {
            return Err(TopologyError::DurationTooLong {
                what: format!("component `{}`'s tick interval", c.name),
                secs: t.as_secs(),
            });
        }
        let mut streams = HashSet::new();
        for s in &c.streams {
            if !streams.insert(s.name.as_str()) {
                return Err(TopologyError::BadStream {
                    component: c.name.clone(),
                    stream: s.name.clone(),
                    reason: "twice",
                });
            }
            if s.name.starts_with("__") || s.name.is_empty() {
                return Err(TopologyError::BadStream {
                    component: c.name.clone(),
                    stream: s.name.clone(),
                    reason: "with a reserved or empty name",
                });
            }
        }
    }
    if !components.iter().any(Component::is_spout) {
        return Err(TopologyError::NoSpout {
            topology: topology.to_owned(),
        });
    }
    for bolt in components.iter().filter(|c| !c.is_spout()) {
        if bolt.inputs.is_empty() {
            return Err(TopologyError::NoInputs {
                bolt: bolt.name.clone(),
            });
        }
        let mut seen = HashSet::new();
        for sub in &bolt.inputs {
            check_subscription(components, bolt, sub)?;
            if !seen.insert((sub.component.as_str(), sub.stream.as_str())) {
                return Err(TopologyError::DuplicateSubscription {
                    bolt: bolt.name.clone(),
                    source_component: sub.component.clone(),
                    stream: sub.stream.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Checks windowed bolt `name`'s window: on its own, against its inputs
/// (each must carry the timestamp field) and, with acking on, against the
/// message timeout and the spouts' bound on tuples in flight (Storm's
/// checks: a window that holds tuples longer would see them time out).
fn check_window(
    config: &TopologyConfig,
    components: &[Component],
    name: &str,
    window: &Window,
) -> Result<(), TopologyError> {
    window.check(name)?;
    let Some(bolt) = components.iter().find(|c| c.name == name) else {
        return Ok(());
    };
    if let Some(field) = window.timestamp_field() {
        for sub in &bolt.inputs {
            let fields = components
                .iter()
                .find(|c| c.name == sub.component)
                .and_then(|c| c.stream(&sub.stream))
                .map(|s| &s.fields);
            if let Some(fields) = fields.filter(|f| !f.contains(field)) {
                return Err(TopologyError::WindowTimestampField {
                    bolt: name.to_owned(),
                    source_component: sub.component.clone(),
                    stream: sub.stream.clone(),
                    field: field.to_owned(),
                    declared: fields.clone(),
                });
            }
        }
    }
    if config.ackers == 0 {
        return Ok(());
    }
    if let Some(hold) = window.max_hold() {
        if hold > config.message_timeout {
            return Err(TopologyError::WindowExceedsTimeout {
                bolt: name.to_owned(),
                hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
                timeout_ms: u64::try_from(config.message_timeout.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }
    if let (Length::Count(len), Length::Count(slide)) = (window.length(), window.slide()) {
        // What all spouts may have in flight, if every one is bounded.
        let in_flight = components
            .iter()
            .filter(|c| c.is_spout())
            .map(|c| {
                c.max_spout_pending(config.max_spout_pending)
                    .map(|p| p.saturating_mul(c.parallelism))
            })
            .try_fold(0usize, |sum, p| p.map(|p| sum.saturating_add(p)));
        let needed = len.saturating_add(slide);
        if let Some(in_flight) = in_flight.filter(|n| *n < needed) {
            return Err(TopologyError::WindowExceedsMaxPending {
                bolt: name.to_owned(),
                needed,
                in_flight,
            });
        }
    }
    Ok(())
}

fn check_subscription(
    components: &[Component],
    bolt: &Component,
    sub: &Subscription,
) -> Result<(), TopologyError> {
    let source = components
        .iter()
        .find(|c| c.name == sub.component)
        .ok_or_else(|| TopologyError::UnknownComponent {
            bolt: bolt.name.clone(),
            source_component: sub.component.clone(),
        })?;
    let stream = source
        .stream(&sub.stream)
        .ok_or_else(|| TopologyError::UnknownStream {
            bolt: bolt.name.clone(),
            source_component: sub.component.clone(),
            stream: sub.stream.clone(),
            declared: source.streams.iter().map(|s| s.name.clone()).collect(),
        })?;
    let is_direct = matches!(sub.grouping, Grouping::Direct);
    if is_direct && !stream.direct {
        return Err(TopologyError::DirectGroupingOnNonDirectStream {
            bolt: bolt.name.clone(),
            source_component: sub.component.clone(),
            stream: sub.stream.clone(),
        });
    }
    if !is_direct && stream.direct {
        return Err(TopologyError::NonDirectGroupingOnDirectStream {
            bolt: bolt.name.clone(),
            source_component: sub.component.clone(),
            stream: sub.stream.clone(),
        });
    }
    if let Some(fields) = sub.grouping.fields() {
        if fields.is_empty() {
            return Err(TopologyError::EmptyGroupingFields {
                bolt: bolt.name.clone(),
                source_component: sub.component.clone(),
                stream: sub.stream.clone(),
            });
        }
        if let Some(field) = fields.iter().find(|f| !stream.fields.contains(f)) {
            return Err(TopologyError::UnknownField {
                bolt: bolt.name.clone(),
                source_component: sub.component.clone(),
                stream: sub.stream.clone(),
                field: field.clone(),
                declared: stream.fields.clone(),
            });
        }
    }
    Ok(())
}

/// Options of a spout just added (returned by
/// [`TopologyBuilder::set_spout`]).
pub struct SpoutDeclarer<'a> {
    component: &'a mut Component,
}

impl SpoutDeclarer<'_> {
    /// At most `n` tuple trees in flight per task of this spout.
    pub fn max_spout_pending(self, n: usize) -> Self {
        self.component.config.max_spout_pending = Some(n);
        self
    }
}

/// Inputs and options of a bolt just added (returned by
/// [`TopologyBuilder::set_bolt`]); chain the groupings.
pub struct BoltDeclarer<'a> {
    component: &'a mut Component,
}

impl BoltDeclarer<'_> {
    /// Subscribes to `component`'s `stream` with `grouping`.
    pub fn grouping(self, component: &str, stream: &str, grouping: Grouping) -> Self {
        self.component.inputs.push(Subscription {
            component: component.to_owned(),
            stream: stream.to_owned(),
            grouping,
        });
        self
    }

    /// Shuffle grouping on `component`'s default stream.
    pub fn shuffle_grouping(self, component: &str) -> Self {
        self.grouping(component, DEFAULT_STREAM, Grouping::Shuffle)
    }

    /// Shuffle grouping on a named stream.
    pub fn shuffle_grouping_stream(self, component: &str, stream: &str) -> Self {
        self.grouping(component, stream, Grouping::Shuffle)
    }

    /// Fields grouping on `component`'s default stream.
    pub fn fields_grouping<I, S>(self, component: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields_grouping_stream(component, DEFAULT_STREAM, fields)
    }

    /// Fields grouping on a named stream.
    pub fn fields_grouping_stream<I, S>(self, component: &str, stream: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let fields = fields.into_iter().map(Into::into).collect();
        self.grouping(component, stream, Grouping::Fields(fields))
    }

    /// Partial-key grouping on `component`'s default stream.
    pub fn partial_key_grouping<I, S>(self, component: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let fields = fields.into_iter().map(Into::into).collect();
        self.grouping(component, DEFAULT_STREAM, Grouping::PartialKey(fields))
    }

    /// All grouping on `component`'s default stream.
    pub fn all_grouping(self, component: &str) -> Self {
        self.grouping(component, DEFAULT_STREAM, Grouping::All)
    }

    /// Global grouping on `component`'s default stream.
    pub fn global_grouping(self, component: &str) -> Self {
        self.grouping(component, DEFAULT_STREAM, Grouping::Global)
    }

    /// None grouping (shuffle) on `component`'s default stream.
    pub fn none_grouping(self, component: &str) -> Self {
        self.grouping(component, DEFAULT_STREAM, Grouping::None)
    }

    /// Direct grouping on `component`'s direct `stream`.
    pub fn direct_grouping(self, component: &str, stream: &str) -> Self {
        self.grouping(component, stream, Grouping::Direct)
    }

    /// Local-or-shuffle grouping on `component`'s default stream.
    pub fn local_or_shuffle_grouping(self, component: &str) -> Self {
        self.grouping(component, DEFAULT_STREAM, Grouping::LocalOrShuffle)
    }

    /// A custom grouping on `component`'s `stream`.
    pub fn custom_grouping(self, component: &str, stream: &str, grouping: Grouping) -> Self {
        self.grouping(component, stream, grouping)
    }

    /// Delivers a tick tuple on [`TICK_STREAM`](crate::TICK_STREAM) to each task of this bolt
    /// every `interval`.
    pub fn tick_interval(self, interval: Duration) -> Self {
        self.component.config.tick_interval = Some(interval);
        self
    }
}
