//! Why a document could not be read: not XML at all, or XML that is not the message expected.

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

/// A quick-xml error at byte `at` of the document.
pub(super) fn syntax_error(at: u64, e: quick_xml::Error) -> XmlError {
    XmlError::Syntax(format!("not well-formed XML at byte {at}: {e}"))
}
