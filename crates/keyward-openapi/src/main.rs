//! Prints the OpenAPI document: `cargo run -p keyward-openapi > worker/openapi.json`; with
//! `--key-record`, the key record's JSON Schema:
//! `cargo run -p keyward-openapi -- --key-record > npm/key-record.schema.json`.

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--key-record") {
        print!("{}", keyward_openapi::key_record_schema_text());
    } else {
        print!("{}", keyward_openapi::document_text());
    }
}
