//! The `crm-mart` binary: parse the command line, run the command, map the outcome to an exit
//! code (0 ok, 1 bad input or usage, 2 internal error).

mod cli;
mod commands;

use std::process::ExitCode;

/// mimalloc: on the 1M-customer ETL it cut peak RSS by a fifth and wall time by a tenth
/// compared with glibc's allocator (many threads, many short-lived buffers).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cli::{Cli, Command, LogFormat};
use crm_mart::config::Settings;
use crm_mart::pipeline::Ctx;

/// mimalloc gives freed memory back to the OS 10 ms after it is freed; the ETL frees and reuses
/// hundreds of megabytes per source file, so pages went back and forth and the kernel zeroing
/// them again was 13 % of a 100,000-customer load. A one-second delay keeps them for reuse: that
/// load ~17 % faster, and the same peak RSS at 1,000,000 customers (BENCHMARKS.md). The
/// `MIMALLOC_PURGE_DELAY` environment variable still decides when it is set.
#[cfg(not(feature = "system-allocator"))]
fn tune_allocator() {
    use std::ffi::{c_int, c_long};
    // `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys 0.1.49).
    const MI_OPTION_PURGE_DELAY: c_int = 15;
    unsafe extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's runtime options; valid at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
    }
}

fn main() -> ExitCode {
    #[cfg(not(feature = "system-allocator"))]
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(1),
            };
        }
    };
    init_logging(&cli);
    quiet_caught_dependency_panics();
    match context(&cli).and_then(|ctx| commands::run(&cli, ctx.as_ref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if let Some(why) = storage_failure(&e) {
                eprintln!(
                    "error: cannot write: {why}. The disk is full, a file size or quota limit \
                     was reached, or the directory is not writable; no commit of this step was \
                     made after the failure. Make room (or fix the permissions) and run the \
                     command again: it continues where it stopped."
                );
                return ExitCode::from(1);
            }
            eprintln!("error: {}", with_flags(&e));
            if format!("{e:#}").contains("Resources exhausted") {
                eprintln!(
                    "the query needs more memory than its limit of {} MB; raise it with \
                     CRM_MART_MEMORY_LIMIT_MB=N, or narrow the query",
                    crm_mart::mart::engine::memory_limit() >> 20
                );
            }
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<crm_mart::error::Error>())
                .map(|e| e.exit_code())
                .unwrap_or(2);
            ExitCode::from(code as u8)
        }
    }
}

/// The settings, resolved once (from `--config` and the command's `--source` / `--mart`), and
/// the runtime every command runs in; None for `generate`, `completions` and `man`, which read
/// no settings.
fn context(cli: &Cli) -> anyhow::Result<Option<Ctx>> {
    let (source, mart) = match &cli.command {
        Command::Generate(_) | Command::Completions(_) | Command::Man(_) => return Ok(None),
        Command::Etl(a) => (a.source.as_deref(), a.mart.as_deref()),
        Command::Nightly(a) => (a.source.as_deref(), a.mart.as_deref()),
        Command::Query(a) => (None, a.mart.as_deref()),
        Command::Shell(a) => (None, a.mart.as_deref()),
        Command::Quarantine(a) => (None, a.mart.as_deref()),
        Command::Segment(a) => (None, a.mart.as_deref()),
        Command::Features(a) => (None, a.cut.mart.as_deref()),
        Command::Churn(a) => match &a.action {
            cli::ChurnAction::Train(a) => (None, a.cut.mart.as_deref()),
            cli::ChurnAction::Score(a) => (None, a.mart.as_deref()),
        },
        Command::Value(a) => (None, a.mart.as_deref()),
        Command::Basket(a) => (None, a.mart.as_deref()),
        Command::Recommend(a) => (None, a.mart.as_deref()),
        Command::Report(a) => (None, a.mart.as_deref()),
        Command::Models(_) => (None, None),
        Command::Maintain(a) => (None, a.mart.as_deref()),
        Command::Runs(a) => (None, a.mart.as_deref()),
        Command::Forget(a) => (None, a.mart.as_deref()),
    };
    let settings = Settings::resolve(cli.config.as_deref(), source, mart)?;
    Ok(Some(Ctx::new(settings)?))
}

/// The error chain, with a library parameter named by its command-line flag (`as_of 2031-01-01
/// is …` → `--as-of 2031-01-01 is …`).
fn with_flags(e: &anyhow::Error) -> String {
    let mut text = format!("{e:#}");
    if let Some(crm_mart::error::Error::Params { field, why }) = e
        .chain()
        .find_map(|c| c.downcast_ref::<crm_mart::error::Error>())
    {
        text = text.replacen(
            &format!("{field} {why}"),
            &format!("{} {why}", cli::flag(field)),
            1,
        );
    }
    flags_for_params(&text)
}

/// A library error with its causes, parameters named by their flags (the run log's text).
fn library_error_with_flags(e: &crm_mart::error::Error) -> String {
    let mut text = crm_mart::pipeline::nightly::error_chain(e);
    if let crm_mart::error::Error::Params { field, why } = e {
        text = text.replacen(
            &format!("{field} {why}"),
            &format!("{} {why}", cli::flag(field)),
            1,
        );
    }
    flags_for_params(&text)
}

/// Every parameter a library message names (`‹as_of›`, [`crm_mart::error::param`]) as its flag.
fn flags_for_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('‹') {
        let after = &rest[i + '‹'.len_utf8()..];
        let Some(n) = after.find('›') else { break };
        out.push_str(&rest[..i]);
        out.push_str(&cli::flag(&after[..n]));
        rest = &after[n + '›'.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The operating system's reason when `e` is a failed write to storage: no space, a file too
/// large for the limit, a quota, a read-only file system, no permission. These are not bugs but
/// the machine's state, so they exit 1 with one plain sentence instead of the writer's nested
/// error chain.
fn storage_failure(e: &anyhow::Error) -> Option<String> {
    let text = format!("{e:#}");
    let mut kinds = [
        ("No space left on device", 28),
        ("File too large", 27),
        ("Disk quota exceeded", 122),
        ("Read-only file system", 30),
        ("Permission denied", 13),
    ]
    .into_iter();
    let (what, code) = kinds.find(|(_, code)| text.contains(&format!("(os error {code})")))?;
    // The path: ours when the error is one of ours, else the first absolute one named.
    let ours = e
        .chain()
        .find_map(|c| match c.downcast_ref::<crm_mart::error::Error>() {
            Some(crm_mart::error::Error::Io { path, .. }) => {
                Some(format!(" at {}", path.display()))
            }
            _ => None,
        });
    let path = ours.unwrap_or_else(|| {
        text.split(['"', '\'', ' ', '`'])
            .map(|p| p.trim_end_matches([':', ',', ';', ')']))
            .find(|p| p.starts_with('/') && p.len() > 1)
            .map(|p| format!(" at {p}"))
            .unwrap_or_default()
    });
    Some(format!("{what} (os error {code}){path}"))
}

/// delta-rs aborts a Parquet upload that failed (e.g. on a full disk) on a writer object_store
/// has already closed; object_store panics on that, delta-rs catches the panic and returns the
/// original error. The panic message is noise beside that error, so it is not printed; every
/// other panic is reported as usual.
fn quiet_caught_dependency_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let from_object_store = info.location().is_some_and(|l| {
            l.file().contains("object_store") && l.file().ends_with("buffered.rs")
        });
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if from_object_store && message == "Already shut down" {
            return;
        }
        default(info);
    }));
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(cli: &Cli) {
    let level = if cli.quiet { "error" } else { "warn" };
    // Ballista's scheduler logs a harmless error when it cannot attach run-time metrics to a
    // re-planned stage's display; it is not a failure of the query.
    // Loading a version whose log `maintain` cleaned up makes the Delta kernel log an error
    // before it returns one; crm-mart turns that into its own message (the batches that remain).
    let default =
        format!("{level},ballista_scheduler::display=off,buoyant_kernel::snapshot::builder=off");
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRM_MART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal who has not asked for none (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
