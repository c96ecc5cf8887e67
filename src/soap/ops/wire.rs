//! Pieces every operation's reader and writer shares: the body element with its namespace,
//! `responseCode`/`responseText`, the `searchQuery` wrapper, and port numbers.

use cp_actors::ShedScope;
use cp_registry::{ApiMethod, PortNumber};

use super::Outcome;
use crate::soap::envelope::CP_NS;
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

/// Writes `<ns1:{method}>` (declaring `ns1` on the element itself, as ChargePoint's samples
/// do, so the body element stands alone) around `inner`.
pub(crate) fn request_body(out: &mut XmlOut, method: ApiMethod, inner: impl FnOnce(&mut XmlOut)) {
    qualified(out, method.name(), "", inner);
}

/// Writes `<ns1:{method}Response>` with `responseCode` and `responseText` first, then `inner`.
pub(crate) fn response_body(
    out: &mut XmlOut,
    method: ApiMethod,
    outcome: &Outcome,
    inner: impl FnOnce(&mut XmlOut),
) {
    qualified(out, method.name(), "Response", |out| {
        out.leaf("responseCode", &outcome.code)
            .leaf_opt("responseText", outcome.text.as_deref());
        inner(out);
    });
}

fn qualified(out: &mut XmlOut, name: &str, suffix: &str, inner: impl FnOnce(&mut XmlOut)) {
    out.raw("<ns1:")
        .raw(name)
        .raw(suffix)
        .raw(" xmlns:ns1=\"")
        .raw(CP_NS)
        .raw("\">");
    inner(out);
    out.raw("</ns1:").raw(name).raw(suffix).raw(">");
}

/// Collects `responseCode` and `responseText` while a response reader walks its children.
#[derive(Default)]
pub(crate) struct OutcomeReader {
    code: Option<String>,
    text: Option<String>,
}

impl OutcomeReader {
    /// Reads `el` if it is `responseCode` or `responseText`, otherwise skips it: every
    /// response reader sends the elements it does not know here.
    pub(crate) fn read_or_skip<'a>(
        &mut self,
        xin: &mut XmlIn<'a>,
        el: &Element<'a>,
    ) -> Result<(), XmlError> {
        match el.local() {
            "responseCode" => self.code = Some(xin.text(el)?.into_owned()),
            "responseText" => self.text = xin.opt_string(el)?,
            _ => xin.skip(el)?,
        }
        Ok(())
    }

    /// The outcome; `responseCode` is required in every response.
    pub(crate) fn finish(self, method: ApiMethod) -> Result<Outcome, XmlError> {
        match self.code {
            Some(code) if !code.is_empty() => Ok(Outcome {
                code,
                text: self.text,
            }),
            _ => Err(XmlError::content(format!(
                "<{}Response> has no responseCode",
                method.name()
            ))),
        }
    }
}

/// One page of a list answer as read: its outcome, its entries, and whether more follow.
pub(crate) struct Page<T> {
    pub(crate) outcome: Outcome,
    pub(crate) entries: Vec<T>,
    pub(crate) more: bool,
}

/// Reads a paged list response: every `entry` element goes through `read_entry` (which may
/// add several records, as a `rightsData` covering many stations does), the more-flag is read
/// in either spelling (getChargingSessionData's schema says `MoreFlag`, the others
/// `moreFlag`), and everything else goes to the outcome or is skipped.
pub(crate) fn read_page<'a, T>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
    method: ApiMethod,
    entry: &str,
    mut read_entry: impl FnMut(&mut XmlIn<'a>, &Element<'a>, &mut Vec<T>) -> Result<(), XmlError>,
) -> Result<Page<T>, XmlError> {
    let mut outcome = OutcomeReader::default();
    let mut entries = Vec::new();
    let mut more = false;
    xin.children(op, |xin, el| {
        match el.local() {
            name if name == entry => read_entry(xin, &el, &mut entries)?,
            "moreFlag" | "MoreFlag" => more = xin.flag(&el)?,
            _ => outcome.read_or_skip(xin, &el)?,
        }
        Ok(())
    })?;
    Ok(Page {
        outcome: outcome.finish(method)?,
        entries,
        more,
    })
}

/// Calls `each` for every child of the `wrapper` element (`searchQuery`, `shedQuery`) inside
/// the operation element `op`. The wrapper is required.
pub(crate) fn query_children<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
    wrapper: &str,
    mut each: impl FnMut(&mut XmlIn<'a>, Element<'a>) -> Result<(), XmlError>,
) -> Result<(), XmlError> {
    let mut found = false;
    xin.children(op, |xin, el| {
        if el.local() == wrapper && !found {
            found = true;
            xin.children(&el, &mut each)
        } else {
            xin.skip(&el)
        }
    })?;
    if found {
        Ok(())
    } else {
        Err(XmlError::missing(wrapper, op.local()))
    }
}

/// A `portNumber`, `None` when empty (alarms for a whole station leave it empty).
pub(crate) fn opt_port<'a>(
    xin: &mut XmlIn<'a>,
    el: &Element<'a>,
) -> Result<Option<PortNumber>, XmlError> {
    Ok(xin.opt_parse::<u16>(el)?.map(PortNumber))
}

/// Turns a missing required value into a content error naming the element and its parent.
pub(crate) fn required<T>(value: Option<T>, element: &str, parent: &str) -> Result<T, XmlError> {
    value.ok_or_else(|| XmlError::missing(element, parent))
}

/// The one scope (`shedGroup` or `shedStation`) a `shedQuery` must name.
pub(crate) fn one_scope(mut scopes: Vec<ShedScope>) -> Result<ShedScope, XmlError> {
    match scopes.len() {
        1 => Ok(scopes.remove(0)),
        0 => Err(XmlError::content(
            "shedQuery has no shedGroup or shedStation",
        )),
        _ => Err(XmlError::content(
            "shedQuery has both shedGroup and shedStation",
        )),
    }
}
