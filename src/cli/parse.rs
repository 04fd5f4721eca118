//! Parsers of flag values: durations, sample rates, topology names.

use std::time::Duration;

use crate::builtin;
use crate::topofile::is_topology_file;

/// Parses a sample rate between 0 and 1.
pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("the sample rate must be between 0 and 1, not {s}"));
    }
    Ok(rate)
}

/// Parses a number of microseconds from 0 to 1 000 000 (one second).
pub(super) fn parse_micros(s: &str) -> Result<Duration, String> {
    let us: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of microseconds"))?;
    if !(0.0..=1e6).contains(&us) {
        return Err(format!(
            "the interval must be from 0 to 1000000 µs (one second), not {s}"
        ));
    }
    Ok(Duration::from_secs_f64(us / 1e6))
}

/// Parses a positive, finite number of seconds.
pub(super) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("the duration must be more than 0 s, not {s}"));
    }
    let max = gale_engine::MAX_DURATION;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= max => Ok(d),
        _ => Err(format!(
            "{s} s is longer than the longest duration allowed, {} s (one year)",
            max.as_secs()
        )),
    }
}

/// Accepts a built-in topology's name or a topology file's path.
pub(super) fn parse_topology(arg: &str) -> Result<String, String> {
    if builtin::names().contains(&arg) || is_topology_file(arg) {
        return Ok(arg.to_owned());
    }
    Err(format!(
        "`{arg}` is neither a built-in topology ({}) nor a topology file (.yaml or .yml, or a streamparse topology .py)",
        builtin::names().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_are_from_zero_to_a_second() {
        assert_eq!(parse_micros("10"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_micros("0"), Ok(Duration::ZERO));
        assert_eq!(parse_micros("2.5"), Ok(Duration::from_nanos(2500)));
        for bad in ["-1", "1000001", "NaN", "inf", "ten"] {
            assert!(parse_micros(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topology_argument_is_a_builtin_or_a_yaml_file() {
        assert!(parse_topology("wordcount").is_ok());
        assert!(parse_topology("examples/python/wordcount.yaml").is_ok());
        assert!(parse_topology("t.yml").is_ok());
        let err = parse_topology("nope").unwrap_err();
        assert!(err.contains("wordcount") && err.contains(".yaml"), "{err}");
    }
}
