//! The pull reader: walks one document held in memory element by element, keeping track of
//! the open elements so that a truncated or mismatched document is an error. Typed values are
//! read on top of it in `values`.

use std::borrow::Cow;
use std::collections::HashSet;

use cp_registry::Text;
use quick_xml::errors::IllFormedError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::error::syntax_error;
use super::error::XmlError;
use super::plain;

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
    /// The repeating text read so far (see [`XmlIn::opt_text`]): one allocation per distinct
    /// value in the document, however many records name it.
    pub(super) shared: HashSet<Text>,
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
            shared: HashSet::new(),
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

#[cfg(test)]
mod tests;
