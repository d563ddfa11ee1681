//! `crm-mart man`: the manual page crm-mart.1 on stdout, or every page (one per command) as
//! files in a directory.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};

/// Runs the command.
pub fn run(a: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &a.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        std::io::stdout().lock().write_all(&page)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("writing to {}", dir.display()))?;
    let pages = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
        .count();
    eprintln!("{pages} manual pages in {}", dir.display());
    Ok(())
}
