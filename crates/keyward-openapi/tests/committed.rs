//! The committed document is the one the types make: change a body type or a route and
//! this fails until `cargo run -p keyward-openapi > worker/openapi.json` is run.
#![allow(clippy::unwrap_used)]

#[test]
fn worker_openapi_json_is_current() {
    let committed = include_str!("../../../worker/openapi.json");
    let made = keyward_openapi::document_text();
    assert!(
        committed == made,
        "worker/openapi.json is out of date: run `cargo run -p keyward-openapi > worker/openapi.json`"
    );
}

#[test]
fn every_route_is_an_operation_and_every_operation_a_route() {
    let doc = keyward_openapi::document();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let mut routed: Vec<(String, String)> = keyward_api::routes::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
}

#[test]
fn npm_key_record_schema_is_current() {
    let committed = include_str!("../../../npm/key-record.schema.json");
    assert!(
        committed == keyward_openapi::key_record_schema_text(),
        "npm/key-record.schema.json is out of date: run `cargo run -p keyward-openapi -- --key-record > npm/key-record.schema.json`"
    );
}
