//! Typed values read from an element's text: strings, numbers, xsd:double, flags and
//! xsd:dateTime, each with an error naming the element and the text; and the xsd spellings of
//! doubles and times, shared with the writer.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use cp_registry::Text;

use super::error::XmlError;
use super::reader::{Element, XmlIn};

impl<'a> XmlIn<'a> {
    /// The text of `element` as an owned string, `None` when it is empty.
    pub(crate) fn opt_string(&mut self, element: &Element<'a>) -> Result<Option<String>, XmlError> {
        let text = self.text(element)?;
        Ok((!text.is_empty()).then(|| text.into_owned()))
    }

    /// The text of `element`, `None` when it is empty, as [`Text`] shared with every equal
    /// value read before from this document: for what repeats from station to station (a
    /// model, a city, a group's name).
    pub(crate) fn opt_text(&mut self, element: &Element<'a>) -> Result<Option<Text>, XmlError> {
        let text = self.text(element)?;
        Ok((!text.is_empty()).then(|| self.share(&text)))
    }

    /// `text` as [`Text`], shared as [`XmlIn::opt_text`] shares it.
    pub(crate) fn share(&mut self, text: &str) -> Text {
        if let Some(known) = self.shared.get(text) {
            return known.clone();
        }
        let text = Text::from(text);
        self.shared.insert(text.clone());
        text
    }

    /// The text of `element` parsed as `T`, `None` when it is empty.
    pub(crate) fn opt_parse<T: FromStr>(
        &mut self,
        element: &Element<'a>,
    ) -> Result<Option<T>, XmlError> {
        self.opt_read(element, short_type_name::<T>(), |text| text.parse().ok())
    }

    /// The text of `element` as an xsd:double (accepts `INF`, `-INF`, `NaN`).
    pub(crate) fn opt_double(&mut self, element: &Element<'a>) -> Result<Option<f64>, XmlError> {
        self.opt_read(element, "a number", parse_double)
    }

    /// The text of `element` as an xsd:dateTime, `None` when it is empty.
    pub(crate) fn opt_time(
        &mut self,
        element: &Element<'a>,
    ) -> Result<Option<DateTime<Utc>>, XmlError> {
        self.opt_read(element, "a date and time", parse_time)
    }

    /// The text of `element` read by `read`, `None` when it is empty; an error names the
    /// element, the text and `what` it should have been.
    fn opt_read<T>(
        &mut self,
        element: &Element<'a>,
        what: &str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, XmlError> {
        let text = self.text(element)?;
        if text.is_empty() {
            return Ok(None);
        }
        read(&text).map(Some).ok_or_else(|| {
            XmlError::content(format!(
                "<{}>: cannot read '{}' as {what}",
                element.local(),
                text
            ))
        })
    }

    /// The text of `element` as an xsd:int flag: `1`/`true` is true, `0`/`false`/empty is false.
    pub(crate) fn flag(&mut self, element: &Element<'a>) -> Result<bool, XmlError> {
        let text = self.text(element)?;
        match &*text {
            "" | "0" | "false" => Ok(false),
            "1" | "true" => Ok(true),
            other => Err(XmlError::content(format!(
                "<{}>: expected 0 or 1, found '{}'",
                element.local(),
                other
            ))),
        }
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    match full {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => "an integer",
        "f32" | "f64" => "a number",
        _ => "the expected type",
    }
}

/// Reads an xsd:double, including its spellings of infinity.
pub(super) fn parse_double(text: &str) -> Option<f64> {
    match text {
        "INF" | "+INF" => Some(f64::INFINITY),
        "-INF" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// Reads an xsd:dateTime: with or without fractional seconds, `Z` or an offset; a time without
/// a zone is taken as UTC.
pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_time_fast(text) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// The common `YYYY-MM-DDTHH:MM:SSZ` form without chrono's general parser: status pages carry
/// one per port, so this is on the hot path.
fn parse_time_fast(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    Some(date.and_time(time).and_utc())
}

/// Writes an xsd:dateTime in UTC, `2016-11-07T19:19:19Z`, with fractional seconds only when
/// there are any.
pub(super) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_every_xsd_form() {
        let want = "2016-11-07T19:19:19Z".parse::<DateTime<Utc>>().unwrap();
        for text in [
            "2016-11-07T19:19:19Z",
            "2016-11-07T19:19:19.000Z",
            "2016-11-07T11:19:19-08:00",
            "2016-11-07T19:19:19",
        ] {
            assert_eq!(parse_time(text), Some(want), "{text}");
        }
        assert_eq!(format_time(&want), "2016-11-07T19:19:19Z");
        assert_eq!(parse_time("2016-13-07T19:19:19Z"), None);
    }
}
