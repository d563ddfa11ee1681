//! `crm-mart completions SHELL`: the completion script for SHELL on stdout.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Runs the command.
pub fn run(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    // Rendered in memory first: a closed pipe (`| head`) is then an error, not a panic.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "crm-mart", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}
