//! `bootherd iscsi export` and `bootherd iscsi create-disk`: flags and running them.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::config::Config;

/// Flags of `bootherd iscsi`.
#[derive(Debug, Args)]
pub struct IscsiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IscsiCommand,
}

/// `bootherd iscsi`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum IscsiCommand {
    /// Write the storage server's target configuration for every machine whose
    /// profile has an iscsi root with a backing_store: one target per machine, its
    /// LUN, an ACL admitting only the machine's initiator IQN, and CHAP credentials
    /// from the root's chap_file when set.
    ///
    /// Machines whose root has no backing_store are left out and named on stderr.
    /// With --output the file is created with mode 0600 (it may hold CHAP secrets).
    Export(ExportArgs),
    /// Create a machine's backing file (its root's backing_store): a sparse file of
    /// --size, or a copy of --from IMAGE (grown to --size when given). Never
    /// overwrites an existing file.
    CreateDisk(CreateDiskArgs),
}

/// Flags of `bootherd iscsi export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// TOML configuration file with the inventory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The target software: tgt (targets.conf stanzas) or targetcli (a script for LIO).
    #[arg(long, value_enum)]
    pub format: super::Format,
    /// Write to FILE (created with mode 0600, replaced if it exists) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Flags of `bootherd iscsi create-disk`.
#[derive(Debug, Args)]
pub struct CreateDiskArgs {
    /// TOML configuration file with the inventory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The machine, by name.
    #[arg(value_name = "MACHINE")]
    pub machine: String,
    /// Size of the new disk: 8G, 512M, 4096 (binary units).
    #[arg(long, value_name = "SIZE", value_parser = super::parse_size, required_unless_present = "from")]
    pub size: Option<u64>,
    /// An image to copy into the new disk (zero blocks stay holes).
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<PathBuf>,
}

/// Runs `bootherd iscsi …`.
pub fn run(args: IscsiArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        IscsiCommand::Export(args) => export(&args),
        IscsiCommand::CreateDisk(args) => create_disk(&args),
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let inventory = Config::load(&args.config)?.inventory(&args.config)?;
    let export = super::targets(&inventory).map_err(|e| anyhow::anyhow!(e))?;
    for skipped in &export.skipped {
        eprintln!("note: {skipped}");
    }
    if export.targets.is_empty() {
        bail!(
            "{}: no machine has an iscsi root with a backing_store",
            args.config.display()
        );
    }
    let text = super::render(args.format, &export.targets).map_err(|e| anyhow::anyhow!(e))?;
    match &args.output {
        Some(path) => write_private(path, &text)?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` with mode 0600 (also when it replaces a file).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn create_disk(args: &CreateDiskArgs) -> anyhow::Result<ExitCode> {
    let inventory = Config::load(&args.config)?.inventory(&args.config)?;
    let machine = inventory.by_name(&args.machine).with_context(|| {
        format!(
            "{}: no machine named `{}`",
            args.config.display(),
            args.machine
        )
    })?;
    let Some(store) = machine
        .iscsi
        .as_ref()
        .and_then(|l| l.backing_store.as_ref())
    else {
        bail!(
            "machine {}: its profile {} has no iscsi root with a backing_store",
            machine.name,
            machine.profile
        );
    };
    let source = match &args.from {
        Some(path) => super::DiskSource::Image {
            path: path.clone(),
            size: args.size,
        },
        None => super::DiskSource::Size(args.size.expect("clap requires --size without --from")),
    };
    let size = super::create_disk(store, &source).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "{}: created for machine {} ({size} bytes)",
        store.display(),
        machine.name
    );
    Ok(ExitCode::SUCCESS)
}
