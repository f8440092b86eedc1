//! Writes the man pages (clap_mangen) and shell completions (clap_complete) that
//! the Debian packages install, from the command line's clap definitions, so
//! they never drift from the binary: `cargo run -p bootherd --example
//! package_files -- DIR` (`scripts/package` runs it). An example rather than a
//! subcommand, so the generators stay out of the shipped binary.
//!
//! DIR gets `man/bootherd.1` and one page per subcommand (`bootherd-serve.1`,
//! ...), and `completions/` for bash (`bootherd.bash`), zsh (`_bootherd`) and
//! fish (`bootherd.fish`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bootherd::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;

fn write(dir: &std::path::Path) -> anyhow::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for sub in [&man, &completions] {
        std::fs::create_dir_all(sub).with_context(|| format!("creating {}", sub.display()))?;
    }
    let mut command = Cli::command();
    clap_mangen::generate_to(command.clone(), &man)
        .with_context(|| format!("writing man pages to {}", man.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command, "bootherd", &completions)
            .with_context(|| format!("writing {shell} completions to {}", completions.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: package_files DIR");
        return ExitCode::from(2);
    };
    match write(&PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("package_files: {err:#}");
            ExitCode::FAILURE
        }
    }
}
