//! JSON request bodies of the write endpoints, shared by the server and the CLI client.
//!
//! `PUT …/points/{point}` takes `{"value": …}`; `PUT …/points` takes `{"points": {name: value}}`.
//! The order of a multi-point write matters (`allowedLoad` before `shedState` sheds with the new
//! limit), and a JSON object read into a map would sort it, so [`PointWrites`] keeps the order
//! in which the names appear in the document.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// `{"value": …}`: one point's new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueBody {
    pub(crate) value: Value,
}

/// `{"points": {name: value, …}}`: several points written in document order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PointsBody {
    pub(crate) points: PointWrites,
}

/// Point writes in the order they were given.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PointWrites(pub(crate) Vec<(String, Value)>);

impl From<Vec<(String, Value)>> for PointWrites {
    fn from(writes: Vec<(String, Value)>) -> Self {
        PointWrites(writes)
    }
}

impl PointWrites {
    pub(crate) fn into_body(self) -> PointsBody {
        PointsBody { points: self }
    }
}

impl Serialize for PointWrites {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (point, value) in &self.0 {
            map.serialize_entry(point, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PointWrites {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;

        impl<'de> Visitor<'de> for InOrder {
            type Value = PointWrites;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of point names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PointWrites, A::Error> {
                let mut writes = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((point, value)) = map.next_entry::<String, Value>()? {
                    writes.push((point, value));
                }
                Ok(PointWrites(writes))
            }
        }

        deserializer.deserialize_map(InOrder)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn point_writes_keep_document_order_both_ways() {
        let text = r#"{"points":{"shedState":1,"allowedLoad":3.5}}"#;
        let body: PointsBody = serde_json::from_str(text).unwrap();
        assert_eq!(
            body.points.0,
            vec![
                ("shedState".to_string(), json!(1)),
                ("allowedLoad".to_string(), json!(3.5))
            ]
        );
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
    }
}
