//! The user's side of a topology: [`Spout`] and [`Bolt`], how they declare
//! their output streams, and what they see of the running topology.

use std::collections::BTreeMap;

use gale_codec::Fields;

use crate::{BoltOutput, Input, InputBatch, MetricSource, SpoutOutput, TaskId};

/// Name of the stream a component emits to unless it names another.
pub const DEFAULT_STREAM: &str = "default";
/// Name of the system stream that carries tick tuples to bolts.
pub const TICK_STREAM: &str = "__tick";
/// Component id that tick tuples report as their source.
pub const SYSTEM_COMPONENT: &str = "__system";

/// A source of tuples (Storm's `ISpout`).
///
/// Each task of a spout component gets its own instance, made by the
/// factory given to [`TopologyBuilder::set_spout`](crate::TopologyBuilder::set_spout).
/// All methods of one instance run on one pinned worker thread, so a spout
/// needs no locking.
pub trait Spout: Send + 'static {
    /// Declares the streams this spout emits and their fields.
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer);

    /// Called once on the worker thread before any other call.
    fn open(&mut self, _context: &TopologyContext) {}

    /// Asked for more tuples; emits zero or more through `out`. Called only
    /// while there is room downstream. Return quickly: a spout that has
    /// nothing to emit should emit nothing rather than wait.
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>);

    /// The tuple tree started by the emit with this message id completed.
    fn ack(&mut self, _msg_id: u64) {}

    /// The tuple tree started by the emit with this message id failed or
    /// timed out; the spout may emit it again.
    fn fail(&mut self, _msg_id: u64) {}

    /// The topology was activated (also right after `open`).
    fn activate(&mut self) {}

    /// The topology was deactivated: `next_tuple` will not be called until
    /// it is activated again.
    fn deactivate(&mut self) {}

    /// Called once when the topology shuts down.
    fn close(&mut self) {}

    /// A finite spout returns `true` once it has emitted everything; when
    /// every spout task is finished and every tuple in flight has been
    /// processed, the topology shuts down cleanly by itself. It is asked
    /// after a `next_tuple` call that emitted nothing and after each batch
    /// of calls, so a finished spout may see one more `next_tuple` call,
    /// which should emit nothing.
    fn is_finished(&self) -> bool {
        false
    }
}

/// A processing step (Storm's `IRichBolt`).
///
/// Each task of a bolt component gets its own instance, made by the factory
/// given to [`TopologyBuilder::set_bolt`](crate::TopologyBuilder::set_bolt).
pub trait Bolt: Send + 'static {
    /// Declares the streams this bolt emits and their fields.
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer);

    /// Called once on the worker thread before the first tuple.
    fn prepare(&mut self, _context: &TopologyContext) {}

    /// Processes one input tuple, read in place; may emit through `out` and
    /// must [`ack`](BoltOutput::ack) or [`fail`](BoltOutput::fail) it when
    /// the topology tracks tuples.
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>);

    /// Processes a run of inputs: what one of its worker's rings held for
    /// this task, all of one stream, in arrival order. The default calls
    /// [`execute`](Self::execute) for each, which is all most bolts need:
    /// the engine already pays its own per-input work (counting, metrics,
    /// the panic guard) once per run. Override it to amortise work of your
    /// own over a run (one lookup, one write, one lock per batch).
    ///
    /// Take every input from `inputs` and ack or fail each as
    /// [`execute`](Self::execute) would; inputs left in the batch are
    /// handed to the next call. If it panics, the input taken last fails
    /// (its trees are replayed) and the rest of the run goes on.
    ///
    /// Latency sampling: the default says
    /// [`InputBatch::one_at_a_time`], so a sampled input's execute is
    /// timed from handing it out to the call for the next input, inside
    /// the run. An override that gathers inputs and works on them together
    /// does not say so, and a sampled input then comes as a run of its
    /// own, timed whole; one that handles each input before taking the
    /// next may say so too.
    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        // One `execute` per input: a sampled input's execute latency is
        // timed until the next input is asked for, within the run.
        inputs.one_at_a_time();
        for input in inputs {
            self.execute(&input, out);
        }
    }

    /// Called once when the topology shuts down, after the last tuple.
    fn cleanup(&mut self) {}

    /// Whether this bolt does work outside `execute` (it keeps inputs as
    /// [`Anchor`](crate::Anchor)s and acks or emits later, like a
    /// multi-lang shell bolt) and so wants [`poll`](Self::poll) calls.
    /// Asked once, after `prepare`; bolts that say no (the default) cost
    /// their worker nothing.
    fn wants_poll(&self) -> bool {
        false
    }

    /// Called by a bolt that [`wants_poll`](Self::wants_poll) once per pass
    /// of its worker's loop (so at every idle poll, and at least every few
    /// hundred tuples while busy), without an input: emit, ack or fail
    /// what has completed since. Returns whether it did anything. Must not
    /// block.
    fn poll(&mut self, _out: &mut BoltOutput<'_>) -> bool {
        false
    }

    /// For a bolt that [`wants_poll`](Self::wants_poll): whether it still
    /// holds inputs it has not acked or failed, so a finite topology must
    /// not end yet.
    fn has_pending(&self) -> bool {
        false
    }
}

/// A boxed spout is a spout: components chosen at run time (a topology
/// file's `className`) are built as `Box<dyn Spout>`.
impl Spout for Box<dyn Spout> {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        (**self).declare_output_fields(declarer);
    }
    fn open(&mut self, context: &TopologyContext) {
        (**self).open(context);
    }
    fn next_tuple(&mut self, out: &mut SpoutOutput<'_>) {
        (**self).next_tuple(out);
    }
    fn ack(&mut self, msg_id: u64) {
        (**self).ack(msg_id);
    }
    fn fail(&mut self, msg_id: u64) {
        (**self).fail(msg_id);
    }
    fn activate(&mut self) {
        (**self).activate();
    }
    fn deactivate(&mut self) {
        (**self).deactivate();
    }
    fn close(&mut self) {
        (**self).close();
    }
    fn is_finished(&self) -> bool {
        (**self).is_finished()
    }
}

/// A boxed bolt is a bolt (see the `Box<dyn Spout>` impl).
impl Bolt for Box<dyn Bolt> {
    fn declare_output_fields(&self, declarer: &mut OutputFieldsDeclarer) {
        (**self).declare_output_fields(declarer);
    }
    fn prepare(&mut self, context: &TopologyContext) {
        (**self).prepare(context);
    }
    fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
        (**self).execute(input, out);
    }
    fn execute_batch(&mut self, inputs: &mut InputBatch<'_, '_>, out: &mut BoltOutput<'_>) {
        (**self).execute_batch(inputs, out);
    }
    fn cleanup(&mut self) {
        (**self).cleanup();
    }
    fn wants_poll(&self) -> bool {
        (**self).wants_poll()
    }
    fn poll(&mut self, out: &mut BoltOutput<'_>) -> bool {
        (**self).poll(out)
    }
    fn has_pending(&self) -> bool {
        (**self).has_pending()
    }
}

/// One declared output stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDecl {
    /// Stream name.
    pub name: String,
    /// Its fields.
    pub fields: Fields,
    /// `true` if consumers must subscribe with a direct grouping and the
    /// emitter picks the target task (`emit_direct`).
    pub direct: bool,
    /// For a typed stream, the Rust type it carries (its
    /// [`type_name`](std::any::type_name)).
    pub typed: Option<&'static str>,
}

/// Collects a component's stream declarations (Storm's
/// `OutputFieldsDeclarer`).
#[derive(Debug, Default)]
pub struct OutputFieldsDeclarer {
    pub(crate) streams: Vec<StreamDecl>,
    pub(crate) errors: Vec<crate::TopologyError>,
    pub(crate) component: String,
}

impl OutputFieldsDeclarer {
    pub(crate) fn new(component: &str) -> Self {
        Self {
            component: component.to_owned(),
            ..Self::default()
        }
    }

    /// The streams declared so far (what a topology file's loader reads
    /// from a component it builds at run time).
    pub fn declared(&self) -> &[StreamDecl] {
        &self.streams
    }

    /// Declares the fields of the default stream.
    pub fn declare<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.declare_stream(DEFAULT_STREAM, fields);
    }

    /// Declares a named stream and its fields.
    pub fn declare_stream<I, S>(&mut self, stream: &str, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(stream, fields, false);
    }

    /// Declares a direct stream: its consumers subscribe with a direct
    /// grouping and each tuple goes to the task named by `emit_direct`.
    pub fn declare_direct_stream<I, S>(&mut self, stream: &str, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(stream, fields, true);
    }

    /// Declares a typed stream: each tuple is one value of type `T` in
    /// one field named `field`, archived with rkyv; emit with
    /// `emit_typed` and read in place with
    /// [`Input::typed`](crate::Input::typed) (see [`Typed`](crate::Typed)).
    ///
    /// ```
    /// use gale_engine::rkyv::{Archive, Serialize};
    /// # use gale_engine::OutputFieldsDeclarer;
    ///
    /// #[derive(Archive, Serialize)]
    /// #[rkyv(crate = gale_engine::rkyv)]
    /// struct Reading {
    ///     sensor: u32,
    ///     celsius: f64,
    /// }
    ///
    /// fn declare(d: &mut OutputFieldsDeclarer) {
    ///     d.declare_typed::<Reading>("readings", "reading");
    /// }
    /// ```
    pub fn declare_typed<T: crate::Typed>(&mut self, stream: &str, field: &str) {
        self.push(stream, [field], false);
        if let Some(decl) = self.streams.last_mut().filter(|d| d.name == stream) {
            decl.typed = Some(std::any::type_name::<T>());
        }
    }

    fn push<I, S>(&mut self, stream: &str, fields: I, direct: bool)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        match Fields::new(fields) {
            Ok(fields) => self.streams.push(StreamDecl {
                name: stream.to_owned(),
                fields,
                direct,
                typed: None,
            }),
            Err(source) => self.errors.push(crate::TopologyError::BadFields {
                component: self.component.clone(),
                stream: stream.to_owned(),
                source,
            }),
        }
    }
}

/// What a task knows about itself and the topology (Storm's
/// `TopologyContext`).
#[derive(Debug, Clone)]
pub struct TopologyContext {
    pub(crate) topology: String,
    pub(crate) component: String,
    pub(crate) task: TaskId,
    pub(crate) task_index: usize,
    pub(crate) component_tasks: Vec<TaskId>,
    pub(crate) task_to_component: BTreeMap<TaskId, String>,
    pub(crate) thread: usize,
    pub(crate) message_timeout: std::time::Duration,
    /// A spout's `max_spout_pending` (its own, else the topology's).
    pub(crate) max_spout_pending: Option<usize>,
    /// component -> stream -> grouping of this component's inputs.
    pub(crate) sources: BTreeMap<String, BTreeMap<String, crate::Grouping>>,
    /// stream -> component -> grouping of those subscribing to this
    /// component's streams.
    pub(crate) targets: BTreeMap<String, BTreeMap<String, crate::Grouping>>,
    /// Where [`register_metric`](Self::register_metric) puts sources (set
    /// by the worker that runs the task).
    pub(crate) metric_sources: Option<MetricRegistry>,
}

/// The running topology's list of [`MetricSource`]s.
#[derive(Clone)]
pub(crate) struct MetricRegistry(pub(crate) std::sync::Arc<crate::runtime::Shared>);

impl std::fmt::Debug for MetricRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricRegistry")
    }
}

impl TopologyContext {
    /// What this component subscribes to: source component -> stream ->
    /// grouping (Storm's `getThisSources`).
    pub fn sources(&self) -> &BTreeMap<String, BTreeMap<String, crate::Grouping>> {
        &self.sources
    }

    /// Who subscribes to this component: stream -> subscribing component
    /// -> grouping (Storm's `getThisTargets`).
    pub fn targets(&self) -> &BTreeMap<String, BTreeMap<String, crate::Grouping>> {
        &self.targets
    }

    /// Adds a source of metrics of this task's own (Storm's
    /// `registerMetric`): its samples appear with every snapshot of the
    /// topology's metrics (the Prometheus endpoint, the API) from now on.
    /// Outside a running topology it does nothing.
    pub fn register_metric(&self, source: std::sync::Arc<dyn MetricSource>) {
        if let Some(registry) = &self.metric_sources {
            registry.0.metrics.register(source);
        }
    }

    /// The topology's name.
    pub fn topology_name(&self) -> &str {
        &self.topology
    }
    /// This task's component id.
    pub fn component_id(&self) -> &str {
        &self.component
    }
    /// This task's id (unique in the topology).
    pub fn task_id(&self) -> TaskId {
        self.task
    }
    /// This task's index among its component's tasks (0-based).
    pub fn task_index(&self) -> usize {
        self.task_index
    }
    /// Task ids of this component, in order.
    pub fn component_tasks(&self) -> &[TaskId] {
        &self.component_tasks
    }
    /// Task ids of `component`, in order (empty for an unknown one).
    pub fn tasks_of(&self, component: &str) -> Vec<TaskId> {
        self.task_to_component
            .iter()
            .filter(|(_, c)| c.as_str() == component)
            .map(|(t, _)| *t)
            .collect()
    }
    /// Every task id and its component.
    pub fn task_to_component(&self) -> &BTreeMap<TaskId, String> {
        &self.task_to_component
    }
    /// Index of the worker thread running this task.
    pub fn thread_index(&self) -> usize {
        self.thread
    }
    /// The topology's message timeout: a tuple tree not completed within
    /// it fails (a bolt holding inputs past it may forget them).
    pub fn message_timeout(&self) -> std::time::Duration {
        self.message_timeout
    }
    /// For a spout task: the most trees it may have in flight
    /// (`max_spout_pending`, its own or the topology's; `None`: no bound).
    /// The engine stops calling `next_tuple` at the bound; a spout that
    /// emits many tuples per call can use it to stay within it.
    pub fn max_spout_pending(&self) -> Option<usize> {
        self.max_spout_pending
    }
}
