//! MariaDB/MySQL: connection pool, database bootstrap, migrations, and one
//! module per aggregate that owns its tables' SQL.

pub mod bench;
pub mod campaigns;
pub mod catalog;
pub mod concerts;
pub mod coupons;
pub mod dlt_replays;
pub mod idempotency;
pub mod orders;
pub mod outage;
pub mod outbox_backlog;
pub mod payments;
pub mod points;
pub mod pools;
mod processed_events;
pub mod reconciliation;
pub mod refunds;
pub mod report;
pub mod reservations;
mod restitution;
pub mod stock_levels;
pub mod transaction_history;
pub mod winners;

pub use processed_events::ProcessedEvents;

use serde::Deserialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, MySqlPool};
use stampede_core::status::UnknownStatus;
use std::str::FromStr;
use std::time::Duration;

/// `[database]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Server URL without a database, e.g. `mysql://root@127.0.0.1:3306`.
    pub url: String,
    /// Database name; created on start-up when missing.
    pub name: String,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("mysql://") || self.url.starts_with("mariadb://")) {
            return Err("database.url must be a mysql:// or mariadb:// URL".into());
        }
        MySqlConnectOptions::from_str(&self.url)
            .map_err(|e| format!("database.url is not a MySQL URL: {e}"))?;
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err("database.name must be 1-64 characters of [A-Za-z0-9_]".into());
        }
        if self.max_connections == 0 {
            return Err("database.max_connections must be at least 1".into());
        }
        Ok(())
    }

    fn server_options(&self) -> Result<MySqlConnectOptions, sqlx::Error> {
        Ok(MySqlConnectOptions::from_str(&self.url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
    }

    /// Options for the configured database itself.
    pub fn database_options(&self) -> Result<MySqlConnectOptions, sqlx::Error> {
        Ok(self.server_options()?.database(&self.name))
    }
}

/// A status column's text as its enum. A value the enum does not know is
/// a corrupt row (or one a newer version wrote): an error, never a guess
/// that would let a state machine act on it.
pub(crate) fn stored_status<T>(
    parsed: Result<T, UnknownStatus>,
    column: &str,
) -> Result<T, sqlx::Error> {
    parsed.map_err(|unknown| {
        sqlx::Error::Decode(format!("{column} holds an unknown status {:?}", unknown.text).into())
    })
}

/// Creates the database if it is missing, then opens a pool on it.
pub async fn connect(settings: &DatabaseSettings) -> Result<MySqlPool, sqlx::Error> {
    let mut server = sqlx::MySqlConnection::connect_with(&settings.server_options()?).await?;
    // The name was validated to [A-Za-z0-9_], so quoting it is enough.
    sqlx::query(&format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4",
        settings.name
    ))
    .execute(&mut server)
    .await?;
    server.close().await?;
    MySqlPoolOptions::new()
        .max_connections(settings.max_connections)
        // READ COMMITTED: no gap locks, so the outbox relay's
        // `FOR UPDATE SKIP LOCKED` claims never deadlock with inserts, and
        // every statement sees the latest committed rows. Money and stock
        // stay exact through conditional updates (`WHERE stock >= ?`), which
        // lock the rows they change at any isolation level.
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_with(settings.database_options()?)
        .await
}

/// Drops database `name` if it exists (`name` as [`DatabaseSettings`]
/// validates it: `[A-Za-z0-9_]`, so quoting is enough). For benchmarks and
/// tools that start from an empty database.
pub async fn drop_database(pool: &MySqlPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .execute(pool)
        .await?;
    Ok(())
}

/// Applies the migrations embedded in the binary (`migrations/`).
pub async fn migrate(pool: &MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}
