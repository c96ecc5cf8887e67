//! Streaming XML primitives for the SOAP codec: a pull reader over a borrowed document and a
//! string writer. No DOM, no DTD, no entity expansion beyond XML's five predefined entities and
//! character references.
//!
//! The reader matches elements by local name only (any prefix, any namespace declaration), skips
//! whitespace, comments and unknown elements, and trims text values. It tracks nesting itself so a
//! document cut short anywhere is an error rather than a silently shorter answer.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use quick_xml::errors::IllFormedError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

mod plain;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XmlError {
    /// Not well-formed XML, cut short, too large, or using a DTD or entity: not a message at all.
    Syntax(String),
    /// Well-formed, but not the shape or the values the message needs.
    Content(String),
}

impl XmlError {
    pub(crate) fn content(detail: impl Into<String>) -> Self {
        XmlError::Content(detail.into())
    }

    pub(crate) fn missing(element: &str, parent: &str) -> Self {
        XmlError::Content(format!("<{parent}> has no <{element}>"))
    }

    pub(crate) fn detail(&self) -> &str {
        match self {
            XmlError::Syntax(d) | XmlError::Content(d) => d,
        }
    }
}

/// The deepest nesting read. ChargePoint's messages nest about 8 levels (envelope, body,
/// answer, list, entry, port, value).
const MAX_DEPTH: usize = 64;

const TRUNCATED: &str = "document ends before its elements are closed (truncated?)";

/// An element start the reader stopped at; pass it back to [`XmlIn::text`] or [`XmlIn::skip`].
pub(crate) struct Element<'a> {
    start: BytesStart<'a>,
    empty: bool,
}

impl<'a> Element<'a> {
    /// The element's name without its prefix.
    pub(crate) fn local(&self) -> &str {
        let full = self.start.name().0;
        // Prefixes are short and names hold at most one colon: a forward byte scan beats
        // `rfind`'s general search on this hot path.
        match full.bytes().position(|b| b == b':') {
            Some(i) => &full[i + 1..],
            None => full,
        }
    }

    /// True for `<name/>`: nothing inside, nothing to close.
    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }
}

/// A pull reader over one document held in memory.
///
/// quick-xml reads the document, with one exception that carries most of every answer: markup
/// in its plainest form, `<name>`, `plain text` and `</name>` with no attribute, space,
/// reference, comment or CDATA, is read by [`plain`] straight from the input quick-xml has yet
/// to read, and quick-xml continues after it. Only ever where quick-xml stands between two
/// pieces of markup, so the two never disagree about where it is; anything [`plain`] does not
/// take whole is left to quick-xml. End tags are matched against `open` here for both.
pub(crate) struct XmlIn<'a> {
    reader: Reader<&'a [u8]>,
    /// The elements entered and not yet closed (the root counts once `root` returns it).
    open: Vec<Cow<'a, str>>,
    /// Bytes read by the plain path behind quick-xml's back; quick-xml's own offsets leave
    /// them out, so error positions add them back.
    skipped: u64,
    /// The document as text when it is all valid UTF-8 (checked once, in bulk, far cheaper
    /// per byte than quick-xml's check of every event): the plain path slices names and text
    /// from it. `None` leaves everything, and every error, to quick-xml.
    text: Option<&'a str>,
    /// Whether quick-xml's next read starts between two pieces of markup, the only place the
    /// plain path may read: after a text or reference event quick-xml may be partway through
    /// text (at a `&` it has yet to read as a reference), and after an error anywhere.
    between_markup: bool,
    /// Off only in tests, which compare the two paths on the same documents.
    plain_path: bool,
}

impl<'a> XmlIn<'a> {
    /// A reader over `document`.
    pub(crate) fn new(document: &'a [u8]) -> Self {
        let document = document.strip_prefix(b"\xef\xbb\xbf").unwrap_or(document);
        let mut reader = Reader::from_reader(document);
        let config = reader.config_mut();
        config.trim_text(false);
        // End tags are checked here, against `open`: quick-xml never sees the tags the plain
        // path reads, so its own list of open names goes out of step and must not be used.
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.expand_empty_elements = false;
        XmlIn {
            reader,
            open: Vec::with_capacity(8),
            skipped: 0,
            text: std::str::from_utf8(document).ok(),
            between_markup: false,
            plain_path: true,
        }
    }

    /// The next event from quick-xml, with the open elements kept up to date and every end
    /// tag checked against the start tag it closes.
    fn next(&mut self) -> Result<Event<'a>, XmlError> {
        let before = self.position();
        let event = self.reader.read_event();
        // After an error quick-xml may stand anywhere: the plain path stays off.
        self.between_markup = matches!(
            event,
            Ok(ref e) if !matches!(e, Event::Text(_) | Event::GeneralRef(_))
        );
        match event {
            Ok(Event::Start(start)) => {
                self.enter(Cow::Owned(start.name().0.to_string()))?;
                Ok(Event::Start(start))
            }
            Ok(Event::End(end)) => {
                // quick-xml reads text up to a `<`, never past it: `before` is at the `<`.
                self.close(end.name().0, before)?;
                Ok(Event::End(end))
            }
            Ok(Event::DocType(_)) => Err(XmlError::Syntax(
                "DOCTYPE is not allowed (no DTDs or entity definitions)".into(),
            )),
            Ok(event) => Ok(event),
            Err(e) => Err(syntax_error(self.reader.error_position() + self.skipped, e)),
        }
    }

    /// Opens an element. A document nested deeper than any ChargePoint message is refused
    /// rather than held open level by level.
    #[inline]
    fn enter(&mut self, name: Cow<'a, str>) -> Result<(), XmlError> {
        if self.open.len() >= MAX_DEPTH {
            return Err(self.too_deep());
        }
        self.open.push(name);
        Ok(())
    }

    #[cold]
    fn too_deep(&self) -> XmlError {
        XmlError::Syntax(format!(
            "elements nested more than {MAX_DEPTH} deep, at byte {}",
            self.position()
        ))
    }

    /// Closes the innermost open element, which must be `name`; `at` is the end tag's offset.
    fn close(&mut self, name: &str, at: u64) -> Result<(), XmlError> {
        match self.open.pop() {
            Some(open) if open == name => Ok(()),
            Some(open) => Err(syntax_error(
                at,
                quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag {
                    expected: open.into_owned(),
                    found: name.to_string(),
                }),
            )),
            None => Err(syntax_error(
                at,
                quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name.to_string())),
            )),
        }
    }

    /// The reader's offset in the document, bytes read behind quick-xml's back included.
    fn position(&self) -> u64 {
        self.reader.buffer_position() + self.skipped
    }

    /// The input quick-xml has yet to read, with the document's text for it, when the plain
    /// path may read there.
    fn plain_input(&self) -> Option<plain::Input<'a>> {
        if !(self.plain_path && self.between_markup) {
            return None;
        }
        let rest: &'a [u8] = self.reader.get_ref();
        let doc = self.text?;
        // `rest` is a tail of `doc`, starting where quick-xml stands between two pieces of
        // markup: a character boundary.
        Some(plain::Input::new(doc.get(doc.len() - rest.len()..)?))
    }

    /// Moves quick-xml's input past `len` bytes the plain path has read.
    fn advance(&mut self, len: usize) {
        let rest: &'a [u8] = self.reader.get_ref();
        debug_assert!(len <= rest.len(), "the plain path read past the input");
        if let Some(after) = rest.get(len..) {
            *self.reader.get_mut() = after;
            self.skipped += len as u64;
        }
    }

    /// The document's root element, after the XML declaration, comments and whitespace.
    pub(crate) fn root(&mut self) -> Result<Element<'a>, XmlError> {
        loop {
            match self.next()? {
                Event::Start(start) => {
                    return Ok(Element {
                        start,
                        empty: false,
                    })
                }
                Event::Empty(start) => return Ok(Element { start, empty: true }),
                Event::Eof => return Err(XmlError::Syntax("empty document".into())),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                _ => return Err(XmlError::Syntax("text before the root element".into())),
            }
        }
    }

    /// The next child element of the element most recently entered, or `None` once that element
    /// closes. Text between elements, comments and processing instructions are skipped. A child
    /// that is returned is entered: read it with [`Self::text`], [`Self::children_of`]-style loops
    /// or leave it with [`Self::skip`].
    pub(crate) fn child(&mut self) -> Result<Option<Element<'a>>, XmlError> {
        if let Some(input) = self.plain_input() {
            if let Some(tag) = input.start_tag() {
                self.advance(tag.len);
                if !tag.empty {
                    self.enter(Cow::Borrowed(tag.name))?;
                }
                return Ok(Some(Element {
                    start: BytesStart::from_content(tag.name, tag.name.len()),
                    empty: tag.empty,
                }));
            }
            if let Some(len) = self.open.last().and_then(|open| input.end_tag(open)) {
                self.advance(len);
                self.open.pop();
                return Ok(None);
            }
        }
        loop {
            match self.next()? {
                Event::Start(start) => {
                    return Ok(Some(Element {
                        start,
                        empty: false,
                    }))
                }
                Event::Empty(start) => return Ok(Some(Element { start, empty: true })),
                Event::End(_) => return Ok(None),
                Event::Eof => return Err(XmlError::Syntax(TRUNCATED.into())),
                Event::GeneralRef(r) => {
                    resolve_reference(&r)?;
                }
                _ => {}
            }
        }
    }

    /// Calls `each` for every child of `element` until it closes. For an empty element it
    /// returns at once.
    pub(crate) fn children(
        &mut self,
        element: &Element<'a>,
        mut each: impl FnMut(&mut Self, Element<'a>) -> Result<(), XmlError>,
    ) -> Result<(), XmlError> {
        if element.empty {
            return Ok(());
        }
        while let Some(child) = self.child()? {
            each(self, child)?;
        }
        Ok(())
    }

    /// The trimmed text content of `element`, which must hold no child elements. Borrows from the
    /// document unless an entity, CDATA section or line-end normalisation forces a copy.
    pub(crate) fn text(&mut self, element: &Element<'a>) -> Result<Cow<'a, str>, XmlError> {
        if element.empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut first = None;
        if let Some(input) = self.plain_input() {
            if let Some(text) = input.text() {
                let end = input.after(text.len()).zip(self.open.last());
                match end.and_then(|(input, open)| input.end_tag(open)) {
                    Some(len) => {
                        self.advance(text.len() + len);
                        self.open.pop();
                        return Ok(Cow::Borrowed(trim(text)));
                    }
                    // Not this element's plain end tag: quick-xml reads it, and says why.
                    None => {
                        self.advance(text.len());
                        first = Some(Cow::Borrowed(text));
                    }
                }
            }
        }
        let mut acc: Option<String> = None;
        loop {
            let piece: Cow<'a, str> = match self.next()? {
                Event::Text(t) => t.xml10_content(),
                Event::CData(c) => c.xml10_content(),
                Event::GeneralRef(r) => Cow::Owned(resolve_reference(&r)?.to_string()),
                Event::End(_) => {
                    let text = match (acc, first) {
                        (Some(s), _) => Cow::Owned(s),
                        (None, Some(f)) => f,
                        (None, None) => Cow::Borrowed(""),
                    };
                    return Ok(trim_cow(text));
                }
                Event::Start(child) | Event::Empty(child) => {
                    let inner = Element {
                        start: child,
                        empty: true,
                    };
                    return Err(XmlError::content(format!(
                        "<{}> holds an element <{}> where text was expected",
                        element.local(),
                        inner.local()
                    )));
                }
                Event::Eof => return Err(XmlError::Syntax(TRUNCATED.into())),
                _ => continue,
            };
            if let Some(s) = acc.as_mut() {
                s.push_str(&piece);
            } else if let Some(f) = first.take() {
                let mut s = f.into_owned();
                s.push_str(&piece);
                acc = Some(s);
            } else {
                first = Some(piece);
            }
        }
    }

    /// The text of `element` as an owned string, `None` when it is empty.
    pub(crate) fn opt_string(&mut self, element: &Element<'a>) -> Result<Option<String>, XmlError> {
        let text = self.text(element)?;
        Ok((!text.is_empty()).then(|| text.into_owned()))
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

    /// Skips `element` and everything inside it.
    pub(crate) fn skip(&mut self, element: &Element<'a>) -> Result<(), XmlError> {
        if element.empty {
            return Ok(());
        }
        // `element` is the innermost open element: done once it is closed.
        let outside = self.open.len().saturating_sub(1);
        while self.open.len() > outside {
            match self.next()? {
                Event::GeneralRef(r) => {
                    resolve_reference(&r)?;
                }
                Event::Eof => return Err(XmlError::Syntax(TRUNCATED.into())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Skips what is left of every open element and checks that nothing but whitespace,
    /// comments and processing instructions follow the root: a complete document.
    pub(crate) fn finish(&mut self) -> Result<(), XmlError> {
        while !self.open.is_empty() {
            if let Some(child) = self.child()? {
                self.skip(&child)?;
            }
        }
        loop {
            match self.next()? {
                Event::Eof => return Ok(()),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => {
                    return Err(XmlError::Syntax(
                        "content after the end of the root element".into(),
                    ))
                }
            }
        }
    }
}

fn syntax_error(at: u64, e: quick_xml::Error) -> XmlError {
    XmlError::Syntax(format!("not well-formed XML at byte {at}: {e}"))
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    match full {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => "an integer",
        "f32" | "f64" => "a number",
        _ => "the expected type",
    }
}

/// The character an entity or character reference stands for. Only XML's predefined entities
/// are known: there is no DTD to define others, and we never expand any.
fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => return Ok(c),
        Ok(None) => {}
        Err(e) => return Err(XmlError::Syntax(format!("bad character reference: {e}"))),
    }
    match &**r {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(XmlError::Syntax(format!(
            "entity reference &{other}; is not allowed (entities are never expanded)"
        ))),
    }
}

fn trim_cow(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(trim(s)),
        Cow::Owned(s) => {
            let trimmed = s.trim();
            if trimmed.len() == s.len() {
                Cow::Owned(s)
            } else {
                Cow::Owned(trimmed.to_string())
            }
        }
    }
}

/// `str::trim`, skipping its Unicode scan in the usual case: values that start and end with a
/// visible ASCII character (any Unicode space would start with a byte >= 0x80).
fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// Reads an xsd:double, including its spellings of infinity.
pub(crate) fn parse_double(text: &str) -> Option<f64> {
    match text {
        "INF" | "+INF" => Some(f64::INFINITY),
        "-INF" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// Reads an xsd:dateTime: with or without fractional seconds, `Z` or an offset; a time without
/// a zone is taken as UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
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
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

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
pub(crate) fn escape_into(out: &mut String, text: &str) {
    let needs = |c: char| matches!(c, '&' | '<' | '>' | '\r') || is_forbidden(c);
    if !text.contains(needs) {
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

/// Characters outside XML 1.0's `Char` production.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<'a> XmlIn<'a> {
        /// A reader that leaves everything to quick-xml: the reference the plain path is held to.
        fn quick_xml_only(document: &'a [u8]) -> Self {
            XmlIn {
                plain_path: false,
                ..XmlIn::new(document)
            }
        }
    }

    /// Every leaf of `doc` as `path = text`, reading the elements named in `leaves` as text
    /// and every other element as a container, the way the operation readers do.
    fn walk(mut xin: XmlIn<'_>, leaves: &[&str]) -> Result<Vec<String>, XmlError> {
        fn element<'a>(
            xin: &mut XmlIn<'a>,
            el: Element<'a>,
            path: &str,
            leaves: &[&str],
            out: &mut Vec<String>,
        ) -> Result<(), XmlError> {
            let path = format!("{path}/{}", el.local());
            if leaves.contains(&el.local()) {
                out.push(format!("{path} = {}", xin.text(&el)?));
                return Ok(());
            }
            xin.children(&el, |xin, child| element(xin, child, &path, leaves, out))
        }
        let mut out = Vec::new();
        let root = xin.root()?;
        element(&mut xin, root, "", leaves, &mut out)?;
        xin.finish()?;
        Ok(out)
    }

    fn values(doc: &str) -> Result<Vec<(String, String)>, XmlError> {
        let mut xin = XmlIn::new(doc.as_bytes());
        let root = xin.root()?;
        let mut out = Vec::new();
        xin.children(&root, |xin, el| {
            let name = el.local().to_string();
            out.push((name, xin.text(&el)?.into_owned()));
            Ok(())
        })?;
        xin.finish()?;
        Ok(out)
    }

    #[test]
    fn text_is_unescaped_trimmed_and_matched_by_local_name() {
        let got = values("<?xml version=\"1.0\"?>\n<a:r xmlns:a=\"x\"> <b> x &amp; &lt;y&gt; &#65; </b><c/><a:d><![CDATA[<z>]]></a:d></a:r>")
            .unwrap();
        assert_eq!(
            got,
            vec![
                ("b".to_string(), "x & <y> A".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "<z>".to_string()),
            ]
        );
    }

    #[test]
    fn doctype_and_unknown_entities_are_refused() {
        let doc = "<!DOCTYPE r [<!ENTITY e \"boom\">]><r><b>&e;</b></r>";
        assert_eq!(
            values(doc),
            Err(XmlError::Syntax(
                "DOCTYPE is not allowed (no DTDs or entity definitions)".into()
            ))
        );
        assert_eq!(
            values("<r><b>&e;</b></r>"),
            Err(XmlError::Syntax(
                "entity reference &e; is not allowed (entities are never expanded)".into()
            ))
        );
    }

    #[test]
    fn mismatched_end_tag_after_plain_text_is_refused_at_its_byte() {
        assert_eq!(
            values("<r><b>plain</c></r>"),
            Err(XmlError::Syntax(
                "not well-formed XML at byte 11: ill-formed document: expected `</b>`, but `</c>` was found".into()
            ))
        );
    }

    #[test]
    fn text_keeps_inner_and_unicode_spaces_but_trims_the_ends() {
        assert_eq!(
            values("<r><b>\u{a0}a b\u{2003}</b><c>\tx\n</c><d>y</d></r>").unwrap(),
            vec![
                ("b".to_string(), "a b".to_string()),
                ("c".to_string(), "x".to_string()),
                ("d".to_string(), "y".to_string()),
            ]
        );
    }

    #[test]
    fn nesting_deeper_than_any_message_is_refused() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let read = |doc: &str| walk(XmlIn::new(doc.as_bytes()), &[]);
        assert!(read(&nested(MAX_DEPTH)).is_ok());
        for doc in [nested(MAX_DEPTH + 1), "<a x=\"1\">".repeat(MAX_DEPTH + 1)] {
            let Err(XmlError::Syntax(detail)) = read(&doc) else {
                panic!("accepted {doc}");
            };
            assert!(
                detail.starts_with("elements nested more than 64 deep"),
                "{detail}"
            );
        }
    }

    #[test]
    fn truncated_document_is_an_error() {
        assert_eq!(
            values("<r><b>1</b>"),
            Err(XmlError::Syntax(TRUNCATED.into()))
        );
        assert!(matches!(
            values("<r><b>1</b></r><x/>"),
            Err(XmlError::Syntax(_))
        ));
    }

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

    /// The plain path reads every document exactly as quick-xml alone does: the same values
    /// from good documents, and the same error, at the same byte, from broken ones. Checked
    /// on a status answer in both layouts and on every cut and one-byte edit of them.
    #[test]
    fn plain_path_reads_every_document_as_quick_xml_does() {
        let leaves = [
            "responseCode",
            "responseText",
            "stationID",
            "portNumber",
            "Status",
            "TimeStamp",
            "Connector",
            "Power",
            "moreFlag",
        ];
        let compact = concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"s\"><soap:Body>",
            "<ns1:getStationStatusResponse xmlns:ns1=\"n\"><responseCode>100</responseCode>",
            "<responseText>API input request executed successfully.</responseText>",
            "<stationData><stationID>1:30000</stationID><Port><portNumber>1</portNumber>",
            "<Status>AVAILABLE</Status><TimeStamp>2016-11-07T19:19:19Z</TimeStamp>",
            "<Connector>J1772</Connector><Power>6.6</Power></Port><Port><portNumber>2</portNumber>",
            "<Status>INUSE</Status><Connector/><Power>a &amp; b</Power></Port></stationData>",
            "<stationData><stationID> 1:30001 </stationID><!-- c --><Port x=\"1\"><portNumber>1",
            "</portNumber><Status><![CDATA[UNREACHABLE]]></Status></Port></stationData>",
            "<moreFlag>0</moreFlag></ns1:getStationStatusResponse></soap:Body></soap:Envelope>",
        );
        let pretty = compact.replace("><", ">\n  <");
        let edits = [
            b'<', b'>', b'/', b' ', b'&', b'\r', b'\n', b'x', b':', b'"', 0xc3,
        ];
        let mut checked = 0;
        for doc in [compact.as_bytes(), pretty.as_bytes()] {
            let mut variants = vec![doc.to_vec()];
            for i in 0..doc.len() {
                variants.push(doc[..i].to_vec());
                variants.push([&doc[..i], &doc[i + 1..]].concat());
                for &b in &edits {
                    variants.push([&doc[..i], &[b], &doc[i..]].concat());
                    variants.push([&doc[..i], &[b], &doc[i + 1..]].concat());
                }
            }
            for variant in &variants {
                let plain = walk(XmlIn::new(variant), &leaves);
                let reference = walk(XmlIn::quick_xml_only(variant), &leaves);
                assert_eq!(
                    plain,
                    reference,
                    "document: {}",
                    String::from_utf8_lossy(variant)
                );
                checked += 1;
            }
        }
        assert!(checked > 20_000);
        let good = walk(XmlIn::new(compact.as_bytes()), &leaves).unwrap();
        assert_eq!(good.len(), 16);
        assert_eq!(
            good[11],
            "/Envelope/Body/getStationStatusResponse/stationData/Port/Power = a & b"
        );
    }

    /// The first error quick-xml reports on its own, checking end tags itself, worded as
    /// [`XmlIn`] words it.
    fn quick_xml_first_error(doc: &str) -> Option<String> {
        let mut reader = Reader::from_str(doc);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => return None,
                Ok(_) => {}
                Err(e) => return Some(syntax_error(reader.error_position(), e).detail().into()),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

        /// The same on documents of any shape: random runs of plain and not-so-plain markup,
        /// nested or not, closed or not, after zero, one or two byte order marks. And where
        /// the reader refuses an end tag, quick-xml checking end tags itself refuses the same
        /// one, at the same byte.
        #[test]
        fn plain_path_reads_any_markup_as_quick_xml_does(
            boms in 0..3usize,
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "<a>", "</a>", "<b>", "</b>", "<p:a>", "</p:a>", "<b/>", "<a x=\"1\">", "<a >",
                "</a >", "<>", "</>", "x", " 1:2 ", "\n  ", "\r\n", "&amp;", "&#65;", "&bad;", "&",
                "<!-- c -->", "<![CDATA[<z>]]>", "<?pi?>", "ö", "<", ">", "/", "<a/ >", "<a'b c'>",
                "</a'b>", "'", "\"", "<a\tx='>'>", "</a\t>", "\u{feff}",
            ]), 0..40)
        ) {
            let doc = format!("{}<r>{}</r>", "\u{feff}".repeat(boms), pieces.concat());
            let leaves = ["b"];
            let read = walk(XmlIn::new(doc.as_bytes()), &leaves);
            proptest::prop_assert_eq!(
                &read,
                &walk(XmlIn::quick_xml_only(doc.as_bytes()), &leaves),
                "document: {}", doc
            );
            if let Err(XmlError::Syntax(detail)) = &read {
                if boms == 0 && (detail.contains("close tag") || detail.contains("expected `</")) {
                    proptest::prop_assert_eq!(
                        Some(detail.clone()),
                        quick_xml_first_error(&doc),
                        "document: {}", doc
                    );
                }
            }
        }
    }

    #[test]
    fn an_end_tag_after_two_byte_order_marks_is_refused_without_a_panic() {
        let doc = b"\xEF\xBB\xBF\xEF\xBB\xBF</a>";
        assert!(matches!(
            walk(XmlIn::new(doc), &[]),
            Err(XmlError::Syntax(_))
        ));
    }
}
