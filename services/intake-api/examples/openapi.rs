//! Prints the OpenAPI document this build serves (`cargo run -p intake-api
//! --example openapi > openapi.json`), for client generators and reviews.

#[allow(clippy::print_stdout)]
fn main() {
    println!("{}", intake_api::openapi_document());
}
