//! The HTTPS API for caseworker systems (`sammen serve`).
//!
//! Code map: [`systems`] (certificate → registered system), [`token`] (caseworker JWT and
//! JWKS), [`auth`] (the [`auth::Caller`] extractor and admission checks), [`case_file`]
//! (decide, audit, fetch, audit, answer), [`consent_api`] (consent requests and search),
//! [`bodies`] (request and response bodies), [`routes`] (the router and the OpenAPI
//! document).

pub mod auth;
pub mod bodies;
pub mod case_file;
pub mod consent_api;
pub mod routes;
pub mod systems;
pub mod token;
