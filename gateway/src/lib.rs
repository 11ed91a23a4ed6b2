//! sammen's gateway as a library: configuration ([`settings`]) and the HTTPS API for
//! caseworker systems ([`server`]), and the citizen portal ([`portal`]). The `sammen` binary (`src/main.rs`, `src/cli/`), the
//! demo and the end-to-end tests all start the server through [`server::start`].

pub mod admin;
pub mod dev;
pub mod portal;
pub mod server;
pub mod settings;
