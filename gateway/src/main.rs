//! `sammen`: the gateway binary. See `cli` for the commands; the gateway itself is the
//! library's `gateway::app`.

mod cli;

use gateway::settings;

fn main() -> std::process::ExitCode {
    cli::main()
}
