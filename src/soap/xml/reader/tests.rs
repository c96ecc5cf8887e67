//! The reader against quick-xml alone: the same values from good documents and the same error,
//! at the same byte, from broken ones; and its refusals (DTDs, entities, depth, truncation).

use super::*;

impl<'a> XmlIn<'a> {
    /// A reader that leaves everything to quick-xml: the reference the plain path is held to.
    fn quick_xml_only(document: &'a [u8]) -> Self {
        XmlIn {
            plain_path: false,
            ..XmlIn::new(document)
        }
    }
}

/// Every leaf of `doc` as `path = text`, reading the elements named in `leaves` as text
/// and every other element as a container, the way the operation readers do.
fn walk(mut xin: XmlIn<'_>, leaves: &[&str]) -> Result<Vec<String>, XmlError> {
    fn element<'a>(
        xin: &mut XmlIn<'a>,
        el: Element<'a>,
        path: &str,
        leaves: &[&str],
        out: &mut Vec<String>,
    ) -> Result<(), XmlError> {
        let path = format!("{path}/{}", el.local());
        if leaves.contains(&el.local()) {
            out.push(format!("{path} = {}", xin.text(&el)?));
            return Ok(());
        }
        xin.children(&el, |xin, child| element(xin, child, &path, leaves, out))
    }
    let mut out = Vec::new();
    let root = xin.root()?;
    element(&mut xin, root, "", leaves, &mut out)?;
    xin.finish()?;
    Ok(out)
}

fn values(doc: &str) -> Result<Vec<(String, String)>, XmlError> {
    let mut xin = XmlIn::new(doc.as_bytes());
    let root = xin.root()?;
    let mut out = Vec::new();
    xin.children(&root, |xin, el| {
        let name = el.local().to_string();
        out.push((name, xin.text(&el)?.into_owned()));
        Ok(())
    })?;
    xin.finish()?;
    Ok(out)
}

#[test]
fn text_is_unescaped_trimmed_and_matched_by_local_name() {
    let got = values("<?xml version=\"1.0\"?>\n<a:r xmlns:a=\"x\"> <b> x &amp; &lt;y&gt; &#65; </b><c/><a:d><![CDATA[<z>]]></a:d></a:r>")
        .unwrap();
    assert_eq!(
        got,
        vec![
            ("b".to_string(), "x & <y> A".to_string()),
            ("c".to_string(), String::new()),
            ("d".to_string(), "<z>".to_string()),
        ]
    );
}

#[test]
fn doctype_and_unknown_entities_are_refused() {
    let doc = "<!DOCTYPE r [<!ENTITY e \"boom\">]><r><b>&e;</b></r>";
    assert_eq!(
        values(doc),
        Err(XmlError::Syntax(
            "DOCTYPE is not allowed (no DTDs or entity definitions)".into()
        ))
    );
    assert_eq!(
        values("<r><b>&e;</b></r>"),
        Err(XmlError::Syntax(
            "entity reference &e; is not allowed (entities are never expanded)".into()
        ))
    );
}

#[test]
fn mismatched_end_tag_after_plain_text_is_refused_at_its_byte() {
    assert_eq!(
        values("<r><b>plain</c></r>"),
        Err(XmlError::Syntax(
            "not well-formed XML at byte 11: ill-formed document: expected `</b>`, but `</c>` was found".into()
        ))
    );
}

#[test]
fn text_keeps_inner_and_unicode_spaces_but_trims_the_ends() {
    assert_eq!(
        values("<r><b>\u{a0}a b\u{2003}</b><c>\tx\n</c><d>y</d></r>").unwrap(),
        vec![
            ("b".to_string(), "a b".to_string()),
            ("c".to_string(), "x".to_string()),
            ("d".to_string(), "y".to_string()),
        ]
    );
}

#[test]
fn nesting_deeper_than_any_message_is_refused() {
    let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let read = |doc: &str| walk(XmlIn::new(doc.as_bytes()), &[]);
    assert!(read(&nested(MAX_DEPTH)).is_ok());
    for doc in [nested(MAX_DEPTH + 1), "<a x=\"1\">".repeat(MAX_DEPTH + 1)] {
        let Err(XmlError::Syntax(detail)) = read(&doc) else {
            panic!("accepted {doc}");
        };
        assert!(
            detail.starts_with("elements nested more than 64 deep"),
            "{detail}"
        );
    }
}

#[test]
fn truncated_document_is_an_error() {
    assert_eq!(
        values("<r><b>1</b>"),
        Err(XmlError::Syntax(TRUNCATED.into()))
    );
    assert!(matches!(
        values("<r><b>1</b></r><x/>"),
        Err(XmlError::Syntax(_))
    ));
}

/// The plain path reads every document exactly as quick-xml alone does: the same values
/// from good documents, and the same error, at the same byte, from broken ones. Checked
/// on a status answer in both layouts and on every cut and one-byte edit of them.
#[test]
fn plain_path_reads_every_document_as_quick_xml_does() {
    let leaves = [
        "responseCode",
        "responseText",
        "stationID",
        "portNumber",
        "Status",
        "TimeStamp",
        "Connector",
        "Power",
        "moreFlag",
    ];
    let compact = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"s\"><soap:Body>",
        "<ns1:getStationStatusResponse xmlns:ns1=\"n\"><responseCode>100</responseCode>",
        "<responseText>API input request executed successfully.</responseText>",
        "<stationData><stationID>1:30000</stationID><Port><portNumber>1</portNumber>",
        "<Status>AVAILABLE</Status><TimeStamp>2016-11-07T19:19:19Z</TimeStamp>",
        "<Connector>J1772</Connector><Power>6.6</Power></Port><Port><portNumber>2</portNumber>",
        "<Status>INUSE</Status><Connector/><Power>a &amp; b</Power></Port></stationData>",
        "<stationData><stationID> 1:30001 </stationID><!-- c --><Port x=\"1\"><portNumber>1",
        "</portNumber><Status><![CDATA[UNREACHABLE]]></Status></Port></stationData>",
        "<moreFlag>0</moreFlag></ns1:getStationStatusResponse></soap:Body></soap:Envelope>",
    );
    let pretty = compact.replace("><", ">\n  <");
    let edits = [
        b'<', b'>', b'/', b' ', b'&', b'\r', b'\n', b'x', b':', b'"', 0xc3,
    ];
    let mut checked = 0;
    for doc in [compact.as_bytes(), pretty.as_bytes()] {
        let mut variants = vec![doc.to_vec()];
        for i in 0..doc.len() {
            variants.push(doc[..i].to_vec());
            variants.push([&doc[..i], &doc[i + 1..]].concat());
            for &b in &edits {
                variants.push([&doc[..i], &[b], &doc[i..]].concat());
                variants.push([&doc[..i], &[b], &doc[i + 1..]].concat());
            }
        }
        for variant in &variants {
            let plain = walk(XmlIn::new(variant), &leaves);
            let reference = walk(XmlIn::quick_xml_only(variant), &leaves);
            assert_eq!(
                plain,
                reference,
                "document: {}",
                String::from_utf8_lossy(variant)
            );
            checked += 1;
        }
    }
    assert!(checked > 20_000);
    let good = walk(XmlIn::new(compact.as_bytes()), &leaves).unwrap();
    assert_eq!(good.len(), 16);
    assert_eq!(
        good[11],
        "/Envelope/Body/getStationStatusResponse/stationData/Port/Power = a & b"
    );
}

/// The first error quick-xml reports on its own, checking end tags itself, worded as
/// [`XmlIn`] words it.
fn quick_xml_first_error(doc: &str) -> Option<String> {
    let mut reader = Reader::from_str(doc);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return None,
            Ok(_) => {}
            Err(e) => return Some(syntax_error(reader.error_position(), e).detail().into()),
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

    /// The same on documents of any shape: random runs of plain and not-so-plain markup,
    /// nested or not, closed or not, after zero, one or two byte order marks. And where
    /// the reader refuses an end tag, quick-xml checking end tags itself refuses the same
    /// one, at the same byte.
    #[test]
    fn plain_path_reads_any_markup_as_quick_xml_does(
        boms in 0..3usize,
        pieces in proptest::collection::vec(proptest::sample::select(vec![
            "<a>", "</a>", "<b>", "</b>", "<p:a>", "</p:a>", "<b/>", "<a x=\"1\">", "<a >",
            "</a >", "<>", "</>", "x", " 1:2 ", "\n  ", "\r\n", "&amp;", "&#65;", "&bad;", "&",
            "<!-- c -->", "<![CDATA[<z>]]>", "<?pi?>", "ö", "<", ">", "/", "<a/ >", "<a'b c'>",
            "</a'b>", "'", "\"", "<a\tx='>'>", "</a\t>", "\u{feff}",
        ]), 0..40)
    ) {
        let doc = format!("{}<r>{}</r>", "\u{feff}".repeat(boms), pieces.concat());
        let leaves = ["b"];
        let read = walk(XmlIn::new(doc.as_bytes()), &leaves);
        proptest::prop_assert_eq!(
            &read,
            &walk(XmlIn::quick_xml_only(doc.as_bytes()), &leaves),
            "document: {}", doc
        );
        if let Err(XmlError::Syntax(detail)) = &read {
            if boms == 0 && (detail.contains("close tag") || detail.contains("expected `</")) {
                proptest::prop_assert_eq!(
                    Some(detail.clone()),
                    quick_xml_first_error(&doc),
                    "document: {}", doc
                );
            }
        }
    }
}

#[test]
fn an_end_tag_after_two_byte_order_marks_is_refused_without_a_panic() {
    let doc = b"\xEF\xBB\xBF\xEF\xBB\xBF</a>";
    assert!(matches!(
        walk(XmlIn::new(doc), &[]),
        Err(XmlError::Syntax(_))
    ));
}
