//! Fuzzing the topology-file loader: a topology file is input from outside
//! (a user, a deployment tool, a repository), so any text, the examples
//! garbled, and files put together from the format's own keys with
//! arbitrary values must load or fail with located errors, never panic.
//!
//! The case count is `GALE_FUZZ_CASES` (256 by default, part of the normal
//! tests); `GALE_FUZZ_CASES=100000 cargo test --test topofile_fuzz` is a
//! long run (docs/security.md).

mod util;

use std::path::Path;

use gale::topofile::{self, LoadError};
use proptest::prelude::*;
use util::root;

fn cases() -> u32 {
    std::env::var("GALE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Loads `text` as a topology file; an error must say where and what.
fn load(text: &str) -> Result<(), TestCaseError> {
    match topofile::load_str(
        text,
        Path::new("fuzz.yaml"),
        &root().join("examples/python"),
    ) {
        Ok(_) => Ok(()),
        Err(LoadError::Invalid { errors, .. }) => {
            prop_assert!(!errors.is_empty(), "refused without a reason");
            for e in &errors {
                prop_assert!(!e.message.is_empty(), "an error without a message");
            }
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "loading text gave an error of another kind: {other}"
        ))),
    }
}

fn examples() -> Vec<String> {
    [
        "wordcount.yaml",
        "wordcount-streamparse.yaml",
        "wordcount-batched.yaml",
    ]
    .iter()
    .map(|f| {
        std::fs::read_to_string(root().join("examples/python").join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
    })
    .collect()
}

/// A YAML scalar or small collection, sometimes of the wrong kind.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,10}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("1e400".to_owned()),
        Just("-1".to_owned()),
        Just("\"\"".to_owned()),
        "[ -~]{0,20}".prop_map(|s| format!("{s:?}")),
    ]
}

/// A component entry put together from the format's keys.
fn component() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(vec![
        "id",
        "builtin",
        "parallelism",
        "args",
        "shell",
        "python",
        "streams",
        "command",
        "class",
        "protocol",
        "serializer",
        "env",
        "tick_secs",
        "connector",
        "flux",
    ]);
    proptest::collection::vec((key, scalar()), 0..6).prop_map(|fields| {
        let mut text = String::from("  -");
        for (k, v) in fields {
            text += &format!(" {k}: {v}\n   ");
        }
        text.push('\n');
        text
    })
}

/// A whole file put together from the format's top-level keys.
fn assembled() -> impl Strategy<Value = String> {
    (
        scalar(),
        proptest::collection::vec(component(), 0..3),
        proptest::collection::vec(component(), 0..3),
        proptest::collection::vec(
            (
                scalar(),
                scalar(),
                proptest::sample::select(vec![
                    "shuffle",
                    "global",
                    "all",
                    "none",
                    "direct",
                    "local_or_shuffle",
                    "{type: fields, fields: [word]}",
                    "{type: fields}",
                    "nonsense",
                ]),
            ),
            0..3,
        ),
        proptest::collection::vec(("[a-z_]{1,20}", scalar()), 0..3),
    )
        .prop_map(|(name, spouts, bolts, streams, settings)| {
            let mut text = format!("name: {name}\nspouts:\n");
            for s in spouts {
                text += &s;
            }
            text += "bolts:\n";
            for b in bolts {
                text += &b;
            }
            text += "streams:\n";
            for (from, to, grouping) in streams {
                text += &format!("  - {{from: {from}, to: {to}, grouping: {grouping}}}\n");
            }
            text += "config:\n";
            for (k, v) in settings {
                text += &format!("  {k}: {v}\n");
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Any text at all.
    #[test]
    fn arbitrary_text_loads_or_is_refused_with_located_errors(text in "(?s).{0,400}") {
        load(&text)?;
    }

    /// The examples with bytes flipped, lines dropped or repeated, or cut
    /// short.
    #[test]
    fn garbled_examples_load_or_are_refused_with_located_errors(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), 0u8..7), 0..4),
        drop_line in proptest::option::of(any::<usize>()),
        repeat_line in proptest::option::of(any::<usize>()),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let text = &examples()[which];
        let mut lines: Vec<&str> = text.lines().collect();
        if let Some(i) = repeat_line {
            let i = i % lines.len();
            lines.insert(i, lines[i]);
        }
        if let Some(i) = drop_line {
            lines.remove(i % lines.len());
        }
        let mut bytes = lines.join("\n").into_bytes();
        for (at, bit) in flips {
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
        }
        if let Some(at) = cut {
            bytes.truncate(at % (bytes.len() + 1));
        }
        load(&String::from_utf8_lossy(&bytes))?;
    }

    /// Files made of the format's own keys with arbitrary values.
    #[test]
    fn assembled_files_load_or_are_refused_with_located_errors(text in assembled()) {
        load(&text)?;
    }
}
