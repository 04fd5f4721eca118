//! Flux's `includes:`: other files' `name`, `config`, `components`,
//! `spouts`, `bolts` and `streams` merged into this one, as Flux merges
//! them: with `override: true` an included definition replaces this
//! file's one of the same id (or config key, or name); with `false` (the
//! default) this file's wins, and the included one is ignored with a
//! warning. Streams are appended. Files are relative to the including
//! file's directory; includes of an included file are not followed (as
//! in Flux); classpath resources (`resource: true`) do not exist in Gale.

use std::path::Path;

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::mistakes::Errors;
use super::schema::{IncludeDef, TOP_KEYS};
use super::substitute::{substitute, Properties};
use super::yaml::typed;

/// Merges the files `top`'s `includes:` names into `top`.
pub(super) fn merge(top: &mut Mapping, base: &Path, props: &Properties, errors: &mut Errors<'_>) {
    let Some(list) = top.remove("includes") else {
        return;
    };
    let line = errors.top_line("includes");
    let Yaml::Sequence(items) = list else {
        errors.push(line, "includes", "must be a list of {file, override}");
        return;
    };
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("includes[{i}]");
        let iline = errors.item_line("includes", i).or(line);
        let def = match typed::<IncludeDef>(item) {
            Ok(def) => def,
            Err(e) => {
                errors.push(iline, &at, e);
                continue;
            }
        };
        if def.resource {
            errors.push(
                iline,
                &at,
                "`resource: true` (a Java classpath resource) is not supported: give a file",
            );
            continue;
        }
        let path = base.join(&def.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(
                    iline,
                    format!("{at}.file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                continue;
            }
        };
        let text = substitute(&text, props, Some(&def.file), &mut errors.list);
        let other = match serde_yaml_ng::from_str::<Yaml>(&text) {
            Ok(Yaml::Mapping(m)) => m,
            Ok(_) => {
                errors.push(iline, &at, format!("{} is not a mapping", def.file));
                continue;
            }
            Err(e) => {
                let place = e
                    .location()
                    .map_or(String::new(), |l| format!(":{}", l.line()));
                errors.push(iline, &at, format!("{}{place}: {e}", def.file));
                continue;
            }
        };
        merge_one(top, other, &def, &at, iline, errors);
    }
}

fn merge_one(
    top: &mut Mapping,
    other: Mapping,
    def: &IncludeDef,
    at: &str,
    line: Option<usize>,
    errors: &mut Errors<'_>,
) {
    for (key, value) in other {
        let Some(k) = key.as_str().map(str::to_owned) else {
            errors.push(line, at, format!("{}: keys must be strings", def.file));
            continue;
        };
        match k.as_str() {
            "includes" => errors.warn(
                line,
                at,
                format!(
                    "{}: its own includes are not followed (as in Flux)",
                    def.file
                ),
            ),
            "name" => {
                if def.r#override || !top.contains_key("name") {
                    top.insert(key, value);
                }
            }
            "config" => {
                let Yaml::Mapping(theirs) = value else {
                    errors.push(
                        line,
                        at,
                        format!("{}: `config` must be a mapping", def.file),
                    );
                    continue;
                };
                let ours = top
                    .entry(key)
                    .or_insert_with(|| Yaml::Mapping(Mapping::new()));
                let Yaml::Mapping(ours) = ours else { continue };
                for (ck, cv) in theirs {
                    if def.r#override || !ours.contains_key(&ck) {
                        ours.insert(ck, cv);
                    } else {
                        let name = ck.as_str().unwrap_or("?");
                        errors.warn(line, at, format!("{}: config `{name}` ignored (this file sets it; `override: false`)", def.file));
                    }
                }
            }
            "streams" => {
                let Yaml::Sequence(theirs) = value else {
                    errors.push(line, at, format!("{}: `streams` must be a list", def.file));
                    continue;
                };
                sequence(top, &k).extend(theirs);
            }
            "spouts" | "bolts" | "components" => {
                let Yaml::Sequence(theirs) = value else {
                    errors.push(line, at, format!("{}: `{k}` must be a list", def.file));
                    continue;
                };
                let ours = sequence(top, &k);
                for item in theirs {
                    let id = item.get("id").cloned();
                    match ours
                        .iter()
                        .position(|o| id.is_some() && o.get("id") == id.as_ref())
                    {
                        Some(pos) if def.r#override => ours[pos] = item,
                        Some(_) => {
                            let id = id.as_ref().and_then(Yaml::as_str).unwrap_or("?");
                            errors.warn(
                                line,
                                at,
                                format!(
                                    "{}: `{id}` ignored (this file defines it; `override: false`)",
                                    def.file
                                ),
                            );
                        }
                        None => ours.push(item),
                    }
                }
            }
            _ => errors.push(
                line,
                at,
                format!(
                    "{}: unknown key `{k}` (expected one of {TOP_KEYS:?})",
                    def.file
                ),
            ),
        }
    }
}

/// `top[key]` as a list, made empty if absent.
fn sequence<'m>(top: &'m mut Mapping, key: &str) -> &'m mut Vec<Yaml> {
    let entry = top
        .entry(Yaml::String(key.to_owned()))
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    if !entry.is_sequence() {
        *entry = Yaml::Sequence(Vec::new());
    }
    match entry {
        Yaml::Sequence(s) => s,
        _ => unreachable!("made a sequence above"),
    }
}
