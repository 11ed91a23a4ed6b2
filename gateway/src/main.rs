//! `sammen`: the gateway binary. See `cli` for the commands; the gateway itself is the
//! library's `gateway::app`.

mod cli;

use gateway::settings;

fn main() -> std::process::ExitCode {
    // ES256 through ring, before any command signs or verifies a token.
    gateway::http::jwt_crypto::install();
    cli::main()
}
