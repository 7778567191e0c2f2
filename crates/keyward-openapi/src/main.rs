//! Prints the OpenAPI document: `cargo run -p keyward-openapi > worker/openapi.json`.

fn main() {
    print!("{}", keyward_openapi::document_text());
}
