//! Who is calling: the system (client certificate) and the caseworker (bearer token), and
//! the checks every route makes once both are known. A refusal after both are known is
//! audited ([`refuse`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use consent::audit::{AuditKind, AuditRecord};
use consent::{Cpr, Purpose};
use policies::Caseworker;

use super::AppState;
use super::systems::System;
use crate::http::problem::{ApiError, ProblemKind};
use crate::http::request_id::RequestId;
use crate::http::tls::PeerIdentity;

/// An authenticated caller: a registered system and a caseworker with a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub system: Arc<System>,
    pub caseworker: Caseworker,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<PeerIdentity>().ok_or_else(|| {
            ApiError::new(ProblemKind::MissingClientCertificate, "this API requires a client certificate (mTLS)")
        })?;
        let system = state.systems.find(peer).ok_or_else(|| {
            tracing::info!(cert_sha256 = %peer.sha256, "a client certificate of no registered system");
            ApiError::new(
                ProblemKind::UnknownClientCertificate,
                format!("the client certificate (SHA-256 {}) is not registered for any system", peer.sha256),
            )
        })?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::new(ProblemKind::InvalidToken, super::token::TokenError::Missing.to_string()))?;
        let caseworker =
            state.tokens.verify_presented(token, &peer.sha256, state.core.clock.now()).await.map_err(|e| {
                tracing::info!(system = %system.id, error = %e, "caseworker token refused");
                ApiError::new(ProblemKind::InvalidToken, e.to_string())
            })?;
        Ok(Caller { system, caseworker })
    }
}

/// What is known of a request when it is refused, for its audit record.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub citizen: Option<Cpr>,
    pub purpose: Option<Purpose>,
}

impl Caller {
    /// The caseworker's unit must be a known unit within the system's organisation.
    pub fn admit(&self, state: &AppState) -> Result<(), ApiError> {
        let dir = &state.ledger.rules().directory;
        if !dir.is_within(&self.caseworker.unit, &self.system.organisation) {
            return Err(ApiError::new(
                ProblemKind::UnitOutsideOrganisation,
                format!(
                    "the caseworker's unit {} is not within {}, the organisation of system {}",
                    self.caseworker.unit, self.system.organisation, self.system.id
                ),
            ));
        }
        Ok(())
    }

    /// The system must be allowed the purpose.
    pub fn check_purpose(&self, purpose: &Purpose) -> Result<(), ApiError> {
        if self.system.purposes.contains(purpose) {
            Ok(())
        } else {
            Err(ApiError::new(
                ProblemKind::PurposeNotAllowed,
                format!("system {} is not registered for the purpose {purpose}", self.system.id),
            ))
        }
    }

    /// The citizen and purpose a request names: the CPR number and the purpose must parse
    /// (each noted in `facts` as soon as it is known, for a refusal's audit record) and the
    /// system must be allowed the purpose.
    pub fn citizen_and_purpose(
        &self,
        state: &AppState,
        citizen: &str,
        purpose: &str,
        facts: &mut Facts,
    ) -> Result<(Cpr, Purpose), ApiError> {
        let citizen = Cpr::parse(citizen).map_err(|_| ApiError::invalid_cpr())?;
        facts.citizen = Some(citizen);
        let purpose = state.ledger.rules().vocabulary.purpose(purpose).map_err(|e| ApiError::vocabulary(&e))?;
        facts.purpose = Some(purpose.clone());
        self.check_purpose(&purpose)?;
        Ok((citizen, purpose))
    }

    /// An audit record of this caller's request at `now`, the rest empty.
    pub fn record(&self, id: RequestId, kind: AuditKind, now: DateTime<Utc>) -> AuditRecord {
        let mut r = AuditRecord::new(now, id.to_string(), kind);
        r.system = Some(self.system.id.clone());
        r.caseworker = Some(self.caseworker.id.clone());
        r.unit = Some(self.caseworker.unit.clone());
        r
    }
}

/// Audits a refused request of an authenticated caller and returns the error to answer:
/// the refusal itself, or `audit-unavailable` when even that record cannot be made durable.
pub async fn refuse(state: &AppState, caller: &Caller, id: RequestId, facts: Facts, err: ApiError) -> ApiError {
    tracing::info!(system = %caller.system.id, problem = err.kind.slug(), "request refused");
    if err.kind == ProblemKind::AuditUnavailable {
        return err;
    }
    let mut r = caller.record(id, AuditKind::RequestRefused, state.core.clock.now());
    r.citizen = facts.citizen;
    r.purpose = facts.purpose;
    r.outcome = "refused".into();
    r.detail = Some(err.kind.slug().to_string());
    match state.audit.append(vec![r]).await {
        Ok(_) => err,
        Err(e) => {
            tracing::error!(error = %e, "the audit log refused a record");
            ApiError::audit_unavailable()
        }
    }
}
