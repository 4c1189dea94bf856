//! Plain durations in ISO 8601 (`PT30S`, `PT4H`, `P3D`, `P1DT12H`, `P2W`): positive, at most a
//! year, and without years or months, whose length depends on the calendar.

use chrono::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 8601 duration such as PT30S, PT4H, P3D or P1DT12H (positive, no years or months)")]
pub struct DurationError(pub String);

pub fn parse_iso8601(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError(text.to_string());
    let rest = text.strip_prefix('P').ok_or_else(error)?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(error()),
        None => (rest, None),
    };
    let mut seconds: i64 = 0;
    let mut any = false;
    let mut add = |part: &str, units: &[(char, i64)]| -> Result<(), DurationError> {
        let mut number = String::new();
        let mut last_unit = None::<usize>;
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let position = units.iter().position(|(u, _)| *u == c).ok_or_else(error)?;
            // Units appear once each, largest first.
            if number.is_empty() || last_unit.is_some_and(|l| position <= l) {
                return Err(error());
            }
            let value: i64 = number.parse().map_err(|_| error())?;
            seconds = value.checked_mul(units[position].1).and_then(|v| seconds.checked_add(v)).ok_or_else(error)?;
            number.clear();
            last_unit = Some(position);
            any = true;
        }
        if number.is_empty() { Ok(()) } else { Err(error()) }
    };
    add(date_part, &[('W', 7 * 86_400), ('D', 86_400)])?;
    if let Some(time) = time_part {
        add(time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    if !any || seconds <= 0 || seconds > 366 * 86_400 {
        return Err(error());
    }
    Ok(Duration::seconds(seconds))
}

/// A stage budget: business hours (`8h`), business days (`3d`) or a plain ISO 8601 duration
/// (`PT30S`) for tests, demos and 24/7 stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    BusinessHours(u32),
    BusinessDays(u32),
    Plain(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a budget: use business hours (8h), business days (3d) or an ISO 8601 duration (PT30S)")]
pub struct BudgetError(pub String);

impl Budget {
    pub fn parse(text: &str) -> Result<Self, BudgetError> {
        let error = || BudgetError(text.to_string());
        let count = |digits: &str| digits.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(error);
        if let Some(digits) = text.strip_suffix('h').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(Budget::BusinessHours(count(digits)?));
        }
        if let Some(digits) = text.strip_suffix('d').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(Budget::BusinessDays(count(digits)?));
        }
        parse_iso8601(text).map(Budget::Plain).map_err(|_| error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let cases = [
            ("PT30S", 30),
            ("PT4H", 14_400),
            ("P3D", 259_200),
            ("P1DT12H", 129_600),
            ("P2W", 1_209_600),
            ("PT1H30M", 5_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_iso8601(text).unwrap(), Duration::seconds(seconds), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "P", "PT", "30S", "PT0S", "P1Y", "P1M", "PT1S1H", "PTH", "P-1D", "P1DT", "PT1.5H", "P400D"] {
            assert!(parse_iso8601(text).is_err(), "{text}");
        }
    }
}
