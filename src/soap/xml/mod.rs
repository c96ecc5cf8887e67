//! Streaming XML primitives for the SOAP codec: a pull reader over a borrowed document and a
//! string writer. No DOM, no DTD, no entity expansion beyond XML's five predefined entities and
//! character references.
//!
//! The reader matches elements by local name only (any prefix, any namespace declaration), skips
//! whitespace, comments and unknown elements, and trims text values. It tracks nesting itself so a
//! document cut short anywhere is an error rather than a silently shorter answer.
//!
//! - `reader`: [`XmlIn`], the pull reader, and [`Element`], the element starts it stops at.
//! - `plain`: the reader's fast path for markup in its plainest form.
//! - `values`: typed values read from an element's text (numbers, flags, xsd:dateTime) and
//!   the xsd spellings they share with the writer.
//! - `writer`: [`XmlOut`], the string writer, and its text escaping.
//! - `error`: [`XmlError`], why a document could not be read.

mod error;
mod plain;
mod reader;
mod values;
mod writer;

pub(crate) use error::XmlError;
pub(crate) use reader::{Element, XmlIn};
pub(crate) use writer::XmlOut;
