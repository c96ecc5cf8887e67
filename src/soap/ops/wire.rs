//! Pieces every operation's reader and writer shares: the body element with its namespace,
//! `responseCode`/`responseText`, the `searchQuery` wrapper, and port numbers.

use cp_actors::ShedScope;
use cp_registry::{ApiMethod, GroupId, PortNumber, RefusedValue, StationId};

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

/// A `shedGroup` (named by `sgID`) or `shedStation` (named by `stationID`) of a `shedQuery`:
/// its scope, with every other child handed to `other`. `None` for any other element, which
/// is left unread.
pub(crate) fn read_shed_target<'a>(
    xin: &mut XmlIn<'a>,
    el: &Element<'a>,
    mut other: impl FnMut(&mut XmlIn<'a>, Element<'a>) -> Result<(), XmlError>,
) -> Result<Option<ShedScope>, XmlError> {
    let (station, key) = match el.local() {
        "shedGroup" => (false, "sgID"),
        "shedStation" => (true, "stationID"),
        _ => return Ok(None),
    };
    let mut id: Option<String> = None;
    xin.children(el, |xin, child| {
        if child.local() == key {
            id = xin.opt_string(&child)?;
            Ok(())
        } else {
            other(xin, child)
        }
    })?;
    let id = required(id, key, el.local())?;
    let scope = if station {
        ShedScope::Station(StationId(id))
    } else {
        let group = id
            .parse()
            .map_err(|_| XmlError::content(format!("<sgID>: cannot read '{id}' as an integer")))?;
        ShedScope::Group(GroupId(group))
    };
    Ok(Some(scope))
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

/// The most power one port can draw or be allowed, in kW: the largest shed limit a user may set
/// ([`cp_actors::ShedLimit::MAX_ALLOWED_LOAD_KW`], the largest ChargePoint charger with a margin).
pub(crate) const MAX_PORT_KW: f64 = cp_actors::ShedLimit::MAX_ALLOWED_LOAD_KW;

/// The most power one station draws, in kW: ten ports at [`MAX_PORT_KW`].
pub(crate) const MAX_STATION_KW: f64 = 10.0 * MAX_PORT_KW;

/// The most energy one session delivers, in kWh: [`MAX_PORT_KW`] for ten hours.
pub(crate) const MAX_SESSION_KWH: f64 = 10.0 * MAX_PORT_KW;

/// The physical range of a port's power: 0 to [`MAX_PORT_KW`] kW.
pub(crate) const PORT_POWER: (f64, &str) = (MAX_PORT_KW, "kW");

/// The physical range of a station's power: 0 to [`MAX_STATION_KW`] kW.
pub(crate) const STATION_POWER: (f64, &str) = (MAX_STATION_KW, "kW");

/// The physical range of a session's energy: 0 to [`MAX_SESSION_KWH`] kWh.
pub(crate) const SESSION_ENERGY: (f64, &str) = (MAX_SESSION_KWH, "kWh");

/// The range of a shed percentage.
pub(crate) const PERCENT: (f64, &str) = (100.0, "%");

/// A number the service sent, if it is physically possible. NaN, infinities, negative power or
/// energy and values beyond the largest charger are refused here, where the answer becomes
/// records: the number is left out (`None`) and a [`RefusedValue`] naming the element, the value
/// and the range goes on `refused`, so neither the points nor the Prometheus gauges (both read
/// the records) ever see it, while the rest of the answer, other stations' included, stands.
pub(crate) fn physical(
    value: Option<f64>,
    element: &str,
    range: (f64, &str),
    refused: &mut Vec<RefusedValue>,
) -> Option<f64> {
    let (max, unit) = range;
    match value {
        Some(v) if !(0.0..=max).contains(&v) => {
            // 1e308 written out is 309 digits.
            let shown = if v.abs() >= 1e9 {
                format!("{v:e}")
            } else {
                v.to_string()
            };
            refused.push(RefusedValue {
                element: element.to_string(),
                port: None,
                reason: format!(
                    "<{element}> is {shown}, outside its physical range 0..={max} {unit}"
                ),
            });
            None
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target `doc`'s root names, with the names of the children handed on.
    fn target(doc: &str) -> Result<(Option<ShedScope>, Vec<String>), XmlError> {
        let mut xin = XmlIn::new(doc.as_bytes());
        let root = xin.root()?;
        let mut others = Vec::new();
        let scope = read_shed_target(&mut xin, &root, |xin, el| {
            others.push(el.local().to_string());
            xin.skip(&el)
        })?;
        Ok((scope, others))
    }

    #[test]
    fn shed_targets_are_read_by_their_id_and_hand_on_the_rest() {
        assert_eq!(
            target("<shedGroup><sgID> 39491 </sgID><Ports/></shedGroup>").unwrap(),
            (Some(ShedScope::Group(GroupId(39491))), vec!["Ports".into()])
        );
        assert_eq!(
            target("<shedStation><Ports/><stationID>1:1</stationID></shedStation>").unwrap(),
            (
                Some(ShedScope::Station(StationId::new("1:1"))),
                vec!["Ports".into()]
            )
        );
        assert_eq!(
            target("<timeInterval>5</timeInterval>").unwrap(),
            (None, vec![])
        );
        assert_eq!(
            target("<shedStation><stationID/></shedStation>").unwrap_err(),
            XmlError::content("<shedStation> has no <stationID>")
        );
        assert_eq!(
            target("<shedGroup><sgID>x</sgID></shedGroup>").unwrap_err(),
            XmlError::content("<sgID>: cannot read 'x' as an integer")
        );
    }
}
