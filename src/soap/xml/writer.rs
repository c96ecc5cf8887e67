//! The string writer: builds a document element by element, escaping text so that whatever a
//! value holds, the document stays well-formed.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::values::format_time;

/// Builds a document as a string. Element names are trusted (they come from this crate); text is
/// escaped.
pub(crate) struct XmlOut {
    buf: String,
}

impl XmlOut {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        XmlOut {
            buf: String::with_capacity(capacity),
        }
    }

    pub(crate) fn raw(&mut self, markup: &str) -> &mut Self {
        self.buf.push_str(markup);
        self
    }

    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `<name>` … `</name>` around whatever `inner` writes.
    pub(crate) fn element(&mut self, name: &str, inner: impl FnOnce(&mut Self)) -> &mut Self {
        self.open(name);
        inner(self);
        self.close(name)
    }

    /// Escaped text at the current position.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.buf, text);
        self
    }

    /// `<name>text</name>`, escaped.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape_into(&mut self.buf, text);
        self.close(name)
    }

    pub(crate) fn leaf_opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.leaf(name, text);
        }
        self
    }

    /// `<name>value</name>` for values whose text needs no escaping (numbers).
    pub(crate) fn leaf_num(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.open(name);
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{value}");
        self.close(name)
    }

    pub(crate) fn leaf_num_opt<T: std::fmt::Display>(
        &mut self,
        name: &str,
        value: Option<T>,
    ) -> &mut Self {
        if let Some(value) = value {
            self.leaf_num(name, value);
        }
        self
    }

    /// An xsd:decimal: it has no exponent, infinity or NaN, so a non-finite value is left out.
    pub(crate) fn leaf_decimal_opt(&mut self, name: &str, value: Option<f64>) -> &mut Self {
        match value {
            // Rust's Display for f64 never uses exponent notation, which xsd:decimal forbids.
            Some(v) if v.is_finite() => self.leaf_num(name, v),
            _ => self,
        }
    }

    /// An xsd:double, spelling infinity and NaN the schema's way.
    pub(crate) fn leaf_double_opt(&mut self, name: &str, value: Option<f64>) -> &mut Self {
        match value {
            Some(v) if v.is_nan() => self.leaf(name, "NaN"),
            Some(v) if v == f64::INFINITY => self.leaf(name, "INF"),
            Some(v) if v == f64::NEG_INFINITY => self.leaf(name, "-INF"),
            Some(v) => self.leaf_num(name, v),
            None => self,
        }
    }

    pub(crate) fn leaf_time_opt(&mut self, name: &str, value: Option<&DateTime<Utc>>) -> &mut Self {
        if let Some(t) = value {
            self.leaf(name, &format_time(t));
        }
        self
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf.into_bytes()
    }
}

/// Escapes text content: `&`, `<`, `>`; `\r` as a character reference so that line-end
/// normalisation keeps it; characters XML 1.0 cannot carry at all become U+FFFD.
fn escape_into(out: &mut String, text: &str) {
    if !may_need_escaping(text) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_forbidden(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// False only for text that needs no escaping. A byte scan, not a char scan: large answers
/// (a 2,500-station getLoad) are mostly text that passes. Every character escaped or replaced
/// is a byte below 0x20 other than tab and newline, one of `&<>`, or starts with 0xEF (U+FFFE
/// and U+FFFF), so no such text passes.
fn may_need_escaping(text: &str) -> bool {
    text.bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | 0xEF) || (b < 0x20 && b != b'\t' && b != b'\n'))
}

/// Characters outside XML 1.0's `Char` production.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::xml::reader::XmlIn;

    #[test]
    fn escape_round_trips_through_the_reader() {
        let mut out = XmlOut::with_capacity(64);
        out.leaf("v", "a&b<c>d\re\u{1}");
        let doc = String::from_utf8(out.into_bytes()).unwrap();
        assert_eq!(doc, "<v>a&amp;b&lt;c&gt;d&#13;e\u{fffd}</v>");
        let mut xin = XmlIn::new(doc.as_bytes());
        let root = xin.root().unwrap();
        assert_eq!(xin.text(&root).unwrap(), "a&b<c>d\re\u{fffd}");
    }

    #[test]
    fn text_passes_unescaped_only_when_no_character_needs_it() {
        let escaped = |c: &char| matches!(c, '&' | '<' | '>' | '\r') || is_forbidden(*c);
        for c in (0..=0x10FFFF).filter_map(char::from_u32).filter(escaped) {
            let text = format!("a{c}b");
            assert!(may_need_escaping(&text), "U+{:04X} passed", u32::from(c));
        }
        assert!(!may_need_escaping("1:10001 Simulation Way, Oakland\tCA\n"));
        let mut out = XmlOut::with_capacity(16);
        out.leaf("v", "\u{fffe}\u{fff0}");
        assert_eq!(out.into_bytes(), "<v>\u{fffd}\u{fff0}</v>".as_bytes());
    }
}
