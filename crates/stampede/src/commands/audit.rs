//! `stampede audit coupons <policy_id> [--repair]`: do Redis, MariaDB and
//! the event pipeline agree about a coupon policy?
//!
//! The database is the truth. At rest (no request in flight, the persisting
//! consumer caught up) the gate's counter equals the policy's `remaining`
//! and its marks equal the coupons each user holds. A mark without a row is
//! a winner not (yet) persisted; a row without a mark would let its holder
//! win twice. `--repair` rewrites the Redis side from the database; it is
//! refused while the policy is still issuing unless `--force` is given,
//! because winners in flight are not rows yet.

use crate::configuration::Settings;
use anyhow::Context;
use stampede_core::events::topics;
use stampede_core::fcfs::{PoolKind, PoolRef, PoolStatus};
use stampede_infra::kafka::dead_letter_reader::read_dead_letters;
use stampede_infra::mysql::coupons;
use stampede_infra::Infra;
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Audit one coupon policy.
    Coupons {
        policy_id: u64,
        /// Rewrite Redis (counter and marks) from the database.
        #[arg(long)]
        repair: bool,
        /// Repair even while the policy is open and in its window.
        #[arg(long)]
        force: bool,
        /// Also count dead letters of `coupon.issued` for this policy (reads the DLT).
        #[arg(long)]
        dead_letters: bool,
    },
}

/// What the audit found.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub policy_id: u64,
    pub total_stock: u64,
    pub db_remaining: u64,
    pub db_rows: u64,
    pub redis_stock: Option<i64>,
    /// Users marked in Redis with no (or fewer) rows in the database.
    pub marks_without_rows: u64,
    /// Users holding rows the Redis marks do not know of.
    pub rows_without_marks: u64,
    pub outbox_pending: i64,
    pub dead_letters: Option<u64>,
}

impl AuditReport {
    pub fn stock_drift(&self) -> Option<i64> {
        self.redis_stock
            .map(|stock| stock - self.db_remaining as i64)
    }

    pub fn in_agreement(&self) -> bool {
        self.stock_drift() == Some(0)
            && self.marks_without_rows == 0
            && self.rows_without_marks == 0
            && self.db_rows + self.db_remaining == self.total_stock
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "audit of coupon policy {}", self.policy_id)?;
        writeln!(f, "  total stock                  {}", self.total_stock)?;
        writeln!(f, "  database: coupons issued     {}", self.db_rows)?;
        writeln!(f, "  database: remaining          {}", self.db_remaining)?;
        let redis = self
            .redis_stock
            .map_or("absent (never opened)".to_owned(), |s| s.to_string());
        writeln!(f, "  redis: counter               {redis}")?;
        let drift = self
            .stock_drift()
            .map_or("n/a".to_owned(), |d| format!("{d:+}"));
        writeln!(f, "  counter drift (redis − db)   {drift}")?;
        writeln!(
            f,
            "  marks without rows           {}",
            self.marks_without_rows
        )?;
        writeln!(
            f,
            "  rows without marks           {}",
            self.rows_without_marks
        )?;
        writeln!(f, "  outbox rows pending          {}", self.outbox_pending)?;
        if let Some(dead) = self.dead_letters {
            writeln!(f, "  dead letters (coupon.issued) {dead}")?;
        }
        write!(
            f,
            "  verdict                      {}",
            if self.in_agreement() {
                "in agreement"
            } else {
                "DRIFT"
            }
        )
    }
}

pub async fn run(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Coupons {
        policy_id,
        repair,
        force,
        dead_letters,
    } = command;
    let infra = Infra::connect(settings.infra()).await?;
    let mut report = audit_coupons(&infra, policy_id).await?;
    if dead_letters {
        report.dead_letters = Some(count_dead_letters(&infra, policy_id).await?);
    }
    println!("{report}");
    if report.in_agreement() {
        return Ok(());
    }
    if !repair {
        anyhow::bail!("drift found; run again with --repair to rewrite Redis from the database");
    }
    let policy = coupons::find_policy(&infra.pool, policy_id)
        .await?
        .context("the policy vanished")?;
    let issuing = policy.status == PoolStatus::Open && policy.window.contains(chrono::Utc::now());
    if issuing && !force {
        anyhow::bail!("the policy is still issuing; close it first or pass --force");
    }
    repair_coupons(&infra, policy_id).await?;
    let after = audit_coupons(&infra, policy_id).await?;
    println!("repaired:\n{after}");
    Ok(())
}

/// Compares Redis and MariaDB for `policy_id`.
pub async fn audit_coupons(infra: &Infra, policy_id: u64) -> anyhow::Result<AuditReport> {
    let policy = coupons::find_policy(&infra.pool, policy_id)
        .await?
        .with_context(|| format!("no coupon policy {policy_id}"))?;
    let holders = coupons::holders(&infra.pool, policy_id).await?;
    let snapshot = infra
        .gate
        .snapshot(PoolRef {
            kind: PoolKind::Coupon,
            id: policy_id,
        })
        .await?;
    let outbox_pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND aggregatetype = 'coupon_policy' AND aggregateid = ?",
    )
    .bind(policy_id.to_string())
    .fetch_one(&infra.pool)
    .await?;
    // Queue mode does not mark users in Redis: only the counter is compared.
    let marks_apply = policy.mode != stampede_core::coupon::IssueMode::Queue;
    let (marks_without_rows, rows_without_marks) = if marks_apply {
        mark_drift(&snapshot.marks, &holders)
    } else {
        (0, 0)
    };
    Ok(AuditReport {
        policy_id,
        total_stock: policy.total_stock,
        db_remaining: policy.remaining,
        db_rows: holders.values().map(|n| u64::from(*n)).sum(),
        redis_stock: snapshot.stock,
        marks_without_rows,
        rows_without_marks,
        outbox_pending,
        dead_letters: None,
    })
}

fn mark_drift(marks: &HashMap<u64, u32>, holders: &HashMap<u64, u32>) -> (u64, u64) {
    let mut marks_without_rows = 0;
    let mut rows_without_marks = 0;
    for (user, marked) in marks {
        let held = holders.get(user).copied().unwrap_or(0);
        marks_without_rows += u64::from(marked.saturating_sub(held));
    }
    for (user, held) in holders {
        let marked = marks.get(user).copied().unwrap_or(0);
        rows_without_marks += u64::from(held.saturating_sub(marked));
    }
    (marks_without_rows, rows_without_marks)
}

/// Rewrites the gate's counter and marks from the database.
pub async fn repair_coupons(infra: &Infra, policy_id: u64) -> anyhow::Result<()> {
    let policy = coupons::find_policy(&infra.pool, policy_id)
        .await?
        .context("no such policy")?;
    let holders = coupons::holders(&infra.pool, policy_id).await?;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy_id,
    };
    infra
        .gate
        .repair(pool, policy.remaining as i64, &holders)
        .await?;
    Ok(())
}

/// Counts the letters of `coupon.issued.DLT` keyed by this policy.
async fn count_dead_letters(infra: &Infra, policy_id: u64) -> anyhow::Result<u64> {
    let topic = infra
        .topics
        .dead_letter(&infra.topics.physical(topics::COUPON_ISSUED));
    let key = policy_id.to_string();
    let letters = read_dead_letters(infra.kafka(), &topic).await?;
    Ok(letters
        .iter()
        .filter(|l| l.key.as_deref() == Some(key.as_bytes()))
        .count() as u64)
}
