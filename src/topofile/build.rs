//! Checking a parsed topology file (collecting every mistake with its
//! place) and building the [`Topology`] from it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gale_codec::Value;
use gale_engine::state::Checkpointing;
use gale_engine::window::{
    Length, Window, WindowedBoltOf, LATE_TUPLE_FIELD, WINDOW_FIELDS, WINDOW_STREAM,
};
use gale_engine::{Grouping, TopologyBuilder, DEFAULT_STREAM};
use gale_multilang::{Protocol, Serializer, ShellBolt, ShellConfig, ShellSpout};
use serde_yaml_ng::Value as Yaml;

use super::class::{self, Objects, Streams, UserFactory};
use super::config;
use super::include;
use super::loaded::Loaded;
use super::located::Located;
use super::mistakes::Errors;
use super::registry::{self, Outputs, Registry, Role};
use super::schema::{
    ComponentDef, ConfigDef, GroupingDef, LengthDef, PythonDef, StreamDef, WindowDef,
    FLUX_UNSUPPORTED, TOP_KEYS,
};
use super::state::{self, StateFlags};
use super::substitute::Properties;
use super::yaml::{typed, yaml_to_value};

/// What checking a component needs besides the component.
struct Ctx<'a> {
    /// Shell working directories are relative to this.
    base: &'a Path,
    /// `config.conf` (and Storm keys) for shell handshakes.
    conf: &'a [(String, Value)],
    registry: &'a Registry,
    objects: &'a Objects,
}

/// A component as checked: what the streams section needs to know.
struct Comp {
    id: String,
    role: Role,
    at: String,
    line: Option<usize>,
    /// name → (fields, direct); `None` if the component did not parse.
    streams: Option<BTreeMap<String, (Vec<String>, bool)>>,
    def: Option<ComponentDef>,
    shell: Option<ShellConfig>,
    /// A windowed shell bolt's window.
    window: Option<Window>,
    /// A registered class's factory (Flux `className`).
    user: Option<UserFactory>,
}

impl Comp {
    fn broken(id: &str, role: Role, at: String, line: Option<usize>) -> Self {
        Self {
            id: id.to_owned(),
            role,
            at,
            line,
            streams: None,
            def: None,
            shell: None,
            window: None,
            user: None,
        }
    }
}

/// A checked subscription.
struct Sub {
    from: String,
    to: String,
    stream: String,
    grouping: Grouping,
}

/// Checks and builds the topology of `text` (substituted already), its
/// state backend opened with `state` over `config.state` (`None`: only
/// checked, no backend opened); `Err` holds every mistake found.
pub(super) fn load(
    text: &str,
    stem: &str,
    base: &Path,
    registry: &Registry,
    state: Option<&StateFlags>,
    props: &Properties,
) -> Result<Loaded, Vec<Located>> {
    let mut errors = Errors::new(text);
    let doc: Yaml = match serde_yaml_ng::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            errors.serde(None, "", &e);
            return Err(errors.list);
        }
    };
    let Yaml::Mapping(mut top) = doc else {
        errors.push(
            Some(1),
            "",
            "a topology file is a mapping (name, config, spouts, bolts, streams)",
        );
        return Err(errors.list);
    };
    include::merge(&mut top, base, props, &mut errors);
    // The document as resolved (properties substituted, includes merged):
    // what a cluster's nodes must agree on.
    let resolved = serde_yaml_ng::to_string(&top).unwrap_or_default();
    for key in top.keys() {
        match key.as_str() {
            Some(k) if TOP_KEYS.contains(&k) => {}
            Some(k) if FLUX_UNSUPPORTED.iter().any(|(u, _)| *u == k) => {
                let why = FLUX_UNSUPPORTED
                    .iter()
                    .find(|(u, _)| *u == k)
                    .map_or("", |u| u.1);
                let line = errors.top_line(k);
                errors.push(line, k, why);
            }
            _ => {
                let k = key.as_str().unwrap_or("?");
                let line = errors.top_line(k);
                errors.push(
                    line,
                    k,
                    format!("unknown key (expected one of {TOP_KEYS:?})"),
                );
            }
        }
    }
    let name = match top.get("name") {
        None => stem.to_owned(),
        Some(Yaml::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            let line = errors.top_line("name");
            errors.push(line, "name", "must be a non-empty string");
            stem.to_owned()
        }
    };
    let config = match top.get("config") {
        None => ConfigDef::default(),
        Some(v) => {
            let line = errors.top_line("config");
            config::read(v, line, &mut errors)
        }
    };
    check_config(&config, &mut errors);
    let conf: Vec<(String, Value)> = config
        .conf
        .iter()
        .map(|(k, v)| (k.clone(), yaml_to_value(v)))
        .collect();
    let components = sequence(&top, "components", &mut errors);
    let objects = class::read_objects(&components, registry, &mut errors);
    let ctx = Ctx {
        base,
        conf: &conf,
        registry,
        objects: &objects,
    };
    let mut comps = Vec::new();
    for (key, role) in [("spouts", Role::Spout), ("bolts", Role::Bolt)] {
        for (i, item) in sequence(&top, key, &mut errors).into_iter().enumerate() {
            let at = format!("{key}[{i}]");
            let id = item.get("id").and_then(Yaml::as_str).unwrap_or("");
            let line = errors.id_line(id).or_else(|| errors.item_line(key, i));
            match typed::<ComponentDef>(item.clone()) {
                Ok(def) => {
                    let at = format!("{at} `{}`", def.id);
                    comps.push(check_component(def, role, at, line, &ctx, &mut errors));
                }
                Err(e) => {
                    errors.push(line, &at, e);
                    if !id.is_empty() {
                        // Known by id to the streams section, streams unknown.
                        comps.push(Comp::broken(id, role, at, line));
                    }
                }
            }
        }
    }
    let mut ids = BTreeSet::new();
    for c in &comps {
        if !ids.insert(c.id.as_str()) {
            errors.push(
                c.line,
                &c.at,
                format!("a second component with id `{}`", c.id),
            );
        }
    }
    if !comps.iter().any(|c| c.role == Role::Spout) {
        let line = errors.top_line("spouts");
        errors.push(line, "spouts", "a topology needs at least one spout");
    }
    let mut subs = Vec::new();
    // Bolts some entry names as `to`, checked or not.
    let mut fed = BTreeSet::new();
    for (i, item) in sequence(&top, "streams", &mut errors)
        .into_iter()
        .enumerate()
    {
        let at = format!("streams[{i}]");
        let line = errors.item_line("streams", i);
        match typed::<StreamDef>(item.clone()) {
            Ok(def) => {
                fed.insert(def.to.clone());
                let at = match &def.name {
                    Some(name) => format!("{at} `{name}`"),
                    None => at,
                };
                if let Some(s) = check_stream(def, &comps, &ctx, &at, line, &mut errors) {
                    if subs
                        .iter()
                        .any(|o: &Sub| o.from == s.from && o.to == s.to && o.stream == s.stream)
                    {
                        errors.push(
                            line,
                            &at,
                            format!("`{}` subscribes to `{}`/`{}` twice", s.to, s.from, s.stream),
                        );
                    }
                    subs.push(s);
                }
            }
            Err(e) => errors.push(line, &at, e),
        }
    }
    for c in comps.iter().filter(|c| c.role == Role::Bolt) {
        if !fed.contains(&c.id) {
            errors.push(
                c.line,
                &c.at,
                format!(
                    "bolt `{}` has no inputs (add a `streams` entry with `to: {}`)",
                    c.id, c.id
                ),
            );
        }
    }
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    let warnings = std::mem::take(&mut errors.warnings);
    let checkpointing = match state {
        None => None,
        Some(flags) => {
            let storm_ms = config.checkpoint_interval_ms;
            state::open(config.state.as_ref(), storm_ms, flags, base, &name).map_err(|e| vec![e])?
        }
    };
    let mut loaded = build(name, &config, comps, subs, checkpointing).map_err(|message| {
        vec![Located {
            line: None,
            at: String::new(),
            message,
        }]
    })?;
    loaded.warnings = warnings;
    loaded.resolved = resolved;
    Ok(loaded)
}

/// The items of the top-level sequence `key` (none if absent).
fn sequence(top: &serde_yaml_ng::Mapping, key: &str, errors: &mut Errors<'_>) -> Vec<Yaml> {
    match top.get(key) {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(items)) => items.clone(),
        Some(_) => {
            let line = errors.top_line(key);
            errors.push(line, key, "must be a list");
            Vec::new()
        }
    }
}

fn check_config(config: &ConfigDef, errors: &mut Errors<'_>) {
    let line = errors.top_line("config");
    positive_secs(
        config.message_timeout_secs,
        line,
        "config.message_timeout_secs".to_owned(),
        errors,
    );
    if config.max_spout_pending == Some(0) {
        errors.push(line, "config.max_spout_pending", "must be at least 1");
    }
    positive_secs(
        config.tick_secs,
        line,
        "config.tick_secs".to_owned(),
        errors,
    );
}

fn positive_secs(
    v: Option<f64>,
    line: Option<usize>,
    at: String,
    errors: &mut Errors<'_>,
) -> Option<Duration> {
    let v = v?;
    let max = gale_engine::MAX_DURATION;
    match Duration::try_from_secs_f64(v) {
        Ok(d) if !d.is_zero() && d <= max => Some(d),
        _ => {
            errors.push(
                line,
                at,
                format!(
                    "must be a number of seconds above 0 and at most {} (one year), not {v}",
                    max.as_secs()
                ),
            );
            None
        }
    }
}

fn check_component(
    mut def: ComponentDef,
    role: Role,
    at: String,
    line: Option<usize>,
    ctx: &Ctx<'_>,
    errors: &mut Errors<'_>,
) -> Comp {
    let user = class::resolve(&mut def, role, ctx.registry, ctx.objects, line, &at, errors);
    if def.id.is_empty() || def.id.starts_with("__") {
        errors.push(
            line,
            format!("{at}.id"),
            "ids must be non-empty and not start with `__`",
        );
    }
    if def.parallelism == 0 {
        errors.push(line, format!("{at}.parallelism"), "must be at least 1");
    }
    match role {
        Role::Bolt if def.max_spout_pending.is_some() => errors.push(
            line,
            format!("{at}.max_spout_pending"),
            "only spouts have a max spout pending",
        ),
        Role::Spout if def.tick_secs.is_some() => errors.push(
            line,
            format!("{at}.tick_secs"),
            "only bolts get tick tuples",
        ),
        _ => {}
    }
    if def.max_spout_pending == Some(0) {
        errors.push(
            line,
            format!("{at}.max_spout_pending"),
            "must be at least 1",
        );
    }
    positive_secs(def.tick_secs, line, format!("{at}.tick_secs"), errors);
    let mut streams: Streams = BTreeMap::new();
    let mut shell = None;
    let python_shell = def.python.as_ref().map(PythonDef::to_shell);
    let shell_def = match (&def.shell, &python_shell) {
        (Some(_), Some(_)) => {
            errors.push(line, &at, "give one of `shell` and `python`, not both");
            None
        }
        (Some(sh), None) | (None, Some(sh)) => Some(sh),
        (None, None) => None,
    };
    match (shell_def, &def.builtin) {
        _ if def.class_name.is_some()
            && user.is_none()
            && def.builtin.is_none()
            && shell_def.is_none() =>
        {
            // An unresolved className: said so already.
        }
        (None, None) if user.is_some() => {
            if let Some((_, s)) = &user {
                streams = s.clone();
            }
        }
        (Some(_), Some(_)) | (None, None) => {
            errors.push(
                line,
                &at,
                "give exactly one of `shell` (a subprocess), `python` (a Python class) and \
                 `builtin` (a Rust component)",
            );
        }
        (None, Some(name)) => match registry::find(name) {
            None => errors.push(
                line,
                format!("{at}.builtin"),
                format!(
                    "no built-in {} `{name}` (there are: {:?})",
                    role_name(role),
                    registry::names(role)
                ),
            ),
            Some(named) if named.role != role => errors.push(
                line,
                format!("{at}.builtin"),
                format!(
                    "`{name}` is a {}, not a {}",
                    role_name(named.role),
                    role_name(role)
                ),
            ),
            Some(named) => {
                let args = def.args_list();
                for m in registry::check_args(named, &def.id, &args) {
                    errors.push(line, format!("{at}.args"), m);
                }
                if !def.streams.is_empty() {
                    errors.push(
                        line,
                        format!("{at}.streams"),
                        format!(
                            "built-in `{name}` declares its own streams: {:?}",
                            named.streams
                        ),
                    );
                }
                for (s, fields) in registry::streams(named, &args) {
                    streams.insert(s, (fields, false));
                }
            }
        },
        (Some(sh), None) => {
            if !def.args.is_empty() {
                errors.push(
                    line,
                    format!("{at}.args"),
                    "`args` are for built-ins; a shell's arguments go in `shell.args`",
                );
            }
            for (name, spec) in &def.streams {
                let fields = spec.fields();
                let mut seen = BTreeSet::new();
                if name.is_empty() || name.starts_with("__") {
                    errors.push(
                        line,
                        format!("{at}.streams.{name}"),
                        "stream names must be non-empty and not start with `__`",
                    );
                }
                for f in fields {
                    if f.is_empty() || !seen.insert(f) {
                        errors.push(
                            line,
                            format!("{at}.streams.{name}"),
                            format!("field `{f}` is empty or given twice"),
                        );
                    }
                }
                streams.insert(name.clone(), (fields.to_vec(), spec.direct()));
            }
            let sat = format!(
                "{at}.{}",
                if def.python.is_some() {
                    "python"
                } else {
                    "shell"
                }
            );
            let command = expand(&sh.command, line, &format!("{sat}.command"), errors);
            if command.trim().is_empty() {
                errors.push(line, format!("{sat}.command"), "must not be empty");
            }
            let args: Vec<String> = sh
                .args
                .iter()
                .map(|a| expand(a, line, &format!("{sat}.args"), errors))
                .collect();
            let dir = ctx.base.join(sh.cwd.as_deref().unwrap_or("."));
            if !dir.is_dir() {
                errors.push(
                    line,
                    format!("{sat}.cwd"),
                    format!("{} is not a directory", dir.display()),
                );
            }
            let serializer = match sh.serializer.as_deref() {
                None => Serializer::Json,
                Some(s) => Serializer::from_name(s).unwrap_or_else(|| {
                    errors.push(
                        line,
                        format!("{sat}.serializer"),
                        format!("`{s}` is not a serializer (json or msgpack)"),
                    );
                    Serializer::Json
                }),
            };
            let protocol = match sh.protocol.as_deref() {
                None => Protocol::Storm,
                Some(p) => Protocol::from_name(p).unwrap_or_else(|| {
                    errors.push(
                        line,
                        format!("{sat}.protocol"),
                        format!("`{p}` is not a protocol (storm or batched)"),
                    );
                    Protocol::Storm
                }),
            };
            if role == Role::Spout && sh.max_pending.is_some() && protocol == Protocol::Storm {
                errors.push(
                    line,
                    format!("{sat}.max_pending"),
                    "only shell bolts have a max pending (spouts: max_spout_pending; under \
                     `protocol: batched` it is the next_tuple calls per request)",
                );
            }
            if sh.max_pending == Some(0) {
                errors.push(line, format!("{sat}.max_pending"), "must be at least 1");
            }
            let mut config = ShellConfig::new(command, args)
                .working_dir(dir)
                .serializer(serializer)
                .protocol(protocol);
            config.env = sh.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            config.conf = ctx.conf.to_vec();
            for (key, value) in &sh.conf {
                config.conf.retain(|(k, _)| k != key);
                config.conf.push((key.clone(), yaml_to_value(value)));
            }
            if let Some(t) =
                positive_secs(sh.timeout_secs, line, format!("{sat}.timeout_secs"), errors)
            {
                config.subprocess_timeout = t;
            }
            if let Some(t) = positive_secs(
                sh.heartbeat_secs,
                line,
                format!("{sat}.heartbeat_secs"),
                errors,
            ) {
                config.heartbeat_interval = t;
            }
            if let Some(n) = sh.max_pending {
                config.max_pending = n.max(1);
            }
            if let Some(n) = sh.start_attempts {
                config.start_attempts = n;
            }
            for (name, (fields, direct)) in &streams {
                config = if *direct {
                    config.direct_stream(name, fields.iter().cloned())
                } else {
                    config.stream(name, fields.iter().cloned())
                };
            }
            shell = Some(config);
        }
    }
    let window = def
        .window
        .as_ref()
        .and_then(|w| check_window(w, &def, role, line, &at, errors));
    if let Some(late) = window.as_ref().and_then(Window::late_tuple_stream) {
        // Declared by the windowed bolt, not by the child.
        if streams
            .insert(late.to_owned(), (vec![LATE_TUPLE_FIELD.to_owned()], false))
            .is_some()
        {
            errors.push(
                line,
                format!("{at}.window.late_stream"),
                format!("stream `{late}` is declared in `streams` too"),
            );
        }
    }
    // A className that did not resolve: its streams are unknown.
    let unresolved =
        def.class_name.is_some() && user.is_none() && def.builtin.is_none() && def.shell.is_none();
    Comp {
        id: def.id.clone(),
        role,
        at,
        line,
        streams: (!unresolved).then_some(streams),
        def: Some(def),
        shell,
        window,
        user: user.map(|(f, _)| f),
    }
}

/// Checks a `window:` block and makes the [`Window`] it describes.
fn check_window(
    w: &WindowDef,
    def: &ComponentDef,
    role: Role,
    line: Option<usize>,
    at: &str,
    errors: &mut Errors<'_>,
) -> Option<Window> {
    let wat = format!("{at}.window");
    if role == Role::Spout || def.builtin.is_some() {
        errors.push(
            line,
            &wat,
            "only shell and Python bolts take a window (spouts and the built-in bolts are not \
             windowed)",
        );
        return None;
    }
    let length_of = |l: &LengthDef, key: &str, errors: &mut Errors<'_>| match (l.count, l.secs) {
        (Some(n), None) if n > 0 => Some(Length::Count(n)),
        (None, Some(_)) => {
            positive_secs(l.secs, line, format!("{wat}.{key}.secs"), errors).map(Length::Duration)
        }
        _ => {
            errors.push(
                line,
                format!("{wat}.{key}"),
                "give exactly one of `count` (tuples, at least 1) and `secs`",
            );
            None
        }
    };
    let length = length_of(&w.length, "length", errors);
    let slide = match &w.slide {
        Some(s) => length_of(s, "slide", errors),
        None => length,
    };
    let lag = positive_secs(w.lag_secs, line, format!("{wat}.lag_secs"), errors);
    let interval = positive_secs(
        w.watermark_interval_secs,
        line,
        format!("{wat}.watermark_interval_secs"),
        errors,
    );
    let mut window = Window::sliding(length?, slide?);
    if let Some(field) = &w.timestamp_field {
        window = window.with_timestamp_field(field);
    }
    if let Some(lag) = lag {
        window = window.with_lag(lag);
    }
    if let Some(interval) = interval {
        window = window.with_watermark_interval(interval);
    }
    if let Some(late) = &w.late_stream {
        if late.is_empty() || late.starts_with("__") {
            errors.push(
                line,
                format!("{wat}.late_stream"),
                "stream names must be non-empty and not start with `__`",
            );
        }
        window = window.with_late_tuple_stream(late);
    }
    Some(window)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Spout => "spout",
        Role::Bolt => "bolt",
    }
}

/// Expands `${VAR}` and `${VAR:-default}` from the environment.
fn expand(text: &str, line: Option<usize>, at: &str, errors: &mut Errors<'_>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            errors.push(line, at, format!("`${{` without `}}` in `{text}`"));
            return text.to_owned();
        };
        let inner = &rest[start + 2..start + len];
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (inner, None),
        };
        match (std::env::var(var).ok().filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => errors.push(line, at, format!("environment variable `{var}` is not set (write `${{{var}:-default}}` for a default)")),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn check_stream(
    def: StreamDef,
    comps: &[Comp],
    ctx: &Ctx<'_>,
    at: &str,
    line: Option<usize>,
    errors: &mut Errors<'_>,
) -> Option<Sub> {
    let find = |id: &str| comps.iter().find(|c| c.id == id);
    let known = || comps.iter().map(|c| c.id.as_str()).collect::<Vec<_>>();
    let from = find(&def.from);
    let (from_line, to_line) = (
        errors.key_line(line, "from").or(line),
        errors.key_line(line, "to").or(line),
    );
    let gline = errors.key_line(line, "grouping").or(line);
    if from.is_none() {
        errors.push(
            from_line,
            format!("{at}.from"),
            format!("no component `{}` (there are: {:?})", def.from, known()),
        );
    }
    match find(&def.to) {
        None => errors.push(
            to_line,
            format!("{at}.to"),
            format!("no component `{}` (there are: {:?})", def.to, known()),
        ),
        Some(c) if c.role == Role::Spout => errors.push(
            to_line,
            format!("{at}.to"),
            format!("`{}` is a spout; only bolts take inputs", def.to),
        ),
        _ => {}
    }
    let (kind, fields, gstream, custom) = match def.grouping {
        Yaml::String(k) => (k, Vec::new(), None, None),
        map @ Yaml::Mapping(_) => match typed::<GroupingDef>(map) {
            Ok(g) => (g.kind, g.fields, g.stream, g.custom_class),
            Err(e) => {
                errors.push(gline, format!("{at}.grouping"), e);
                return None;
            }
        },
        _ => {
            errors.push(
                gline,
                format!("{at}.grouping"),
                "a grouping is a name (`shuffle`) or `{type: fields, fields: [...]}`",
            );
            return None;
        }
    };
    let stream = match (def.stream, gstream) {
        (Some(a), Some(b)) if a != b => {
            errors.push(
                gline,
                format!("{at}.grouping.stream"),
                format!("names stream `{b}` but the entry names `{a}`"),
            );
            a
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => DEFAULT_STREAM.to_owned(),
    };
    let grouping = match kind.to_ascii_lowercase().replace('-', "_").as_str() {
        "shuffle" => Grouping::Shuffle,
        "fields" => Grouping::Fields(fields.clone()),
        "partial_key" => Grouping::PartialKey(fields.clone()),
        "all" => Grouping::All,
        "global" => Grouping::Global,
        "none" => Grouping::None,
        "direct" => Grouping::Direct,
        "local_or_shuffle" => Grouping::LocalOrShuffle,
        "custom" => match &custom {
            Some(def) => ctx.objects.grouping(def, ctx.registry, gline, at, errors)?,
            None => {
                errors.push(
                    gline,
                    format!("{at}.grouping"),
                    "a CUSTOM grouping needs its `customClass: {className: ...}`",
                );
                return None;
            }
        },
        _ => {
            errors.push(
                gline,
                format!("{at}.grouping"),
                format!("unknown grouping `{kind}` (shuffle, fields, partial_key, all, global, none, direct, local_or_shuffle, custom; any case)"),
            );
            return None;
        }
    };
    if custom.is_some() && !matches!(grouping, Grouping::Custom(_)) {
        errors.push(
            gline,
            format!("{at}.grouping.customClass"),
            "only a CUSTOM grouping takes a `customClass`",
        );
    }
    let from = from?;
    // A component that did not parse: its streams are unknown.
    let streams = from.streams.as_ref()?;
    let Some((declared, direct)) = streams.get(&stream) else {
        errors.push(
            gline,
            format!("{at}.stream"),
            format!(
                "`{}` declares no stream `{stream}` (it declares: {:?})",
                from.id,
                streams.keys().collect::<Vec<_>>()
            ),
        );
        return None;
    };
    match (&grouping, grouping.fields()) {
        (_, Some([])) => errors.push(
            gline,
            format!("{at}.grouping.fields"),
            format!("a {} grouping needs fields", grouping.name()),
        ),
        (_, Some(f)) => {
            for f in f.iter().filter(|f| !declared.contains(f)) {
                errors.push(
                    gline,
                    format!("{at}.grouping.fields"),
                    format!(
                        "stream `{stream}` of `{}` has no field `{f}` (it has: {declared:?})",
                        from.id
                    ),
                );
            }
        }
        (_, None) if !fields.is_empty() => errors.push(
            gline,
            format!("{at}.grouping.fields"),
            format!("a {} grouping takes no fields", grouping.name()),
        ),
        _ => {}
    }
    let is_direct = matches!(grouping, Grouping::Direct);
    if is_direct != *direct {
        let message = if *direct {
            format!(
                "stream `{stream}` of `{}` is direct: subscribe with `grouping: direct`",
                from.id
            )
        } else {
            format!("stream `{stream}` of `{}` is not direct (declare it `{{fields: [...], direct: true}}`)", from.id)
        };
        errors.push(gline, format!("{at}.grouping"), message);
    }
    Some(Sub {
        from: def.from,
        to: def.to,
        stream,
        grouping,
    })
}

/// `source->stream->fields` of a bolt's handshake context (pystorm names
/// its input tuples' fields with it).
fn source_fields(bolt: &str, comps: &[Comp], subs: &[Sub]) -> Value {
    let mut by_source: BTreeMap<&str, Vec<(String, Value)>> = BTreeMap::new();
    for s in subs.iter().filter(|s| s.to == bolt) {
        let Some(c) = comps.iter().find(|c| c.id == s.from) else {
            continue;
        };
        if let Some((fields, _)) = c.streams.as_ref().and_then(|m| m.get(&s.stream)) {
            let list = Value::List(fields.iter().map(|f| Value::from(f.as_str())).collect());
            by_source
                .entry(&c.id)
                .or_default()
                .push((s.stream.clone(), list));
        }
    }
    Value::Map(
        by_source
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::Map(v)))
            .collect(),
    )
}

fn build(
    name: String,
    config: &ConfigDef,
    comps: Vec<Comp>,
    subs: Vec<Sub>,
    checkpointing: Option<Arc<Checkpointing>>,
) -> Result<Loaded, String> {
    let mut b = TopologyBuilder::new(name);
    let rewind = checkpointing.is_some();
    if let Some(c) = checkpointing {
        b.set_checkpointing(c);
    }
    if let Some(n) = config.ackers {
        b.set_num_ackers(n);
    }
    if let Some(t) = config.message_timeout_secs {
        b.set_message_timeout(Duration::from_secs_f64(t));
    }
    if let Some(n) = config.max_spout_pending {
        b.set_max_spout_pending(n);
    }
    if let Some(on) = config.load_aware {
        b.set_load_aware(on);
    }
    let mut outputs = Outputs {
        counts: None,
        spouts_finite: true,
        rewind,
    };
    for c in &comps {
        let Some(def) = &c.def else { continue };
        let p = def.parallelism;
        match (c.role, c.shell.clone()) {
            (Role::Spout, shell) => {
                let declarer = match (shell, def.builtin.as_deref()) {
                    (Some(shell), _) => {
                        outputs.spouts_finite = false;
                        let shell = Arc::new(shell);
                        Some(b.set_spout(&c.id, move || ShellSpout::shared(Arc::clone(&shell)), p))
                    }
                    (None, Some(name)) => {
                        let args = def.args_list();
                        registry::add_spout(&mut b, &c.id, name, &args, p, &mut outputs)
                    }
                    (None, None) => match &c.user {
                        Some(UserFactory::Spout(f)) => {
                            outputs.spouts_finite = false;
                            let f = Arc::clone(f);
                            Some(b.set_spout(&c.id, move || f(), p))
                        }
                        _ => None,
                    },
                };
                if let (Some(d), Some(n)) = (declarer, def.max_spout_pending) {
                    let _ = d.max_spout_pending(n);
                }
            }
            (Role::Bolt, shell) => {
                let declarer = match (shell, def.builtin.as_deref(), c.window.clone()) {
                    (Some(mut shell), _, Some(window)) => {
                        // The child sees one tuple per window, from itself.
                        let fields = WINDOW_FIELDS.iter().map(|f| Value::from(*f)).collect();
                        let window_stream =
                            Value::Map(vec![(WINDOW_STREAM.to_owned(), Value::List(fields))]);
                        shell.context.push((
                            "source->stream->fields".to_owned(),
                            Value::Map(vec![(c.id.clone(), window_stream)]),
                        ));
                        let shell = Arc::new(shell);
                        Some(b.set_windowed_bolt(
                            &c.id,
                            move || WindowedBoltOf::new(ShellBolt::shared(Arc::clone(&shell))),
                            window,
                            p,
                        ))
                    }
                    (Some(mut shell), _, None) => {
                        shell.context.push((
                            "source->stream->fields".to_owned(),
                            source_fields(&c.id, &comps, &subs),
                        ));
                        let shell = Arc::new(shell);
                        Some(b.set_bolt(&c.id, move || ShellBolt::shared(Arc::clone(&shell)), p))
                    }
                    (None, Some(name), _) => {
                        let args = def.args_list();
                        registry::add_bolt(&mut b, &c.id, name, &args, p, &mut outputs)
                    }
                    (None, None, _) => match &c.user {
                        Some(UserFactory::Bolt(f)) => {
                            let f = Arc::clone(f);
                            Some(b.set_bolt(&c.id, move || f(), p))
                        }
                        _ => None,
                    },
                };
                let Some(mut d) = declarer else { continue };
                for s in subs.iter().filter(|s| s.to == c.id) {
                    d = d.grouping(&s.from, &s.stream, s.grouping.clone());
                }
                // `topology.tick.tuple.freq.secs` reaches the bolts that
                // can tell a tick from a tuple: shell bolts and registered
                // classes, not Gale's built-ins.
                let topology_tick = config.tick_secs.filter(|_| def.builtin.is_none());
                if let Some(t) = def.tick_secs.or(topology_tick) {
                    let _ = d.tick_interval(Duration::from_secs_f64(t));
                }
            }
        }
    }
    let topology = b.build().map_err(|e| e.to_string())?;
    Ok(Loaded {
        topology,
        counts: outputs.counts,
        finite: outputs.spouts_finite,
        warnings: Vec::new(),
        resolved: String::new(),
    })
}
