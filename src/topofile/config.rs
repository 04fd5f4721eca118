//! Reading `config:`: Gale's keys (`ackers`, `message_timeout_secs`,
//! `max_spout_pending`, `load_aware`, `tick_secs`, `state` (see `state.rs`), `conf`) and Storm's (`topology.*`,
//! as a Flux file has them). A Storm key Gale uses sets the same thing as
//! Gale's key; one Gale does not use is a warning naming it; every Storm
//! key also goes into the `conf` handed to shell components, as Storm
//! hands its topology configuration to multi-lang children. Anything
//! else is an error.

use serde_yaml_ng::Value as Yaml;

use super::mistakes::Errors;
use super::schema::ConfigDef;
use super::state;

/// Storm keys Gale reads, and what they set.
const STORM_USED: [&str; 7] = [
    "topology.disable.loadaware.messaging",
    "topology.state.checkpoint.interval.ms",
    "topology.acker.executors",
    "topology.message.timeout.secs",
    "topology.max.spout.pending",
    "topology.tick.tuple.freq.secs",
    "topology.debug",
];

/// Storm keys Gale knows and does not use, and why.
const STORM_IGNORED: [(&str, &str); 3] = [
    (
        "topology.workers",
        "Gale runs one process per node of the cluster file (`gale node`), or one \
         (`gale run`)",
    ),
    (
        "topology.stats.sample.rate",
        "give `--sample-rate` to `gale node`",
    ),
    (
        "topology.max.task.parallelism",
        "Gale runs the parallelism the file gives",
    ),
];

/// Reads `config:` (its line is `line`).
pub(super) fn read(value: &Yaml, line: Option<usize>, errors: &mut Errors<'_>) -> ConfigDef {
    let mut config = ConfigDef::default();
    let map = match value {
        Yaml::Null => return config,
        Yaml::Mapping(map) => map,
        _ => {
            errors.push(line, "config", "must be a mapping");
            return config;
        }
    };
    for (key, v) in map {
        let Some(key) = key.as_str() else {
            errors.push(line, "config", "keys must be strings");
            continue;
        };
        let at = format!("config.{key}");
        let kline = errors.key_line(line, key).or(line);
        let bad = |errors: &mut Errors<'_>, what: &str| {
            errors.push(kline, &at, format!("must be {what}, not {}", show(v)));
        };
        let count = || v.as_u64().and_then(|n| usize::try_from(n).ok());
        match key {
            "ackers" | "topology.acker.executors" => match count() {
                Some(n) => config.ackers = Some(n),
                None => bad(errors, "a count (0 or more)"),
            },
            "max_spout_pending" | "topology.max.spout.pending" => match count() {
                Some(n) => config.max_spout_pending = Some(n),
                None => bad(errors, "a count"),
            },
            "load_aware" => match v.as_bool() {
                Some(on) => config.load_aware = Some(on),
                None => bad(errors, "true or false"),
            },
            "topology.disable.loadaware.messaging" => match v.as_bool() {
                Some(off) => config.load_aware = Some(!off),
                None => bad(errors, "true or false"),
            },
            "message_timeout_secs" | "topology.message.timeout.secs" => match v.as_f64() {
                Some(t) => config.message_timeout_secs = Some(t),
                None => bad(errors, "a number of seconds"),
            },
            "tick_secs" | "topology.tick.tuple.freq.secs" => match v.as_f64() {
                Some(t) => config.tick_secs = Some(t),
                None => bad(errors, "a number of seconds"),
            },
            "topology.debug" if v.as_bool().is_none() => bad(errors, "true or false"),
            "topology.state.checkpoint.interval.ms" => {
                config.checkpoint_interval_ms = state::interval_ms(v, kline, &at, errors);
            }
            "state" => config.state = state::read(v, kline, errors),
            "conf" => match v {
                Yaml::Mapping(conf) => {
                    for (k, cv) in conf {
                        match k.as_str() {
                            Some(k) => {
                                config.conf.insert(k.to_owned(), cv.clone());
                            }
                            None => errors.push(kline, &at, "keys must be strings"),
                        }
                    }
                }
                _ => bad(errors, "a mapping"),
            },
            _ if key.contains('.') => {}
            _ => errors.push(
                kline,
                &at,
                "unknown key (Gale's are ackers, message_timeout_secs, max_spout_pending, \
                 load_aware, tick_secs, state, conf; Storm's are topology.*)",
            ),
        }
        if key.contains('.') {
            if let Some((_, why)) = STORM_IGNORED.iter().find(|(k, _)| *k == key) {
                errors.warn(kline, &at, format!("Storm key not used by Gale: {why}"));
            } else if !STORM_USED.contains(&key) {
                errors.warn(
                    kline,
                    &at,
                    "Storm key not used by Gale (handed to shell components in their conf only)",
                );
            }
            config.conf.insert(key.to_owned(), v.clone());
        }
    }
    config
}

/// A YAML value, short, for messages.
fn show(v: &Yaml) -> String {
    let text = serde_yaml_ng::to_string(v).unwrap_or_default();
    let text = text.trim();
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}
