//! The plain path of the reader: markup in its plainest form, read straight from the input.
//!
//! `<name>`, `<name/>`, `</name>` and text holding no `<`, `&` or carriage return are most of
//! every ChargePoint answer, and reading them needs no parser state: a name of ASCII letters,
//! digits and `_ - . :` followed by `>` means exactly one thing. Each function here recognises
//! one such form at the start of the input and says how many bytes it spans, or returns
//! `None` for anything else (attributes, spaces inside a tag, comments, CDATA, references,
//! other characters in a name), which the caller then leaves to quick-xml. So these functions
//! only ever accept a subset of what quick-xml accepts, and read it the way quick-xml would.

/// Input that starts between two pieces of markup.
#[derive(Clone, Copy)]
pub(super) struct Input<'a>(&'a str);

/// A start tag read by [`Input::start_tag`].
pub(super) struct StartTag<'a> {
    /// Bytes from the start of the input to just after the `>`.
    pub(super) len: usize,
    pub(super) name: &'a str,
    /// `<name/>`: nothing inside, nothing to close.
    pub(super) empty: bool,
}

impl<'a> Input<'a> {
    pub(super) fn new(input: &'a str) -> Self {
        Input(input)
    }

    /// `<name>` or `<name/>`, after whitespace (which between elements means nothing).
    pub(super) fn start_tag(self) -> Option<StartTag<'a>> {
        let space = leading_space(self.0);
        let tag = self.0.get(space..)?.strip_prefix('<')?;
        let close = tag.bytes().position(|b| !NAME_BYTES[usize::from(b)])?;
        let (empty, after) = match tag.as_bytes().get(close..)? {
            [b'>', ..] => (false, close + 1),
            [b'/', b'>', ..] => (true, close + 2),
            _ => return None,
        };
        // quick-xml reads `<!`, `</` and `<?` as other markup; none is a name byte, but an
        // empty name would still be a start tag to it (`<>`), and an error to this reader.
        if close == 0 {
            return None;
        }
        Some(StartTag {
            len: space + 1 + after,
            name: tag.get(..close)?,
            empty,
        })
    }

    /// `</name>` for exactly this `name`, after whitespace: how many bytes it spans. Only for
    /// a plain name: quick-xml reads an end tag whose name holds a quote or other markup
    /// differently (a quote opens a quoted section running to the next one).
    pub(super) fn end_tag(self, name: &str) -> Option<usize> {
        if !name.bytes().all(|b| NAME_BYTES[usize::from(b)]) {
            return None;
        }
        let space = leading_space(self.0);
        let tag = self.0.get(space..)?.strip_prefix("</")?;
        let rest = tag.strip_prefix(name)?.strip_prefix('>')?;
        Some(self.0.len() - rest.len())
    }

    /// Text up to the next `</`, when it holds nothing an XML parser would change: no
    /// reference, no carriage return (line ends are normalised) and no other markup.
    pub(super) fn text(self) -> Option<&'a str> {
        let end = memchr::memchr3(b'<', b'&', b'\r', self.0.as_bytes())?;
        let text = self.0.get(..end)?;
        self.0.get(end..)?.starts_with("</").then_some(text)
    }

    /// The input after its first `len` bytes.
    pub(super) fn after(self, len: usize) -> Option<Input<'a>> {
        self.0.get(len..).map(Input)
    }
}

/// Bytes of XML whitespace at the start of `s`: none, in a compact document.
fn leading_space(s: &str) -> usize {
    match s.as_bytes().first() {
        Some(b'<') => 0,
        _ => s
            .bytes()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(s.len()),
    }
}

/// The bytes of a plain name, ASCII letters, digits and `_ - . :`: every one is also a name
/// byte to quick-xml, and none ends a tag or starts other markup. A table, because every
/// byte of every tag name is looked up.
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_tags_are_plain_only_without_attributes_or_spaces() {
        let tag = Input::new("\n  <ns1:Port>x").start_tag().unwrap();
        assert_eq!((tag.len, tag.name, tag.empty), (13, "ns1:Port", false));
        let tag = Input::new("<Power/>").start_tag().unwrap();
        assert_eq!((tag.len, tag.name, tag.empty), (8, "Power", true));
        for other in [
            "<Port a=\"1\">",
            "<Port >",
            "<Port/ >",
            "<>",
            "</Port>",
            "<!-- c -->",
            "<?pi?>",
            "<Pört>",
            "text<Port>",
            "<Port",
        ] {
            assert!(Input::new(other).start_tag().is_none(), "{other}");
        }
    }

    #[test]
    fn end_tags_match_the_whole_name() {
        assert_eq!(Input::new(" </Port>x").end_tag("Port"), Some(8));
        assert_eq!(Input::new("</Port >").end_tag("Port"), None);
        assert_eq!(Input::new("</Ports>").end_tag("Port"), None);
        assert_eq!(Input::new("</ns1:Port>").end_tag("Port"), None);
        assert_eq!(Input::new("</a'b>x'>").end_tag("a'b"), None);
    }

    #[test]
    fn text_is_plain_only_up_to_an_end_tag() {
        assert_eq!(Input::new("1:30000</stationID>").text(), Some("1:30000"));
        assert_eq!(Input::new("</stationID>").text(), Some(""));
        assert_eq!(Input::new(" a ö</b>").text(), Some(" a ö"));
        for other in [
            "a&amp;b</b>",
            "a\r\nb</b>",
            "a<c/></b>",
            "a<!-- c --></b>",
            "a",
        ] {
            assert_eq!(Input::new(other).text(), None, "{other}");
        }
    }
}
