//! Every metric Stampede exports, with its kind, labels and meaning: the
//! one list operators, dashboards (`deploy/grafana/dashboards/*.json`) and
//! tests read. Each is described to the Prometheus recorder at start-up, so
//! `/metrics` carries its `# HELP` line.

/// Prometheus metric kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

pub const METRICS: &[Metric] = &[
    // HTTP (RED per route template).
    metric(
        "stampede_http_requests_total",
        Counter,
        &["method", "route", "status"],
        "HTTP requests answered",
    ),
    metric(
        "stampede_http_request_duration_seconds",
        Histogram,
        &["method", "route", "status"],
        "HTTP request latency",
    ),
    metric(
        "stampede_http_shed_total",
        Counter,
        &[],
        "Requests answered 503 OVERLOADED because http.max_in_flight were in flight",
    ),
    metric(
        "stampede_rate_limit_unshared_total",
        Counter,
        &[],
        "Requests the shared rate limits could not count (Redis did not answer); the local limits decided",
    ),
    // Event backbone: outbox relay.
    metric(
        "stampede_outbox_pending_events",
        Gauge,
        &[],
        "Outbox rows not yet acknowledged by the broker",
    ),
    metric(
        "stampede_outbox_oldest_pending_age_seconds",
        Gauge,
        &[],
        "Age of the oldest unpublished outbox row",
    ),
    metric(
        "stampede_outbox_published_total",
        Counter,
        &[],
        "Outbox rows published and marked",
    ),
    metric(
        "stampede_outbox_publish_failures_total",
        Counter,
        &[],
        "Outbox rows the broker refused (retried)",
    ),
    metric(
        "stampede_outbox_publish_delay_seconds",
        Histogram,
        &[],
        "Commit-to-acknowledged delay of outbox rows",
    ),
    // Event backbone: consumers.
    metric(
        "stampede_consumer_handled_total",
        Counter,
        &["consumer"],
        "Records handled successfully",
    ),
    metric(
        "stampede_consumer_retries_total",
        Counter,
        &["consumer"],
        "Handler attempts that failed and were retried",
    ),
    metric(
        "stampede_consumer_dead_lettered_total",
        Counter,
        &["consumer", "reason"],
        "Records published to <topic>.DLT",
    ),
    metric(
        "stampede_consumer_handle_seconds",
        Histogram,
        &["consumer"],
        "Time per handler attempt",
    ),
    metric(
        "stampede_consumer_batch_size",
        Histogram,
        &["consumer"],
        "Records per polled batch",
    ),
    metric(
        "stampede_consumer_commit_failures_total",
        Counter,
        &["consumer"],
        "Offset commits that failed",
    ),
    metric(
        "stampede_consumer_lag",
        Gauge,
        &["consumer", "group", "topic", "partition"],
        "High watermark minus committed offset",
    ),
    // Dependencies.
    metric(
        "stampede_db_pool_connections",
        Gauge,
        &[],
        "MariaDB connections open",
    ),
    metric(
        "stampede_db_pool_idle_connections",
        Gauge,
        &[],
        "MariaDB connections idle",
    ),
    metric(
        "stampede_db_pool_max_connections",
        Gauge,
        &[],
        "MariaDB pool size limit",
    ),
    metric(
        "stampede_redis_up",
        Gauge,
        &[],
        "1 when Redis answered PING at the last scrape",
    ),
    metric(
        "stampede_redis_ping_seconds",
        Gauge,
        &[],
        "Redis PING round trip at the last scrape",
    ),
    // First-come-first-served issuance.
    metric(
        "stampede_fcfs_outcomes_total",
        Counter,
        &["pool", "mode", "outcome"],
        "Issue requests by answer",
    ),
    metric(
        "stampede_coupon_queue_outcomes_total",
        Counter,
        &["outcome"],
        "Queue-mode coupon requests decided",
    ),
    metric(
        "stampede_winners_persisted_total",
        Counter,
        &["consumer"],
        "FCFS winners written to MariaDB",
    ),
    metric(
        "stampede_winners_duplicate_total",
        Counter,
        &["consumer"],
        "Redelivered winners ignored",
    ),
    metric(
        "stampede_winners_revoked_skipped_total",
        Counter,
        &["consumer"],
        "Winners skipped because their claim was revoked (unit given back)",
    ),
    metric(
        "stampede_fcfs_open_claims",
        Gauge,
        &["pool_kind"],
        "Units taken by the gate whose winners are not persisted yet",
    ),
    metric(
        "stampede_fcfs_oldest_open_claim_seconds",
        Gauge,
        &["pool_kind"],
        "Age of the oldest open claim (0 when none)",
    ),
    metric(
        "stampede_healer_returned_total",
        Counter,
        &["pool_kind"],
        "Units and seat holds the healer gave back (their request died)",
    ),
    metric(
        "stampede_gate_rebuilds_total",
        Counter,
        &["pool_kind"],
        "Gates rebuilt from the database (Redis lost them, or a repair)",
    ),
    // Orders and payments.
    metric(
        "stampede_payments_total",
        Counter,
        &["method", "outcome"],
        "Payment attempts by outcome",
    ),
    metric(
        "stampede_campaign_verification_total",
        Counter,
        &["step"],
        "Campaign winner checks by step",
    ),
    metric(
        "stampede_pg_calls_total",
        Counter,
        &["outcome"],
        "Calls to the payment gateway",
    ),
    metric(
        "stampede_pg_callbacks_total",
        Counter,
        &["outcome"],
        "Payment gateway callbacks",
    ),
    metric(
        "stampede_reconcile_outcomes_total",
        Counter,
        &["outcome"],
        "Stale orders reconciled, by outcome",
    ),
    metric(
        "stampede_refunds_requested_total",
        Counter,
        &["method", "status"],
        "Refunds asked for, by method and the status they reached at once",
    ),
    metric(
        "stampede_refunds_total",
        Counter,
        &["method", "outcome"],
        "Card refunds the PG answered, by outcome (unknown: no answer, left PENDING)",
    ),
    metric(
        "stampede_idempotency_keys_pruned_total",
        Counter,
        &[],
        "Idempotency keys deleted after idempotency.retention_hours",
    ),
    metric(
        "stampede_auth_jwks_fetches_total",
        Counter,
        &[],
        "Identity-provider JWKS documents fetched (first use, expiry, unknown kid)",
    ),
    metric(
        "stampede_notifications_total",
        Counter,
        &["kind"],
        "Notifications sent or recorded",
    ),
    // Concert ticketing.
    metric(
        "stampede_queue_entered_total",
        Counter,
        &[],
        "Waiting-queue tokens asked for",
    ),
    metric(
        "stampede_queue_waiting",
        Gauge,
        &["concert"],
        "Tokens waiting in line",
    ),
    metric(
        "stampede_queue_active",
        Gauge,
        &["concert"],
        "Tokens admitted and active",
    ),
    metric(
        "stampede_queue_admitted_total",
        Counter,
        &["concert"],
        "Tokens admitted",
    ),
    metric(
        "stampede_queue_pre_queued",
        Gauge,
        &["concert"],
        "Tokens in the pre-queue, waiting for the opening's draw",
    ),
    metric(
        "stampede_queue_dropped_total",
        Counter,
        &["concert"],
        "Waiting tokens that lost their place (not seen for queue.keepalive_secs)",
    ),
    metric(
        "stampede_queue_no_shows_total",
        Counter,
        &["concert"],
        "Admitted tokens that held no seat within queue.no_show_secs (slot freed)",
    ),
    metric(
        "stampede_queue_event_reads_total",
        Counter,
        &[],
        "Queue reads of the live-update reader (one per watched concert per tick)",
    ),
    metric(
        "stampede_seat_holds_total",
        Counter,
        &["outcome"],
        "Seat hold attempts by outcome",
    ),
    metric(
        "stampede_seat_hold_confirmations_total",
        Counter,
        &["outcome"],
        "Seat holds confirmed after reservation.created",
    ),
    metric(
        "stampede_post_payment_cleanup_total",
        Counter,
        &["step"],
        "Seat holds released and queue tokens ended after payment",
    ),
    metric(
        "stampede_payment_compensations_total",
        Counter,
        &["outcome"],
        "Reservations ended after a failed payment",
    ),
    metric(
        "stampede_concert_sold_out_total",
        Counter,
        &[],
        "Schedules that sold out",
    ),
];

/// The catalog entry of a metric named as Prometheus renders it (histogram
/// series end in `_bucket`, `_sum` or `_count`).
pub fn find(series: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| {
        m.name == series
            || (m.kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| series.strip_suffix(suffix) == Some(m.name)))
    })
}

/// Describes every metric to the installed recorder.
pub fn describe_all() {
    for m in METRICS {
        match m.kind {
            Counter => metrics::describe_counter!(m.name, m.help),
            Gauge => metrics::describe_gauge!(m.name, m.help),
            Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every `"stampede_…"` string literal in the workspace's sources but
    /// this file: the names the code records metrics under.
    fn recorded_names(dir: &Path, names: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                recorded_names(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("metric_catalog.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for literal in text.split("\"stampede_").skip(1) {
                    let name = literal.split('"').next().unwrap();
                    if name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    {
                        names.insert(format!("stampede_{name}"));
                    }
                }
            }
        }
    }

    #[test]
    fn the_catalog_lists_exactly_the_metrics_the_code_records() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut recorded = BTreeSet::new();
        for krate in std::fs::read_dir(crates).unwrap() {
            let src = krate.unwrap().path().join("src");
            if src.is_dir() {
                recorded_names(&src, &mut recorded);
            }
        }
        let catalog: BTreeSet<String> = METRICS.iter().map(|m| m.name.to_owned()).collect();
        let uncatalogued: Vec<_> = recorded.difference(&catalog).collect();
        let never_recorded: Vec<_> = catalog.difference(&recorded).collect();
        assert!(
            uncatalogued.is_empty(),
            "recorded but not in METRICS: {uncatalogued:?}"
        );
        assert!(
            never_recorded.is_empty(),
            "in METRICS but recorded nowhere: {never_recorded:?}"
        );
    }

    #[test]
    fn names_are_unique_and_histogram_series_resolve() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert!(find("stampede_http_request_duration_seconds_bucket").is_some());
        assert!(find("stampede_outbox_published_total_count").is_none());
        assert!(find("stampede_nothing").is_none());
    }
}
