//! `[portal]`: the citizen portal's listener, sessions and OpenID provider.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[portal]`. When present, `sammen serve` also starts the citizen portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// Address and port of the portal's own HTTPS listener (no client certificates).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM: the portal's certificate chain and key (may be the gateway's).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The portal's public base URL, e.g. `https://borger.kommune.dk` (no trailing slash).
    /// The redirect URI registered with the provider is `<public_url>/auth/callback`.
    /// Empty: `https://localhost:<bound port>` (development).
    #[serde(default)]
    pub public_url: String,
    /// A session unused this long ends (seconds).
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// A session ends this long after login, used or not (seconds).
    #[serde(default = "default_absolute")]
    pub absolute_timeout_secs: u64,
    /// Entries per page of "Min log".
    #[serde(default = "default_page")]
    pub log_page_size: usize,
    /// `GET /login` calls one client address may make per minute (each stores a login
    /// state); more get 429.
    #[serde(default = "default_login_rate")]
    pub login_per_minute: u32,
    pub oidc: OidcSettings,
}

/// `[portal.oidc]`: the MitID broker (an OpenID provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL exactly as the provider names itself (discovery is
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// PEM: CA(s) to trust for an https provider instead of the built-in roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The claim carrying the CPR number: `dk.cpr` (Signaturgruppen), `cprNumberIdentifier`
    /// (Criipto), ...
    #[serde(default = "default_cpr_claim")]
    pub cpr_claim: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Development only: accept an `http://` issuer (a local test provider). Without it
    /// the issuer must be `https://`: discovery, the key set and the token exchange (with
    /// the client secret and the ID token carrying the CPR number) travel over it.
    #[serde(default)]
    pub allow_insecure_issuer: bool,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8444))
}
fn default_idle() -> u64 {
    15 * 60
}
fn default_absolute() -> u64 {
    8 * 60 * 60
}
fn default_login_rate() -> u32 {
    30
}
fn default_page() -> usize {
    25
}
fn default_cpr_claim() -> String {
    "dk.cpr".into()
}
fn default_scopes() -> Vec<String> {
    vec!["mitid".into(), "ssn".into()]
}

impl PortalSettings {
    /// What deserialization cannot check.
    pub fn check(&self) -> Result<(), String> {
        if self.idle_timeout_secs == 0 || self.absolute_timeout_secs < self.idle_timeout_secs {
            return Err("[portal] idle_timeout_secs must be positive and at most absolute_timeout_secs".into());
        }
        if self.login_per_minute == 0 {
            return Err("[portal] login_per_minute must be positive".into());
        }
        if self.log_page_size == 0 || self.log_page_size > 500 {
            return Err("[portal] log_page_size must be 1 to 500".into());
        }
        if !self.public_url.is_empty() && !self.public_url.starts_with("https://") {
            return Err("[portal] public_url must be https:// (the session cookie is Secure)".into());
        }
        match url::Url::parse(&self.oidc.issuer) {
            Err(_) => return Err(format!("[portal.oidc] issuer {:?} is not a URL", self.oidc.issuer)),
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && self.oidc.allow_insecure_issuer => {}
            Ok(u) if u.scheme() == "http" => {
                return Err(format!(
                    "[portal.oidc] issuer {:?} is plain http: the client secret and the citizens' ID tokens would \
                     travel unencrypted; use https://, or set allow_insecure_issuer = true for a local development \
                     provider only",
                    self.oidc.issuer
                ));
            }
            Ok(u) => {
                return Err(format!("[portal.oidc] issuer {:?}: scheme {} is not https", self.oidc.issuer, u.scheme()));
            }
        }
        if self.oidc.client_id.is_empty() || self.oidc.client_secret.is_empty() || self.oidc.cpr_claim.is_empty() {
            return Err("[portal.oidc] needs client_id, client_secret and cpr_claim".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn portal_settings_parse_with_defaults_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[portal]\ncert_file = \"p.pem\"\nkey_file = \"p.key\"\n\n[portal.oidc]\nissuer = \"https://broker.example\"\n\
             client_id = \"sammen-portal\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), None).unwrap();
        let p = s.portal.unwrap();
        assert_eq!((p.idle_timeout_secs, p.absolute_timeout_secs), (900, 8 * 3600));
        assert_eq!(p.oidc.cpr_claim, "dk.cpr");
        assert_eq!(p.listen.port(), 8444);
        p.check().unwrap();
        let mut bad = p.clone();
        bad.public_url = "http://borger.example".into();
        assert!(bad.check().unwrap_err().contains("https"));
        let mut bad = p.clone();
        bad.idle_timeout_secs = 9 * 3600;
        assert!(bad.check().is_err());
        let mut bad = p.clone();
        bad.oidc.issuer = "not a url".into();
        assert!(bad.check().is_err());
        // A plain http issuer only with the explicit development setting.
        assert!(!p.oidc.allow_insecure_issuer, "insecure by default");
        let mut http = p.clone();
        http.oidc.issuer = "http://broker.example".into();
        let e = http.check().unwrap_err();
        assert!(e.contains("plain http") && e.contains("allow_insecure_issuer"), "{e}");
        http.oidc.allow_insecure_issuer = true;
        http.check().unwrap();
        let mut ftp = p;
        ftp.oidc.issuer = "ftp://broker.example".into();
        ftp.oidc.allow_insecure_issuer = true;
        assert!(ftp.check().unwrap_err().contains("not https"));
        // Without [portal] there is no portal.
        assert!(Settings::load(None, None).unwrap().portal.is_none());
    }

    /// A production configuration file naming an http issuer does not start the portal.
    #[test]
    fn a_configuration_with_an_http_issuer_is_refused_unless_marked_for_development() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        let config = "[portal]\ncert_file = \"p.pem\"\nkey_file = \"p.key\"\n\n[portal.oidc]\n\
                      issuer = \"http://broker.example\"\nclient_id = \"sammen-portal\"\nclient_secret = \"s\"\n";
        std::fs::write(&f, config).unwrap();
        let p = Settings::load(Some(&f), None).unwrap().portal.unwrap();
        assert!(p.check().unwrap_err().contains("plain http"));
        std::fs::write(&f, format!("{config}allow_insecure_issuer = true\n")).unwrap();
        Settings::load(Some(&f), None).unwrap().portal.unwrap().check().unwrap();
    }
}
