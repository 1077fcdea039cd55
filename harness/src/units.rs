//! Compose-style durations (`1s`, `500ms`, `1m30s`) and their display.
//!
//! Compose normalises durations to Go's `time.Duration` text, which chains units; a small
//! hand-written parser is enough for that grammar and keeps us off a Go-format crate.

use std::time::Duration;

use crate::errors::{Error, Result};

/// Parses a Go/compose duration such as `1s`, `1.5s`, `250ms`, `1m30s` or `2h`.
pub fn parse_duration(input: &str) -> Result<Duration> {
    let err = |reason: &str| Error::InvalidDuration { input: input.to_owned(), reason: reason.to_owned() };
    let text = input.trim();
    if text.is_empty() {
        return Err(err("it is empty"));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err("the number does not parse"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(err("a unit is missing")),
            _ => return Err(err("unknown unit (known: ns, us, ms, s, m, h)")),
        };
        total += value * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Seconds with millisecond precision, the form every table and report uses.
pub fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected_ms: u64) {
        let got = parse_duration(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, Duration::from_millis(expected_ms), "{input}");
    }

    #[track_caller]
    fn check_err(input: &str, fragment: &str) {
        let err = parse_duration(input).expect_err(input).to_string();
        assert!(err.contains(fragment), "{input}: {err}");
        assert!(err.contains(input.trim()), "error must name the input: {err}");
    }

    #[test]
    fn parses_compose_durations() {
        check("1s", 1000);
        check("30s", 30_000);
        check("500ms", 500);
        check("1m30s", 90_000);
        check("1.5s", 1500);
        check("2h", 7_200_000);
        check("0", 0);
        check(" 3s ", 3000);
        check("1m0s", 60_000);
    }

    #[test]
    fn rejects_malformed_durations() {
        check_err("", "empty");
        check_err("5", "unit is missing");
        check_err("5 parsecs", "unknown unit");
        check_err("s", "expected a number");
        check_err("1..2s", "does not parse");
    }

    #[test]
    fn formats_seconds_with_millis() {
        assert_eq!(secs(Duration::from_millis(4_950)), "4.950s");
    }
}

/// Parses a size such as `500MB`, `1.5GB`, `30MiB` or `100kB` into bytes. `MB` is
/// 1,000,000 bytes, as in `docker images`; `MiB` is 1,048,576.
pub fn parse_size(input: &str) -> std::result::Result<u64, String> {
    let text = input.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{input}` does not start with a number"))?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}` in `{input}` (known: B, kB, MB, GB, KiB, MiB, GiB)")),
    };
    Ok((value * factor).round() as u64)
}

/// Bytes as `123.4MB` (SI, like `docker images`).
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1}MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: u64) {
        assert_eq!(parse_size(input), Ok(expected), "{input}");
    }

    #[test]
    fn parses_sizes() {
        check("500MB", 500_000_000);
        check("100MB", 100_000_000);
        check("1.5GB", 1_500_000_000);
        check("30MiB", 31_457_280);
        check("512", 512);
        check(" 2kB ", 2000);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(parse_size("big").expect_err("no number").contains("`big`"));
        assert!(parse_size("5 parsecs").expect_err("unit").contains("unknown size unit `parsecs`"));
    }

    #[test]
    fn formats_megabytes() {
        assert_eq!(megabytes(257_400_000), "257.4MB");
    }
}
