//! `Options::from_json` and `decode_input`: the one way every adapter reads options and input
//! bytes.

use convq_core::{DaysReading, Options, StatusFilter, UnknownColumns, decode_input};

#[test]
fn absent_keys_are_the_defaults() {
    assert_eq!(Options::from_json("{}").unwrap(), Options::default());
    assert_eq!(Options::from_json(" { } ").unwrap(), Options::default());
}

#[test]
fn options_read_from_camel_case() {
    let options = Options::from_json(
        r#"{"baseUrl":"https://contoso.crm.dynamics.com","unknownColumns":"error","statusFilter":"crmIn","extraColumns":[{"logicalName":"new_tier","type":"Lookup"}],"createdBeforeDays":"olderThanXDays"}"#,
    )
    .unwrap();
    assert_eq!(
        options.base_url.as_deref(),
        Some("https://contoso.crm.dynamics.com")
    );
    assert_eq!(options.unknown_columns, UnknownColumns::Error);
    assert_eq!(options.status_filter, StatusFilter::CrmIn);
    assert_eq!(options.extra_columns[0].logical_name, "new_tier");
    assert_eq!(options.created_before_days, DaysReading::OlderThanXDays);
}

#[test]
fn bad_options_name_their_pointer() {
    let cases = [
        (
            r#"{"statusFilter":"in"}"#,
            "/statusFilter",
            "unknown variant `in`",
        ),
        (r#"{"baseUrl":3}"#, "/baseUrl", "invalid type: integer `3`"),
        (
            r#"{"createdBeforeDays":"olderThan"}"#,
            "/createdBeforeDays",
            "unknown variant `olderThan`, expected `lastXDays` or `olderThanXDays`",
        ),
        (
            r#"{"extraColumns":[{"logicalName":"a","type":"Lookup"},{"logicalName":"b","type":"Nope"}]}"#,
            "/extraColumns/1/type",
            "unknown variant `Nope`",
        ),
        // Like the input's unknown_field: the pointer names the unknown key, escaped.
        (
            r#"{"unknown/Column":"warn"}"#,
            "/unknown~1Column",
            "unknown field `unknown/Column`",
        ),
        ("[]", "", "expected an object, found an array"),
        ("{", "", "EOF while parsing an object"),
    ];
    for (json, path, message) in cases {
        let error = Options::from_json(json).unwrap_err();
        let body = error.to_body();
        assert_eq!(
            (body.code.as_str(), body.path.as_str()),
            ("invalid_options", path),
            "{json}"
        );
        let prefix = format!("the options are not valid: {message}");
        assert!(
            body.message.starts_with(&prefix),
            "{json}: {}",
            body.message
        );
        assert!(!body.message.contains(" at line "), "{}", body.message);
        assert!(body.hint.as_deref().unwrap().contains("unknownColumns"));
    }
}

#[test]
fn the_same_input_in_any_encoding_compiles_the_same() {
    let text = r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","attributes":["msdyn_title"]}"#;
    let expected = convq_core::compile(text, &Options::default()).unwrap();
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let encodings = [
        text.as_bytes().to_vec(),
        [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        [&[0xFF, 0xFE][..], &le].concat(),
        [&[0xFE, 0xFF][..], &be].concat(),
        le,
        be,
    ];
    for bytes in encodings {
        let decoded = decode_input(&bytes).unwrap();
        assert_eq!(
            convq_core::compile(&decoded, &Options::default()).unwrap(),
            expected,
            "{bytes:?}"
        );
    }
}
