//! `convq completions <shell>` and `convq man`: shell completions (clap_complete) and man pages
//! (clap_mangen), generated from the same clap definitions as `--help`, so they cannot drift.
//! The release archive (`cargo xtask dist`) ships what these print.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap_complete::Shell;

use crate::Outcome;

pub(crate) const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  convq completions bash > ~/.local/share/bash-completion/completions/convq
  convq completions zsh > ~/.zfunc/_convq        # with fpath+=~/.zfunc before compinit
  convq completions fish > ~/.config/fish/completions/convq.fish
  convq completions powershell >> $PROFILE";

pub(crate) const MAN_EXAMPLES: &str = "\
Examples:
  convq man | man -l -
  convq man --dir ~/.local/share/man/man1";

/// Print a shell completion script to stdout.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// Print the man page (roff) to stdout, or write one page per command into a directory.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write convq.1 and a page per subcommand (convq-query.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::command(), "convq", &mut script);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(Outcome::Success)
}

pub(crate) fn man(args: &ManArgs) -> anyhow::Result<Outcome> {
    // `convq help` has no page of its own (generate_to skips it); do not list one.
    let command = crate::command().disable_help_subcommand(true);
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    } else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        let mut stdout = io::stdout().lock();
        stdout.write_all(&page)?;
        stdout.flush()?;
    }
    Ok(Outcome::Success)
}
