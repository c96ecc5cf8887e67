//! ChargePoint's schema: pull the element inside `soap:Body` out of a message and validate it
//! against `cp_api_5.0.xsd` with `xmllint`. Tests that validate first check the tool is there
//! ([`super::tools_present`] with [`super::XMLLINT`]).

use std::io::Write as _;
use std::process::Command;

use quick_xml::events::Event;
use quick_xml::Reader;

/// ChargePoint's API 5.0 schema, from the `shared/` checkout beside this repository.
pub const XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/chargepoint/cp_api_5.0.xsd"
);

/// The first element inside `Body` as a standalone document: its exact bytes, plus the
/// namespace declarations it inherited from `Envelope`/`Body` that it does not repeat.
pub fn body_element(message: &[u8]) -> String {
    let text = std::str::from_utf8(message).expect("message is UTF-8");
    let mut reader = Reader::from_str(text);
    let mut inherited: Vec<(String, String)> = Vec::new();
    let mut depth = 0usize;
    let mut in_body = false;
    let mut start = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().expect("message is well-formed XML");
        let after = reader.buffer_position() as usize;
        match event {
            Event::Empty(_) if in_body && start.is_none() => {
                return with_declarations(&text[before..after], &inherited);
            }
            Event::Start(_) if in_body && start.is_none() => {
                depth += 1;
                start = Some((before, depth));
            }
            Event::Start(e) => {
                depth += 1;
                for attr in e.attributes().flatten() {
                    let key: &str = attr.key.0;
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0);
                        let value = value.map(|v| v.into_owned()).unwrap_or_default();
                        inherited.push((key.to_string(), value));
                    }
                }
                if e.local_name().as_ref() == "Body" {
                    in_body = true;
                }
            }
            Event::End(_) => {
                if let Some((from, at)) = start {
                    if at == depth {
                        return with_declarations(&text[from..after], &inherited);
                    }
                }
                depth -= 1;
            }
            Event::Eof => panic!("no element inside soap:Body"),
            _ => {}
        }
    }
}

fn with_declarations(element: &str, inherited: &[(String, String)]) -> String {
    let name_end = element
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .expect("element has a start tag");
    let tag_end = element.find('>').expect("start tag closes");
    let start_tag = &element[..tag_end];
    let mut extra = String::new();
    for (key, value) in inherited {
        if !start_tag.contains(&format!("{key}=")) {
            extra.push_str(&format!(" {key}=\"{value}\""));
        }
    }
    format!("{}{}{}", &element[..name_end], extra, &element[name_end..])
}

/// Validates `document` against the ChargePoint XSD; panics with xmllint's report if it is not
/// valid, and with an install hint if xmllint is missing.
pub fn assert_valid(document: &str, what: &str) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(document.as_bytes())
        .expect("write temp file");
    let output = match Command::new("xmllint")
        .args(["--noout", "--schema", XSD])
        .arg(file.path())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{}", super::XMLLINT.missing())
        }
        Err(e) => panic!("cannot run xmllint: {e}"),
    };
    assert!(
        output.status.success(),
        "{what} does not validate against {XSD}:\n{}\n--- document ---\n{document}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Validates the body element of a whole SOAP message.
pub fn assert_body_valid(message: &[u8], what: &str) {
    assert_valid(&body_element(message), what);
}
