//! OpenAPI helpers the listeners share: the security schemes and serving a document.

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

/// Adds the `mtls` scheme (a client certificate).
pub fn add_mtls(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme("mtls", SecurityScheme::MutualTls { description: None, extensions: None });
}

/// Adds the `bearer` scheme (a JWT).
pub fn add_bearer_jwt(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
}

/// The document as `application/json`, rendered once into `cache`.
pub fn serve(cache: &'static OnceLock<Arc<String>>, build: impl FnOnce() -> OpenApi) -> Response {
    let doc = cache.get_or_init(|| Arc::new(build().to_pretty_json().expect("the document serializes")));
    let mut resp = doc.as_str().to_string().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_added_and_the_document_is_served_as_json() {
        let mut doc = OpenApi::default();
        add_mtls(&mut doc);
        add_bearer_jwt(&mut doc);
        let schemes = &doc.components.as_ref().unwrap().security_schemes;
        assert!(schemes.contains_key("mtls") && schemes.contains_key("bearer"));
        static CACHE: OnceLock<Arc<String>> = OnceLock::new();
        let resp = serve(&CACHE, || doc.clone());
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert!(CACHE.get().unwrap().contains("\"mtls\""));
    }
}
