//! The admin router and its OpenAPI 3.1 document (`GET /admin/v1/openapi.json`), built from
//! the same `utoipa_axum::routes!` registrations, so a route cannot exist undocumented.

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::{Router, middleware};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Operator;
use super::problem::AdminError;
use super::{AdminState, Role, audit_api, health, metrics};
use crate::http::problem::{ApiError, ProblemKind};
use crate::http::request_id;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sammen admin API",
        description = "For operators and auditors, on its own listener. Callers present an operator client certificate (mTLS, \
                       the operator CA), registered with the role `auditor` (query and export the audit log, read entries) or \
                       `operator` (metrics, health); both may read checkpoints and proofs. A CPR number is never put in a URL: \
                       use the `x-citizen-cpr` header or `POST /admin/v1/audit/search`. Every read of audit records is itself \
                       audited. Errors are RFC 9457 problem details.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&Security),
    tags(
        (name = "audit", description = "Who saw which citizen's data, why, and on what basis"),
        (name = "proofs", description = "RFC 6962: signed checkpoints, inclusion and consistency proofs, entries"),
        (name = "health", description = "Metrics, liveness and readiness"),
        (name = "meta", description = "This document"),
    )
)]
struct AdminDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        crate::http::openapi::add_mtls(openapi);
    }
}

static DOCUMENT: OnceLock<Arc<String>> = OnceLock::new();

/// The OpenAPI document of the admin API.
#[utoipa::path(
    get,
    path = "/admin/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    security(("mtls" = []))
)]
pub async fn openapi_json(op: Arc<Operator>) -> Result<Response, AdminError> {
    op.require(&[Role::Auditor, Role::Operator], "read the API document")?;
    Ok(crate::http::openapi::serve(&DOCUMENT, openapi))
}

fn admin_router() -> OpenApiRouter<AdminState> {
    OpenApiRouter::with_openapi(AdminDoc::openapi())
        .routes(routes!(audit_api::query))
        .routes(routes!(audit_api::search))
        .routes(routes!(audit_api::checkpoint))
        .routes(routes!(audit_api::checkpoint_note))
        .routes(routes!(audit_api::inclusion))
        .routes(routes!(audit_api::consistency))
        .routes(routes!(audit_api::entries))
        .routes(routes!(metrics::metrics))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
}

/// The admin API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    admin_router().split_for_parts().1
}

async fn not_found() -> AdminError {
    ApiError::new(ProblemKind::NotFound, "no such endpoint; see /admin/v1/openapi.json").into()
}

async fn method_not_allowed() -> AdminError {
    ApiError::new(ProblemKind::MethodNotAllowed, "this endpoint does not take this method; see /admin/v1/openapi.json")
        .into()
}

/// Every route's query string is checked against the parameters it declares (none for
/// most): an unknown or repeated parameter, or a CPR number anywhere in it, is refused before
/// the handler runs (`admin::query`).
async fn query_guard(req: axum::extract::Request, next: middleware::Next) -> Response {
    use axum::response::IntoResponse;
    let route = request_id::route_of(&req);
    let declared = match route.as_str() {
        "/admin/v1/audit" => audit_api::AUDIT_PARAMS,
        "/admin/v1/audit/proof/inclusion" => audit_api::INCLUSION_PARAMS,
        "/admin/v1/audit/proof/consistency" => audit_api::CONSISTENCY_PARAMS,
        "/admin/v1/audit/entries" => audit_api::ENTRIES_PARAMS,
        _ => &[],
    };
    match super::query::Params::parse(req.uri().query(), declared) {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The admin application: routes, problem answers for everything else, body limit, request ids.
pub fn router(state: AdminState, body_limit: usize) -> Router {
    let (router, _) = admin_router().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(query_guard))
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_admin_route() {
        let doc = openapi();
        let mut found = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (m, present) in [("get", item.get.is_some()), ("post", item.post.is_some())] {
                if present {
                    found.push(format!("{m} {path}"));
                }
            }
        }
        found.sort();
        assert_eq!(
            found,
            [
                "get /admin/v1/audit",
                "get /admin/v1/audit/checkpoint",
                "get /admin/v1/audit/checkpoint/note",
                "get /admin/v1/audit/entries",
                "get /admin/v1/audit/proof/consistency",
                "get /admin/v1/audit/proof/inclusion",
                "get /admin/v1/openapi.json",
                "get /healthz",
                "get /metrics",
                "get /readyz",
                "post /admin/v1/audit/search",
            ]
        );
        let json = doc.to_json().unwrap();
        for schema in ["AuditPageView", "SearchBody", "CheckpointView", "InclusionProof", "Readiness", "Problem"] {
            assert!(json.contains(&format!("\"{schema}\"")), "schema {schema} missing");
        }
        // The citizen is a header, never a query parameter.
        let get = doc.paths.paths["/admin/v1/audit"].get.as_ref().unwrap();
        let params = get.parameters.as_ref().unwrap();
        assert!(params.iter().any(|p| p.name == "x-citizen-cpr"));
        assert!(!params.iter().any(|p| p.name.contains("citizen") && p.name != "x-citizen-cpr"));
    }
}
