//! sammen's gateway as a library: configuration ([`settings`]), shared HTTP plumbing
//! ([`http`]), the HTTPS API for caseworker systems ([`api`]), the operators' listener
//! ([`admin`]), the citizen portal ([`portal`]), and the composition root that starts them
//! ([`app`]). The `sammen` binary (`src/main.rs`, `src/cli/`), the demo and the end-to-end
//! tests all start the gateway through [`app::start`].

pub mod admin;
pub mod api;
pub mod app;
pub mod core;
pub mod dev;
pub mod http;
pub mod portal;
pub mod settings;
