//! The sampling period of a regular series: its text form (`15min`, `1h`) and the checked
//! arithmetic that places timestamps on its grid. Periods and timestamps often come from files
//! and clients, so nothing here wraps or panics on extreme values: parsing refuses what does
//! not fit in `i64` microseconds, and arithmetic returns `None` instead of overflowing.
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::frame::Micros;

/// Units accepted by [`Frequency::parse`], with their length in microseconds.
const PARSE_UNITS: [(&str, i64); 12] = [
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("min", 60_000_000),
    ("m", 60_000_000),
    ("T", 60_000_000),
    ("h", 3_600_000_000),
    ("H", 3_600_000_000),
    ("d", 86_400_000_000),
    ("D", 86_400_000_000),
    ("w", 7 * 86_400_000_000),
    ("W", 7 * 86_400_000_000),
];

/// Units [`Frequency`]'s `Display` writes, largest first.
const DISPLAY_UNITS: [(i64, &str); 7] = [
    (7 * 86_400_000_000, "w"),
    (86_400_000_000, "d"),
    (3_600_000_000, "h"),
    (60_000_000, "min"),
    (1_000_000, "s"),
    (1_000, "ms"),
    (1, "us"),
];

/// Why a frequency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrequencyError {
    /// The text is empty (or only whitespace).
    #[error("the frequency is empty: expected a count and a unit, e.g. 1h, 15min, 30s")]
    Empty,
    /// The text is not `<count><unit>`, or the unit is unknown.
    #[error(
        "cannot parse frequency `{text}`: expected a whole count and a unit (us, ms, s, min, h, d, w), e.g. 1h, 15min, 30s"
    )]
    Syntax {
        /// The text given.
        text: String,
    },
    /// The period is zero.
    #[error("frequency `{text}` is zero: the period must be positive")]
    Zero {
        /// The text given.
        text: String,
    },
    /// The period does not fit in `i64` microseconds (about 292 000 years).
    #[error("frequency `{text}` is too long: the period must be at most {max} microseconds (about 292 000 years)", max = i64::MAX)]
    TooLarge {
        /// The text given.
        text: String,
    },
    /// A period given in microseconds is zero or negative.
    #[error("a frequency of {micros} microseconds is not positive")]
    NotPositive {
        /// The value given.
        micros: i64,
    },
}

/// Sampling period of a regular series, in microseconds (always > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawFrequency")]
pub struct Frequency {
    /// Period in microseconds.
    pub micros: i64,
}

/// The serialised form, checked by [`Frequency::try_from_micros`] when read back.
#[derive(Deserialize)]
struct RawFrequency {
    micros: i64,
}

impl TryFrom<RawFrequency> for Frequency {
    type Error = FrequencyError;

    fn try_from(raw: RawFrequency) -> Result<Self, FrequencyError> {
        Self::try_from_micros(raw.micros)
    }
}

impl Frequency {
    /// A period of `micros` microseconds. Panics if `micros <= 0` (programmer error; use
    /// [`Frequency::try_from_micros`] for values from files or clients).
    pub fn from_micros(micros: i64) -> Self {
        assert!(micros > 0, "frequency must be positive, got {micros}us");
        Self { micros }
    }

    /// A period of `micros` microseconds.
    ///
    /// # Errors
    /// [`FrequencyError::NotPositive`] when `micros <= 0`.
    pub fn try_from_micros(micros: i64) -> Result<Self, FrequencyError> {
        if micros > 0 {
            Ok(Self { micros })
        } else {
            Err(FrequencyError::NotPositive { micros })
        }
    }

    /// A period of `minutes` minutes. Panics if it is not positive or does not fit (programmer
    /// error: for constants).
    pub fn minutes(minutes: i64) -> Self {
        let micros = minutes
            .checked_mul(60_000_000)
            .unwrap_or_else(|| panic!("{minutes} minutes do not fit in i64 microseconds"));
        Self::from_micros(micros)
    }

    /// The period as a chrono duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::microseconds(self.micros)
    }

    /// Parse `15min`, `1h`, `30s`, `1d`, `1w`, `500ms`, `250us` (a missing count means 1:
    /// `h` = `1h`). Units: `us`, `ms`, `s`, `min` (`m`, `T`), `h` (`H`), `d` (`D`),
    /// `w` (`W`). Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`FrequencyError::Empty`], [`FrequencyError::Syntax`] (no unit, unknown unit, signs or
    /// other characters), [`FrequencyError::Zero`], [`FrequencyError::TooLarge`] when count ×
    /// unit exceeds `i64::MAX` microseconds.
    pub fn parse(s: &str) -> Result<Self, FrequencyError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(FrequencyError::Empty);
        }
        let syntax = || FrequencyError::Syntax { text: text.into() };
        let too_large = || FrequencyError::TooLarge { text: text.into() };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(syntax)?;
        let (count, unit) = text.split_at(split);
        let unit_us = PARSE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, us)| us)
            .ok_or_else(syntax)?;
        // Only digits remain, so a failed parse means too many of them.
        let n: i64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| too_large())?
        };
        if n == 0 {
            return Err(FrequencyError::Zero { text: text.into() });
        }
        let micros = n.checked_mul(unit_us).ok_or_else(too_large)?;
        Ok(Self { micros })
    }

    /// `t + k · period`, or `None` when it does not fit in [`Micros`].
    pub fn checked_offset(self, t: Micros, k: i64) -> Option<Micros> {
        k.checked_mul(self.micros).and_then(|d| t.checked_add(d))
    }

    /// The grid point of `t`: `t` floored to a multiple of the period since the epoch, or
    /// `None` when that multiple does not fit in [`Micros`] (`t` within one period of
    /// `i64::MIN`).
    pub fn floor(self, t: Micros) -> Option<Micros> {
        t.div_euclid(self.micros).checked_mul(self.micros)
    }

    /// How many whole periods lead from `from` to `to`: `Some(k)` when `to - from` is exactly
    /// `k` periods (`k` may be 0 or negative), `None` when it is not a multiple of the period
    /// or the difference does not fit in [`Micros`].
    pub fn steps_between(self, from: Micros, to: Micros) -> Option<i64> {
        let d = to.checked_sub(from)?;
        (d % self.micros == 0).then_some(d / self.micros)
    }
}

impl std::str::FromStr for Frequency {
    type Err = FrequencyError;

    fn from_str(s: &str) -> Result<Self, FrequencyError> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Frequency {
    /// The largest unit that divides the period exactly: `1w`, `1d`, `1h`, `15min`, `30s`, `5ms`, `7us`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (unit, name) = DISPLAY_UNITS
            .iter()
            .find(|(u, _)| self.micros % u == 0)
            .copied()
            .unwrap_or((1, "us"));
        write!(f, "{}{}", self.micros / unit, name)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["1h", "15min", "30s", "1d", "1w", "500ms", "7us", "10min"] {
            assert_eq!(Frequency::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Frequency::parse("60min").unwrap().to_string(), "1h");
        assert_eq!(Frequency::parse(" 15T ").unwrap(), Frequency::minutes(15));
        assert_eq!(Frequency::parse("h").unwrap(), Frequency::minutes(60));
    }

    #[test]
    fn parse_refuses_with_the_reason() {
        let syntax = |t: &str| FrequencyError::Syntax { text: t.into() };
        assert_eq!(Frequency::parse(""), Err(FrequencyError::Empty));
        assert_eq!(Frequency::parse("  "), Err(FrequencyError::Empty));
        assert_eq!(
            Frequency::parse("0h"),
            Err(FrequencyError::Zero { text: "0h".into() })
        );
        assert_eq!(
            Frequency::parse("000s"),
            Err(FrequencyError::Zero { text: "000s".into() })
        );
        assert_eq!(Frequency::parse("3 parsecs"), Err(syntax("3 parsecs")));
        assert_eq!(Frequency::parse("15"), Err(syntax("15")));
        assert_eq!(Frequency::parse("-5min"), Err(syntax("-5min")));
        assert_eq!(Frequency::parse("+5min"), Err(syntax("+5min")));
        assert_eq!(Frequency::parse("1.5h"), Err(syntax("1.5h")));
        assert_eq!(Frequency::parse("5minutes"), Err(syntax("5minutes")));
    }

    #[test]
    fn parse_refuses_periods_that_do_not_fit() {
        let too_large = |t: &str| Err(FrequencyError::TooLarge { text: t.into() });
        // 110 000 000 days = 9.504e18 us > i64::MAX (9.223e18): overflowed before.
        assert_eq!(Frequency::parse("110000000d"), too_large("110000000d"));
        assert_eq!(Frequency::parse("15250285w"), too_large("15250285w"));
        assert_eq!(
            Frequency::parse("9223372036854775808us"),
            too_large("9223372036854775808us")
        );
        assert_eq!(
            Frequency::parse("99999999999999999999999999min"),
            too_large("99999999999999999999999999min")
        );
        // The largest periods that fit are accepted.
        assert_eq!(
            Frequency::parse("9223372036854775807us").unwrap().micros,
            i64::MAX
        );
        assert_eq!(
            Frequency::parse("106751991d").unwrap().micros,
            106_751_991 * 86_400_000_000
        );
        assert_eq!(
            Frequency::parse("15250284w").unwrap().micros,
            15_250_284 * 7 * 86_400_000_000
        );
    }

    #[test]
    fn try_from_micros_and_serde_refuse_non_positive() {
        assert_eq!(Frequency::try_from_micros(5).unwrap().micros, 5);
        assert_eq!(
            Frequency::try_from_micros(0),
            Err(FrequencyError::NotPositive { micros: 0 })
        );
        let back: Frequency = serde_json::from_str(r#"{"micros":300000000}"#).unwrap();
        assert_eq!(back, Frequency::minutes(5));
        assert_eq!(serde_json::to_string(&back).unwrap(), r#"{"micros":300000000}"#);
        let err = serde_json::from_str::<Frequency>(r#"{"micros":-1}"#).unwrap_err();
        assert!(
            err.to_string().contains("-1 microseconds is not positive"),
            "{err}"
        );
    }

    #[test]
    fn checked_arithmetic_at_the_ends_of_time() {
        let f = Frequency::from_micros(10);
        assert_eq!(f.checked_offset(5, 3), Some(35));
        assert_eq!(f.checked_offset(i64::MAX - 5, 1), None);
        assert_eq!(Frequency::from_micros(i64::MAX).checked_offset(0, 2), None);
        assert_eq!(f.floor(-1), Some(-10));
        assert_eq!(f.floor(19), Some(10));
        assert_eq!(f.floor(i64::MIN), None);
        assert_eq!(f.steps_between(0, 40), Some(4));
        assert_eq!(f.steps_between(0, 41), None);
        assert_eq!(f.steps_between(i64::MIN, i64::MAX), None);
    }

    /// Text that looks like a frequency: digits (sometimes far too many) and a known or
    /// unknown unit, with optional surrounding spaces.
    fn frequency_like() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just(String::new()),
                "[0-9]{1,25}",
                any::<u64>().prop_map(|n| n.to_string())
            ],
            prop_oneof![
                proptest::sample::select(PARSE_UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>())
                    .prop_map(String::from),
                "[a-zA-Z ]{0,3}",
            ],
            "[ ]{0,2}",
        )
            .prop_map(|(n, u, pad)| format!("{pad}{n}{u}{pad}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
            let _ = Frequency::parse(&s);
        }

        #[test]
        fn accepted_values_are_positive_and_round_trip(s in frequency_like()) {
            if let Ok(f) = Frequency::parse(&s) {
                prop_assert!(f.micros > 0);
                let back = Frequency::parse(&f.to_string());
                prop_assert_eq!(back, Ok(f));
            }
        }

        #[test]
        fn counts_times_units_are_exact_or_too_large(n in 1..=i64::MAX, unit in 0..PARSE_UNITS.len()) {
            let (name, us) = PARSE_UNITS[unit];
            let text = format!("{n}{name}");
            match n.checked_mul(us) {
                Some(micros) => prop_assert_eq!(Frequency::parse(&text).map(|f| f.micros), Ok(micros)),
                None => prop_assert_eq!(Frequency::parse(&text), Err(FrequencyError::TooLarge { text: text.clone() })),
            }
        }

        #[test]
        fn display_round_trips_every_period(micros in 1..=i64::MAX) {
            let f = Frequency::from_micros(micros);
            prop_assert_eq!(Frequency::parse(&f.to_string()), Ok(f));
        }
    }
}
