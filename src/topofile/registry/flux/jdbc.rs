//! storm-jdbc's bolts (`JdbcInsertBolt`, `JdbcLookupBolt`) with a
//! `HikariCPConnectionProvider` and the `SimpleJdbcMapper`s, onto Gale's
//! PostgreSQL bolts.

use gale_codec::Value;
use serde_yaml_ng::Value as Yaml;

use super::out::{object, only, text, what, Out};
use crate::topofile::registry::{Arg, ClassArgs};

/// storm-jdbc's connection provider (a map of HikariCP settings).
pub(crate) const HIKARI: &str = "org.apache.storm.jdbc.common.HikariCPConnectionProvider";
/// storm-jdbc's column: (name, java.sql.Types code).
pub(crate) const COLUMN: &str = "org.apache.storm.jdbc.common.Column";
/// storm-jdbc's insert mapper: tuple fields named as the columns.
pub(crate) const SIMPLE_MAPPER: &str = "org.apache.storm.jdbc.mapper.SimpleJdbcMapper";
/// storm-jdbc's lookup mapper: (output fields, query columns).
pub(crate) const LOOKUP_MAPPER: &str = "org.apache.storm.jdbc.mapper.SimpleJdbcLookupMapper";
/// storm-jdbc's insert bolt.
pub(crate) const INSERT_BOLT: &str = "org.apache.storm.jdbc.bolt.JdbcInsertBolt";
/// storm-jdbc's lookup bolt.
pub(crate) const LOOKUP_BOLT: &str = "org.apache.storm.jdbc.bolt.JdbcLookupBolt";

/// The connection provider's map, given by `ref` as constructor argument
/// `at`: the server's `url` (or where it and the password come from).
fn provider(out: &mut Out, class: &str, at: &str, a: &Arg) {
    let Some(p) = object(a, &[HIKARI]) else {
        out.error(
            at,
            class,
            format!(
                "`{class}` takes a `ref` to a `{HIKARI}` first, not {}",
                what(a)
            ),
        );
        return;
    };
    let pat = format!("{at} (HikariCPConnectionProvider)");
    let Some(Arg::Value(Value::Map(map))) = only(&p.constructor_args) else {
        out.error(
            &pat,
            "HikariCPConnectionProvider",
            "`HikariCPConnectionProvider` takes one constructor argument: a map of HikariCP \
             settings (dataSourceClassName, dataSource.url, dataSource.user)",
        );
        return;
    };
    let (mut url, mut user) = (None, None);
    let (mut host, mut port, mut db) = (None, None, None);
    for (key, value) in map {
        let s = match value {
            Value::Str(s) => s.clone(),
            Value::I64(n) => n.to_string(),
            _ => String::new(),
        };
        let kat = format!("{pat}.{key}");
        match key.as_str() {
            "dataSourceClassName" | "driverClassName" if !s.to_lowercase().contains("postgres") => {
                out.error(
                    &kat,
                    key,
                    format!(
                        "`{s}`: Gale's JDBC bolts write to PostgreSQL only \
                         (org.postgresql.ds.PGSimpleDataSource)"
                    ),
                );
            }
            "dataSourceClassName" | "driverClassName" => {}
            "dataSource.url" | "jdbcUrl" | "url" => url = Some(s),
            "dataSource.user" | "username" | "user" => user = Some(s),
            "dataSource.serverName" => host = Some(s),
            "dataSource.portNumber" => port = Some(s),
            "dataSource.databaseName" => db = Some(s),
            "dataSource.password" | "password" => out.error(
                &kat,
                key,
                "a password in the topology file is refused (whoever reads the file or its \
                 history reads it): give `password_env` (an environment variable) or \
                 `password_file` in this map instead",
            ),
            "url_env" | "url_file" | "password_env" | "password_file" => out.set(key, s),
            _ => out.warn(
                &kat,
                key,
                format!(
                    "ignored: Gale's PostgreSQL bolts keep one connection per task (no `{key}`)"
                ),
            ),
        }
    }
    let url = match (url, host) {
        (Some(u), _) => {
            let u = u.strip_prefix("jdbc:").unwrap_or(&u).to_owned();
            let Some(rest) = u
                .strip_prefix("postgresql://")
                .or_else(|| u.strip_prefix("postgres://"))
            else {
                out.error(
                    &format!("{pat}.dataSource.url"),
                    "url",
                    format!(
                        "`{u}`: Gale's JDBC bolts write to PostgreSQL only \
                         (jdbc:postgresql://host:port/db)"
                    ),
                );
                return;
            };
            if rest.contains("password=") {
                out.error(
                    &format!("{pat}.dataSource.url"),
                    "password=",
                    "a password in the topology file is refused: give `password_env` or \
                     `password_file` in the provider's map",
                );
                return;
            }
            rest.to_owned()
        }
        (None, Some(h)) => {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{h}{port}/{}", db.unwrap_or_default())
        }
        (None, None) => {
            if !out.has("url_env") && !out.has("url_file") {
                out.error(
                    &pat,
                    "HikariCPConnectionProvider",
                    "the provider's map names no server: give `dataSource.url` \
                     (jdbc:postgresql://host:port/db), `dataSource.serverName`, or Gale's \
                     `url_env`/`url_file`",
                );
            }
            return;
        }
    };
    let url = match user {
        Some(u) if !url.contains('@') => format!("postgres://{u}@{url}"),
        _ => format!("postgres://{url}"),
    };
    out.set("url", url);
}

/// A list of `Column` components (a `reflist`), as their names.
fn columns(a: &Arg) -> Option<Vec<String>> {
    match a {
        Arg::List(items) => items
            .iter()
            .map(|c| object(c, &[COLUMN]).and_then(|c| c.constructor_args.first().and_then(text)))
            .collect(),
        other => other.strings(),
    }
}

/// `withQueryTimeoutSecs`, the one config method both bolts share.
fn methods(
    out: &mut Out,
    class: &str,
    args: &ClassArgs,
    insert: bool,
) -> (Option<String>, Option<String>) {
    let (mut table, mut query) = (None, None);
    for (name, margs) in &args.config_methods {
        let at = format!("configMethods.{name}");
        match (name.as_str(), only(margs)) {
            ("withQueryTimeoutSecs", a @ Some(_)) => {
                out.seconds_as_ms((class, name, &at), a, "timeout_ms");
            }
            ("withTableName", Some(a)) if insert => table = text(a),
            ("withInsertQuery", Some(a)) if insert => query = text(a),
            ("withTableName" | "withInsertQuery" | "withQueryTimeoutSecs", _)
                if insert || name == "withQueryTimeoutSecs" =>
            {
                out.error(&at, name, format!("`{class}`.{name} takes one argument"));
            }
            _ => out.error(
                &at,
                name,
                format!(
                    "`{class}` has no config method `{name}` in Gale (it has: {})",
                    if insert {
                        "withTableName, withInsertQuery, withQueryTimeoutSecs"
                    } else {
                        "withQueryTimeoutSecs"
                    }
                ),
            ),
        }
    }
    out.no_properties(
        class,
        args,
        "Gale's `args:` sets the rest: batch, linger_ms, mode, ...",
    );
    (table, query)
}

/// `JdbcInsertBolt(provider, SimpleJdbcMapper(columns))` with
/// `withTableName` or `withInsertQuery`.
pub(crate) fn insert(out: &mut Out, args: &ClassArgs) {
    let class = INSERT_BOLT;
    let mut names = None;
    match args.constructor_args.as_slice() {
        [p, m] => {
            provider(out, class, "constructorArgs[0]", p);
            names = mapper_columns(out, m);
        }
        other => out.error(
            "constructorArgs",
            class,
            format!(
                "`{class}` takes (a `ref` to a HikariCPConnectionProvider, a `ref` to a \
                 SimpleJdbcMapper), {} arguments given",
                other.len()
            ),
        ),
    }
    let (table, query) = methods(out, class, args, true);
    let Some(names) = names else { return };
    let (table, columns) = match (table, query) {
        (Some(t), None) => (t, names.clone()),
        (None, Some(q)) => match parse_insert(&q) {
            Ok((t, cols, marks)) => {
                if marks != names.len() {
                    out.error(
                        "configMethods.withInsertQuery",
                        "withInsertQuery",
                        format!(
                            "`{class}`.withInsertQuery: {marks} `?` for the mapper's {} \
                             columns",
                            names.len()
                        ),
                    );
                    return;
                }
                (t, cols.unwrap_or_else(|| names.clone()))
            }
            Err(e) => {
                out.error(
                    "configMethods.withInsertQuery",
                    "withInsertQuery",
                    format!("`{class}`.withInsertQuery `{q}`: {e}"),
                );
                return;
            }
        },
        (Some(_), Some(_)) => {
            out.error(
                "configMethods",
                "withInsertQuery",
                format!("`{class}`: give one of withTableName and withInsertQuery (as Storm)"),
            );
            return;
        }
        (None, None) => {
            out.error(
                "configMethods",
                class,
                format!("`{class}` needs withTableName or withInsertQuery (as Storm)"),
            );
            return;
        }
    };
    if columns.len() != names.len() {
        out.error(
            "configMethods.withInsertQuery",
            "withInsertQuery",
            format!(
                "`{class}`.withInsertQuery names {} columns, the mapper {}",
                columns.len(),
                names.len()
            ),
        );
        return;
    }
    out.set("table", table);
    out.set("columns", strings(&columns));
    out.set("fields", strings(&names));
}

/// The columns of a `SimpleJdbcMapper` (its tuple fields, named as them).
fn mapper_columns(out: &mut Out, m: &Arg) -> Option<Vec<String>> {
    let at = "constructorArgs[1] (SimpleJdbcMapper)";
    let Some(mapper) = object(m, &[SIMPLE_MAPPER]) else {
        out.error(
            "constructorArgs[1]",
            INSERT_BOLT,
            format!(
                "`{INSERT_BOLT}` takes a `ref` to a `{SIMPLE_MAPPER}` second (Gale runs no \
                 Java mapper classes), not {}",
                what(m)
            ),
        );
        return None;
    };
    match mapper.constructor_args.as_slice() {
        [cols] => match columns(cols) {
            Some(c) if !c.is_empty() => Some(c),
            _ => {
                out.error(
                    at,
                    "SimpleJdbcMapper",
                    "`SimpleJdbcMapper` takes a `reflist` of `Column` components (name, type)",
                );
                None
            }
        },
        [_, _] => {
            out.error(
                at,
                "SimpleJdbcMapper",
                "`SimpleJdbcMapper(tableName, connectionProvider)` reads the columns from the \
                 database when the worker starts; Gale needs them in the file: give \
                 `SimpleJdbcMapper` a `reflist` of `Column` components",
            );
            None
        }
        _ => {
            out.error(
                at,
                "SimpleJdbcMapper",
                "`SimpleJdbcMapper` takes a `reflist` of `Column` components",
            );
            None
        }
    }
}

/// `JdbcLookupBolt(provider, selectQuery, SimpleJdbcLookupMapper(output
/// fields, query columns))`.
pub(crate) fn lookup(out: &mut Out, args: &ClassArgs) {
    let class = LOOKUP_BOLT;
    methods(out, class, args, false);
    let [p, q, m] = args.constructor_args.as_slice() else {
        out.error(
            "constructorArgs",
            class,
            format!(
                "`{class}` takes (a `ref` to a HikariCPConnectionProvider, the select query, a \
                 `ref` to a SimpleJdbcLookupMapper), {} arguments given",
                args.constructor_args.len()
            ),
        );
        return;
    };
    provider(out, class, "constructorArgs[0]", p);
    let Some(query) = text(q) else {
        out.error(
            "constructorArgs[1]",
            class,
            format!("`{class}`'s second argument is the select query"),
        );
        return;
    };
    let Some(mapper) = object(m, &[LOOKUP_MAPPER]) else {
        out.error(
            "constructorArgs[2]",
            class,
            format!(
                "`{class}` takes a `ref` to a `{LOOKUP_MAPPER}` third, not {}",
                what(m)
            ),
        );
        return;
    };
    let mat = "constructorArgs[2] (SimpleJdbcLookupMapper)";
    let (Some(output), Some(params)) = (
        mapper.constructor_args.first().and_then(Arg::strings),
        mapper.constructor_args.get(1).and_then(columns),
    ) else {
        out.error(
            mat,
            "SimpleJdbcLookupMapper",
            "`SimpleJdbcLookupMapper` takes (output \
             fields: a `ref` to a Fields or a list, query columns: a `reflist` of `Column`s)",
        );
        return;
    };
    let (sql, marks) = numbered(&query);
    if marks != params.len() {
        out.error(
            "constructorArgs[1]",
            "SELECT",
            format!(
                "`{class}`: the query has {marks} `?`, the mapper {} query columns",
                params.len()
            ),
        );
        return;
    }
    let selected = match select_list(&query) {
        Ok(s) => s,
        Err(e) => {
            out.error(
                "constructorArgs[1]",
                "SELECT",
                format!("`{class}` query `{query}`: {e}"),
            );
            return;
        }
    };
    // Gale emits the input fields, then every column of the query.
    let passed: Vec<String> = output
        .iter()
        .filter(|f| !selected.contains(f))
        .cloned()
        .collect();
    let expected: Vec<String> = passed.iter().chain(selected.iter()).cloned().collect();
    if expected != output {
        out.error(
            mat,
            "SimpleJdbcLookupMapper",
            format!(
                "Gale's lookup emits the input fields first, then every column the query \
                 selects: the output fields must be {expected:?}, not {output:?}"
            ),
        );
        return;
    }
    out.set("query", sql);
    out.set("params", strings(&params));
    out.set("columns", strings(&selected));
    out.set("fields", strings(&passed));
}

fn strings(items: &[String]) -> Yaml {
    Yaml::Sequence(items.iter().map(|s| Yaml::String(s.clone())).collect())
}

/// JDBC's `?` placeholders as PostgreSQL's `$1`, `$2`, ... (outside
/// quotes), and how many there are.
fn numbered(query: &str) -> (String, usize) {
    let (mut out, mut n, mut quote) = (String::with_capacity(query.len()), 0, None);
    for c in query.chars() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('?', None) => {
                n += 1;
                out.push_str(&format!("${n}"));
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    (out, n)
}

/// The names of the columns a `SELECT a, t.b, f(c) AS d FROM ...` gives.
fn select_list(query: &str) -> Result<Vec<String>, String> {
    let q = query.trim();
    // Same byte length as `q`: positions carry over.
    let lower: String = q
        .chars()
        .map(|c| {
            if c.is_whitespace() {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if !lower.starts_with("select ") || lower.len() != q.len() {
        return Err("not a SELECT".to_owned());
    }
    let start = "select".len();
    let end = lower.find(" from ").ok_or("no FROM")?;
    let mut names = Vec::new();
    let (mut depth, mut item) = (0i32, String::new());
    let list = &q[start..end];
    for c in list.chars().chain(std::iter::once(',')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                names.push(column_name(item.trim())?);
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    Ok(names)
}

/// The output name of one select item.
fn column_name(item: &str) -> Result<String, String> {
    let lower = item.to_ascii_lowercase();
    let name = match lower.rfind(" as ") {
        Some(i) => &item[i + 4..],
        None if item.contains(['(', ' ', '*']) => {
            return Err(format!(
                "give `{item}` a name (`{item} AS name`): Gale needs the column names in the file"
            ))
        }
        None => item.rsplit('.').next().unwrap_or(item),
    };
    let name = name.trim().trim_matches('"');
    if name.is_empty() {
        return Err("an empty select item".to_owned());
    }
    Ok(name.to_owned())
}

/// `INSERT INTO table [(a, b)] VALUES (?, ?)`: the table, the columns if
/// listed, and the number of `?`.
fn parse_insert(query: &str) -> Result<(String, Option<Vec<String>>, usize), String> {
    let q = query.trim().trim_end_matches(';').trim();
    let lower = q.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("insert")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix("into"))
        .ok_or("Gale reads `INSERT INTO table [(columns)] VALUES (?, ...)` only")?;
    let at = q.len() - rest.len();
    let rest = q[at..].trim_start();
    let name_end = rest.find(['(', ' ']).unwrap_or(rest.len());
    let table = rest[..name_end].trim().to_owned();
    let mut rest = rest[name_end..].trim_start();
    let mut cols = None;
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or("an unclosed column list")?;
        cols = Some(
            r[..close]
                .split(',')
                .map(|c| c.trim().trim_matches('"').to_owned())
                .collect::<Vec<_>>(),
        );
        rest = r[close + 1..].trim_start();
    }
    let values = rest
        .get(..6)
        .filter(|v| v.eq_ignore_ascii_case("values"))
        .map(|_| rest[6..].trim())
        .ok_or("Gale reads `INSERT INTO table [(columns)] VALUES (?, ...)` only")?;
    let inner = values
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or("VALUES must be one list of `?`, and nothing after it")?;
    let marks: Vec<&str> = inner.split(',').map(str::trim).collect();
    if table.is_empty() || marks.iter().any(|m| *m != "?") {
        return Err("VALUES must be one list of `?` (Gale writes the mapper's columns)".to_owned());
    }
    Ok((table, cols, marks.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_queries_are_read_into_gale_terms() {
        assert_eq!(
            numbered("SELECT name FROM t WHERE id = ? AND s = '?' AND k = ?"),
            (
                "SELECT name FROM t WHERE id = $1 AND s = '?' AND k = $2".to_owned(),
                2
            )
        );
        assert_eq!(
            select_list("select u.name, count(*) as n, price FROM t").unwrap(),
            ["name", "n", "price"]
        );
        assert!(select_list("select * from t").is_err());
        assert_eq!(
            parse_insert("insert into counts (word, n) values (?, ?);").unwrap(),
            (
                "counts".to_owned(),
                Some(vec!["word".to_owned(), "n".to_owned()]),
                2
            )
        );
        assert_eq!(parse_insert("INSERT INTO t VALUES (?)").unwrap().2, 1);
        assert!(parse_insert("INSERT INTO t VALUES (?, now())").is_err());
        assert!(parse_insert("UPDATE t SET a = ?").is_err());
    }
}
