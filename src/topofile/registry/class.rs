//! [`Registry`]: the classes a Flux file's `className` may name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use gale_engine::{Bolt, CustomGrouping, Grouping, Spout};

use super::args::ClassArgs;
use super::builtin::Role;
use super::flux;
use super::storm::{Stand, STORM_CLASSES};

/// Makes one spout instance per task.
pub type SpoutFactory = Arc<dyn Fn() -> Box<dyn Spout> + Send + Sync>;
/// Makes one bolt instance per task.
pub type BoltFactory = Arc<dyn Fn() -> Box<dyn Bolt> + Send + Sync>;

type SpoutMaker = Arc<dyn Fn(&ClassArgs) -> Result<SpoutFactory, String> + Send + Sync>;
type BoltMaker = Arc<dyn Fn(&ClassArgs) -> Result<BoltFactory, String> + Send + Sync>;
type GroupingMaker = Arc<dyn Fn(&ClassArgs) -> Result<Grouping, String> + Send + Sync>;

/// What a class name stands for.
#[derive(Clone)]
pub(crate) enum Class {
    /// One of Storm's classes.
    Storm(Stand),
    /// An object for `components:`, passed to factories through `ref`.
    Object,
    /// A user's spout.
    Spout(SpoutMaker),
    /// A user's bolt.
    Bolt(BoltMaker),
    /// A user's custom grouping (`type: CUSTOM`, `customClass`).
    Grouping(GroupingMaker),
}

impl Class {
    /// Spout or bolt, if it is one.
    pub(crate) fn role(&self) -> Option<Role> {
        match self {
            Class::Storm(Stand::Builtin(name) | Stand::Connector(name)) => {
                super::builtin::find(name).map(|n| n.role)
            }
            Class::Storm(Stand::Shell(role)) => Some(*role),
            Class::Spout(_) => Some(Role::Spout),
            Class::Bolt(_) => Some(Role::Bolt),
            Class::Storm(Stand::Fields) | Class::Object | Class::Grouping(_) => None,
        }
    }

    /// What it is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self.role() {
            Some(Role::Spout) => "a spout",
            Some(Role::Bolt) => "a bolt",
            None if matches!(self, Class::Grouping(_)) => "a grouping",
            None => "an object (for `components:`)",
        }
    }
}

/// The classes a Flux file's `className` may name, each resolved to a
/// Gale component: Storm's own classes used in Flux's documentation
/// (`TestWordSpout`, `TestWordCounter`, `LogInfoBolt`, the shell
/// wrappers `FluxShellSpout`/`FluxShellBolt` and `ShellSpout`/`ShellBolt`,
/// `Fields`), Storm's connector classes (storm-redis's `RedisStoreBolt`
/// and `RedisLookupBolt`, storm-jdbc's `JdbcInsertBolt` and
/// `JdbcLookupBolt`, storm-hdfs's `HdfsBolt` and `HdfsSpout`, with the
/// objects they take by `ref`) and Gale's `gale.connectors.RedisStreamSpout`,
/// each read into the connector built-in it stands for (see
/// `docs/connectors.md`), and any a binary of yours adds:
///
/// ```
/// use gale::prelude::*;
/// use gale::topofile::registry::{Arg, Registry};
///
/// struct Shout(String);
/// impl Bolt for Shout {
///     fn declare_output_fields(&self, d: &mut OutputFieldsDeclarer) {
///         d.declare(["word"]);
///     }
///     fn execute(&mut self, input: &Input<'_>, out: &mut BoltOutput<'_>) {
///         let word = input.get(0).and_then(|v| v.as_str()).unwrap_or("");
///         out.emit(&[Value::from(format!("{word}{}", self.0))]);
///         out.ack(input);
///     }
/// }
///
/// let mut registry = Registry::new();
/// registry.add_bolt("com.example.Shout", |args| {
///     // `constructorArgs: ["!!!"]`
///     let suffix = match args.constructor_args.first() {
///         Some(Arg::Value(Value::Str(s))) => s.clone(),
///         None => "!".to_owned(),
///         Some(other) => return Err(format!("a string, not {other:?}")),
///     };
///     Ok(move || Shout(suffix.clone()))
/// });
/// assert!(registry.contains("com.example.Shout"));
/// // gale::topofile::load_with("shout.yaml", &registry, None) then loads
/// // a file with `className: "com.example.Shout"`.
/// ```
#[derive(Clone)]
pub struct Registry {
    classes: BTreeMap<String, Class>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.classes.keys()).finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// Storm's classes (see the type's docs).
    pub fn new() -> Self {
        let storm = STORM_CLASSES
            .iter()
            .map(|(name, stand)| (*name, Class::Storm(*stand)));
        let connectors = flux::CONNECTORS
            .iter()
            .map(|(name, builtin)| (*name, Class::Storm(Stand::Connector(builtin))));
        let objects = flux::OBJECTS.iter().map(|name| (*name, Class::Object));
        let classes = storm
            .chain(connectors)
            .chain(objects)
            .map(|(name, class)| (name.to_owned(), class))
            .collect();
        Self { classes }
    }

    /// Adds spout class `class`: `make` reads what the file says about an
    /// instance and returns the factory of its tasks, or why the file is
    /// wrong (reported with the `className`'s line).
    pub fn add_spout<S, F, M>(&mut self, class: &str, make: M) -> &mut Self
    where
        S: Spout,
        F: Fn() -> S + Send + Sync + 'static,
        M: Fn(&ClassArgs) -> Result<F, String> + Send + Sync + 'static,
    {
        let maker: SpoutMaker = Arc::new(move |args| {
            let f = make(args)?;
            let factory: SpoutFactory = Arc::new(move || Box::new(f()));
            Ok(factory)
        });
        self.classes.insert(class.to_owned(), Class::Spout(maker));
        self
    }

    /// Adds bolt class `class` (as [`add_spout`](Self::add_spout)).
    pub fn add_bolt<B, F, M>(&mut self, class: &str, make: M) -> &mut Self
    where
        B: Bolt,
        F: Fn() -> B + Send + Sync + 'static,
        M: Fn(&ClassArgs) -> Result<F, String> + Send + Sync + 'static,
    {
        let maker: BoltMaker = Arc::new(move |args| {
            let f = make(args)?;
            let factory: BoltFactory = Arc::new(move || Box::new(f()));
            Ok(factory)
        });
        self.classes.insert(class.to_owned(), Class::Bolt(maker));
        self
    }

    /// Adds custom grouping class `class`, for `grouping: {type: CUSTOM,
    /// customClass: {className: ...}}`.
    pub fn add_grouping<G, F, M>(&mut self, class: &str, make: M) -> &mut Self
    where
        G: CustomGrouping,
        F: Fn() -> G + Send + Sync + 'static,
        M: Fn(&ClassArgs) -> Result<F, String> + Send + Sync + 'static,
    {
        let maker: GroupingMaker = Arc::new(move |args| Ok(Grouping::custom(make(args)?)));
        self.classes
            .insert(class.to_owned(), Class::Grouping(maker));
        self
    }

    /// Adds object class `class`: allowed under `components:`, its
    /// definition handed through `ref` to the factories that name it.
    pub fn add_object(&mut self, class: &str) -> &mut Self {
        self.classes.insert(class.to_owned(), Class::Object);
        self
    }

    /// Whether `class` is known.
    pub fn contains(&self, class: &str) -> bool {
        self.classes.contains_key(class)
    }

    /// The known class names, sorted.
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes.keys().map(String::as_str)
    }

    pub(crate) fn get(&self, class: &str) -> Option<&Class> {
        self.classes.get(class)
    }

    /// The known classes that are `role`s, for messages.
    pub(crate) fn names_of(&self, role: Option<Role>) -> Vec<&str> {
        self.classes
            .iter()
            .filter(|(_, c)| c.role() == role)
            .map(|(n, _)| n.as_str())
            .collect()
    }
}
