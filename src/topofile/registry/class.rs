//! [`Registry`]: the classes a Flux file's `className` may name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use gale_codec::Value;
use gale_engine::{Bolt, CustomGrouping, Grouping, Spout};

use super::builtin::Role;
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
            Class::Storm(Stand::Builtin(name)) => super::builtin::find(name).map(|n| n.role),
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

/// One argument of a constructor, a property or a config method: a
/// value, an object of `components:` (a `ref`), or a list of objects (a
/// `reflist`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A plain YAML value.
    Value(Value),
    /// `ref: ID`: the component's definition, its own `ref`s resolved.
    Object(Box<ClassArgs>),
    /// `reflist: [ID, ...]`.
    List(Vec<Arg>),
}

impl Arg {
    /// The plain value, if it is one.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Arg::Value(v) => Some(v),
            _ => None,
        }
    }

    /// A list of strings: a YAML list of strings, or a `ref` to an
    /// `org.apache.storm.tuple.Fields` component.
    pub fn strings(&self) -> Option<Vec<String>> {
        match self {
            Arg::Value(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            Arg::Object(obj) if obj.class_name == FIELDS_CLASS => {
                let args = &obj.constructor_args;
                match args.as_slice() {
                    [one @ Arg::Value(Value::List(_))] => one.strings(),
                    _ => args
                        .iter()
                        .map(|a| match a {
                            Arg::Value(Value::Str(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                }
            }
            _ => None,
        }
    }
}

/// Storm's `Fields` class.
pub(crate) const FIELDS_CLASS: &str = "org.apache.storm.tuple.Fields";

/// What a Flux file says about one instance of a class: its `className`,
/// `constructorArgs`, `properties` and `configMethods`, with `ref`s
/// resolved. A factory registered with [`Registry`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassArgs {
    /// The `className`.
    pub class_name: String,
    /// `constructorArgs`, in order.
    pub constructor_args: Vec<Arg>,
    /// `properties`: (name, value) in order.
    pub properties: Vec<(String, Arg)>,
    /// `configMethods`: (method name, its args) in order.
    pub config_methods: Vec<(String, Vec<Arg>)>,
}

impl ClassArgs {
    /// The property called `name`, if given.
    pub fn property(&self, name: &str) -> Option<&Arg> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }
}

/// The classes a Flux file's `className` may name, each resolved to a
/// Gale component: Storm's own classes used in Flux's documentation
/// (`TestWordSpout`, `TestWordCounter`, `LogInfoBolt`, the shell
/// wrappers `FluxShellSpout`/`FluxShellBolt` and `ShellSpout`/`ShellBolt`,
/// `Fields`), and any a binary of yours adds:
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
        let classes = STORM_CLASSES
            .iter()
            .map(|(name, stand)| ((*name).to_owned(), Class::Storm(*stand)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fields_reference_gives_its_names() {
        let fields = ClassArgs {
            class_name: FIELDS_CLASS.to_owned(),
            constructor_args: vec![
                Arg::Value(Value::from("word")),
                Arg::Value(Value::from("n")),
            ],
            ..ClassArgs::default()
        };
        let arg = Arg::Object(Box::new(fields));
        assert_eq!(arg.strings(), Some(vec!["word".to_owned(), "n".to_owned()]));
        assert_eq!(Arg::Value(Value::I64(1)).strings(), None);
    }
}
