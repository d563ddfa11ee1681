//! The examples at the end of each command's `--help`: real invocations on the bundled sample
//! data (`crm-mart.toml` of a fresh clone), or on files of the user's own.

pub const GENERATE: &str = "Examples:
  crm-mart generate --out demo                        # 2,000 customers, 24 months
  crm-mart generate --out big --customers 100000 --dirty-rate 0.01
  crm-mart generate --out daily --period day --months 3   # one file per day, as a nightly export";

pub const ETL: &str = "Examples:
  crm-mart etl                                        # the [paths] of ./crm-mart.toml
  crm-mart etl --source exports/ --mart /data/mart
  CRM_MART_SOURCE=exports/ crm-mart etl               # the same, from the environment";

pub const NIGHTLY: &str = "Examples:
  crm-mart nightly                                    # every stage, then the report
  crm-mart nightly --dry-run                          # what each stage would do; changes nothing
  crm-mart --quiet nightly --log /var/log/crm-mart.jsonl   # from cron or a systemd timer";

pub const QUERY: &str = "Examples:
  crm-mart query \"SELECT segment, count(*) FROM customer_segments GROUP BY segment\"
  crm-mart query --name product_top_products --param top=5 --param category=Grocery
  crm-mart query --file q.sql --output q.xlsx         # the format follows the extension
  crm-mart query                                      # no SQL: the interactive shell";

pub const SHELL: &str = "Examples:
  crm-mart shell                                      # interactive; .help lists the commands
  crm-mart shell < checks.sql                         # run a script, printing each result
  echo '.mode csv
SELECT count(*) FROM fact_sales;' | crm-mart shell

Commands inside the shell: .tables, .schema TABLE (or \\d TABLE), .mode table|csv|json|markdown,
.timer on|off, .output FILE (.output alone: back to the terminal), .run NAME [key=value]...,
.queries, .refresh (reopen the mart's tables), .help, .quit. A statement ends with ';'.";

pub const SEGMENT: &str = "Examples:
  crm-mart segment                                    # k chosen by silhouette
  crm-mart segment --k 5 --as-of 2024-06-30";

pub const FEATURES: &str = "Examples:
  crm-mart features --output features.csv             # both cuts, with label and split
  crm-mart features --horizon-days 60 --output features.parquet";

pub const CHURN: &str = "Examples:
  crm-mart churn train                                # logistic regression and boosted trees; the better is kept
  crm-mart churn train --family gradient_boosting --horizon-days 60
  crm-mart churn score --as-of 2024-12-31";

pub const VALUE: &str = "Examples:
  crm-mart value                                      # BG/NBD + Gamma-Gamma on the mart
  crm-mart value --input cdnow_summary.csv            # a per-customer summary (frequency, recency, T)
  crm-mart value --input orders.csv --customer-col CustomerID --date-col InvoiceDate --amount-col Total";

pub const BASKET: &str = "Examples:
  crm-mart basket                                     # rules between products of the mart
  crm-mart basket --level subcategory --min-support 0.005 --output rules.csv
  crm-mart basket --input baskets.dat --input-format fimi --min-support 0.01 --itemsets";

pub const RECOMMEND: &str = "Examples:
  crm-mart recommend                                  # to the [crm] sinks of crm-mart.toml
  crm-mart recommend --sink csv:recs.csv --top 5
  crm-mart recommend --evaluate --folds 3             # against popularity and co-occurrence baselines";

pub const REPORT: &str = "Examples:
  crm-mart report                                     # reports/decision-report.{html,xlsx,md}
  crm-mart report --format xlsx --out /srv/share/crm";

pub const MODELS: &str = "Examples:
  crm-mart models list
  crm-mart models promote churn-20240930-h90-v3
  crm-mart models rollback";

pub const MAINTAIN: &str = "Examples:
  crm-mart maintain                                   # compact, checkpoint, vacuum past 30 days
  crm-mart maintain --retain-days 90 --compact-min-files 4";

pub const RUNS: &str = "Examples:
  crm-mart runs --last 5
  crm-mart runs show nightly-20241201T021500Z-4182";

pub const FORGET: &str = "Examples:
  crm-mart forget --customer C000123
  crm-mart forget --customer C000123 --customer C000456";

pub const QUARANTINE: &str = "Examples:
  crm-mart quarantine                                 # the last ETL batch
  crm-mart quarantine --batch 3 --samples 5
  crm-mart quarantine --format json | jq '.groups[] | {entity, code, rows}'";

pub const COMPLETIONS: &str = "Examples:
  crm-mart completions bash > ~/.local/share/bash-completion/completions/crm-mart
  crm-mart completions zsh > ~/.zfunc/_crm-mart
  crm-mart completions fish > ~/.config/fish/completions/crm-mart.fish";

pub const MAN: &str = "Examples:
  crm-mart man | man -l -                             # read it now
  crm-mart man --out /usr/local/share/man/man1        # crm-mart.1 and one page per command";
