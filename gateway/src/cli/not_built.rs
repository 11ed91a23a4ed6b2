//! `sammen demo` and `sammen sandbox` in a build without the `sandbox` feature: they are
//! still commands, so that asking for one says why it is missing.

use super::Cli;

/// Whatever is given; nothing is read.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

pub async fn run(_cli: &Cli, _args: &Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "this command is not in this build: sammen was built without the `sandbox` feature (the sandbox source \
         systems, their MitID broker and the development PKI); build it with the default features to have it"
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};

    #[tokio::test]
    async fn demo_and_sandbox_say_they_are_not_in_this_build() {
        for args in [&["sammen", "demo", "--once", "--listen", "127.0.0.1:0"][..], &["sammen", "sandbox", "--tls"]] {
            let cli = Cli::try_parse_from(args).unwrap();
            let e = match &cli.command {
                Command::Demo(a) | Command::Sandbox(a) => super::run(&cli, a).await.unwrap_err(),
                other => panic!("{other:?}"),
            };
            assert!(e.to_string().contains("not in this build"), "{e}");
        }
    }
}
