//! Whole numbers in JSON bodies: `62` and `62.0` are the same integer to JSON Schema (and
//! so to the API's OpenAPI document), so both are read; `62.5` is refused. Use with
//! `#[serde(deserialize_with = "keyward_core::whole::number")]`, or `optional` (with
//! `#[serde(default)]`) for an `Option`.

use core::fmt;
use core::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Visitor};

struct Whole<T>(PhantomData<T>);

impl<'de, T: TryFrom<i128>> Visitor<'de> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(i128::from(v)).map_err(|_| E::custom(format_args!("{v} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(i128::from(v)).map_err(|_| E::custom(format_args!("{v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Exactly representable whole numbers only (|v| < 2^53 keeps every integer).
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            #[allow(clippy::cast_possible_truncation)]
            let n = v as i128;
            T::try_from(n).map_err(|_| E::custom(format_args!("{v} is out of range")))
        } else {
            Err(E::custom(format_args!("{v} is not a whole number")))
        }
    }
}

/// A whole number, written with or without a zero fraction.
///
/// # Errors
/// Not a number, a fraction, or out of `T`'s range.
pub fn number<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Whole(PhantomData))
}

struct OptionalWhole<T>(PhantomData<T>);

impl<'de, T: TryFrom<i128>> Visitor<'de> for OptionalWhole<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        number(d).map(Some)
    }
}

/// An optional whole number (`null` is none).
///
/// # Errors
/// As [`number`].
pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(OptionalWhole(PhantomData))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::number")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional")]
        o: Option<i64>,
    }

    #[test]
    fn zero_fractions_are_whole_numbers_and_others_are_not() {
        let t: T = serde_json::from_str(r#"{"n": 62.0, "o": -5.0}"#).unwrap();
        assert_eq!((t.n, t.o), (62, Some(-5)));
        let t: T = serde_json::from_str(r#"{"n": 7, "o": null}"#).unwrap();
        assert_eq!((t.n, t.o), (7, None));
        assert_eq!(serde_json::from_str::<T>(r#"{"n": 1}"#).unwrap().o, None);
        for bad in [
            r#"{"n": 62.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "3"}"#,
            r#"{"n": 1, "o": 0.5}"#,
        ] {
            assert!(serde_json::from_str::<T>(bad).is_err(), "{bad}");
        }
    }
}
