//! The registered caseworker systems, found by their client certificate.

use std::collections::HashMap;
use std::sync::Arc;

use consent::{Purpose, UnitId};

use crate::http::tls::PeerIdentity;
use crate::settings::SystemSettings;

/// A caseworker system the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub id: String,
    pub organisation: UnitId,
    pub purposes: Vec<Purpose>,
    /// May register consents signed on paper.
    pub paper_consents: bool,
}

/// Lookup by certificate fingerprint first, then by subject common name.
#[derive(Debug, Default)]
pub struct Systems {
    by_sha256: HashMap<String, Arc<System>>,
    by_cn: HashMap<String, Arc<System>>,
}

impl Systems {
    pub fn new(settings: &[SystemSettings]) -> Self {
        let mut systems = Systems::default();
        for s in settings {
            let sys = Arc::new(System {
                id: s.id.clone(),
                organisation: s.organisation.clone(),
                purposes: s.purposes.clone(),
                paper_consents: s.paper_consents,
            });
            if let Some(fp) = &s.cert_sha256 {
                systems.by_sha256.insert(crate::http::tls::normalise_fingerprint(fp), sys.clone());
            }
            if let Some(cn) = &s.cert_subject_cn {
                systems.by_cn.insert(cn.clone(), sys);
            }
        }
        systems
    }

    /// The system a verified client certificate belongs to.
    pub fn find(&self, peer: &PeerIdentity) -> Option<Arc<System>> {
        self.by_sha256.get(&peer.sha256).or_else(|| peer.subject_cn.as_ref().and_then(|cn| self.by_cn.get(cn))).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_then_common_name() {
        let unit = UnitId::parse("kk").unwrap();
        let settings = vec![
            SystemSettings {
                id: "a".into(),
                organisation: unit.clone(),
                purposes: vec![],
                cert_sha256: Some("AA:BB".into()),
                cert_subject_cn: None,
                paper_consents: false,
            },
            SystemSettings {
                id: "b".into(),
                organisation: unit,
                purposes: vec![],
                cert_sha256: None,
                cert_subject_cn: Some("sys-b".into()),
                paper_consents: false,
            },
        ];
        let s = Systems::new(&settings);
        let peer = |fp: &str, cn: Option<&str>| PeerIdentity { sha256: fp.into(), subject_cn: cn.map(Into::into) };
        assert_eq!(s.find(&peer("aabb", Some("sys-b"))).unwrap().id, "a");
        assert_eq!(s.find(&peer("cc", Some("sys-b"))).unwrap().id, "b");
        assert!(s.find(&peer("cc", Some("other"))).is_none());
    }
}
