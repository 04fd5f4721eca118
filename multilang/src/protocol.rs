//! The messages a child sends, parsed and checked (everything from a child
//! is untrusted: a bad message is an error naming what is wrong, never a
//! panic).

use gale_codec::Value;
use gale_engine::TaskId;

use crate::snippet::snippet;

/// One command from a child.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    Emit(Emit),
    Ack(Value),
    Fail(Value),
    Log { msg: String, level: i64 },
    Error(String),
    Metrics { name: String, params: Value },
    Sync,
}

/// An `emit` command.
#[derive(Debug, PartialEq)]
pub(crate) struct Emit {
    pub(crate) stream: Option<String>,
    /// Ids of the input tuples to anchor to (bolts).
    pub(crate) anchors: Vec<Value>,
    /// Batched protocol: the anchors are those of the previous emit of the
    /// same frame (`anchors` is then empty; the bytes were the same).
    pub(crate) same_anchors: bool,
    /// The message id (spouts).
    pub(crate) id: Option<Value>,
    /// The direct target task.
    pub(crate) task: Option<TaskId>,
    pub(crate) tuple: Vec<Value>,
    /// Storm's default is `true` when absent (pystorm always says).
    pub(crate) need_task_ids: bool,
}

fn take(entries: &mut Vec<(String, Value)>, key: &str) -> Option<Value> {
    let i = entries.iter().position(|(k, _)| k == key)?;
    Some(entries.swap_remove(i).1)
}

fn string(v: Option<Value>, what: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{what}` must be a string, not {}", other.kind())),
    }
}

/// Parses one message from a child into a command.
pub(crate) fn parse(msg: Value) -> Result<Command, String> {
    let mut m = match msg {
        Value::Map(m) => m,
        other => {
            return Err(format!(
                "expected a message object, got {}",
                snippet(&format!("{other:?}"))
            ))
        }
    };
    // For error messages only (what is left of the message).
    let shown = |m: &Vec<(String, Value)>| snippet(&format!("{m:?}"));
    let Some(command) = string(take(&mut m, "command"), "command")? else {
        return Err(format!("a message without `command`: {}", shown(&m)));
    };
    let id = |m: &mut Vec<(String, Value)>| {
        take(m, "id").ok_or_else(|| format!("`{command}` without `id`: {}", shown(m)))
    };
    Ok(match command.as_str() {
        "sync" => Command::Sync,
        "ack" => Command::Ack(id(&mut m)?),
        "fail" => Command::Fail(id(&mut m)?),
        "log" => Command::Log {
            msg: string(take(&mut m, "msg"), "msg")?.unwrap_or_default(),
            level: match take(&mut m, "level") {
                Some(Value::I64(n)) => n,
                _ => 2,
            },
        },
        "error" => Command::Error(string(take(&mut m, "msg"), "msg")?.unwrap_or_default()),
        "metrics" => Command::Metrics {
            name: string(take(&mut m, "name"), "name")?.unwrap_or_default(),
            params: take(&mut m, "params").unwrap_or(Value::Null),
        },
        "emit" => {
            let tuple = match take(&mut m, "tuple") {
                Some(Value::List(values)) => values,
                Some(other) => {
                    return Err(format!(
                        "`emit` with a {} as `tuple`: {}",
                        other.kind(),
                        shown(&m)
                    ))
                }
                None => return Err(format!("`emit` without `tuple`: {}", shown(&m))),
            };
            let anchors = match take(&mut m, "anchors") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::List(ids)) => ids,
                Some(other) => {
                    return Err(format!("`anchors` must be a list, not {}", other.kind()))
                }
            };
            let task = match take(&mut m, "task") {
                None | Some(Value::Null) => None,
                Some(Value::I64(t)) => Some(
                    TaskId::try_from(t)
                        .map_err(|_| format!("`emit` to task {t}, not a task id"))?,
                ),
                Some(other) => {
                    return Err(format!("`task` must be an integer, not {}", other.kind()))
                }
            };
            let need_task_ids = match take(&mut m, "need_task_ids") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => b,
                Some(other) => {
                    return Err(format!(
                        "`need_task_ids` must be a boolean, not {}",
                        other.kind()
                    ))
                }
            };
            Command::Emit(Emit {
                stream: string(take(&mut m, "stream"), "stream")?,
                anchors,
                same_anchors: false,
                id: take(&mut m, "id").filter(|v| *v != Value::Null),
                task,
                tuple,
                need_task_ids,
            })
        }
        other => {
            return Err(format!(
                "unknown command `{}`: {}",
                snippet(other),
                shown(&m)
            ))
        }
    })
}

/// The numeric key of a tuple id Gale gave a bolt child (ids go out as
/// decimal strings; children echo them, some as numbers).
pub(crate) fn tuple_key(id: &Value) -> Option<u64> {
    match id {
        Value::Str(s) => s.parse().ok(),
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Maps a multi-lang log level (0 trace … 4 error) to a tracing event.
pub(crate) fn log(component: &str, task: TaskId, level: i64, msg: &str) {
    match level {
        i64::MIN..=0 => tracing::trace!(component, task, "{msg}"),
        1 => tracing::debug!(component, task, "{msg}"),
        2 => tracing::info!(component, task, "{msg}"),
        3 => tracing::warn!(component, task, "{msg}"),
        _ => tracing::error!(component, task, "{msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::map;

    #[test]
    fn emits_parse_with_storm_defaults() {
        let msg = map([
            ("command", Value::from("emit")),
            ("tuple", Value::List(vec![Value::from("w")])),
            ("anchors", Value::List(vec![Value::from("3")])),
        ]);
        let Command::Emit(e) = parse(msg).unwrap() else {
            panic!()
        };
        assert!(e.need_task_ids, "absent need_task_ids means true");
        assert_eq!(e.stream, None);
        assert_eq!(e.anchors, vec![Value::from("3")]);
        assert_eq!(tuple_key(&e.anchors[0]), Some(3));
    }

    /// Records each event's level and fields.
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Fields(String);
            impl tracing::field::Visit for Fields {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    self.0 += &format!("{}={v:?} ", f.name());
                }
            }
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            let level = *event.metadata().level();
            self.0.lock().unwrap().push((level, fields.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn child_log_levels_map_to_tracing_with_the_component() {
        let seen = std::sync::Arc::default();
        let capture = Capture(std::sync::Arc::clone(&seen));
        tracing::subscriber::with_default(capture, || {
            for level in 0..=4 {
                log("split", 7, level, "hello from python");
            }
        });
        let seen = seen.lock().unwrap();
        let levels: Vec<tracing::Level> = seen.iter().map(|(l, _)| *l).collect();
        use tracing::Level;
        let expected = [
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ];
        assert_eq!(levels, expected);
        for (_, fields) in seen.iter() {
            assert!(fields.contains("component=\"split\""), "{fields}");
            assert!(fields.contains("task=7"), "{fields}");
            assert!(fields.contains("hello from python"), "{fields}");
        }
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let cases = [
            (Value::List(vec![]), "expected a message object"),
            (map([("x", Value::I64(1))]), "without `command`"),
            (
                map([("command", Value::from("dance"))]),
                "unknown command `dance`",
            ),
            (map([("command", Value::from("ack"))]), "`ack` without `id`"),
            (
                map([("command", Value::from("emit")), ("tuple", Value::I64(1))]),
                "as `tuple`",
            ),
            (
                map([
                    ("command", Value::from("emit")),
                    ("tuple", Value::List(vec![])),
                    ("task", Value::I64(-4)),
                ]),
                "not a task id",
            ),
        ];
        for (msg, expected) in cases {
            let err = parse(msg).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
