use std::path::Path;

use cp_registry::{Attribute, PointValue, PortNumber, Registry, ValueType};

const HEADER: &str =
    "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes\n";

fn parse(rows: &str) -> Result<Registry, Vec<String>> {
    Registry::parse_reader(format!("{HEADER}{rows}").as_bytes(), Path::new("cp.csv"))
        .map_err(|p| p.iter().map(ToString::to_string).collect())
}

fn problems(rows: &str) -> Vec<String> {
    match parse(rows) {
        Ok(r) => panic!("expected problems, parsed {} points", r.points.len()),
        Err(p) => p,
    }
}

#[test]
fn unknown_register_lists_the_valid_ones() {
    assert_eq!(
        problems("shedState,shedState,LoadRegistr,1,integer,,0,TRUE,\n"),
        [
            "cp.csv:2: point shedState: unknown register 'LoadRegistr' (expected one of \
          StationStatusRegister, LoadRegister, AlarmRegister, StationRightsRegister, \
          ChargingSessionRegister, StationRegister)"
        ]
    );
}

#[test]
fn attribute_the_register_does_not_serve_lists_the_valid_ones() {
    assert_eq!(
        problems("load,portLode,LoadRegister,1,float,kW,,FALSE,\n"),
        [
            "cp.csv:2: point load: LoadRegister has no attribute 'portLode' (expected one of \
          shedState, portLoad, allowedLoad, percentShed, stationLoad)"
        ]
    );
}

#[test]
fn writable_on_a_read_only_attribute_is_rejected() {
    assert_eq!(
        problems("Status,Status,StationStatusRegister,1,string,,,TRUE,\n"),
        ["cp.csv:2: point Status: attribute Status is read-only (expected Writable FALSE, found TRUE)"]
    );
}

#[test]
fn unparseable_writable_flag_is_rejected() {
    assert_eq!(
        problems("Status,Status,StationStatusRegister,1,string,,,maybe,\n"),
        ["cp.csv:2: point Status: bad Writable value (expected TRUE or FALSE, found 'maybe')"]
    );
}

#[test]
fn writable_accepts_every_flag_spelling() {
    for w in ["TRUE", "true", "True", "1", "yes", "YES"] {
        let r = parse(&format!("shed,shedState,LoadRegister,1,integer,,,{w},\n")).expect(w);
        assert!(r.points[0].writable, "{w}");
    }
    for w in ["FALSE", "false", "0", "no", ""] {
        let r = parse(&format!("shed,shedState,LoadRegister,1,integer,,,{w},\n")).expect(w);
        assert!(!r.points[0].writable, "{w}");
    }
}

#[test]
fn type_that_does_not_match_the_attribute_is_rejected() {
    assert_eq!(
        problems(
            "portLoad,portLoad,LoadRegister,1,datetime,kW,,FALSE,\n\
             rights,stationRightsProfile,StationRightsRegister,,string,,,FALSE,\n\
             Status,Status,StationStatusRegister,1,float,,,FALSE,\n"
        ),
        [
            "cp.csv:2: point portLoad: attribute portLoad cannot be of type 'datetime' (expected float or string)",
            "cp.csv:3: point rights: attribute stationRightsProfile cannot be of type 'string' (expected dictionary)",
            "cp.csv:4: point Status: attribute Status cannot be of type 'float' (expected string)",
        ]
    );
}

#[test]
fn volttron_type_spellings_of_its_own_example_are_accepted() {
    let r = parse(
        "portNumber,portNumber,StationRegister,1,string,Integer,,FALSE,\n\
         Reservable,Reservable,StationRegister,1,bool,T/F,,FALSE,\n\
         Mode,Mode,StationRegister,1,int,\"1,2,3\",,FALSE,\n\
         Type,Type,StationRegister,,int,Integer or None,,FALSE,\n\
         startTime,startTime,StationRegister,,datetime,Datetime,,FALSE,\n\
         sessionTime,sessionTime,StationRegister,,datetime,,,FALSE,\n\
         unitPriceForFirst,unitPriceForFirst,StationRegister,,float,Dollar Amount,,FALSE,\n\
         numPorts,numPorts,StationRegister,0,int,Integer,,FALSE,Number of Ports\n",
    )
    .expect("VOLTTRON's forms are valid");
    let types: Vec<ValueType> = r.points.iter().map(|p| p.value_type).collect();
    assert_eq!(
        types,
        [
            ValueType::String,
            ValueType::Bool,
            ValueType::Integer,
            ValueType::Integer,
            ValueType::DateTime,
            ValueType::DateTime,
            ValueType::Float,
            ValueType::Integer,
        ]
    );
    assert_eq!(r.points[6].attribute, Attribute::UnitPriceForFirst);
    // Port # 0 means no port, as in VOLTTRON.
    assert_eq!(r.points[7].port, None);
}

#[test]
fn unknown_type_lists_the_valid_ones() {
    assert_eq!(
        problems("portLoad,portLoad,LoadRegister,1,double,kW,,FALSE,\n"),
        [
            "cp.csv:2: point portLoad: unknown type 'double' (expected one of string, datetime, \
          integer, float, boolean, dictionary)"
        ]
    );
}

#[test]
fn int_and_integer_are_the_same_type_and_flags_may_be_boolean() {
    let r = parse(
        "a,clearAlarms,AlarmRegister,,int,,0,TRUE,\n\
         b,clearAlarms,AlarmRegister,,Integer,,0,TRUE,\n\
         c,shedState,LoadRegister,1,bool,,false,TRUE,\n",
    )
    .expect("valid");
    assert_eq!(r.points[0].value_type, ValueType::Integer);
    assert_eq!(r.points[1].value_type, ValueType::Integer);
    assert_eq!(r.points[2].value_type, ValueType::Bool);
    assert_eq!(r.points[2].starting_value, Some(PointValue::Bool(false)));
}

#[test]
fn port_number_on_a_station_level_attribute_is_rejected() {
    assert_eq!(
        problems("rights,stationRightsProfile,StationRightsRegister,1,dictionary,,,FALSE,\n"),
        [
            "cp.csv:2: point rights: attribute stationRightsProfile is station-level \
          (expected empty Port #, found '1')"
        ]
    );
}

#[test]
fn missing_port_number_on_a_port_level_attribute_is_rejected() {
    assert_eq!(
        problems("portLoad,portLoad,LoadRegister,,float,kW,,FALSE,\n"),
        ["cp.csv:2: point portLoad: attribute portLoad is per port \
          (expected a Port # such as 1, found nothing)"]
    );
}

/// Issue 13 item 1: VOLTTRON's driver reads shedState, allowedLoad and percentShed without a
/// Port # as the whole station, so they load, next to port-level ones; portLoad still needs a
/// port and stationLoad still refuses one.
#[test]
fn load_points_without_a_port_are_the_whole_station_and_mix_with_port_ones() {
    let r = parse(
        "shedState,shedState,LoadRegister,,integer,0 or 1,0,TRUE,\n\
         allowedLoad,allowedLoad,LoadRegister,,float,kW,,TRUE,\n\
         percentShed,percentShed,LoadRegister,0,integer,percent,,TRUE,\n\
         stationLoad,stationLoad,LoadRegister,,float,kW,,FALSE,\n\
         port1.shedState,shedState,LoadRegister,1,integer,0 or 1,,TRUE,\n",
    )
    .expect("station-level Load points are valid");
    let ports: Vec<(&str, Option<PortNumber>)> =
        r.points.iter().map(|p| (p.name.as_str(), p.port)).collect();
    assert_eq!(
        ports,
        [
            ("shedState", None),
            ("allowedLoad", None),
            ("percentShed", None),
            ("stationLoad", None),
            ("port1.shedState", Some(PortNumber(1))),
        ]
    );
    assert!(r.writes_station_load());
    assert_eq!(
        problems(
            "a,portLoad,LoadRegister,,float,kW,,FALSE,\n\
             b,stationLoad,LoadRegister,1,float,kW,,FALSE,\n"
        ),
        [
            "cp.csv:2: point a: attribute portLoad is per port (expected a Port # such as 1, found nothing)",
            "cp.csv:3: point b: attribute stationLoad is station-level (expected empty Port #, found '1')",
        ]
    );
    let read_only = parse("shedState,shedState,LoadRegister,,integer,,,FALSE,\n").expect("valid");
    assert!(
        !read_only.writes_station_load(),
        "only a writable point sheds the station"
    );
}

#[test]
fn bad_port_numbers_are_rejected() {
    assert_eq!(
        problems(
            "a,portLoad,LoadRegister,-1,float,,,FALSE,\n\
             b,portLoad,LoadRegister,one,float,,,FALSE,\n\
             c,portLoad,LoadRegister,65,float,,,FALSE,\n"
        ),
        [
            "cp.csv:2: point a: bad Port # (expected a port from 1 to 64 or empty, found '-1')",
            "cp.csv:3: point b: bad Port # (expected a port from 1 to 64 or empty, found 'one')",
            "cp.csv:4: point c: bad Port # (expected a port from 1 to 64 or empty, found '65')",
        ]
    );
}

#[test]
fn session_points_validate_with_or_without_a_port() {
    let r = parse(
        "sessionID,sessionID,ChargingSessionRegister,,string,,,FALSE,\n\
         port2.sessionID,sessionID,ChargingSessionRegister,2,string,,,FALSE,\n",
    )
    .expect("valid");
    assert_eq!(r.points[0].port, None);
    assert_eq!(r.points[1].port, Some(PortNumber(2)));
}

#[test]
fn alarm_points_validate_with_or_without_a_port() {
    let r = parse(
        "alarmType,alarmType,AlarmRegister,,string,,,FALSE,\n\
         port2.alarmType,alarmType,AlarmRegister,2,string,,,FALSE,\n",
    )
    .expect("valid");
    assert_eq!(r.points[0].port, None);
    assert_eq!(r.points[1].port, Some(PortNumber(2)));
}

#[test]
fn duplicate_point_name_warns_naming_the_first_line_and_the_later_row_wins() {
    let r = parse(
        "portLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n\
         Status,Status,StationStatusRegister,1,string,,,FALSE,\n\
         portLoad,portLoad,LoadRegister,2,float,kW,,FALSE,\n",
    )
    .expect("VOLTTRON loads duplicates, so do we");
    let warnings: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "cp.csv:4: point portLoad: duplicate point name (first defined on line 2); \
          this later row is the one used, as in VOLTTRON"
        ]
    );
    let points: Vec<(&str, Option<PortNumber>)> =
        r.points.iter().map(|p| (p.name.as_str(), p.port)).collect();
    assert_eq!(
        points,
        [
            ("Status", Some(PortNumber(1))),
            ("portLoad", Some(PortNumber(2)))
        ]
    );
}

#[test]
fn bad_starting_values_are_rejected_with_the_expected_form() {
    assert_eq!(
        problems(
            "shed,shedState,LoadRegister,1,integer,,maybe,TRUE,\n\
             shed2,shedState,LoadRegister,2,integer,,2,TRUE,\n\
             pct,percentShed,LoadRegister,1,integer,,150,TRUE,\n\
             kw,allowedLoad,LoadRegister,1,float,,-1.5,TRUE,\n\
             at,alarmTime,AlarmRegister,,datetime,,noon,FALSE,\n"
        ),
        [
            "cp.csv:2: point shed: bad Starting Value (expected integer, found 'maybe')",
            "cp.csv:3: point shed2: bad Starting Value (expected 0 or 1, found '2')",
            "cp.csv:4: point pct: bad Starting Value (expected an integer 0..=100, found '150')",
            "cp.csv:5: point kw: bad Starting Value (expected a number of kW from 0 to 1000, found '-1.5')",
            "cp.csv:6: point at: bad Starting Value (expected datetime (RFC 3339), found 'noon')",
        ]
    );
}

#[test]
fn bad_scrape_interval_and_data_currency_are_rejected() {
    let csv = "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Writable,Scrape Interval,Data Currency\n\
               a,portLoad,LoadRegister,1,float,FALSE,-5,30\n\
               b,portLoad,LoadRegister,2,float,FALSE,60,soon\n";
    let p: Vec<String> = Registry::parse_reader(csv.as_bytes(), Path::new("cp.csv"))
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        p,
        [
            "cp.csv:2: point a: bad Scrape Interval (expected a number of seconds from 0.001 to 31622400 (366 days), found '-5')",
            "cp.csv:3: point b: bad Data Currency (expected a number of seconds from 0.001 to 31622400 (366 days), found 'soon')",
        ]
    );
}

#[test]
fn missing_required_columns_are_all_named() {
    let csv = "Volttron Point Name,Attribute Name,Units\nportLoad,portLoad,kW\n";
    let p: Vec<String> = Registry::parse_reader(csv.as_bytes(), Path::new("cp.csv"))
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    let found = "(found columns: Volttron Point Name, Attribute Name, Units)";
    assert_eq!(
        p,
        [
            format!("cp.csv:1: missing column 'Register Name' {found}"),
            format!("cp.csv:1: missing column 'Port #' {found}"),
            format!("cp.csv:1: missing column 'Type' {found}"),
            format!("cp.csv:1: missing column 'Writable' {found}"),
        ]
    );
}

#[test]
fn empty_file_is_missing_every_required_column() {
    let p = Registry::parse_reader(&b""[..], Path::new("cp.csv")).expect_err("invalid");
    assert_eq!(p.len(), 6);
    assert_eq!(
        p.iter().next().map(ToString::to_string).as_deref(),
        Some("cp.csv:1: missing column 'Volttron Point Name' (found columns: )")
    );
}

#[test]
fn empty_point_name_is_rejected() {
    assert_eq!(
        problems(",portLoad,LoadRegister,1,float,kW,,FALSE,\n"),
        ["cp.csv:2: empty Volttron Point Name"]
    );
}

#[test]
fn every_problem_of_a_file_is_reported_in_line_order() {
    assert_eq!(
        problems(
            "Status,Status,StationStatusRegister,1,string,,,FALSE,\n\
             bad,Status,NoRegister,1,string,,,FALSE,\n\
             portLoad,portLoad,LoadRegister,0,datetime,kW,,TRUE,\n\
             Status,Status,StationStatusRegister,2,string,,,FALSE,\n"
        ),
        [
            "cp.csv:3: point bad: unknown register 'NoRegister' (expected one of \
             StationStatusRegister, LoadRegister, AlarmRegister, StationRightsRegister, \
             ChargingSessionRegister, StationRegister)",
            "cp.csv:4: point portLoad: attribute portLoad cannot be of type 'datetime' (expected float or string)",
            "cp.csv:4: point portLoad: attribute portLoad is read-only (expected Writable FALSE, found TRUE)",
            "cp.csv:4: point portLoad: attribute portLoad is per port (expected a Port # such as 1, found '0', which means no port, as in VOLTTRON)",
        ]
    );
}

#[test]
fn header_matching_ignores_case_spaces_order_and_unknown_columns() {
    let csv = "\u{feff}  writable ,PORT#,volttron point name,Comment,attribute name,REGISTER NAME,type,scrape interval\n\
               TRUE,1,shed,ignored,shedState,LoadRegister,integer,15\n";
    let r = Registry::parse_reader(csv.as_bytes(), Path::new("cp.csv")).expect("valid");
    let p = &r.points[0];
    assert_eq!(p.name, "shed");
    assert_eq!(p.attribute, Attribute::ShedState);
    assert_eq!(p.port, Some(PortNumber(1)));
    assert!(p.writable);
    assert_eq!(p.scrape_interval, Some(std::time::Duration::from_secs(15)));
    assert_eq!(p.data_currency, None);
    assert_eq!(p.line, 2);
}

#[test]
fn blank_lines_are_skipped_and_line_numbers_stay_true() {
    let r =
        parse("\nportLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n,,,,,,,,\n").expect("valid");
    assert_eq!(r.points.len(), 1);
    assert_eq!(r.points[0].line, 3);
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"port\xffLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n");
    bytes.extend_from_slice(b"Status,Status,StationStatusRegister,1,string,,,FALSE,\xfe\n");
    let p = Registry::parse_reader(&bytes[..], Path::new("cp.csv")).expect_err("invalid");
    assert_eq!(
        p.to_string(),
        "cp.csv:2: malformed CSV: invalid UTF-8 in field 1\n\
         cp.csv:3: malformed CSV: invalid UTF-8 in field 9"
    );
}

#[test]
fn scrape_interval_and_data_currency_default_to_the_device_interval() {
    use std::time::Duration;
    let r = parse(
        "portLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n\
         model,stationModel,StationRegister,,string,,,FALSE,\n",
    )
    .expect("valid");
    let minute = Duration::from_secs(60);
    assert_eq!(r.points[0].scrape_interval_or(minute), minute);
    assert_eq!(r.points[0].data_currency_or(minute), minute);
    // getStations data is static: refreshed at most hourly.
    assert_eq!(
        r.points[1].data_currency_or(minute),
        Duration::from_secs(3600)
    );
}

fn raw_problems(bytes: &[u8]) -> Vec<String> {
    match Registry::parse_reader(bytes, Path::new("cp.csv")) {
        Ok(r) => panic!("expected problems, parsed {} points", r.points.len()),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

/// Issue 14: Port # 0 said "found nothing".
#[test]
fn port_zero_on_a_port_attribute_says_zero_means_no_port() {
    assert_eq!(
        problems("portLoad,portLoad,LoadRegister,0,float,kW,,FALSE,\n"),
        ["cp.csv:2: point portLoad: attribute portLoad is per port (expected a Port # such as 1, found '0', which means no port, as in VOLTTRON)"]
    );
}

/// Issue 14: a binary CSV was echoed back, 394 KB of it.
#[test]
fn a_binary_file_is_named_as_such_and_never_echoed() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"portLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n");
    bytes.extend(std::iter::repeat_n(0u8, 400_000));
    assert_eq!(
        raw_problems(&bytes),
        ["cp.csv:3: is not a text file (it holds zero bytes): is it the right file?"]
    );
    let garbage: Vec<u8> = (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let lines = raw_problems(&garbage);
    assert_eq!(
        lines,
        ["cp.csv:1: is not a text file (it holds zero bytes): is it the right file?"]
    );
}

/// Issue 14: a UTF-16 file (as Windows editors save) said "expected value" or "missing column".
#[test]
fn utf16_is_named_with_how_to_fix_it() {
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(HEADER.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let expected = ["cp.csv: is UTF-16 text: save it as UTF-8, as VOLTTRON's files are"];
    assert_eq!(raw_problems(&utf16), expected);
    assert_eq!(
        raw_problems(&utf16[2..]),
        expected,
        "without a byte-order mark"
    );
}

/// Issue 14: a semicolon-separated CSV gave six "missing column" lines quoting the header.
#[test]
fn a_spreadsheet_separator_other_than_comma_is_named() {
    let semi = format!(
        "{}portLoad;portLoad;LoadRegister;1;float;kW;;FALSE;\n",
        HEADER.replace(',', ";")
    );
    assert_eq!(
        raw_problems(semi.as_bytes()),
        ["cp.csv:1: the columns are separated by ';', not commas: save the file as comma-separated CSV, as VOLTTRON reads it"]
    );
    let tabs = HEADER.replace(',', "\t");
    assert_eq!(
        raw_problems(tabs.as_bytes()),
        ["cp.csv:1: the columns are separated by tabs, not commas: save the file as comma-separated CSV, as VOLTTRON reads it"]
    );
}

/// Issue 14: a short row said "unknown register ''".
#[test]
fn a_short_row_says_which_columns_it_lacks() {
    assert_eq!(
        problems("portLoad,portLoad\nStatus,Status,StationStatusRegister,1,string\n"),
        [
            "cp.csv:2: point portLoad: the row has 2 fields but the header 9, so it has no Register Name, Port #, Type, Writable (a missing comma, or a line break inside the row?)",
            "cp.csv:3: point Status: the row has 5 fields but the header 9, so it has no Writable (a missing comma, or a line break inside the row?)",
        ]
    );
    // Optional columns may be left off the end of a row, as VOLTTRON allows.
    assert!(parse("Status,Status,StationStatusRegister,1,string,,,FALSE\n").is_ok());
}

/// Issue 14: errors quote at most one line, cut short, with control characters escaped.
#[test]
fn quoted_values_are_one_short_line_without_control_characters() {
    let long = "x".repeat(500);
    assert_eq!(
        problems(&format!("p,Status,{long},1,string,,,FALSE,\n")),
        [format!(
            "cp.csv:2: point p: unknown register '{}…' (expected one of StationStatusRegister, LoadRegister, AlarmRegister, StationRightsRegister, ChargingSessionRegister, StationRegister)",
            "x".repeat(60)
        )]
    );
    assert_eq!(
        problems("p\u{1b}[31m,Status,\"Bad\nRegister\",1,string,,,FALSE,\n"),
        ["cp.csv:2: point p\\u{1b}[31m: unknown register 'Bad…' (expected one of StationStatusRegister, LoadRegister, AlarmRegister, StationRightsRegister, ChargingSessionRegister, StationRegister)"]
    );
}

/// Issue 14: a CSV with a header and no rows was accepted silently; VOLTTRON loads it, so it
/// is a warning.
#[test]
fn a_registry_without_rows_warns() {
    let r = parse("\n").expect("VOLTTRON loads it too");
    let warnings: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["cp.csv:1: no points: the registry has a header but no rows (a warning: VOLTTRON loads this file as it is)"]
    );
}
