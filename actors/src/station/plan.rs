//! What a write or a revert of a point means, decided before anything is sent: pure functions
//! of the registry's point, the value and what the station last read, tested without an actor.
//!
//! The spec's semantics: allowedLoad and percentShed store the port's intent (the port applies
//! it at once when shed), shedState 1 sheds with it and 0 clears, clearAlarms 1 clears the
//! station's alarms. A Load point with no `Port #` does the same for the whole station
//! ([`LoadScope::Station`]). A revert goes back to the point's Starting Value, else to its value
//! before the first write; a shed point reverts by clearing the shed.

use cp_registry::{Attribute, PointDef, PointValue, StationSnapshot};

use crate::api::LoadScope;
use crate::api::ShedLimit;
use crate::device::DeviceError;
use crate::port::PortWrite;

/// What one write does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteAction {
    /// A write the actor of the port (or of the station's Load points) runs.
    Load { scope: LoadScope, write: PortWrite },
    /// clearAlarms=1: the station's alarms.
    ClearAlarms,
    /// Accepted, nothing to send (clearAlarms=0, a revert with nothing to go back to).
    Nothing,
}

/// Checks a write of `raw` to `point` of `device` (writable, type, range) and says what it does.
pub(crate) fn plan_write(
    device: &str,
    point: &PointDef,
    raw: &serde_json::Value,
) -> Result<WriteAction, DeviceError> {
    let not_writable = || DeviceError::NotWritable {
        device: device.to_string(),
        point: point.name.clone(),
    };
    let bad_value = |expected: &str| DeviceError::BadValue {
        device: device.to_string(),
        point: point.name.clone(),
        expected: expected.to_string(),
        found: raw.to_string(),
    };
    if !point.writable || !point.attribute.is_writable() {
        return Err(not_writable());
    }
    let value = PointValue::coerce(point.value_type, raw).map_err(|e| DeviceError::BadValue {
        device: device.to_string(),
        point: point.name.clone(),
        expected: e.expected,
        found: e.found,
    })?;
    let flag = |expected: &str| match value {
        PointValue::Int(i @ (0 | 1)) => Ok(i == 1),
        PointValue::Bool(b) => Ok(b),
        _ => Err(bad_value(expected)),
    };
    let on_port = |write: PortWrite| {
        Ok(WriteAction::Load {
            scope: LoadScope::of(point.port),
            write,
        })
    };
    match point.attribute {
        Attribute::AllowedLoad => {
            let limit = value
                .as_f64()
                .and_then(|kw| ShedLimit::allowed_load(kw).ok())
                .ok_or_else(|| bad_value(ShedLimit::ALLOWED_LOAD_RANGE))?;
            on_port(PortWrite::Limit(limit))
        }
        Attribute::PercentShed => {
            let limit = match value {
                PointValue::Int(pct) => ShedLimit::percent_shed(pct).ok(),
                _ => None,
            }
            .ok_or_else(|| bad_value(ShedLimit::PERCENT_SHED_RANGE))?;
            on_port(PortWrite::Limit(limit))
        }
        Attribute::ShedState => on_port(if flag("0 or 1")? {
            PortWrite::Shed
        } else {
            PortWrite::ClearShed
        }),
        Attribute::ClearAlarms => Ok(if flag("0 or 1")? {
            WriteAction::ClearAlarms
        } else {
            WriteAction::Nothing
        }),
        _ => Err(not_writable()),
    }
}

/// What reverting `point` does, `original` being its value before the first write (if
/// written since start).
pub(crate) fn plan_revert(
    device: &str,
    point: &PointDef,
    original: Option<&PointValue>,
) -> Result<WriteAction, DeviceError> {
    if !point.writable || !point.attribute.is_writable() {
        return Err(DeviceError::NotWritable {
            device: device.to_string(),
            point: point.name.clone(),
        });
    }
    match point.attribute {
        Attribute::ShedState => plan_write(device, point, &serde_json::json!(0)),
        Attribute::AllowedLoad | Attribute::PercentShed => {
            let target = point
                .starting_value
                .as_ref()
                .or(original)
                .filter(|v| **v != PointValue::Null);
            match target {
                Some(v) => {
                    let raw = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
                    plan_write(device, point, &raw)
                }
                None => Ok(WriteAction::Load {
                    scope: LoadScope::of(point.port),
                    write: PortWrite::ClearIntent,
                }),
            }
        }
        _ => Ok(WriteAction::Nothing),
    }
}

/// A point's value before its first write: what a revert goes back to.
///
/// For allowedLoad and percentShed what matters is the limit that was in force, not the
/// register: getLoad reports 0 for both on a port that is not shed, and 0 for the one not in
/// use on a shed port. Taking those zeros as "the state before" would make a revert write a
/// 0 kW cap. So the original is the limit only when the port was shed by it, and nothing
/// (revert clears the intent) otherwise.
///
/// A station-level limit has no original: the station reads as the largest limit among its
/// shed ports, one port's share of a station-wide allowedLoad or a port's own limit, neither of
/// which is a station limit to go back to. Its revert forgets the station's intent.
pub(crate) fn original_value(point: &PointDef, snapshot: &StationSnapshot) -> PointValue {
    let value = match point.attribute {
        Attribute::AllowedLoad | Attribute::PercentShed => shed_by(point, snapshot),
        _ => point.read(snapshot),
    };
    value.unwrap_or(PointValue::Null)
}

/// The allowedLoad or percentShed `point` reads, if its port is shed by that kind of limit.
fn shed_by(point: &PointDef, snapshot: &StationSnapshot) -> Option<PointValue> {
    let port = point.port?;
    let load = snapshot.load.as_ref()?;
    let port_load = load.ports.iter().find(|p| p.port == port)?;
    let by_percent = port_load.percent_shed > 0;
    let in_force = port_load.shed_state
        && match point.attribute {
            Attribute::PercentShed => by_percent,
            _ => !by_percent,
        };
    in_force.then(|| point.read(snapshot)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cp_registry::{PortLoad, PortNumber, StationId, StationLoad, ValueType};
    use serde_json::json;

    fn point(name: &str, attribute: Attribute, value_type: ValueType) -> PointDef {
        PointDef {
            name: name.to_string(),
            attribute,
            port: Some(PortNumber(1)),
            value_type,
            units: String::new(),
            starting_value: None,
            writable: true,
            notes: String::new(),
            scrape_interval: None,
            data_currency: None,
            line: 0,
        }
    }

    fn allowed_load() -> PointDef {
        point("allowedLoad", Attribute::AllowedLoad, ValueType::Float)
    }

    fn percent_shed() -> PointDef {
        point("percentShed", Attribute::PercentShed, ValueType::Integer)
    }

    fn shed_state() -> PointDef {
        point("shedState", Attribute::ShedState, ValueType::Integer)
    }

    fn port_write(write: PortWrite) -> WriteAction {
        WriteAction::Load {
            scope: LoadScope::Port(PortNumber(1)),
            write,
        }
    }

    fn station_write(write: PortWrite) -> WriteAction {
        WriteAction::Load {
            scope: LoadScope::Station,
            write,
        }
    }

    fn station_level(mut point: PointDef) -> PointDef {
        point.port = None;
        point
    }

    fn shed_snapshot(allowed: f64, pct: u8) -> StationSnapshot {
        StationSnapshot {
            load: Some(std::sync::Arc::new(StationLoad {
                station_id: StationId::new("1:1"),
                station_name: None,
                address: None,
                station_load: None,
                ports: vec![PortLoad {
                    port: PortNumber(1),
                    user_id: None,
                    credential_id: None,
                    shed_state: true,
                    port_load: 0.0,
                    allowed_load: allowed,
                    percent_shed: pct,
                }],
                refused: Vec::new(),
            })),
            ..StationSnapshot::default()
        }
    }

    #[test]
    fn limits_become_port_intents_and_shed_state_sheds_or_clears() {
        assert_eq!(
            plan_write("d", &allowed_load(), &json!(2.5)).unwrap(),
            port_write(PortWrite::Limit(ShedLimit::AllowedLoad(2.5)))
        );
        assert_eq!(
            plan_write("d", &percent_shed(), &json!(40)).unwrap(),
            port_write(PortWrite::Limit(ShedLimit::PercentShed(40)))
        );
        assert_eq!(
            plan_write("d", &shed_state(), &json!(1)).unwrap(),
            port_write(PortWrite::Shed)
        );
        assert_eq!(
            plan_write("d", &shed_state(), &json!(0)).unwrap(),
            port_write(PortWrite::ClearShed)
        );
    }

    #[test]
    fn out_of_range_values_are_refused_naming_the_point_and_range() {
        let error = plan_write("d", &percent_shed(), &json!(150)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "device d: point percentShed: expected an integer 0..=100, found 150"
        );
        let error = plan_write("d", &allowed_load(), &json!(-1.0)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "device d: point allowedLoad: expected a number of kW from 0 to 1000, found -1.0"
        );
        let error = plan_write("d", &shed_state(), &json!(2)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "device d: point shedState: expected 0 or 1, found 2"
        );
    }

    #[test]
    fn a_read_only_point_is_not_written() {
        let mut read_only = allowed_load();
        read_only.writable = false;
        let error = plan_write("d", &read_only, &json!(1.0)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "device d: point allowedLoad is read-only"
        );
    }

    #[test]
    fn a_revert_goes_to_the_starting_value_then_the_original_then_forgets_the_intent() {
        let mut with_start = allowed_load();
        with_start.starting_value = Some(PointValue::Float(6.6));
        assert_eq!(
            plan_revert("d", &with_start, Some(&PointValue::Float(3.0))).unwrap(),
            port_write(PortWrite::Limit(ShedLimit::AllowedLoad(6.6)))
        );
        assert_eq!(
            plan_revert("d", &allowed_load(), Some(&PointValue::Float(3.0))).unwrap(),
            port_write(PortWrite::Limit(ShedLimit::AllowedLoad(3.0)))
        );
        assert_eq!(
            plan_revert("d", &allowed_load(), Some(&PointValue::Null)).unwrap(),
            port_write(PortWrite::ClearIntent)
        );
        assert_eq!(
            plan_revert("d", &shed_state(), None).unwrap(),
            port_write(PortWrite::ClearShed)
        );
    }

    #[test]
    fn the_original_of_a_limit_is_the_limit_the_port_was_shed_by() {
        let by_kw = shed_snapshot(4.0, 0);
        assert_eq!(
            original_value(&allowed_load(), &by_kw),
            PointValue::Float(4.0)
        );
        // Shed by kW: percentShed's 0 is not a limit that was in force.
        assert_eq!(original_value(&percent_shed(), &by_kw), PointValue::Null);
        let by_pct = shed_snapshot(0.0, 30);
        assert_eq!(
            original_value(&percent_shed(), &by_pct),
            PointValue::Int(30)
        );
        assert_eq!(original_value(&allowed_load(), &by_pct), PointValue::Null);
        assert_eq!(
            original_value(&allowed_load(), &StationSnapshot::default()),
            PointValue::Null
        );
    }

    #[test]
    fn station_level_load_points_write_and_revert_the_station() {
        assert_eq!(
            plan_write("d", &station_level(allowed_load()), &json!(6.0)).unwrap(),
            station_write(PortWrite::Limit(ShedLimit::AllowedLoad(6.0)))
        );
        assert_eq!(
            plan_write("d", &station_level(shed_state()), &json!(1)).unwrap(),
            station_write(PortWrite::Shed)
        );
        assert_eq!(
            plan_revert("d", &station_level(shed_state()), None).unwrap(),
            station_write(PortWrite::ClearShed)
        );
        // A station reads one port's limit, which is no station limit to go back to.
        let station_kw = station_level(allowed_load());
        let original = original_value(&station_kw, &shed_snapshot(4.0, 0));
        assert_eq!(original, PointValue::Null);
        assert_eq!(
            plan_revert("d", &station_kw, Some(&original)).unwrap(),
            station_write(PortWrite::ClearIntent)
        );
    }
}
