//! storm-hdfs's `HdfsBolt` and `HdfsSpout`, onto Gale's file sink and
//! file spout over a local directory (`file://` URLs).

use serde_yaml_ng::Value as Yaml;

use super::out::{constant, count, join, local_path, number, object, only, text, what, Out};
use crate::topofile::registry::{Arg, ClassArgs};

/// storm-hdfs's bolt.
pub(crate) const HDFS_BOLT: &str = "org.apache.storm.hdfs.bolt.HdfsBolt";
/// storm-hdfs's spout.
pub(crate) const HDFS_SPOUT: &str = "org.apache.storm.hdfs.spout.HdfsSpout";
/// The file names: path, prefix, extension.
pub(crate) const NAME_FORMAT: &str = "org.apache.storm.hdfs.bolt.format.DefaultFileNameFormat";
/// The lines: field and record delimiters, fields.
pub(crate) const RECORD_FORMAT: &str = "org.apache.storm.hdfs.bolt.format.DelimitedRecordFormat";
/// Rotation by size.
pub(crate) const SIZE_ROTATION: &str = "org.apache.storm.hdfs.bolt.rotation.FileSizeRotationPolicy";
/// Rotation by time.
pub(crate) const TIMED_ROTATION: &str = "org.apache.storm.hdfs.bolt.rotation.TimedRotationPolicy";
/// No rotation.
pub(crate) const NO_ROTATION: &str = "org.apache.storm.hdfs.bolt.rotation.NoRotationPolicy";
/// A sync every so many tuples.
pub(crate) const COUNT_SYNC: &str = "org.apache.storm.hdfs.bolt.sync.CountSyncPolicy";

/// The bolt's config methods Gale reads.
const BOLT_METHODS: &str = "withFsUrl, withFileNameFormat, withRecordFormat, withRotationPolicy, \
                            withSyncPolicy, withTickTupleIntervalSeconds, withConfigKey";

/// The `file://` URL of `withFsUrl`/`setHdfsUri` as a path.
fn fs_url(out: &mut Out, class: &str, at: &str, name: &str, a: &Arg) -> Option<String> {
    let url = text(a)?;
    match local_path(&url) {
        Some(p) => Some(p),
        None => {
            out.error(
                at,
                name,
                format!(
                    "`{class}`.{name} `{url}`: Gale reads and writes a local directory: give a \
                     `file:///` URL (HDFS is not supported)"
                ),
            );
            None
        }
    }
}

/// `HdfsBolt` with its config methods, for component `component`.
pub(crate) fn bolt(out: &mut Out, component: &str, args: &ClassArgs) {
    let class = HDFS_BOLT;
    out.no_constructor_args(class, args);
    out.no_properties(class, args, "its config methods set it up");
    let (mut base, mut path) = (None, None);
    for (name, margs) in &args.config_methods {
        let at = format!("configMethods.{name}");
        let Some(a) = only(margs) else {
            out.error(&at, name, format!("`{class}`.{name} takes one argument"));
            continue;
        };
        match name.as_str() {
            "withFsUrl" => base = fs_url(out, class, &at, name, a),
            "withFileNameFormat" => path = name_format(out, component, &at, a),
            "withRecordFormat" => record_format(out, &at, a),
            "withRotationPolicy" => rotation(out, &at, a),
            "withSyncPolicy" => {
                match object(a, &[COUNT_SYNC]).map(|s| s.constructor_args.first().and_then(count)) {
                    Some(Some(n)) if n > 0 => {
                        out.set("fsync", "batch");
                        out.set("batch", n);
                    }
                    _ => out.error(
                        &at,
                        name,
                        format!(
                            "`{class}`.withSyncPolicy takes a `ref` to a \
                             `{COUNT_SYNC}` (count above 0), not {}",
                            what(a)
                        ),
                    ),
                }
            }
            "withTickTupleIntervalSeconds" => {
                out.seconds_as_ms((class, name, &at), Some(a), "linger_ms");
            }
            "withConfigKey" => out.warn(&at, name, "ignored: Gale has no HDFS configuration"),
            _ => out.error(
                &at,
                name,
                format!("`{class}` has no config method `{name}` in Gale (it has: {BOLT_METHODS})"),
            ),
        }
    }
    match (base, path) {
        (None, None) => out.error(
            "configMethods",
            class,
            format!(
                "`{class}` needs withFsUrl \
                 (file:///...) and/or withFileNameFormat's withPath: the directory written"
            ),
        ),
        (b, p) => out.set(
            "dir",
            join(b.as_deref().unwrap_or(""), p.as_deref().unwrap_or("")),
        ),
    }
}

/// `DefaultFileNameFormat`: its path (returned), prefix and extension.
fn name_format(out: &mut Out, component: &str, at: &str, a: &Arg) -> Option<String> {
    let Some(f) = object(a, &[NAME_FORMAT]) else {
        out.error(
            at,
            "withFileNameFormat",
            format!(
                "withFileNameFormat takes a `ref` to a `{NAME_FORMAT}`, not {}",
                what(a)
            ),
        );
        return None;
    };
    // Storm names files {prefix}{component}-{task}-{rotation}-{time}{extension};
    // Gale {prefix}-{task}-{sequence}{suffix}, the same parts in its order.
    let (mut path, mut prefix) = (None, String::new());
    out.set("suffix", ".txt"); // Storm's default extension
    for (name, margs) in &f.config_methods {
        let mat = format!("{at} (DefaultFileNameFormat).configMethods.{name}");
        match (name.as_str(), only(margs).and_then(text)) {
            ("withPath", Some(p)) => path = Some(p),
            ("withPrefix", Some(p)) => prefix = p,
            ("withExtension", Some(e)) => out.set("suffix", e),
            _ => out.error(
                &mat,
                name,
                format!(
                    "`DefaultFileNameFormat`.{name}: Gale reads \
                     withPath, withPrefix and withExtension, each with one string"
                ),
            ),
        }
    }
    out.set("prefix", format!("{prefix}{component}"));
    path
}

/// `DelimitedRecordFormat`: the separator and the fields.
fn record_format(out: &mut Out, at: &str, a: &Arg) {
    let Some(f) = object(a, &[RECORD_FORMAT]) else {
        out.error(
            at,
            "withRecordFormat",
            format!(
                "withRecordFormat takes a `ref` to a `{RECORD_FORMAT}`, not {}",
                what(a)
            ),
        );
        return;
    };
    out.set("separator", ","); // Storm's default field delimiter
    for (name, margs) in &f.config_methods {
        let mat = format!("{at} (DelimitedRecordFormat).configMethods.{name}");
        let a = only(margs);
        match name.as_str() {
            "withFieldDelimiter" => match a.and_then(text) {
                Some(d) => out.set("separator", d),
                None => out.error(&mat, name, "withFieldDelimiter takes a string"),
            },
            "withRecordDelimiter" => {
                if a.and_then(text).as_deref() != Some("\n") {
                    out.error(
                        &mat,
                        name,
                        "Gale's file sink ends every line with \"\\n\": \
                         withRecordDelimiter can only be \"\\n\"",
                    );
                }
            }
            "withFields" => match a.and_then(Arg::strings) {
                Some(fields) => out.set(
                    "fields",
                    Yaml::Sequence(fields.into_iter().map(Yaml::String).collect()),
                ),
                None => out.error(
                    &mat,
                    name,
                    "withFields takes a `ref` to a Fields component \
                     or a list of names",
                ),
            },
            _ => out.error(
                &mat,
                name,
                format!(
                    "`DelimitedRecordFormat` has no config method \
                     `{name}` in Gale (it has: withFieldDelimiter, withRecordDelimiter, withFields)"
                ),
            ),
        }
    }
}

/// A rotation policy: by size, by time or none.
fn rotation(out: &mut Out, at: &str, a: &Arg) {
    let bad = |out: &mut Out, msg: &str| out.error(at, "withRotationPolicy", msg.to_owned());
    match a {
        Arg::Object(p) if p.class_name == SIZE_ROTATION => {
            let size = p.constructor_args.first().and_then(number);
            let unit = match p.constructor_args.get(1).and_then(constant).as_deref() {
                Some("KB") => Some(1u64 << 10),
                Some("MB") => Some(1 << 20),
                Some("GB") => Some(1 << 30),
                Some("TB") => Some(1 << 40),
                _ => None,
            };
            match (size, unit) {
                (Some(s), Some(u)) if s > 0.0 => {
                    out.set("rotate_bytes", ((s * u as f64) as u64).max(1))
                }
                _ => bad(
                    out,
                    "`FileSizeRotationPolicy` takes (size above 0, KB | MB | GB | TB)",
                ),
            }
        }
        Arg::Object(p) if p.class_name == TIMED_ROTATION => {
            let n = p.constructor_args.first().and_then(number);
            let unit = match p.constructor_args.get(1).and_then(constant).as_deref() {
                Some("SECONDS") => Some(1.0),
                Some("MINUTES") => Some(60.0),
                Some("HOURS") => Some(3600.0),
                Some("DAYS") => Some(86400.0),
                _ => None,
            };
            match (n, unit) {
                (Some(n), Some(u)) if n * u >= 1.0 => {
                    out.set("rotate_secs", (n * u) as u64);
                    out.set("rotate_bytes", u64::MAX); // by time only, as Storm
                }
                _ => bad(
                    out,
                    "`TimedRotationPolicy` takes (count, SECONDS | MINUTES | HOURS | \
                     DAYS), at least a second",
                ),
            }
        }
        Arg::Object(p) if p.class_name == NO_ROTATION => out.set("rotate_bytes", u64::MAX),
        other => bad(
            out,
            &format!(
                "withRotationPolicy takes a `ref` to a FileSizeRotationPolicy, \
                 TimedRotationPolicy or NoRotationPolicy, not {}",
                what(other)
            ),
        ),
    }
}

/// `HdfsSpout` with its config methods.
pub(crate) fn spout(out: &mut Out, args: &ClassArgs) {
    let class = HDFS_SPOUT;
    out.no_constructor_args(class, args);
    out.no_properties(class, args, "its config methods set it up");
    let (mut base, mut dir) = (None, None);
    for (name, margs) in &args.config_methods {
        let at = format!("configMethods.{name}");
        let one = only(margs);
        match name.as_str() {
            "setHdfsUri" => base = one.and_then(|a| fs_url(out, class, &at, name, a)),
            "setSourceDir" => match one.and_then(text) {
                Some(d) => dir = Some(d),
                None => out.error(&at, name, format!("`{class}`.setSourceDir takes a path")),
            },
            "setReaderType" => match one.and_then(text).map(|t| t.to_lowercase()) {
                Some(t) if t == "text" => {}
                _ => out.error(
                    &at,
                    name,
                    format!(
                        "`{class}`.setReaderType: Gale reads text \
                         files only (\"text\"; no sequence files or reader classes)"
                    ),
                ),
            },
            "withOutputFields" => {
                let fields = match margs.as_slice() {
                    [one] => one.strings().or_else(|| text(one).map(|s| vec![s])),
                    many => many.iter().map(text).collect(),
                };
                match fields.as_deref() {
                    Some([f]) => out.set("field", f.as_str()),
                    _ => out.error(
                        &at,
                        name,
                        format!(
                            "`{class}`.withOutputFields: a text \
                             file's line is one field (e.g. [line])"
                        ),
                    ),
                }
            }
            "setCommitFrequencySec" => out.seconds_as_ms((class, name, &at), one, "commit_ms"),
            "setArchiveDir" | "setBadFilesDir" | "setLockDir" => out.warn(
                &at,
                name,
                format!(
                    "ignored: Gale's file spout leaves files in place and keeps its offsets \
                     in a file (`{name}` has no use)"
                ),
            ),
            "setCommitFrequencyCount"
            | "setLockTimeoutSec"
            | "setClocksInSync"
            | "setIgnoreSuffix"
            | "setHdfsClientSettings"
            | "setMaxOutstanding" => out.warn(
                &at,
                name,
                if name == "setMaxOutstanding" {
                    "ignored by Gale's file spout (the component's `max_spout_pending` bounds \
                     the lines in flight)"
                } else {
                    "ignored by Gale's file spout"
                },
            ),
            _ => out.error(
                &at,
                name,
                format!(
                    "`{class}` has no config method `{name}` in Gale (it has: setHdfsUri, \
                     setSourceDir, setReaderType, withOutputFields, setCommitFrequencySec; \
                     setArchiveDir and the like are ignored)"
                ),
            ),
        }
    }
    match dir {
        Some(d) => out.set("dir", join(base.as_deref().unwrap_or(""), &d)),
        None => out.error(
            "configMethods",
            class,
            format!("`{class}` needs setSourceDir (and setHdfsUri file:///...)"),
        ),
    }
}
