//! Point values and their VOLTTRON meta: what a scrape publishes and what set_point accepts.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::catalog::ValueType;

/// A point's value. Serialises as VOLTTRON publishes values: JSON null, bool, integer, float,
/// string, an RFC 3339 string for datetimes, and an object for dictionaries.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// Fetched, but the answer has nothing for this point (no alarm yet, no session yet).
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    DateTime(DateTime<Utc>),
    Dict(BTreeMap<String, String>),
}

/// Why a value does not fit a point's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct CoerceError {
    /// What the type wants, e.g. `integer` or `datetime (RFC 3339)`.
    pub expected: String,
    /// The offending input as the user wrote it.
    pub found: String,
}

impl PointValue {
    /// Converts a JSON value (a set_point body, a fleet default) into a value of type `ty`.
    /// Numbers given as strings and `true`/`false` for integers are accepted, because HTTP
    /// clients and VOLTTRON agents send both; JSON null gives [`PointValue::Null`].
    ///
    /// # Errors
    /// [`CoerceError`] naming the expected type and the value found.
    pub fn coerce(ty: ValueType, value: &serde_json::Value) -> Result<PointValue, CoerceError> {
        use serde_json::Value as J;
        match (ty, value) {
            (_, J::Null) => Ok(PointValue::Null),
            (_, J::String(s)) => PointValue::parse(ty, s),
            (ValueType::Bool, J::Bool(b)) => Ok(PointValue::Bool(*b)),
            (ValueType::Integer, J::Bool(b)) => Ok(PointValue::Int(i64::from(*b))),
            (ValueType::Bool | ValueType::Integer | ValueType::Float, J::Number(n)) => {
                PointValue::parse(ty, &n.to_string())
            }
            (ValueType::Dictionary, J::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    J::String(s) => Ok((k.clone(), s.clone())),
                    J::Number(_) | J::Bool(_) => Ok((k.clone(), v.to_string())),
                    _ => Err(mismatch(ty, &value.to_string())),
                })
                .collect::<Result<_, _>>()
                .map(PointValue::Dict),
            _ => Err(mismatch(ty, &value.to_string())),
        }
    }

    /// Parses text (a CSV Starting Value, a query parameter) into a value of type `ty`.
    /// Booleans accept true/false/1/0/yes/no/on/off; integers accept `true`/`false` as 1/0;
    /// datetimes are RFC 3339; dictionaries are a JSON object of strings. Empty text is Null.
    ///
    /// # Errors
    /// [`CoerceError`] naming the expected type and the text found.
    pub fn parse(ty: ValueType, text: &str) -> Result<PointValue, CoerceError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(PointValue::Null);
        }
        let bad = || mismatch(ty, text);
        match ty {
            ValueType::String => Ok(PointValue::Str(text.to_string())),
            ValueType::Bool => parse_bool(t).map(PointValue::Bool).ok_or_else(bad),
            ValueType::Integer => t
                .parse::<i64>()
                .ok()
                .or_else(|| parse_flag_word(t).map(i64::from))
                .or_else(|| {
                    // `1.0` is an integer written by a tool that only knows floats.
                    t.parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(PointValue::Int)
                .ok_or_else(bad),
            ValueType::Float => t
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(PointValue::Float)
                .ok_or_else(bad),
            ValueType::DateTime => DateTime::parse_from_rfc3339(t)
                .map(|d| PointValue::DateTime(d.with_timezone(&Utc)))
                .map_err(|_| bad()),
            ValueType::Dictionary => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(v @ serde_json::Value::Object(_)) => {
                    PointValue::coerce(ty, &v).map_err(|_| bad())
                }
                _ => Err(bad()),
            },
        }
    }

    /// The value as a float, for numeric gauges (bools and ints included).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PointValue::Bool(b) => Some(f64::from(u8::from(*b))),
            PointValue::Int(i) => Some(*i as f64),
            PointValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Re-expresses a value in a point's declared type (see [`crate::Attribute::accepts_type`]):
    /// an integer flag declared `boolean`, an integer declared `float`, anything declared
    /// `string` as its text, text declared `integer` as its number (Null when it is none).
    /// Text declared `datetime` stays text unless it is RFC 3339: a time of day has no date.
    pub fn into_type(self, ty: ValueType) -> PointValue {
        match (ty, self) {
            (_, PointValue::Null) => PointValue::Null,
            (ValueType::Bool, PointValue::Int(i)) => PointValue::Bool(i != 0),
            (ValueType::Integer, PointValue::Bool(b)) => PointValue::Int(i64::from(b)),
            (ValueType::Float, PointValue::Int(i)) => PointValue::Float(i as f64),
            (ValueType::String, v @ PointValue::Dict(_)) => v,
            (ValueType::String, v) if !matches!(v, PointValue::Str(_)) => {
                PointValue::Str(v.to_string())
            }
            (ValueType::Integer | ValueType::Float, PointValue::Str(s)) => {
                PointValue::parse(ty, &s).unwrap_or(PointValue::Null)
            }
            (ValueType::DateTime, PointValue::Str(s)) => {
                PointValue::parse(ty, &s).unwrap_or(PointValue::Str(s))
            }
            (_, v) => v,
        }
    }
}

fn mismatch(ty: ValueType, found: &str) -> CoerceError {
    let expected = match ty {
        ValueType::DateTime => "datetime (RFC 3339)".to_string(),
        ValueType::Dictionary => "dictionary (JSON object)".to_string(),
        ValueType::Bool => "boolean (true/false/1/0)".to_string(),
        other => other.name().to_string(),
    };
    CoerceError {
        expected,
        found: format!("'{}'", crate::error::quote(found)),
    }
}

/// Reads the flag words VOLTTRON users write: true/false, yes/no, on/off, 1/0 (any case).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    parse_flag_word(s).or(match s.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    })
}

fn parse_flag_word(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Serialize for PointValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PointValue::Null => s.serialize_none(),
            PointValue::Bool(b) => s.serialize_bool(*b),
            PointValue::Int(i) => s.serialize_i64(*i),
            PointValue::Float(f) => s.serialize_f64(*f),
            PointValue::Str(v) => s.serialize_str(v),
            PointValue::DateTime(d) => {
                s.serialize_str(&d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            PointValue::Dict(m) => m.serialize(s),
        }
    }
}

impl fmt::Display for PointValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointValue::Null => Ok(()),
            PointValue::Bool(b) => write!(f, "{b}"),
            PointValue::Int(i) => write!(f, "{i}"),
            PointValue::Float(x) => write!(f, "{x}"),
            PointValue::Str(s) => f.write_str(s),
            PointValue::DateTime(d) => {
                f.write_str(&d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            PointValue::Dict(_) => {
                let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
                f.write_str(&json)
            }
        }
    }
}

/// A point's meta as VOLTTRON publishes it next to the values: `{type, units, tz}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PointMeta {
    /// VOLTTRON's type word: `integer`, `float`, `string`, `boolean`, `datetime`, `dictionary`.
    #[serde(rename = "type")]
    pub value_type: String,
    pub units: String,
    /// The device's timezone (`timezone` of the device config), empty when unset.
    pub tz: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_serialise_as_volttron_publishes_them() {
        let d = DateTime::parse_from_rfc3339("2016-11-07T19:19:19Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut dict = BTreeMap::new();
        dict.insert("39491".to_string(), "network_manager".to_string());
        let v = vec![
            PointValue::Null,
            PointValue::Bool(true),
            PointValue::Int(3),
            PointValue::Float(3.5),
            PointValue::Str("INUSE".into()),
            PointValue::DateTime(d),
            PointValue::Dict(dict),
        ];
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"[null,true,3,3.5,"INUSE","2016-11-07T19:19:19Z",{"39491":"network_manager"}]"#
        );
    }

    #[test]
    fn set_point_json_coerces_into_the_point_type() {
        assert_eq!(
            PointValue::coerce(ValueType::Integer, &json!(true)),
            Ok(PointValue::Int(1))
        );
        assert_eq!(
            PointValue::coerce(ValueType::Float, &json!("3.0")),
            Ok(PointValue::Float(3.0))
        );
        assert_eq!(
            PointValue::coerce(ValueType::Float, &json!(7)),
            Ok(PointValue::Float(7.0))
        );
        assert_eq!(
            PointValue::coerce(ValueType::Integer, &json!(2.5))
                .unwrap_err()
                .to_string(),
            "expected integer, found '2.5'"
        );
        assert_eq!(
            PointValue::coerce(ValueType::DateTime, &json!("yesterday"))
                .unwrap_err()
                .to_string(),
            "expected datetime (RFC 3339), found 'yesterday'"
        );
    }

    #[test]
    fn flag_words_parse_as_booleans_and_integers() {
        for (t, b) in [("TRUE", true), ("no", false), ("1", true), ("Off", false)] {
            assert_eq!(
                PointValue::parse(ValueType::Bool, t),
                Ok(PointValue::Bool(b))
            );
        }
        assert_eq!(
            PointValue::parse(ValueType::Integer, "True"),
            Ok(PointValue::Int(1))
        );
        assert_eq!(
            PointValue::parse(ValueType::Integer, " "),
            Ok(PointValue::Null)
        );
    }
}
