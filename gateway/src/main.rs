//! `sammen`: the gateway binary. See `cli` for the commands; the server itself is the
//! library's `gateway::server`.

mod cli;

use gateway::settings;

fn main() -> std::process::ExitCode {
    cli::main()
}
