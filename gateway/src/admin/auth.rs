//! Who is calling the admin listener: the operator whose client certificate (verified
//! against the operator CA by TLS) has the SHA-256 registered in `[[operators]]`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::problem::AdminError;
use super::{AdminState, OperatorSettings, Role};
use crate::http::tls::PeerIdentity;

/// An authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub role: Role,
}

/// The registered operators by certificate fingerprint.
#[derive(Debug, Default)]
pub struct Operators {
    by_sha256: HashMap<String, Arc<Operator>>,
}

impl Operators {
    pub fn new(settings: &[OperatorSettings]) -> Self {
        let by_sha256 = settings
            .iter()
            .map(|o| {
                (
                    crate::http::tls::normalise_fingerprint(&o.cert_sha256),
                    Arc::new(Operator { id: o.id.clone(), role: o.role }),
                )
            })
            .collect();
        Operators { by_sha256 }
    }

    pub fn find(&self, peer: &PeerIdentity) -> Option<Arc<Operator>> {
        self.by_sha256.get(&peer.sha256).cloned()
    }
}

impl FromRequestParts<AdminState> for Arc<Operator> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, AdminError> {
        state.operators.of(parts)
    }
}

impl Operators {
    /// The operator whose client certificate the request came with.
    pub fn of(&self, parts: &Parts) -> Result<Arc<Operator>, AdminError> {
        let peer = parts.extensions.get::<PeerIdentity>().ok_or_else(AdminError::missing_certificate)?;
        self.find(peer).ok_or_else(|| {
            tracing::info!(cert_sha256 = %peer.sha256, "a client certificate of no registered operator");
            AdminError::unknown_operator(&peer.sha256)
        })
    }
}

impl Operator {
    /// The operator must have one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), AdminError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            tracing::info!(operator = %self.id, role = self.role.as_str(), what, "role not allowed");
            Err(AdminError::role_not_allowed(&self.id, self.role.as_str(), what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_found_by_fingerprint_only() {
        let ops = Operators::new(&[OperatorSettings {
            id: "ida".into(),
            role: Role::Auditor,
            cert_sha256: "AA:bb:CC".into(),
        }]);
        let peer = |fp: &str, cn: Option<&str>| PeerIdentity { sha256: fp.into(), subject_cn: cn.map(Into::into) };
        assert_eq!(ops.find(&peer("aabbcc", None)).unwrap().id, "ida");
        assert!(ops.find(&peer("aabbcd", Some("ida"))).is_none());
        let o = ops.find(&peer("aabbcc", None)).unwrap();
        assert!(o.require(&[Role::Auditor], "query").is_ok());
        assert_eq!(o.require(&[Role::Operator], "metrics").unwrap_err().status.as_u16(), 403);
    }
}
