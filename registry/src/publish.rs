//! VOLTTRON's scrape-all message for `devices/<campus>/<building>/<unit>/all`:
//! `[{point: value, ...}, {point: {type, units, tz}, ...}]`.

use std::collections::BTreeMap;

use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

use crate::point::{PointMeta, PointValue};
use crate::registry::PointDef;
use crate::snapshot::StationSnapshot;

/// The two maps of a scrape-all publish. Serialises as VOLTTRON's two-element list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AllMessage {
    pub values: BTreeMap<String, PointValue>,
    pub meta: BTreeMap<String, PointMeta>,
}

impl AllMessage {
    /// Builds the message for `points`, asking `value` for each; points whose value is `None`
    /// (data not fetched yet) are left out of both maps.
    pub fn build<'a>(
        points: impl IntoIterator<Item = &'a PointDef>,
        tz: &str,
        mut value: impl FnMut(&PointDef) -> Option<PointValue>,
    ) -> AllMessage {
        let mut message = AllMessage::default();
        for p in points {
            if let Some(v) = value(p) {
                message.values.insert(p.name.clone(), v);
                message.meta.insert(p.name.clone(), p.meta(tz));
            }
        }
        message
    }

    /// The message for `points` read from a station's `snapshot`.
    pub fn from_snapshot<'a>(
        points: impl IntoIterator<Item = &'a PointDef>,
        tz: &str,
        snapshot: &StationSnapshot,
    ) -> AllMessage {
        AllMessage::build(points, tz, |p| p.read(snapshot))
    }
}

impl Serialize for AllMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.values)?;
        t.serialize_element(&self.meta)?;
        t.end()
    }
}

impl PointDef {
    /// The point's VOLTTRON meta; `tz` is the device's timezone (may be empty).
    pub fn meta(&self, tz: &str) -> PointMeta {
        PointMeta {
            value_type: self.value_type.name().to_string(),
            units: self.units.clone(),
            tz: tz.to_string(),
        }
    }

    /// The point's value in `snapshot`, in the point's declared type; `None` = not fetched, or
    /// the service sent a number that cannot be true ([`StationSnapshot::refused`]).
    pub fn read(&self, snapshot: &StationSnapshot) -> Option<PointValue> {
        if snapshot.refused(self.attribute, self.port).is_some() {
            return None;
        }
        snapshot
            .value(self.attribute, self.port)
            .map(|v| v.into_type(self.value_type))
    }
}
