//! Parsing timestamps from text and converting Arrow time columns to [`Micros`].
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::frame::{Micros, to_micros};

/// Date-time formats tried, in order (`%.f` = optional fractional seconds).
const DATETIME_FORMATS: [&str; 8] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M",
];
const DATE_FORMATS: [&str; 2] = ["%Y-%m-%d", "%Y/%m/%d"];

/// Parse a timestamp string into naive wall-clock microseconds.
///
/// Accepted: `YYYY-MM-DD HH:MM:SS[.fff…]`, the same with `T`, `YYYY-MM-DD HH:MM[T]`,
/// `YYYY-MM-DD`, the `YYYY/MM/DD` variants (unpadded fields allowed, e.g. `1990/1/1 0:00`),
/// `DD.MM.YYYY HH:MM[:SS]`, and RFC 3339 with an offset or `Z` (the wall-clock time as
/// written is kept; the offset is ignored).
pub fn parse_timestamp(s: &str) -> Option<Micros> {
    TimeParser::default().parse(s)
}

/// [`parse_timestamp`] that remembers which format matched last, so a column in one format
/// costs one `strptime` per cell.
#[derive(Debug, Default)]
pub(crate) struct TimeParser {
    last: Option<usize>,
}

impl TimeParser {
    /// Number of formats (date-time, then date-only, then RFC 3339).
    const N: usize = DATETIME_FORMATS.len() + DATE_FORMATS.len() + 1;

    fn try_format(i: usize, s: &str) -> Option<NaiveDateTime> {
        if let Some(f) = DATETIME_FORMATS.get(i) {
            return NaiveDateTime::parse_from_str(s, f).ok();
        }
        if let Some(f) = DATE_FORMATS.get(i - DATETIME_FORMATS.len()) {
            return NaiveDate::parse_from_str(s, f)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0));
        }
        DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_local())
    }

    /// Parse one cell (surrounding whitespace ignored).
    pub(crate) fn parse(&mut self, s: &str) -> Option<Micros> {
        let s = s.trim();
        if let Some(i) = self.last
            && let Some(t) = Self::try_format(i, s)
        {
            return Some(to_micros(t));
        }
        for i in 0..Self::N {
            if Some(i) == self.last {
                continue;
            }
            if let Some(t) = Self::try_format(i, s) {
                self.last = Some(i);
                return Some(to_micros(t));
            }
        }
        None
    }
}

/// Integer time columns hold epoch seconds; `None` on overflow.
pub(crate) fn epoch_seconds_to_micros(s: i64) -> Option<Micros> {
    s.checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> Micros {
        to_micros(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap())
    }

    #[test]
    fn parses_all_formats() {
        let t = us("2016-07-01 13:45:00");
        for s in [
            "2016-07-01 13:45:00",
            "2016-07-01T13:45:00",
            "2016-07-01 13:45",
            "2016-07-01T13:45",
            " 2016-07-01 13:45:00.000 ",
            "2016-07-01T13:45:00Z",
            "2016-07-01T13:45:00+02:00",
            "2016/7/1 13:45",
            "01.07.2016 13:45:00",
        ] {
            assert_eq!(parse_timestamp(s), Some(t), "{s}");
        }
        assert_eq!(parse_timestamp("2016-07-01 13:45:00.25"), Some(t + 250_000));
        assert_eq!(parse_timestamp("2016-07-01T13:45:00.000001Z"), Some(t + 1));
        assert_eq!(parse_timestamp("2016-07-01"), Some(us("2016-07-01 00:00:00")));
        assert_eq!(parse_timestamp("1990/1/1 0:00"), Some(us("1990-01-01 00:00:00")));
        for bad in ["", "yesterday", "2016-13-01", "2016-07-01 25:00:00", "12345"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn parser_switches_format() {
        let mut p = TimeParser::default();
        assert!(p.parse("2016-07-01").is_some());
        assert!(p.parse("2016-07-01 01:00:00").is_some());
        assert!(p.parse("2016-07-01").is_some());
    }
}
