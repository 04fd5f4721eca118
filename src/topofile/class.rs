//! Flux's classes: `components:` (objects other definitions `ref`), and a
//! spout's or bolt's `className` with its `constructorArgs`,
//! `properties` and `configMethods`, resolved through the
//! [`Registry`]: a Storm class becomes the Gale built-in or shell
//! component it stands for (filled into the [`ComponentDef`] as if the
//! file had said `builtin:` or `shell:`), a class a binary registered
//! becomes its factory.

use std::collections::BTreeMap;

use gale_codec::Value;
use gale_engine::{Grouping, OutputFieldsDeclarer};
use serde_yaml_ng::Value as Yaml;

use super::mistakes::Errors;
use super::registry::{
    self, Arg, BoltFactory, Class, ClassArgs, Registry, Role, SpoutFactory, Stand,
};
use super::schema::{
    ComponentDef, ConfigMethodDef, ObjectDef, PropertyDef, ShellDef, StreamFields,
};
use super::yaml::{typed, value_to_yaml, yaml_to_value};

/// The objects of `components:`, in file order.
#[derive(Default)]
pub(super) struct Objects(Vec<(String, ClassArgs)>);

/// A registered class's factory.
#[derive(Clone)]
pub(super) enum UserFactory {
    /// A spout's.
    Spout(SpoutFactory),
    /// A bolt's.
    Bolt(BoltFactory),
}

/// Output streams as the checker keeps them: name → (fields, direct).
pub(super) type Streams = BTreeMap<String, (Vec<String>, bool)>;

/// Reads `components:` (the items given); each may `ref` those above it.
pub(super) fn read_objects(
    items: &[Yaml],
    registry: &Registry,
    errors: &mut Errors<'_>,
) -> Objects {
    let mut objects = Objects::default();
    for (i, item) in items.iter().enumerate() {
        let mut at = format!("components[{i}]");
        let id = item.get("id").and_then(Yaml::as_str).unwrap_or("");
        let line = errors
            .id_line(id)
            .or_else(|| errors.item_line("components", i));
        let def = match typed::<ObjectDef>(item.clone()) {
            Ok(def) => def,
            Err(e) => {
                errors.push(line, &at, e);
                continue;
            }
        };
        at = format!("{at} `{}`", def.id);
        if def.id.is_empty() {
            errors.push(line, format!("{at}.id"), "a component needs an `id`");
        }
        if objects.0.iter().any(|(o, _)| *o == def.id) {
            errors.push(
                line,
                &at,
                format!("a second component with id `{}`", def.id),
            );
        }
        unsupported_factory(
            def.factory.is_some() || def.factory_args.is_some(),
            line,
            &at,
            errors,
        );
        if registry.get(&def.class_name).is_none() {
            let cline = errors.value_line(line, &def.class_name);
            errors.push(
                cline.or(line),
                format!("{at}.className"),
                format!(
                    "no class `{}` (objects known: {:?}; a binary of yours adds its own with \
                     `Registry::add_object`)",
                    def.class_name,
                    registry.names_of(None)
                ),
            );
        }
        let args = objects.object_args(&def, line, &at, errors);
        objects.0.push((def.id, args));
    }
    objects
}

fn unsupported_factory(given: bool, line: Option<usize>, at: &str, errors: &mut Errors<'_>) {
    if given {
        errors.push(
            line,
            format!("{at}.factory"),
            "Flux's static factory methods (`factory`, `factoryArgs`) are not supported: a \
             registered class's factory reads `constructorArgs`, `properties` and \
             `configMethods`",
        );
    }
}

impl Objects {
    /// [`class_args`](Self::class_args) of a `components:` entry or a
    /// `customClass`.
    fn object_args(
        &self,
        def: &ObjectDef,
        line: Option<usize>,
        at: &str,
        errors: &mut Errors<'_>,
    ) -> ClassArgs {
        self.class_args(
            &def.class_name,
            &def.constructor_args,
            &def.properties,
            &def.config_methods,
            line,
            at,
            errors,
        )
    }

    /// What the file says about one instance of `class_name`, `ref`s
    /// resolved.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn class_args(
        &self,
        class_name: &str,
        constructor_args: &[Yaml],
        properties: &[PropertyDef],
        config_methods: &[ConfigMethodDef],
        line: Option<usize>,
        at: &str,
        errors: &mut Errors<'_>,
    ) -> ClassArgs {
        let args = |values: &[Yaml], what: &str, errors: &mut Errors<'_>| -> Vec<Arg> {
            let at = format!("{at}.{what}");
            values
                .iter()
                .map(|v| self.arg(v, line, &at, errors))
                .collect()
        };
        let mut out = ClassArgs {
            class_name: class_name.to_owned(),
            constructor_args: args(constructor_args, "constructorArgs", errors),
            ..ClassArgs::default()
        };
        for p in properties {
            let value = match (&p.value, &p.reference) {
                (Some(v), None) => self.arg(v, line, &format!("{at}.properties"), errors),
                (None, Some(r)) => self.reference(r, line, &format!("{at}.properties"), errors),
                _ => {
                    errors.push(
                        line,
                        format!("{at}.properties.{}", p.name),
                        "give exactly one of `value` and `ref`",
                    );
                    continue;
                }
            };
            out.properties.push((p.name.clone(), value));
        }
        for m in config_methods {
            let a = args(&m.args, "configMethods", errors);
            out.config_methods.push((m.name.clone(), a));
        }
        out
    }

    fn arg(&self, v: &Yaml, line: Option<usize>, at: &str, errors: &mut Errors<'_>) -> Arg {
        if let Yaml::Mapping(m) = v {
            if m.len() == 1 {
                if let Some(r) = m.get("ref") {
                    return match r.as_str() {
                        Some(r) => self.reference(r, line, at, errors),
                        None => {
                            errors.push(line, at, "`ref` names a component by its id");
                            Arg::Value(Value::Null)
                        }
                    };
                }
                if let Some(list) = m.get("reflist") {
                    let ids: Option<Vec<&str>> = list
                        .as_sequence()
                        .and_then(|l| l.iter().map(Yaml::as_str).collect());
                    return match ids {
                        Some(ids) => Arg::List(
                            ids.iter()
                                .map(|r| self.reference(r, line, at, errors))
                                .collect(),
                        ),
                        None => {
                            errors.push(line, at, "`reflist` is a list of component ids");
                            Arg::List(Vec::new())
                        }
                    };
                }
            }
        }
        Arg::Value(yaml_to_value(v))
    }

    fn reference(&self, id: &str, line: Option<usize>, at: &str, errors: &mut Errors<'_>) -> Arg {
        match self.0.iter().find(|(o, _)| o == id) {
            Some((_, args)) => Arg::Object(Box::new(args.clone())),
            None => {
                let rline = errors.line_after(line, |l| l.contains("ref") && l.contains(id));
                errors.push(
                    rline.or(line),
                    at,
                    format!(
                        "`ref: {id}`: no component `{id}` above it in `components:` (there \
                         are: {:?})",
                        self.0.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>()
                    ),
                );
                Arg::Value(Value::Null)
            }
        }
    }

    /// A `CUSTOM` grouping's `customClass`, made by its registered factory.
    pub(super) fn grouping(
        &self,
        def: &ObjectDef,
        registry: &Registry,
        line: Option<usize>,
        at: &str,
        errors: &mut Errors<'_>,
    ) -> Option<Grouping> {
        unsupported_factory(
            def.factory.is_some() || def.factory_args.is_some(),
            line,
            at,
            errors,
        );
        let args = self.object_args(def, line, at, errors);
        let cline = errors.value_line(line, &def.class_name).or(line);
        match registry.get(&def.class_name) {
            Some(Class::Grouping(make)) => match make(&args) {
                Ok(g) => Some(g),
                Err(e) => {
                    errors.push(cline, format!("{at}.customClass"), e);
                    None
                }
            },
            other => {
                let what = other.map_or("not a registered class", Class::kind);
                errors.push(
                    cline,
                    format!("{at}.customClass"),
                    format!(
                        "`{}` is {what}, not a grouping (a binary of yours adds one with \
                         `Registry::add_grouping`)",
                        def.class_name
                    ),
                );
                None
            }
        }
    }
}

/// Resolves `def.className` (if given): fills in `def.builtin` or
/// `def.shell` and `def.streams` for Storm's classes, or returns a
/// registered class's factory and streams. Also says which Flux keys are
/// not supported.
pub(super) fn resolve(
    def: &mut ComponentDef,
    role: Role,
    registry: &Registry,
    objects: &Objects,
    line: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) -> Option<(UserFactory, Streams)> {
    unsupported_factory(
        def.factory.is_some() || def.factory_args.is_some(),
        line,
        at,
        errors,
    );
    if let Some(n) = def.num_tasks.filter(|n| *n != def.parallelism) {
        errors.push(
            line,
            format!("{at}.numTasks"),
            format!(
                "Gale runs one task per executor: `numTasks` ({n}) must equal `parallelism` ({})",
                def.parallelism
            ),
        );
    }
    for (given, key) in [
        (def.on_heap.is_some(), "onHeapMemoryLoad"),
        (def.off_heap.is_some(), "offHeapMemoryLoad"),
        (def.cpu_load.is_some(), "cpuLoad"),
    ] {
        if given {
            let kline = errors.key_line(line, key).or(line);
            errors.warn(
                kline,
                format!("{at}.{key}"),
                "ignored: Gale has no resource-aware scheduler",
            );
        }
    }
    let flux_only = !def.constructor_args.is_empty()
        || !def.properties.is_empty()
        || !def.config_methods.is_empty();
    let Some(class_name) = def.class_name.clone() else {
        if flux_only {
            errors.push(
                line,
                at,
                "`constructorArgs`, `properties` and `configMethods` need a `className`",
            );
        }
        return None;
    };
    let cline = errors.value_line(line, &class_name).or(line);
    if def.shell.is_some() || def.python.is_some() || def.builtin.is_some() {
        errors.push(
            cline,
            at,
            "give `className` (Flux) or one of `shell`, `python` and `builtin`, not both",
        );
        return None;
    }
    let Some(class) = registry.get(&class_name) else {
        errors.push(
            cline,
            format!("{at}.className"),
            format!(
                "no {} class `{class_name}` (known: {:?}; a binary of yours adds its own \
                 with `gale::topofile::registry::Registry`)",
                role_name(role),
                registry.names_of(Some(role))
            ),
        );
        return None;
    };
    if class.role() != Some(role) {
        errors.push(
            cline,
            format!("{at}.className"),
            format!(
                "`{class_name}` is {}, not a {}",
                class.kind(),
                role_name(role)
            ),
        );
        return None;
    }
    let args = objects.class_args(
        &class_name,
        &def.constructor_args,
        &def.properties,
        &def.config_methods,
        line,
        at,
        errors,
    );
    match class {
        Class::Storm(Stand::Builtin(name)) => {
            let takes_flag = *name == "words"
                && matches!(
                    args.constructor_args.as_slice(),
                    [Arg::Value(Value::Bool(_))]
                );
            if !args.constructor_args.is_empty() && !takes_flag {
                errors.push(
                    line,
                    format!("{at}.constructorArgs"),
                    format!(
                        "Gale's `{class_name}` (built-in `{name}`) takes no constructor arguments"
                    ),
                );
            }
            if !args.properties.is_empty() || !args.config_methods.is_empty() {
                errors.push(
                    line,
                    at,
                    format!(
                        "Gale's `{class_name}` (built-in `{name}`) takes no `properties` or \
                         `configMethods` (Gale's `args:` sets its options)"
                    ),
                );
            }
            def.builtin = Some((*name).to_owned());
            None
        }
        Class::Storm(Stand::Shell(_)) => {
            shell(def, &class_name, &args, line, at, errors);
            None
        }
        Class::Storm(Stand::Connector(name)) => {
            connector(def, name, &class_name, &args, line, at, errors);
            None
        }
        Class::Spout(make) => user(make(&args).map(UserFactory::Spout), def, cline, at, errors),
        Class::Bolt(make) => user(make(&args).map(UserFactory::Bolt), def, cline, at, errors),
        Class::Storm(Stand::Fields) | Class::Object | Class::Grouping(_) => None,
    }
}

/// A connector class: its configuration read into the `args` of built-in
/// `name` (beside any Gale `args:` the file gives), each problem reported
/// on its own line where the text tells.
fn connector(
    def: &mut ComponentDef,
    name: &str,
    class_name: &str,
    args: &ClassArgs,
    line: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) {
    let out = registry::translate(class_name, &def.id, args);
    for p in &out.problems {
        let pline = errors
            .value_line(line, &p.near)
            .or_else(|| errors.value_line(None, &p.near))
            .or(line);
        let pat = format!("{at}.{}", p.at);
        if p.warning {
            errors.warn(pline, pat, format!("`{class_name}`: {}", p.message));
        } else {
            errors.push(pline, pat, p.message.clone());
        }
    }
    if out.failed() {
        return; // said so; the built-in is not checked on half its args
    }
    for (key, value) in out.args {
        match def.args.entry(key) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(value);
            }
            std::collections::btree_map::Entry::Occupied(o) => {
                let key = o.key();
                let kline = errors.key_line(line, key).or(line);
                errors.push(
                    kline,
                    format!("{at}.args.{key}"),
                    format!(
                        "`{key}` is set by `{class_name}`'s configuration already; give it in \
                         one place"
                    ),
                );
            }
        }
    }
    def.builtin = Some(name.to_owned());
}

/// A registered class: its factory, and its streams from one instance.
fn user(
    made: Result<UserFactory, String>,
    def: &ComponentDef,
    cline: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) -> Option<(UserFactory, Streams)> {
    let factory = match made {
        Ok(f) => f,
        Err(e) => {
            errors.push(cline, format!("{at}.className"), e);
            return None;
        }
    };
    if !def.streams.is_empty() {
        errors.push(
            cline,
            format!("{at}.streams"),
            "a registered class declares its own streams",
        );
    }
    let mut declarer = OutputFieldsDeclarer::default();
    match &factory {
        UserFactory::Spout(f) => f().declare_output_fields(&mut declarer),
        UserFactory::Bolt(f) => f().declare_output_fields(&mut declarer),
    }
    let streams = declarer
        .declared()
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                (s.fields.iter().map(str::to_owned).collect(), s.direct),
            )
        })
        .collect();
    Some((factory, streams))
}

/// Storm's shell wrappers: `constructorArgs: [[command, args...], [output
/// fields]]`, `configMethods` `setDefaultStream`, `setNamedStream`,
/// `addComponentConfig`.
fn shell(
    def: &mut ComponentDef,
    class_name: &str,
    args: &ClassArgs,
    line: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) {
    let cat = format!("{at}.constructorArgs");
    let mut streams: Vec<(String, Vec<String>)> = Vec::new();
    let command = match args.constructor_args.as_slice() {
        [] => None,
        [command, rest @ ..] => {
            if let [fields] = rest {
                match fields.strings() {
                    Some(f) => streams.push(("default".to_owned(), f)),
                    None => errors.push(line, &cat, "the second argument is the output fields: a list of names (or a `ref` to a Fields component)"),
                }
            } else if rest.len() > 1 {
                errors.push(
                    line,
                    &cat,
                    format!(
                        "`{class_name}` takes a command and output fields, {} arguments given",
                        args.constructor_args.len()
                    ),
                );
            }
            match command {
                Arg::Value(Value::Str(s)) => Some(vec![s.clone()]),
                a => a.strings(),
            }
        }
    };
    let command = match command {
        Some(c) if !c.is_empty() => c,
        _ => {
            errors.push(
                line,
                &cat,
                format!("`{class_name}` needs its command line first: `constructorArgs: [[python3, split.py]]`"),
            );
            return;
        }
    };
    let mut conf = BTreeMap::new();
    for (name, margs) in &args.config_methods {
        let mat = format!("{at}.configMethods.{name}");
        match (name.as_str(), margs.as_slice()) {
            ("setDefaultStream", [fields]) => match fields.strings() {
                Some(f) => streams.push(("default".to_owned(), f)),
                None => errors.push(line, &mat, "takes the output fields (a list of names)"),
            },
            ("setNamedStream", [Arg::Value(Value::Str(stream)), fields]) => {
                match fields.strings() {
                    Some(f) => streams.push((stream.clone(), f)),
                    None => errors.push(
                        line,
                        &mat,
                        "takes a stream name and its fields (a list of names)",
                    ),
                }
            }
            ("addComponentConfig", [Arg::Value(Value::Str(key)), Arg::Value(v)]) => {
                conf.insert(key.clone(), value_to_yaml(v));
            }
            ("setDefaultStream" | "setNamedStream" | "addComponentConfig", _) => errors.push(
                line,
                &mat,
                "bad arguments (setDefaultStream [fields], setNamedStream [name, fields], \
                 addComponentConfig [key, value])",
            ),
            _ => errors.push(
                errors.value_line(line, name).or(line),
                &mat,
                format!(
                    "`{class_name}` has no config method `{name}` in Gale (it has: \
                     setDefaultStream, setNamedStream, addComponentConfig)"
                ),
            ),
        }
    }
    if !args.properties.is_empty() {
        errors.push(
            line,
            format!("{at}.properties"),
            format!("`{class_name}` takes no properties"),
        );
    }
    for (name, fields) in streams {
        if def.streams.contains_key(&name) {
            errors.push(
                line,
                format!("{at}.streams.{name}"),
                format!("stream `{name}` is declared twice"),
            );
        }
        def.streams.insert(name, StreamFields::Plain(fields));
    }
    let mut command = command.into_iter();
    def.shell = Some(ShellDef {
        command: command.next().unwrap_or_default(),
        args: command.collect(),
        cwd: None,
        env: BTreeMap::new(),
        serializer: None,
        protocol: None,
        conf,
        timeout_secs: None,
        heartbeat_secs: None,
        max_pending: None,
        start_attempts: None,
    });
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Spout => "spout",
        Role::Bolt => "bolt",
    }
}
