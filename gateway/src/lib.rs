//! sammen's gateway as a library: configuration ([`settings`]), shared HTTP plumbing
//! ([`http`]), the HTTPS API for caseworker systems ([`api`]), the operators' listener
//! ([`admin`]), the citizen portal ([`portal`]), and the composition root that starts them
//! ([`app`]). The `sammen` binary (`src/main.rs`, `src/cli/`), the demo and the end-to-end
//! tests all start the gateway through [`app::start`].
//!
//! The default feature `sandbox` brings the development PKI and token issuer (`dev`) and,
//! in the binary, `sammen demo` and `sammen sandbox`; a production build can leave it out.

pub mod admin;
pub mod api;
pub mod app;
pub mod core;
#[cfg(feature = "sandbox")]
pub mod dev;
pub mod http;
pub mod portal;
pub mod settings;
