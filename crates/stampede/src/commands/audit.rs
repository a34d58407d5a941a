//! `stampede audit coupons <policy_id> [--repair]`: do Redis, MariaDB and
//! the event pipeline agree about a coupon policy?
//!
//! The database is the truth. Every unit the gate took is a row, an open
//! claim (taken, its winner on the way to the persisting consumer) or was
//! given back (a revoked claim), so at any moment the gate's counter plus
//! its open claims equals the policy's `remaining`, and the marks equal the
//! coupons each user holds plus their open claims (a settled claim whose row
//! is being written right now shows as a drift of one for a moment).
//!
//! The healer inside `serve` keeps this true by itself: it gives back the
//! claims of requests that died and rebuilds a gate Redis lost. `--repair`
//! is for what neither explains (a hand-edited key, a restored snapshot):
//! it rebuilds the gate the healer's way — blocking the pool (503
//! `GATE_REBUILDING`) until every winner on its way is persisted — so it is
//! safe while the policy is issuing.

use crate::configuration::Settings;
use crate::healer::rebuild::rebuild_now;
use anyhow::Context;
use stampede_core::events::topics;
use stampede_core::fcfs::{PoolKind, PoolRef};
use stampede_infra::kafka::dead_letter_reader::read_dead_letters;
use stampede_infra::mysql::pools;
use stampede_infra::mysql::{coupons, outbox_backlog};
use stampede_infra::Infra;
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Audit one coupon policy.
    Coupons {
        policy_id: u64,
        /// Rebuild the gate (counter and marks) from the database, keeping its
        /// open claims; the pool refuses requests meanwhile (seconds).
        #[arg(long)]
        repair: bool,
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
    /// Units taken whose winners are not rows yet.
    pub open_claims: u64,
    /// Seconds since the oldest open claim was taken.
    pub oldest_open_claim_secs: Option<f64>,
    /// Claims revoked: units given back (a failed publish, or the healer).
    pub revoked_claims: u64,
    /// Users marked in Redis with no (or fewer) rows in the database.
    pub marks_without_rows: u64,
    /// Users holding rows the Redis marks do not know of.
    pub rows_without_marks: u64,
    pub outbox_pending: i64,
    pub dead_letters: Option<u64>,
}

impl AuditReport {
    /// Counter + open claims − remaining: 0 when Redis accounts for every unit.
    pub fn stock_drift(&self) -> Option<i64> {
        self.redis_stock
            .map(|stock| stock + self.open_claims as i64 - self.db_remaining as i64)
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
        writeln!(f, "  redis: open claims           {}", self.open_claims)?;
        if let Some(age) = self.oldest_open_claim_secs {
            writeln!(f, "  oldest open claim            {age:.1} s")?;
        }
        writeln!(f, "  claims revoked (given back)  {}", self.revoked_claims)?;
        let drift = self
            .stock_drift()
            .map_or("n/a".to_owned(), |d| format!("{d:+}"));
        writeln!(f, "  drift (counter + claims − db) {drift}")?;
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
        anyhow::bail!("drift found; run again with --repair to rebuild the gate from the database");
    }
    repair_coupons(&infra, &settings, policy_id).await?;
    let after = audit_coupons(&infra, policy_id).await?;
    println!("repaired:\n{after}");
    Ok(())
}

/// Compares Redis and MariaDB for `policy_id`.
pub async fn audit_coupons(infra: &Infra, policy_id: u64) -> anyhow::Result<AuditReport> {
    let policy = coupons::find_policy(&infra.pool, policy_id)
        .await?
        .with_context(|| format!("no coupon policy {policy_id}"))?;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy_id,
    };
    let holders = pools::holders(&infra.pool, pool).await?;
    let snapshot = infra.gate.snapshot(pool).await?;
    let ledger = infra.gate.ledger_stats(pool).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let open = infra
        .gate
        .open_claims_before(pool, now + 1, 10_000_000)
        .await?;
    let outbox_pending =
        outbox_backlog::unpublished_of(&infra.pool, "coupon_policy", &policy_id.to_string())
            .await?;
    // Queue mode does not mark users in Redis: only the counter is compared.
    let marks_apply = policy.mode != stampede_core::coupon::IssueMode::Queue;
    let (marks_without_rows, rows_without_marks) = if marks_apply {
        let mut expected = holders.clone();
        for claim in &open {
            *expected.entry(claim.user_id).or_default() += 1;
        }
        mark_drift(&snapshot.marks, &expected)
    } else {
        (0, 0)
    };
    Ok(AuditReport {
        policy_id,
        total_stock: policy.total_stock,
        db_remaining: policy.pool.remaining,
        db_rows: holders.values().map(|n| u64::from(*n)).sum(),
        redis_stock: snapshot.stock,
        open_claims: ledger.open,
        oldest_open_claim_secs: ledger
            .oldest_taken_at_ms
            .map(|at| (now - at).max(0) as f64 / 1000.0),
        revoked_claims: ledger.revoked,
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

/// Rebuilds the gate from the database the healer's way (safe while issuing).
pub async fn repair_coupons(
    infra: &Infra,
    settings: &Settings,
    policy_id: u64,
) -> anyhow::Result<()> {
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy_id,
    };
    let bounds = settings
        .healer
        .bounds(settings.kafka.producer.delivery_timeout_ms);
    rebuild_now(infra, pool, bounds, std::time::Duration::from_secs(120)).await?;
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
