//! sammen's gateway as a library: configuration ([`settings`]) and the HTTPS API for
//! caseworker systems ([`server`]), and the citizen portal ([`portal`]). The `sammen` binary (`src/main.rs`, `src/cli/`), the
//! demo and the end-to-end tests all start the server through [`server::start`].
//!
//! The default feature `sandbox` brings the development PKI and token issuer (`dev`) and,
//! in the binary, `sammen demo` and `sammen sandbox`; a production build can leave it out.

pub mod admin;
#[cfg(feature = "sandbox")]
pub mod dev;
pub mod portal;
pub mod server;
pub mod settings;
