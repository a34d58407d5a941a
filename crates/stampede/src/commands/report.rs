//! `stampede report daily --date YYYY-MM-DD [--format csv|json] [--output FILE]`:
//! one UTC day of orders — totals per status, revenue, top options.
//!
//! Streamed, never loading every order: memory stays flat however many there are. Orders are read with
//! a row stream and folded into per-status accumulators, so memory stays
//! flat whatever the day's volume; the top options come from a grouped
//! query (there are few options). The output is written as it is produced.

use crate::configuration::Settings;
use anyhow::Context;
use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use sqlx::MySqlPool;
use stampede_infra::mysql::report::{self, REVENUE_STATUSES};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// One day of orders.
    Daily {
        /// The UTC day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusTotal {
    pub status: String,
    pub orders: u64,
    pub amount: u64,
}

pub use stampede_infra::mysql::report::TopOption;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyReport {
    pub date: NaiveDate,
    pub orders: u64,
    pub statuses: Vec<StatusTotal>,
    /// Σ total of PAID and COMPLETED orders.
    pub revenue: u64,
    pub top_options: Vec<TopOption>,
}

/// Builds the report of `date` (UTC) by streaming its orders.
pub async fn daily_report(pool: &MySqlPool, date: NaiveDate) -> anyhow::Result<DailyReport> {
    let from = date.and_time(NaiveTime::MIN);
    let to = from + chrono::Duration::days(1);
    let totals = report::status_totals(pool, from, to).await?;
    let top_options = report::top_options(pool, from, to).await?;
    let revenue = REVENUE_STATUSES
        .iter()
        .filter_map(|s| totals.get(s.as_str()))
        .map(|(_, amount)| amount)
        .sum();
    Ok(DailyReport {
        date,
        orders: totals.values().map(|(n, _)| n).sum(),
        statuses: totals
            .into_iter()
            .map(|(status, (orders, amount))| StatusTotal {
                status,
                orders,
                amount,
            })
            .collect(),
        revenue,
        top_options,
    })
}

/// Writes the report as CSV sections (a header line each) or one JSON object.
pub fn write_report(
    report: &DailyReport,
    format: Format,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Csv => {
            writeln!(out, "date,orders,revenue")?;
            writeln!(out, "{},{},{}", report.date, report.orders, report.revenue)?;
            writeln!(out, "status,orders,amount")?;
            for s in &report.statuses {
                writeln!(out, "{},{},{}", s.status, s.orders, s.amount)?;
            }
            writeln!(out, "rank,option_id,product,option,quantity,revenue")?;
            for (rank, o) in report.top_options.iter().enumerate() {
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    rank + 1,
                    o.option_id,
                    csv(&o.product),
                    csv(&o.option),
                    o.quantity,
                    o.revenue
                )?;
            }
            Ok(())
        }
    }
}

/// Quotes a CSV field when it needs it.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

pub async fn run(settings: Settings, command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Daily {
        date,
        format,
        output,
    } = command;
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == date)
        .with_context(|| format!("--date must be a day as YYYY-MM-DD, not `{date}`"))?;
    // Only MariaDB is needed: no broker or Redis connection for a report.
    let pool = stampede_infra::mysql::connect(&settings.database).await?;
    let report = daily_report(&pool, date).await?;
    match output {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            write_report(&report, format, &mut out)?;
            out.flush()?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            write_report(&report, format, &mut out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_per_section_and_quotes_fields() {
        let report = DailyReport {
            date: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
            orders: 3,
            statuses: vec![StatusTotal {
                status: "PAID".into(),
                orders: 3,
                amount: 3000,
            }],
            revenue: 3000,
            top_options: vec![TopOption {
                option_id: 7,
                product: "a, b".into(),
                option: "M".into(),
                quantity: 3,
                revenue: 3000,
            }],
        };
        let mut out = Vec::new();
        write_report(&report, Format::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "date,orders,revenue\n2026-01-15,3,3000\nstatus,orders,amount\nPAID,3,3000\n\
             rank,option_id,product,option,quantity,revenue\n1,7,\"a, b\",M,3,3000\n"
        );
    }
}
