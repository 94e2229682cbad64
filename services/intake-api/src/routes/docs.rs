//! `GET /openapi.json` and the Swagger UI at `GET /docs`. Swagger UI's
//! assets are compiled into the binary (nothing is fetched from a CDN), and
//! the page runs under a strict Content-Security-Policy: no inline script,
//! so the initializer is served as its own file.

use std::sync::{Arc, LazyLock};

use axum::{
    extract::Path,
    http::{header, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use crate::{error::ApiError, openapi};

/// Swagger UI needs inline styles and `data:` images, nothing else foreign.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";

/// Swagger UI's own `index.html` links its assets relatively, which breaks
/// at `/docs` (no trailing slash); this one links them absolutely.
const INDEX_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Patient registration API</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="/docs/index.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"##;

/// Loads this service's document only: no URL bar, no `?url=`, no
/// validator badge (which would call swagger.io).
const INITIALIZER_JS: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    queryConfigEnabled: false,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"##;

pub fn router() -> Router {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(index))
        .route("/docs/", get(index))
        .route("/docs/{file}", get(asset))
        .layer(middleware::map_response(add_csp))
}

async fn openapi_json() -> Response {
    typed("application/json", openapi::document())
}

async fn index() -> Response {
    typed("text/html; charset=utf-8", INDEX_HTML)
}

/// Swagger UI's distribution files, as embedded by `utoipa-swagger-ui`.
async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    match file.as_str() {
        "index.html" => return Ok(index().await),
        "swagger-initializer.js" => {
            return Ok(typed("text/javascript; charset=utf-8", INITIALIZER_JS))
        }
        _ => {}
    }
    // `serve` only fills in the initializer, which is ours; it needs a config anyway.
    static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
        LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")));
    match utoipa_swagger_ui::serve(&file, CONFIG.clone()) {
        Ok(Some(found)) => {
            let content_type = HeaderValue::from_str(&found.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            Ok((
                [(header::CONTENT_TYPE, content_type)],
                found.bytes.into_owned(),
            )
                .into_response())
        }
        Ok(None) => Err(ApiError::NotFound("Route not found")),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "serving Swagger UI's {file}: {e}"
        ))),
    }
}

fn typed(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

async fn add_csp(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::openapi::document;
    use shared::domain::registration_example;

    fn spec() -> Value {
        serde_json::from_str(document()).expect("the document is JSON")
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        assert_eq!(spec()["openapi"], "3.1.0");
    }

    #[test]
    fn the_example_is_a_valid_registration() {
        let today = chrono::Utc::now().date_naive();
        assert!(shared::domain::parse_registration(&registration_example(), today).is_ok());
    }

    #[test]
    fn the_request_schema_lists_exactly_the_accepted_fields() {
        let spec = spec();
        let properties = spec["components"]["schemas"]["RegistrationBody"]["properties"]
            .as_object()
            .expect("RegistrationBody has properties");
        let mut documented: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut accepted = shared::domain::KNOWN_FIELDS.to_vec();
        documented.sort_unstable();
        accepted.sort_unstable();
        assert_eq!(documented, accepted);
    }
}
