//! One function per command: settings → library call → output. stdout is data, stderr is talk.

use std::io::Write;

mod recommend;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_mart::cli::{
    BasketArgs, ChurnAction, Cli, Command, EtlArgs, FeaturesArgs, GenerateArgs, ModelsAction,
    QueryArgs, RecommendArgs, SegmentArgs, ValueArgs, ValueInput,
};
use crm_mart::config::Settings;
use crm_mart::etl::{self, EtlReport};
use crm_mart::sample::{self, GenerateSettings};

/// Runs the parsed command.
pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Generate(a) => generate(cli, a),
        Command::Etl(a) => run_etl(cli, a),
        Command::Nightly(a) => nightly(cli, a),
        Command::Query(a) => query(cli, a),
        Command::Segment(a) => segment(cli, a),
        Command::Features(a) => export_features(cli, a),
        Command::Churn(a) => churn(cli, &a.action),
        Command::Value(a) => value(cli, a),
        Command::Basket(a) => basket(cli, a),
        Command::Recommend(a) => recommend::run(cli, a),
        Command::Report(a) => report(cli, a),
        Command::Models(a) => match a.action {
            ModelsAction::List => models_list(cli),
        },
    }
}

fn generate(cli: &Cli, a: &GenerateArgs) -> Result<()> {
    let s = GenerateSettings {
        out: a.out.clone(),
        customers: a.customers,
        months: a.months,
        start: a.start,
        seed: a.seed,
        dirty_rate: a.dirty_rate,
    };
    let t = std::time::Instant::now();
    let summary =
        sample::generate(&s).with_context(|| format!("generating into {}", a.out.display()))?;
    if !cli.quiet {
        eprintln!(
            "wrote {} customers, {} order lines, {} contacts ({} planted defects) to {} in {:.1}s",
            summary.customers,
            summary.sales_lines,
            summary.contacts,
            summary.defects,
            a.out.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn run_etl(cli: &Cli, a: &EtlArgs) -> Result<()> {
    let settings = Settings::resolve(
        cli.config.as_deref(),
        a.source.as_deref(),
        a.mart.as_deref(),
    )?;
    let report = etl::run(&settings, !cli.quiet)?;
    if cli.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    write_summary(&mut out, &report)?;
    match &report.batch_id {
        None => eprintln!(
            "nothing to load: all {} source files in {} were loaded by earlier batches",
            report.files_already_loaded,
            settings.source_dir.display()
        ),
        Some(id) => eprintln!(
            "batch {id} (#{}) loaded into {} in {:.1}s; committed: {}{}",
            report.seq,
            settings.mart_dir.display(),
            report.seconds,
            report.tables_committed.join(", "),
            if report.files_already_loaded > 0 {
                format!(
                    "; {} files skipped (already loaded)",
                    report.files_already_loaded
                )
            } else {
                String::new()
            }
        ),
    }
    Ok(())
}

/// Writes the per-entity summary table.
pub fn write_summary(out: &mut impl Write, report: &EtlReport) -> Result<()> {
    if report.entities.is_empty() {
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "entity",
        "files",
        "read",
        "loaded",
        "of which updated",
        "unchanged",
        "quarantined",
        "rows/s",
    ]);
    for e in &report.entities {
        let rate = if e.seconds > 0.0 {
            e.rows_read as f64 / e.seconds
        } else {
            0.0
        };
        t.add_row(vec![
            e.entity.clone(),
            e.files.len().to_string(),
            e.rows_read.to_string(),
            e.rows_loaded.to_string(),
            e.rows_updated.to_string(),
            e.rows_unchanged.to_string(),
            e.rows_quarantined.to_string(),
            format!("{rate:.0}"),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

fn query(cli: &Cli, a: &QueryArgs) -> Result<()> {
    use std::io::IsTerminal;

    use crm_mart::error::Error;
    use crm_mart::mart::catalog::{self, Attachment};
    use crm_mart::mart::delta::Mart;
    use crm_mart::query::output::{self, Format, OutputOptions};
    use crm_mart::query::{self, QueryText, named};

    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    if a.list {
        let mut out = std::io::stdout().lock();
        for q in named::all(Some(&settings.queries_dir))? {
            writeln!(out, "{}  ({})\n    {}", q.name, q.origin, q.description)?;
            for p in &q.params {
                writeln!(out, "    --param {}  {}", p.signature(), p.description)?;
            }
        }
        return Ok(());
    }
    let text = match (&a.sql, &a.file, &a.name) {
        (Some(sql), _, _) => QueryText::Adhoc(sql.clone()),
        (_, Some(f), _) => QueryText::File(f.clone()),
        (_, _, Some(n)) => QueryText::Named(n.clone()),
        _ => unreachable!("clap requires one of SQL, --file, --name, --list"),
    };
    let prepared = query::prepare(&text, Some(&settings.queries_dir), &a.params)?;
    let engine = match &a.engine {
        Some(e) => e.parse()?,
        None => settings.engine.clone(),
    };
    let attachments: Vec<Attachment> = a
        .tables
        .iter()
        .map(|t| t.parse())
        .collect::<crm_mart::error::Result<_>>()?;
    let format = Format::choose(a.format.as_deref(), a.output.as_deref(), Format::Table)?;
    let stdout_tty = a.output.is_none() && std::io::stdout().is_terminal();
    let opts = OutputOptions {
        format,
        path: a.output.clone(),
        max_rows: match a.max_rows {
            Some(0) => None,
            Some(n) => Some(n),
            None if stdout_tty => Some(40),
            None => None,
        },
        width: if stdout_tty {
            comfy_table::Table::new().width()
        } else {
            None
        },
    };
    let rt = runtime()?;
    let t = std::time::Instant::now();
    let written = rt.block_on(async {
        let mart = Mart::new(&settings.mart_dir);
        let cat = catalog::open(&engine, &mart, a.as_of_version, &attachments).await?;
        let df = query::plan(&cat, &prepared).await?;
        if a.explain {
            let plan = query::explain(&cat, &prepared.label, df).await?;
            print!("{plan}");
            return Ok(None);
        }
        let stream = df
            .execute_stream()
            .await
            .map_err(|e| query::query_error(&cat, &prepared.label, e))?;
        match output::write(stream, &opts).await {
            Ok(w) => Ok(Some(w)),
            Err(Error::DataFusion(e)) => Err(query::query_error(&cat, &prepared.label, e)),
            Err(e) => Err(e),
        }
    })?;
    if let Some(w) = written
        && !cli.quiet
    {
        let shown = if w.shown < w.rows {
            format!(
                " ({} shown; --max-rows N or --format csv for more)",
                w.shown
            )
        } else {
            String::new()
        };
        if !w.hidden_columns.is_empty() {
            eprintln!(
                "{} columns not shown (terminal too narrow): {}; use --format csv, or a wider terminal",
                w.hidden_columns.len(),
                w.hidden_columns.join(", ")
            );
        }
        let to = a
            .output
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default();
        eprintln!(
            "{} rows{shown}{to} in {:.2}s",
            w.rows,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The async runtime of a command. Its threads get deep stacks: serialising and planning a long
/// query (a Ballista job's plan goes through protobuf recursively) outgrows the default 2 MiB.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .context("starting the async runtime")
}

fn segment(cli: &Cli, a: &SegmentArgs) -> Result<()> {
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;
    use crm_mart::ml::segment::{self, SegmentOptions};

    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    let opts = SegmentOptions {
        as_of: a.as_of,
        k: match a.k {
            crm_mart::cli::KChoice::Auto => None,
            crm_mart::cli::KChoice::Fixed(k) => Some(k),
        },
        seed: a.seed,
        n_runs: a.n_runs as usize,
    };
    let t = std::time::Instant::now();
    let rt = runtime()?;
    let (seg, version, risk) = rt.block_on(async {
        let mart = Mart::new(&settings.mart_dir);
        let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
        let seg = segment::run(&cat, &opts).await?;
        let model_version = format!("kmeans-k{}-seed{}-{}", seg.k, opts.seed, seg.as_of);
        let batch = seg.to_batch(&model_version, cat.mart_version)?;
        let version = mart
            .replace("customer_segments", vec![batch], "crm-mart-segment")
            .await?;
        let risk =
            crm_mart::recommend::lookup_f64(&cat, "churn_scores", "churn_probability").await?;
        Ok::<_, crm_mart::error::Error>((seg, version, risk))
    })?;
    if cli.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for (title, key) in [("cluster", 0), ("rfm_segment", 1)] {
        let mut groups: std::collections::BTreeMap<String, (usize, f64, f64, f64, usize)> =
            Default::default();
        for r in &seg.rows {
            let name = if key == 0 {
                seg.cluster_names[r.cluster].clone()
            } else {
                r.rfm_segment.to_string()
            };
            let g = groups.entry(name).or_default();
            g.0 += 1;
            g.1 += r.monetary;
            g.2 += r.margin;
            if let Some(p) = risk.get(&r.customer_id) {
                g.3 += p;
                g.4 += 1;
            }
        }
        let mut rows: Vec<_> = groups.into_iter().collect();
        rows.sort_by(|x, y| y.1.0.cmp(&x.1.0).then(x.0.cmp(&y.0)));
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            title,
            "customers",
            "share",
            "revenue",
            "margin",
            "churn risk",
        ]);
        let n = seg.rows.len() as f64;
        for (name, g) in rows {
            t.add_row(vec![
                name,
                g.0.to_string(),
                format!("{:.1}%", g.0 as f64 / n * 100.0),
                format!("{:.0}", g.1),
                format!("{:.0}", g.2),
                if g.4 > 0 {
                    format!("{:.1}%", g.3 / g.4 as f64 * 100.0)
                } else {
                    "-".into()
                },
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let sil = seg
        .silhouettes
        .iter()
        .map(|(k, s)| format!("k={k}: {s:.3}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "{} customers as of {} in {} clusters (silhouette {sil}); customer_segments version {version}; {:.1}s",
        seg.rows.len(),
        seg.as_of,
        seg.k,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn churn(cli: &Cli, action: &ChurnAction) -> Result<()> {
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;
    use crm_mart::ml::churn::{self, ChurnModel, TrainOptions};

    let t = std::time::Instant::now();
    let rt = runtime()?;
    match action {
        ChurnAction::Train(a) => {
            let settings = Settings::resolve(cli.config.as_deref(), None, a.cut.mart.as_deref())?;
            let opts = TrainOptions {
                as_of: a.cut.as_of,
                horizon_days: a.cut.horizon_days,
                seed: a.seed,
            };
            let model = rt.block_on(async {
                let mart = Mart::new(&settings.mart_dir);
                let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
                churn::train(&cat, &opts).await
            })?;
            let path = model.save(&settings.models_dir.join("churn"))?;
            if !cli.quiet {
                let m = &model.metrics;
                let mut out = std::io::stdout().lock();
                let mut tb = Table::new();
                tb.load_preset(UTF8_FULL_CONDENSED);
                tb.set_header(["model family", "test ROC AUC"]);
                for (f, auc) in &model.candidates {
                    tb.add_row(vec![f.clone(), format!("{auc:.4}")]);
                }
                writeln!(out, "{tb}")?;
                writeln!(
                    out,
                    "chosen: {}  ROC AUC {:.4}  PR AUC {:.4}  lift@10% {:.2}  Brier {:.4}  ({} test customers, churn rate {:.1}%)",
                    model.model.family(),
                    m.roc_auc,
                    m.pr_auc,
                    m.lift_top_decile,
                    m.brier,
                    m.test_customers,
                    m.test_churn_rate * 100.0
                )?;
                eprintln!(
                    "trained on {} (test {}), wrote {} and its model card in {:.1}s",
                    model.train_as_of,
                    model.test_as_of,
                    path.display(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        ChurnAction::Score(a) => {
            let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
            let path = match &a.model {
                Some(p) => p.clone(),
                None => churn::list(&settings.models_dir.join("churn"))?
                    .into_iter()
                    .rev()
                    .find(|(_, m)| m.is_ok())
                    .map(|(p, _)| p)
                    .ok_or_else(|| {
                        crm_mart::error::Error::usage(format!(
                            "no churn model in {}; train one with `crm-mart churn train`",
                            settings.models_dir.join("churn").display()
                        ))
                    })?,
            };
            let model = ChurnModel::load(&path)?;
            let (as_of, scores, version) = rt.block_on(async {
                let mart = Mart::new(&settings.mart_dir);
                let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
                let (as_of, scores) = churn::score(&cat, &model, a.as_of).await?;
                let batch = churn::to_batch(as_of, &scores, &model, cat.mart_version)?;
                let version = mart
                    .replace("churn_scores", vec![batch], "crm-mart-churn")
                    .await?;
                Ok::<_, crm_mart::error::Error>((as_of, scores, version))
            })?;
            if !cli.quiet {
                let mut out = std::io::stdout().lock();
                let mut tb = Table::new();
                tb.load_preset(UTF8_FULL_CONDENSED);
                tb.set_header(["risk band", "customers", "mean probability"]);
                for b in ["high", "medium", "low"] {
                    let v: Vec<f64> = scores
                        .iter()
                        .filter(|s| s.band == b)
                        .map(|s| s.probability)
                        .collect();
                    let mean = if v.is_empty() {
                        0.0
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    };
                    tb.add_row(vec![
                        b.to_string(),
                        v.len().to_string(),
                        format!("{mean:.3}"),
                    ]);
                }
                writeln!(out, "{tb}")?;
                eprintln!(
                    "scored {} customers as of {as_of} with {}; churn_scores version {version}; {:.1}s",
                    scores.len(),
                    model.version,
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(())
}

fn report(cli: &Cli, a: &crm_mart::cli::ReportArgs) -> Result<()> {
    use crm_mart::cli::ReportFormat;
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;

    let t = std::time::Instant::now();
    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        let mart = Mart::new(&settings.mart_dir);
        let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
        let last = crm_mart::etl::last_batch_at(&mart).await?;
        let warnings: Vec<String> = crm_mart::etl::stale_warning(
            last,
            chrono::Utc::now(),
            settings.quality.stale_after_days,
        )
        .into_iter()
        .collect();
        crm_mart::report::build(&cat, &settings.models_dir, a.show_pii, warnings).await
    })?;
    std::fs::create_dir_all(&a.out).map_err(|e| crm_mart::error::Error::io(&a.out, e))?;
    let mut written = Vec::new();
    for f in &a.format {
        let (name, text) = match f {
            ReportFormat::Html => ("decision-report.html", crm_mart::report::html(&report)),
            ReportFormat::Md => ("decision-report.md", crm_mart::report::markdown(&report)),
            ReportFormat::Xlsx => {
                let path = a.out.join("decision-report.xlsx");
                crm_mart::report::xlsx(&report, &path)?;
                written.push(path.display().to_string());
                continue;
            }
        };
        let path = a.out.join(name);
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, text).map_err(|e| crm_mart::error::Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| crm_mart::error::Error::io(&path, e))?;
        written.push(path.display().to_string());
    }
    if !cli.quiet {
        let missing = report
            .sections
            .iter()
            .filter(|s| s.missing.is_some())
            .count();
        eprintln!(
            "report of mart version {}: {} sections ({missing} without data), {} model cards → {}; {:.1}s",
            report.mart_version.map_or("-".into(), |v| v.to_string()),
            report.sections.len(),
            report.models.len(),
            written.join(", "),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn basket(cli: &Cli, a: &BasketArgs) -> Result<()> {
    use crm_mart::basket::{self, fpgrowth, rules};
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;
    use crm_mart::query::output::{self, Format};

    let t = std::time::Instant::now();
    if !(a.min_support > 0.0 && a.min_support.is_finite()) {
        return Err(crm_mart::error::Error::usage(format!(
            "--min-support {}: give a fraction of the baskets (0 < s < 1) or a count (≥ 1)",
            a.min_support
        ))
        .into());
    }
    if !(0.0..=1.0).contains(&a.min_confidence) {
        return Err(crm_mart::error::Error::usage(format!(
            "--min-confidence {} must be between 0 and 1",
            a.min_confidence
        ))
        .into());
    }
    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    let format = match &a.output {
        Some(p) => Some(Format::choose(a.format.as_deref(), Some(p), Format::Csv)?),
        None => None,
    };
    let rt = runtime()?;
    let mart = Mart::new(&settings.mart_dir);
    let (baskets, names, level, mart_version) = match &a.input {
        Some(path) => {
            let b = basket::input::read(path, a.input_format, &a.basket_col, &a.item_col)?;
            let names = b.items.clone();
            (b, names, "item".to_string(), None)
        }
        None => rt.block_on(async {
            let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
            let (b, names) = basket::from_mart(&cat, a.level, a.from, a.to).await?;
            Ok::<_, crm_mart::error::Error>((
                b,
                names,
                a.level.as_str().to_string(),
                cat.mart_version,
            ))
        })?,
    };
    let n = baskets.transactions.len();
    let min_count = basket::min_count(a.min_support, n);
    let sets = fpgrowth::frequent_itemsets(
        &baskets.transactions,
        baskets.items.len(),
        fpgrowth::MineOptions {
            min_count,
            max_len: a.max_len,
        },
    );
    let mined_s = t.elapsed().as_secs_f64();
    let write = |batch: arrow::array::RecordBatch| -> Result<()> {
        if let (Some(path), Some(format)) = (&a.output, format) {
            rt.block_on(output::write_batch(batch, format, path))?;
        }
        Ok(())
    };
    if a.itemsets {
        let mut sets = sets;
        sets.sort_by(|x, y| y.count.cmp(&x.count).then(x.items.cmp(&y.items)));
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("items", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("size", arrow::datatypes::DataType::Int64, false),
            arrow::datatypes::Field::new("count", arrow::datatypes::DataType::Int64, false),
            arrow::datatypes::Field::new("support", arrow::datatypes::DataType::Float64, false),
        ]));
        let batch = arrow::array::RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(arrow::array::StringArray::from_iter_values(
                    sets.iter().map(|s| {
                        s.items
                            .iter()
                            .map(|i| names[*i as usize].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }),
                )),
                std::sync::Arc::new(arrow::array::Int64Array::from_iter_values(
                    sets.iter().map(|s| s.items.len() as i64),
                )),
                std::sync::Arc::new(arrow::array::Int64Array::from_iter_values(
                    sets.iter().map(|s| s.count as i64),
                )),
                std::sync::Arc::new(arrow::array::Float64Array::from_iter_values(
                    sets.iter().map(|s| s.count as f64 / n as f64),
                )),
            ],
        )?;
        write(batch)?;
        if !cli.quiet {
            eprintln!(
                "{} frequent itemsets (support count ≥ {min_count} of {n} baskets, {} items) in {mined_s:.2}s",
                sets.len(),
                baskets.items.len()
            );
        }
        return Ok(());
    }
    let set = rules::generate(
        &sets,
        n as u64,
        rules::RuleOptions {
            min_confidence: a.min_confidence,
            min_lift: a.min_lift,
            max_antecedent: a.max_antecedent,
            max_rules: a.max_rules,
            prune_redundant: !a.keep_redundant,
        },
    );
    let batch = basket::to_batch(&set.rules, &baskets.items, &names, &level, mart_version)?;
    write(batch.clone())?;
    let table_version = if a.input.is_none() {
        Some(rt.block_on(mart.replace("basket_rules", vec![batch], "crm-mart-basket"))?)
    } else {
        None
    };
    if cli.quiet {
        return Ok(());
    }
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header([
        "#",
        "if a basket has",
        "it also has",
        "support",
        "confidence",
        "lift",
        "baskets",
    ]);
    for (k, r) in set.rules.iter().take(a.top).enumerate() {
        tb.add_row(vec![
            (k + 1).to_string(),
            r.antecedent
                .iter()
                .map(|i| names[*i as usize].as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            names[r.consequent as usize].clone(),
            format!("{:.4}", r.support()),
            format!("{:.3}", r.confidence()),
            format!("{:.2}", r.lift()),
            r.rule_count.to_string(),
        ]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    eprintln!(
        "{n} baskets, {} items; {} frequent itemsets (count ≥ {min_count}); {} rules met the thresholds, {} redundant dropped, {} over the cap dropped, {} kept{}; {:.2}s",
        baskets.items.len(),
        sets.len(),
        set.candidates,
        set.redundant,
        set.capped,
        set.rules.len(),
        table_version
            .map(|v| format!("; basket_rules version {v}"))
            .unwrap_or_default(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn value(cli: &Cli, a: &ValueArgs) -> Result<()> {
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;
    use crm_mart::ml::clv::{self, ValueOptions, input};
    use crm_mart::query::output::{self, Format};

    let t = std::time::Instant::now();
    let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
    let opts = ValueOptions {
        as_of: a.as_of,
        calibration_end: a.calibration_end,
        holdout_days: a.holdout_days,
        discount_rate: a.discount_rate,
        penalizer: a.penalizer,
    };
    let format = match &a.output {
        Some(p) => Some(Format::choose(a.format.as_deref(), Some(p), Format::Csv)?),
        None => None,
    };
    let rt = runtime()?;
    let (run, mart_table_version) = match &a.input {
        Some(path) => {
            let source = path.display().to_string();
            let run = match a.input_format {
                ValueInput::Summary => {
                    let s = input::read_summary(path, a.delimiter, &a.customer_col)?;
                    clv::run_summary(s, &opts, &source)?
                }
                ValueInput::Transactions => {
                    let spec = input::InputSpec {
                        path: path.clone(),
                        delimiter: a.delimiter,
                        header: !a.no_header,
                        customer: a.customer_col.clone(),
                        date: a.date_col.clone(),
                        amount: a.amount_col.clone(),
                        date_format: a.date_format.clone(),
                    };
                    let txns = input::read_transactions(&spec)?;
                    clv::run_transactions(&txns, &opts, &source, None)?
                }
            };
            (run, None)
        }
        None => rt.block_on(async {
            let mart = Mart::new(&settings.mart_dir);
            let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
            let txns = clv::from_mart(&cat, a.as_of).await?;
            let run = clv::run_transactions(&txns, &opts, "mart", cat.mart_version)?;
            let batch = clv::to_batch(&run)?;
            let v = mart
                .replace("customer_value", vec![batch], "crm-mart-value")
                .await?;
            Ok::<_, crm_mart::error::Error>((run, Some(v)))
        })?,
    };
    let model_path = run.model.save(&settings.models_dir.join("clv"))?;
    if let (Some(path), Some(format)) = (&a.output, format) {
        rt.block_on(output::write_batch(clv::to_batch(&run)?, format, path))?;
    }
    if cli.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{}", value_report(&run))?;
    eprintln!(
        "{} customers; model {}{}{}; {:.1}s",
        run.summary.ids.len(),
        model_path.display(),
        mart_table_version
            .map(|v| format!("; customer_value version {v}"))
            .unwrap_or_default(),
        a.output
            .as_ref()
            .map(|p| format!("; values in {}", p.display()))
            .unwrap_or_default(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The terminal report of a value run: parameters, the holdout check, the CLV distribution and
/// the most valuable customers.
fn value_report(run: &crm_mart::ml::clv::ValueRun) -> String {
    let m = &run.model;
    let mut s = String::new();
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header([
        "BG/NBD",
        "r",
        "alpha",
        "a",
        "b",
        "log-likelihood",
        "customers",
    ]);
    tb.add_row(vec![
        "all data".to_string(),
        format!("{:.4}", m.bgnbd.r),
        format!("{:.4}", m.bgnbd.alpha),
        format!("{:.4}", m.bgnbd.a),
        format!("{:.4}", m.bgnbd.b),
        format!("{:.2}", m.bgnbd_fit.log_likelihood),
        m.bgnbd_fit.customers.to_string(),
    ]);
    if let Ok(h) = &m.holdout {
        tb.add_row(vec![
            format!("up to {}", h.calibration_end),
            format!("{:.4}", h.bgnbd.r),
            format!("{:.4}", h.bgnbd.alpha),
            format!("{:.4}", h.bgnbd.a),
            format!("{:.4}", h.bgnbd.b),
            format!("{:.2}", h.fit.log_likelihood),
            h.fit.customers.to_string(),
        ]);
    }
    s.push_str(&format!("{tb}\n"));
    match (&m.gamma_gamma, &m.gamma_gamma_fit) {
        (Some(g), Some(f)) => {
            let mut tb = Table::new();
            tb.load_preset(UTF8_FULL_CONDENSED);
            tb.set_header([
                "Gamma-Gamma",
                "p",
                "q",
                "v",
                "log-likelihood",
                "repeat buyers",
            ]);
            tb.add_row(vec![
                "all data".to_string(),
                format!("{:.4}", g.p),
                format!("{:.4}", g.q),
                format!("{:.4}", g.v),
                format!("{:.2}", f.log_likelihood),
                f.customers.to_string(),
            ]);
            s.push_str(&format!("{tb}\n"));
        }
        _ => s.push_str(&format!(
            "Gamma-Gamma not used: {}\n",
            m.value_fallback.as_deref().unwrap_or("-")
        )),
    }
    match &m.holdout {
        Ok(h) => {
            let mut tb = Table::new();
            tb.load_preset(UTF8_FULL_CONDENSED);
            tb.set_header([
                "calibration repeat purchases",
                "customers",
                "actual holdout purchases",
                "predicted",
            ]);
            for r in &h.rows {
                tb.add_row(vec![
                    r.frequency.clone(),
                    r.customers.to_string(),
                    format!("{:.3}", r.actual),
                    format!("{:.3}", r.predicted),
                ]);
            }
            s.push_str(&format!(
                "Holdout check: fitted up to {}, purchases to {}\n{tb}\ntotal {:.0} actual, {:.1} predicted; mean absolute error {:.3} per customer\n",
                h.calibration_end, h.holdout_end, h.total_actual, h.total_predicted, h.mean_absolute_error
            ));
        }
        Err(why) => s.push_str(&format!("Holdout check not run: {why}\n")),
    }
    let p = &run.predictions;
    let mut clv: Vec<f64> = p.iter().map(|p| p.clv_12m).collect();
    clv.sort_by(f64::total_cmp);
    let q = |f: f64| clv[((clv.len() - 1) as f64 * f).round() as usize];
    let n = p.len() as f64;
    s.push_str(&format!(
        "{} customers: mean P(alive) {:.3}, expected purchases {:.1} in 90 days and {:.1} in 12 months; \
         CLV 12 months total {:.2}, median {:.2}, 90th percentile {:.2}, max {:.2}\n",
        p.len(),
        p.iter().map(|p| p.p_alive).sum::<f64>() / n,
        p.iter().map(|p| p.purchases_90d).sum::<f64>(),
        p.iter().map(|p| p.purchases_12m).sum::<f64>(),
        clv.iter().sum::<f64>(),
        q(0.5),
        q(0.9),
        q(1.0),
    ));
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|i, j| p[*j].clv_12m.total_cmp(&p[*i].clv_12m));
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header([
        "customer",
        "repeat purchases",
        "P(alive)",
        "purchases 90d",
        "avg value",
        "CLV 12m",
    ]);
    for &i in order.iter().take(10) {
        tb.add_row(vec![
            run.summary.ids[i].clone(),
            (run.summary.x[i] as i64).to_string(),
            format!("{:.3}", p[i].p_alive),
            format!("{:.2}", p[i].purchases_90d),
            format!("{:.2}", p[i].avg_value),
            format!("{:.2}", p[i].clv_12m),
        ]);
    }
    s.push_str(&format!("Most valuable customers\n{tb}\n"));
    s
}

fn models_list(cli: &Cli) -> Result<()> {
    use crm_mart::ml::{churn, clv};
    let settings = Settings::resolve(cli.config.as_deref(), None, None)?;
    let mut tb = Table::new();
    tb.load_preset(UTF8_FULL_CONDENSED);
    tb.set_header([
        "kind",
        "version",
        "model",
        "created",
        "mart version",
        "as of",
        "metrics",
    ]);
    let mut count = 0;
    let unreadable = |kind: &str, path: &std::path::Path, e: &crm_mart::error::Error| {
        vec![
            kind.to_string(),
            path.display().to_string(),
            format!("unreadable: {e}"),
        ]
    };
    for (path, m) in churn::list(&settings.models_dir.join("churn"))? {
        count += 1;
        tb.add_row(match &m {
            Ok(m) => vec![
                "churn".to_string(),
                m.version.clone(),
                m.model.family().to_string(),
                m.created_at.clone(),
                m.mart_version.map_or("-".into(), |v| v.to_string()),
                m.test_as_of.to_string(),
                format!(
                    "test ROC AUC {:.4}, PR AUC {:.4}",
                    m.metrics.roc_auc, m.metrics.pr_auc
                ),
            ],
            Err(e) => unreadable("churn", &path, e),
        });
    }
    for (path, m) in clv::list(&settings.models_dir.join("clv"))? {
        count += 1;
        tb.add_row(match &m {
            Ok(m) => vec![
                "clv".to_string(),
                m.version.clone(),
                if m.gamma_gamma.is_some() {
                    "BG/NBD + Gamma-Gamma".to_string()
                } else {
                    "BG/NBD".to_string()
                },
                m.created_at.clone(),
                m.mart_version.map_or("-".into(), |v| v.to_string()),
                m.as_of.map_or("-".into(), |d| d.to_string()),
                match &m.holdout {
                    Ok(h) => format!(
                        "LL {:.1}; holdout {:.0} actual / {:.1} predicted",
                        m.bgnbd_fit.log_likelihood, h.total_actual, h.total_predicted
                    ),
                    Err(_) => format!("LL {:.1}", m.bgnbd_fit.log_likelihood),
                },
            ],
            Err(e) => unreadable("clv", &path, e),
        });
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tb}")?;
    if !cli.quiet {
        eprintln!("{count} models in {}", settings.models_dir.display());
    }
    Ok(())
}

fn export_features(cli: &Cli, a: &FeaturesArgs) -> Result<()> {
    use crm_mart::mart::catalog;
    use crm_mart::mart::delta::Mart;
    use crm_mart::ml::features;
    use crm_mart::query::output::{self, Format, OutputOptions};

    let settings = Settings::resolve(cli.config.as_deref(), None, a.cut.mart.as_deref())?;
    let format = Format::choose(a.format.as_deref(), a.output.as_deref(), Format::Csv)?;
    let opts = OutputOptions {
        format,
        path: a.output.clone(),
        max_rows: None,
        width: None,
    };
    let rt = runtime()?;
    let written = rt.block_on(async {
        let mart = Mart::new(&settings.mart_dir);
        let cat = catalog::open(&settings.engine, &mart, None, &[]).await?;
        let (train, test) =
            crm_mart::ml::churn::cuts(&cat, a.cut.as_of, a.cut.horizon_days).await?;
        let stream = features::export(
            &cat,
            &[(train, "train"), (test, "test")],
            a.cut.horizon_days,
        )
        .await?;
        output::write(stream, &opts).await
    })?;
    if !cli.quiet {
        eprintln!(
            "{} feature rows{}",
            written.rows,
            a.output
                .as_ref()
                .map(|p| format!(" to {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The stages of the scheduled job, in order.
const STAGES: &[&str] = &[
    "etl",
    "segment",
    "churn",
    "value",
    "basket",
    "recommend",
    "report",
];

/// Output tables whose row counts the run log records after each stage.
fn stage_tables(stage: &str) -> &'static [&'static str] {
    match stage {
        "etl" => &["fact_sales", "fact_contacts", "_quarantine"],
        "segment" => &["customer_segments"],
        "churn" => &["churn_scores"],
        "value" => &["customer_value"],
        "basket" => &["basket_rules"],
        "recommend" => &["recommendations"],
        _ => &[],
    }
}

/// The whole pipeline for cron: etl → segment → churn (retrain when the newest model is older
/// than `[nightly] retrain_after_days` or with --retrain, else score) → value → basket →
/// recommend (with the configured CRM sinks). One run at a time; each stage commits on its own,
/// so a failure leaves the earlier stages in place and the next run starts over (the ETL loads
/// only what is new). Every stage appends a JSON line to the run log.
fn nightly(cli: &Cli, a: &crm_mart::cli::NightlyArgs) -> Result<()> {
    use std::io::IsTerminal;

    use crm_mart::mart::delta::Mart;

    let started = std::time::Instant::now();
    let settings = Settings::resolve(
        cli.config.as_deref(),
        a.source.as_deref(),
        a.mart.as_deref(),
    )?;
    let log_path = a
        .log
        .clone()
        .unwrap_or_else(|| settings.nightly_log.clone());
    // The churn decision.
    let newest = crm_mart::ml::churn::list(&settings.models_dir.join("churn"))?
        .into_iter()
        .rev()
        .find_map(|(_, m)| m.ok());
    let now = chrono::Utc::now();
    let age_days = newest.as_ref().and_then(|m| {
        chrono::DateTime::parse_from_rfc3339(&m.created_at)
            .ok()
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_days())
    });
    let retrain_why = if a.retrain {
        Some("--retrain".to_string())
    } else {
        match (&newest, age_days) {
            (None, _) => Some("no model yet".to_string()),
            (Some(_), Some(d)) if d > settings.retrain_after_days as i64 => Some(format!(
                "the newest model is {d} days old, more than {}",
                settings.retrain_after_days
            )),
            _ => None,
        }
    };
    let sinks = if settings.sinks.is_empty() {
        "no CRM sink".to_string()
    } else {
        settings
            .sinks
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plan: Vec<(&str, String)> = vec![
        (
            "etl",
            format!(
                "load new source files from {} into {}",
                settings.source_dir.display(),
                settings.mart_dir.display()
            ),
        ),
        (
            "segment",
            "RFM scores and k-means clusters (k by silhouette) as of the last order day → customer_segments".into(),
        ),
        (
            "churn",
            match (&retrain_why, &newest) {
                (Some(why), _) => format!("train a new model ({why}), then score → churn_scores"),
                (None, Some(m)) => format!(
                    "score with {} ({} days old) → churn_scores",
                    m.version,
                    age_days.unwrap_or(0)
                ),
                (None, None) => unreachable!("no model means retrain"),
            },
        ),
        (
            "value",
            "BG/NBD + Gamma-Gamma with a 182-day holdout check → customer_value, models/clv/".into(),
        ),
        ("basket", "product-level association rules → basket_rules".into()),
        (
            "recommend",
            format!("replenish and cross-sell lists and a next-best action under the contact policy per customer → recommendations; {sinks}"),
        ),
        (
            "report",
            format!(
                "decision-report.html, .xlsx and .md in {}",
                settings
                    .mart_dir
                    .parent()
                    .map(|p| p.join("reports"))
                    .unwrap_or_else(|| "reports".into())
                    .display()
            ),
        ),
    ];
    if a.dry_run {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "crm-mart nightly plan (nothing is changed by --dry-run):"
        )?;
        for (k, (stage, what)) in plan.iter().enumerate() {
            writeln!(out, "  {}. {stage}: {what}", k + 1)?;
        }
        writeln!(out, "run log: {}", log_path.display())?;
        return Ok(());
    }
    let _lock = crm_mart::etl::lock_file(&settings.mart_dir, ".nightly.lock", |path, holder| {
        crm_mart::error::Error::Running { path, holder }
    })?;
    let run_id = format!(
        "nightly-{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    );
    if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| crm_mart::error::Error::io(dir, e))?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| crm_mart::error::Error::io(&log_path, e))?;
    let mut log_line = |v: serde_json::Value| -> Result<()> {
        writeln!(log, "{v}").map_err(|e| crm_mart::error::Error::io(&log_path, e))?;
        Ok(())
    };
    // On a terminal: one progress line per stage and the stages' own output. Under cron: the
    // stages are quiet; the run log has the story and errors go to stderr.
    let tty = std::io::stderr().is_terminal();
    let mut stage_cli = cli.clone();
    stage_cli.quiet = cli.quiet || !tty;
    let stage_cli = &stage_cli;
    let rt = runtime()?;
    let mart = Mart::new(&settings.mart_dir);
    let n = STAGES.len();
    for (k, stage) in STAGES.iter().enumerate() {
        if tty && !cli.quiet {
            eprintln!("[{}/{n}] {stage}: {}", k + 1, plan[k].1);
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let t = std::time::Instant::now();
        reset_peak_rss();
        let result = run_stage(stage_cli, a, stage, retrain_why.is_some());
        let peak_rss_mb = peak_rss_mb();
        let mut rows = serde_json::Map::new();
        for table in stage_tables(stage) {
            if let Ok(b) = rt.block_on(mart.query(table, &format!("SELECT count(*) FROM {table}")))
                && let Some(b) = b.first()
            {
                let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64)?;
                let c = c.as_any().downcast_ref::<arrow::array::Int64Array>();
                if let Some(c) = c.filter(|c| !c.is_empty()) {
                    rows.insert(table.to_string(), c.value(0).into());
                }
            }
        }
        let elapsed = t.elapsed().as_secs_f64();
        let (status, error) = match &result {
            Ok(()) => ("ok", serde_json::Value::Null),
            Err(e) => ("failed", format!("{e:#}").into()),
        };
        // After the load: are the sources still arriving?
        let warning = if *stage == "etl" && result.is_ok() {
            let last = rt.block_on(crm_mart::etl::last_batch_at(&mart))?;
            crm_mart::etl::stale_warning(
                last,
                chrono::Utc::now(),
                settings.quality.stale_after_days,
            )
        } else {
            None
        };
        if let Some(w) = &warning {
            eprintln!("warning: {w}");
        }
        log_line(serde_json::json!({
            "run_id": run_id, "stage": stage, "started_at": at, "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
            "status": status, "rows": rows, "peak_rss_mb": peak_rss_mb, "error": error,
            "warning": warning,
        }))?;
        if let Err(e) = result {
            log_line(serde_json::json!({
                "run_id": run_id, "stage": "run", "status": "failed", "failed_stage": stage,
                "elapsed_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            }))?;
            return Err(e.context(format!(
                "nightly stage {stage} failed; the stages before it are committed, and the next run starts over"
            )));
        }
    }
    log_line(serde_json::json!({
        "run_id": run_id, "stage": "run", "status": "ok",
        "elapsed_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }))?;
    if !cli.quiet {
        eprintln!(
            "nightly {run_id}: {n} stages ok in {:.1}s; log {}",
            started.elapsed().as_secs_f64(),
            log_path.display()
        );
    }
    Ok(())
}

/// Starts a new peak of this process's resident memory (Linux: `/proc/self/clear_refs`; elsewhere
/// nothing happens and the peak is the process's).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process since the last [`reset_peak_rss`], in MB (Linux
/// `VmHWM`; `null` in the run log where unknown).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Runs one stage of `nightly` with its defaults.
fn run_stage(cli: &Cli, a: &crm_mart::cli::NightlyArgs, stage: &str, retrain: bool) -> Result<()> {
    let etl_args = EtlArgs {
        source: a.source.clone(),
        mart: a.mart.clone(),
    };
    match stage {
        "etl" => run_etl(cli, &etl_args),
        "segment" => segment(
            cli,
            &SegmentArgs {
                mart: a.mart.clone(),
                as_of: None,
                k: crm_mart::cli::KChoice::Auto,
                seed: 42,
                n_runs: 4,
            },
        ),
        "churn" => {
            if retrain {
                churn(
                    cli,
                    &ChurnAction::Train(crm_mart::cli::ChurnTrainArgs {
                        cut: crm_mart::cli::CutArgs {
                            mart: a.mart.clone(),
                            as_of: None,
                            horizon_days: 90,
                        },
                        seed: 42,
                    }),
                )?;
            }
            churn(
                cli,
                &ChurnAction::Score(crm_mart::cli::ChurnScoreArgs {
                    mart: a.mart.clone(),
                    as_of: None,
                    model: None,
                }),
            )
        }
        "value" => value(
            cli,
            &ValueArgs {
                mart: a.mart.clone(),
                as_of: None,
                input: None,
                input_format: ValueInput::Transactions,
                delimiter: crm_mart::ml::clv::input::Delimiter::Auto,
                no_header: false,
                customer_col: crm_mart::ml::clv::input::Column::Name("customer_id".into()),
                date_col: crm_mart::ml::clv::input::Column::Name("date".into()),
                amount_col: crm_mart::ml::clv::input::Column::Name("amount".into()),
                date_format: None,
                calibration_end: None,
                holdout_days: 182,
                discount_rate: 0.01,
                penalizer: 0.0,
                output: None,
                format: None,
            },
        ),
        "basket" => basket(
            cli,
            &BasketArgs {
                mart: a.mart.clone(),
                level: crm_mart::basket::Level::Product,
                from: None,
                to: None,
                input: None,
                input_format: crm_mart::basket::input::BasketFormat::Basket,
                basket_col: "basket".into(),
                item_col: "item".into(),
                min_support: 0.005,
                min_confidence: 0.1,
                min_lift: 0.0,
                max_len: 0,
                max_antecedent: 0,
                max_rules: 100_000,
                keep_redundant: false,
                itemsets: false,
                output: None,
                format: None,
                top: 15,
            },
        ),
        "recommend" => recommend::run(
            cli,
            &RecommendArgs {
                mart: a.mart.clone(),
                as_of: None,
                top: 10,
                sink: Vec::new(),
                evaluate: false,
                holdout_days: 30,
                folds: 3,
                cross_sell_products: 1000,
            },
        ),
        "report" => {
            let settings = Settings::resolve(cli.config.as_deref(), None, a.mart.as_deref())?;
            report(
                cli,
                &crm_mart::cli::ReportArgs {
                    mart: a.mart.clone(),
                    out: settings
                        .mart_dir
                        .parent()
                        .map(|p| p.join("reports"))
                        .unwrap_or_else(|| "reports".into()),
                    format: vec![
                        crm_mart::cli::ReportFormat::Html,
                        crm_mart::cli::ReportFormat::Xlsx,
                        crm_mart::cli::ReportFormat::Md,
                    ],
                    show_pii: false,
                },
            )
        }
        other => Err(crm_mart::error::Error::Invariant(format!("unknown stage {other}")).into()),
    }
}
