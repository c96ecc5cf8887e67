use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    Attribute, DeviceConfig, Level, PointDef, PointValue, PortNumber, Registry, ValueType,
};
use proptest::prelude::*;

/// A Starting Value the writer must carry through the CSV unchanged, for a point of type `ty`,
/// within the write limits of its attribute.
fn value_of(attribute: Attribute, ty: ValueType) -> BoxedStrategy<Option<PointValue>> {
    use Attribute as A;
    let v: BoxedStrategy<PointValue> = match (ty, attribute) {
        (ValueType::Bool, _) => any::<bool>().prop_map(PointValue::Bool).boxed(),
        (ValueType::Integer, A::PercentShed) => (0i64..=100).prop_map(PointValue::Int).boxed(),
        (ValueType::Integer, A::ShedState | A::ClearAlarms) => {
            (0i64..=1).prop_map(PointValue::Int).boxed()
        }
        (ValueType::Integer, _) => any::<i64>().prop_map(PointValue::Int).boxed(),
        (ValueType::Float, A::AllowedLoad) => (0.0f64..=cp_registry::limits::MAX_ALLOWED_LOAD_KW)
            .prop_map(PointValue::Float)
            .boxed(),
        (ValueType::Float, A::PercentShed) => (0.0f64..=100.0).prop_map(PointValue::Float).boxed(),
        (ValueType::Float, A::ShedState | A::ClearAlarms) => (0u8..=1)
            .prop_map(|b| PointValue::Float(f64::from(b)))
            .boxed(),
        (ValueType::Float, _) => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(PointValue::Float)
            .boxed(),
        // Not NUL: a file holding a zero byte is binary, refused as VOLTTRON's csv module refuses it.
        (ValueType::String, _) => "[^\\s\\x00]\\PC{0,20}".prop_map(PointValue::Str).boxed(),
        (ValueType::DateTime, _) => (0i64..4_000_000_000, 0u32..1000)
            .prop_map(|(s, ms)| {
                PointValue::DateTime(
                    DateTime::<Utc>::from_timestamp(s, ms * 1_000_000).expect("in range"),
                )
            })
            .boxed(),
        (ValueType::Dictionary, _) => {
            proptest::collection::btree_map("\\PC{0,8}", "\\PC{0,8}", 0..4)
                .prop_map(PointValue::Dict)
                .boxed()
        }
    };
    proptest::option::of(v).boxed()
}

fn seconds() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::of((1u64..100_000_000).prop_map(Duration::from_millis))
}

fn point(index: usize) -> impl Strategy<Value = PointDef> {
    (
        0..Attribute::ALL.len(),
        1u16..=64,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(move |(a, port, bool_flag, writable)| {
            let attribute = Attribute::ALL[a];
            let ty = if bool_flag && attribute.accepts_type(ValueType::Bool) {
                ValueType::Bool
            } else {
                attribute.value_type()
            };
            let port = match attribute.level() {
                Level::Port => Some(PortNumber(port)),
                Level::Station => None,
            };
            (
                "[A-Za-z0-9_.]{1,12}",
                "(\\PC{0,10})?",
                value_of(attribute, ty),
                "(\\PC|\n|\r|\"|,){0,30}",
                seconds(),
                seconds(),
            )
                .prop_map(move |(name, units, starting_value, notes, si, dc)| {
                    PointDef {
                        name: format!("{index}.{name}"),
                        attribute,
                        port,
                        value_type: ty,
                        units: units.trim().to_string(),
                        starting_value,
                        writable: writable && attribute.is_writable(),
                        notes,
                        scrape_interval: si,
                        data_currency: dc,
                        line: 0,
                    }
                })
        })
}

fn registry() -> impl Strategy<Value = Registry> {
    (0usize..12)
        .prop_flat_map(|n| (0..n).map(point).collect::<Vec<_>>())
        .prop_map(|points| Registry {
            path: "gen.csv".into(),
            points,
            warnings: Vec::new(),
        })
}

proptest! {
    #[test]
    fn any_written_registry_parses_back_identically(r in registry()) {
        let mut bytes = Vec::new();
        r.write_csv(&mut bytes).expect("write to memory");
        let back = Registry::parse_reader(&bytes[..], Path::new("gen.csv"))
            .map_err(|p| TestCaseError::fail(format!("{p}\n{}", String::from_utf8_lossy(&bytes))))?;
        let unlined: Vec<PointDef> = back.points.into_iter().map(|p| PointDef { line: 0, ..p }).collect();
        // A registry without points is only a warning (VOLTTRON loads it), and the only one.
        prop_assert_eq!(back.warnings.len(), usize::from(r.points.is_empty()));
        prop_assert_eq!(unlined, r.points);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_csv_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Registry::parse_reader(&bytes[..], Path::new("x.csv"));
    }

    #[test]
    fn csv_like_text_never_panics_the_csv_parser(text in "([a-zA-Z#0-9 ,\"\\n\\r-]{0,12}){0,30}") {
        let input = format!("Volttron Point Name,Attribute Name,Register Name,Port #,Type,Writable,Starting Value,Scrape Interval\n{text}");
        let _ = Registry::parse_reader(input.as_bytes(), Path::new("x.csv"));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_config_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = DeviceConfig::parse_reader(&bytes[..], Path::new("x.config"));
    }

    #[test]
    fn json_like_text_never_panics_the_config_parser(text in "[{}\\[\\]\",:#/*\\\\ \\na-z0-9]{0,200}") {
        let _ = DeviceConfig::parse_reader(text.as_bytes(), Path::new("x.config"));
    }
}
