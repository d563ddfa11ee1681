//! The SQL engine seam: where a DataFusion session comes from.
//!
//! Queries and commands only ever see a [`SessionContext`] with the mart's tables registered
//! (see [`super::catalog`]). The local engine builds that session in this process; a distributed
//! engine plugs in here by building its own kind of session (a Ballista client session is a
//! `SessionContext` too), so nothing above this module changes.

use std::str::FromStr;

use datafusion::execution::config::SessionConfig;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// Which engine runs the SQL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EngineSpec {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista scheduler at `url` (`ballista://HOST:PORT`).
    Ballista {
        /// The scheduler's address.
        url: String,
    },
    /// A Ballista scheduler and executor started inside this process (`ballista://standalone`):
    /// the whole distributed path (plans serialised over gRPC, executed by an executor) on one
    /// machine, for trying the engine out and for tests.
    BallistaStandalone,
}

impl EngineSpec {
    /// True for the engines that run on Ballista.
    pub fn is_distributed(&self) -> bool {
        !matches!(self, EngineSpec::Local)
    }
}

impl FromStr for EngineSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "local" {
            return Ok(EngineSpec::Local);
        }
        if s == "ballista://standalone" {
            return Ok(EngineSpec::BallistaStandalone);
        }
        if let Some(rest) = s.strip_prefix("ballista://") {
            let ok = rest
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if ok {
                return Ok(EngineSpec::Ballista { url: s.to_string() });
            }
        }
        Err(Error::usage(format!(
            "engine '{s}' is not understood; use 'local', 'ballista://HOST:PORT' or 'ballista://standalone'"
        )))
    }
}

impl std::fmt::Display for EngineSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineSpec::Local => f.write_str("local"),
            EngineSpec::Ballista { url } => f.write_str(url),
            EngineSpec::BallistaStandalone => f.write_str("ballista://standalone"),
        }
    }
}

/// The session configuration every engine starts from.
///
/// `information_schema` is on so that analysts can `SHOW TABLES` and `SHOW COLUMNS FROM t`.
/// Parquet filter pushdown with page-index pruning lets date and key filters skip pages of the
/// fact files, which are written sorted by month.
///
/// DataFusion's own `DATAFUSION_*` environment variables (e.g.
/// `DATAFUSION_EXECUTION_TARGET_PARTITIONS=4`) are honoured, so a deployment can tune the engine
/// without a rebuild; an unparsable value is ignored in favour of the default.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::from_env()
        .unwrap_or_default()
        .with_information_schema(true);
    // Larger batches: on the 100k-customer mart this cut the distinct-count queries by about half
    // and their peak memory by a quarter (BENCHMARKS.md).
    if std::env::var_os("DATAFUSION_EXECUTION_BATCH_SIZE").is_none() {
        config = config.with_batch_size(32 * 1024);
    }
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.enable_page_index = true;
    parquet.pruning = true;
    config
}

/// The memory a query may hold: `CRM_MART_MEMORY_LIMIT_MB`, else three quarters of the
/// machine's memory. Sorts and grouped aggregates spill to temporary files past it, and what
/// cannot spill fails with DataFusion's "Resources exhausted" error naming the operator, instead
/// of the process being killed by the kernel when memory runs out.
pub fn memory_limit() -> usize {
    if let Some(mb) = std::env::var("CRM_MART_MEMORY_LIMIT_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|mb| *mb > 0)
    {
        return mb << 20;
    }
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(8 << 20);
    total_kb / 4 * 3 * 1024
}

/// A new session on the chosen engine, with no tables registered yet.
///
/// A Ballista session plans on this side and sends the logical plan to the scheduler, which
/// cuts it into stages for its executors; the mart's tables are registered in a form every
/// Ballista executor can read (see [`super::catalog`]).
pub async fn session(spec: &EngineSpec) -> Result<SessionContext> {
    match spec {
        EngineSpec::Local => {
            let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_memory_limit(memory_limit(), 1.0)
                .build_arc()?;
            Ok(SessionContext::new_with_config_rt(
                session_config(),
                runtime,
            ))
        }
        #[cfg(feature = "distributed")]
        EngineSpec::Ballista { url } => {
            use ballista::prelude::SessionContextExt;
            check_reachable(url)?;
            SessionContext::remote_with_state(url, ballista_state())
                .await
                .map_err(|e| {
                    Error::usage(format!("engine {url}: cannot open a Ballista session: {e}"))
                })
        }
        #[cfg(feature = "distributed")]
        EngineSpec::BallistaStandalone => {
            use ballista::prelude::SessionContextExt;
            SessionContext::standalone_with_state(ballista_state())
                .await
                .map_err(|e| {
                    Error::usage(format!(
                        "engine ballista://standalone: cannot start the in-process scheduler and executor: {e}"
                    ))
                })
        }
        #[cfg(not(feature = "distributed"))]
        other => Err(Error::usage(format!(
            "engine {other}: this build of crm-mart has no distributed engine; rebuild with \
             `--features distributed`, or use {} local",
            crate::error::param("engine")
        ))),
    }
}

/// Fails early, with the address, when nothing answers at the scheduler's address (the client
/// would otherwise only find out inside the first query).
#[cfg(feature = "distributed")]
fn check_reachable(url: &str) -> Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let addr = url.trim_start_matches("ballista://");
    let unreachable = |why: String| {
        Error::usage(format!(
            "engine {url}: cannot reach the Ballista scheduler at {addr}: {why}; is it running?"
        ))
    };
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .collect();
    let mut last = String::from("the name has no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, std::time::Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

/// The session state a Ballista session starts from: our configuration and DataFusion's
/// default functions. The scheduler re-plans on its side with its own settings.
#[cfg(feature = "distributed")]
fn ballista_state() -> datafusion::execution::SessionState {
    let mut config = session_config();
    // Dynamic filters are filled at run time by a join's build side (or a top-k or aggregate)
    // and read by a scan of the same plan; Ballista cuts plans into stages that run as separate
    // tasks, and its scheduler re-optimises resolved stages, which fails on a join that already
    // carries one. Off, every query plans and runs.
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.enable_dynamic_filter_pushdown = false;
    optimizer.enable_join_dynamic_filter_pushdown = false;
    optimizer.enable_topk_dynamic_filter_pushdown = false;
    optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    // The adaptive planner re-plans the rest of the job after every stage; on the mart's
    // queries (many small stages) that planning dominated the run time, so the static
    // distributed planner is used.
    use ballista::prelude::SessionConfigExt;
    let mut config = config
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false);
    // Ballista turns DataFusion's hash joins off (they do not spill) in favour of sort-merge
    // joins, whose join-filter path fails on some of our queries (an index out of bounds in
    // DataFusion 55); the mart's build sides (dimensions, per-customer aggregates) fit in
    // memory, so hash joins it is.
    config.options_mut().optimizer.prefer_hash_join = true;
    datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_specs() {
        assert_eq!("local".parse::<EngineSpec>().unwrap(), EngineSpec::Local);
        assert_eq!(
            "ballista://10.0.0.1:50050".parse::<EngineSpec>().unwrap(),
            EngineSpec::Ballista {
                url: "ballista://10.0.0.1:50050".into()
            }
        );
        assert_eq!(
            "ballista://standalone".parse::<EngineSpec>().unwrap(),
            EngineSpec::BallistaStandalone
        );
        for bad in [
            "",
            "remote",
            "ballista://",
            "ballista://host",
            "ballista://:1",
        ] {
            let e = bad.parse::<EngineSpec>().unwrap_err().to_string();
            assert!(e.contains("ballista://HOST:PORT"), "{bad}: {e}");
        }
    }
}
