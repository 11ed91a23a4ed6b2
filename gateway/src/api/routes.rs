//! The router and the OpenAPI 3.1 document generated from the handlers' annotations.
//!
//! Every API route is registered through `utoipa_axum::routes!`, so a route cannot exist
//! without being in the document; `openapi_lists_every_route` checks the list.

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::{Router, middleware};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::{case_file, consent_api, health_api, overview_api, paper_api, plan_api};
use crate::http::problem::{ApiError, ProblemKind};
use crate::http::request_id;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sammen gateway API",
        description = "One API for caseworker systems: the case file on demand, consent requests, the consents a unit holds, messages to the citizen's GP, the shared overview across departments and the coordinated plan. \
                       Callers authenticate twice: a client certificate (mTLS) for the system and a bearer JWT for the caseworker. \
                       Errors are RFC 9457 problem details. Every answer carries an `x-request-id` header, the id of its audit records.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&Security),
    tags(
        (name = "case files", description = "Assemble a case file from the source systems, decided per category"),
        (name = "consents", description = "Consent requests and the consents a unit holds"),
        (name = "health", description = "Messages to the citizen's own GP through the health hub: the GP's statement ordered, letters"),
        (name = "coordinated effort", description = "The shared overview of a citizen across departments, and the coordinated plan: read it, and write the caller's department's effort or milestone"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        crate::http::openapi::add_bearer_jwt(openapi);
        crate::http::openapi::add_mtls(openapi);
    }
}

static DOCUMENT: OnceLock<Arc<String>> = OnceLock::new();

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    crate::http::openapi::serve(&DOCUMENT, openapi)
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(case_file::create))
        .routes(routes!(consent_api::create_request))
        .routes(routes!(consent_api::get_request))
        .routes(routes!(consent_api::search))
        .routes(routes!(paper_api::register))
        .routes(routes!(health_api::statement_request))
        .routes(routes!(health_api::letter))
        .routes(routes!(health_api::message))
        .routes(routes!(overview_api::create))
        .routes(routes!(plan_api::read))
        .routes(routes!(plan_api::effort))
        .routes(routes!(plan_api::milestone))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document, built from the same registrations as the router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

async fn not_found() -> ApiError {
    ApiError::new(ProblemKind::NotFound, "no such endpoint; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ProblemKind::MethodNotAllowed, "this endpoint does not take this method; see /api/v1/openapi.json")
}

/// The API takes no query parameters: a query string is refused before any handler runs,
/// as `cpr-in-url` when it holds something that could be a CPR number (the answer never
/// repeats it).
async fn no_query(req: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(q) = req.uri().query().filter(|q| !q.is_empty()) else { return next.run(req).await };
    let status = axum::http::StatusCode::BAD_REQUEST;
    if crate::http::redact::query_holds_cpr(q) {
        return crate::http::problem::Problem::new(
            status,
            "cpr-in-url",
            "A CPR number does not belong in a URL",
            "the citizen goes in the request body; this request was not carried out",
        )
        .into_response();
    }
    crate::http::problem::Problem::new(
        status,
        "invalid-query",
        "The query string is not one this endpoint takes",
        "this API takes no query parameters; see /api/v1/openapi.json",
    )
    .into_response()
}

/// The whole application: API routes, problem answers for everything else, body limit,
/// request ids.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let (router, _) = api_router().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(no_query))
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_route() {
        let doc = openapi();
        let mut found = Vec::new();
        for (path, item) in &doc.paths.paths {
            let methods = [
                ("get", item.get.is_some()),
                ("post", item.post.is_some()),
                ("put", item.put.is_some()),
                ("delete", item.delete.is_some()),
                ("patch", item.patch.is_some()),
            ];
            for (m, present) in methods {
                if present {
                    found.push(format!("{m} {path}"));
                }
            }
        }
        found.sort();
        assert_eq!(
            found,
            [
                "get /api/v1/consent-requests/{id}",
                "get /api/v1/health/messages/{id}",
                "get /api/v1/openapi.json",
                "post /api/v1/case-files",
                "post /api/v1/consent-requests",
                "post /api/v1/consents/search",
                "post /api/v1/health/letters",
                "post /api/v1/health/statement-requests",
                "post /api/v1/overviews",
                "post /api/v1/paper-consents",
                "post /api/v1/plans/efforts",
                "post /api/v1/plans/milestones",
                "post /api/v1/plans/read",
            ]
        );
        let json = doc.to_json().unwrap();
        assert!(json.contains("\"openapi\":\"3.1.0\""), "{}", &json[..100]);
        for schema in [
            "CaseFile",
            "Section",
            "SectionStatus",
            "Problem",
            "ConsentView",
            "CaseFileRequest",
            "StatementRequestBody",
            "LetterBody",
            "SentMessage",
            "Overview",
            "PlanRead",
            "EffortWrite",
            "PlanWriteAnswer",
        ] {
            assert!(json.contains(&format!("\"{schema}\"")), "schema {schema} missing");
        }
    }
}
