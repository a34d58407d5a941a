//! `Idempotency-Key`: the first request with a key runs and its response is
//! stored; a repeat with the same body gets the stored response; a repeat
//! with another body is refused; a repeat while the first still runs is told
//! so. The (user, key) primary key makes "first" a database fact, so two
//! concurrent duplicates can never both run.

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time: run it, then [`complete`] (or [`release`] on a server error).
    Run,
    /// Seen and finished: answer this again.
    Replay { status: u16, body: String },
    /// Seen with another request body.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// SHA-256 of what identifies the request (method, path, body).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// A first request still unanswered after this long died with its process
/// (`kill -9`, a crash): its key is taken over and the request runs again,
/// instead of answering "in progress" until the key expires. The work it
/// guards is itself conditional (an order is paid at most once; a refund
/// carries its request's key, unique per payment), so a run that had
/// committed before dying is refused or answered by the rerun, not
/// repeated.
pub const ABANDONED_AFTER_SECS: i64 = 30;

/// Claims (`user_id`, `key`) for the request fingerprinted `hash`: run it,
/// replay its answer, or refuse (see [`Claim`]).
pub async fn claim(
    pool: &MySqlPool,
    user_id: u64,
    key: &str,
    hash: &str,
    ttl_secs: u64,
) -> Result<Claim, sqlx::Error> {
    // A new key, the usual case, is claimed by the insert alone: one
    // statement. The rest runs only for a key the table already holds.
    if insert_claim(pool, user_id, key, hash, ttl_secs).await? {
        return Ok(Claim::Run);
    }
    let now = Utc::now();
    let taken_over = sqlx::query(
        "UPDATE idempotency_keys SET created_at = ? \
         WHERE user_id = ? AND idempotency_key = ? AND request_hash = ? \
         AND response_status IS NULL AND created_at < ?",
    )
    .bind(now.naive_utc())
    .bind(user_id)
    .bind(key)
    .bind(hash)
    .bind((now - Duration::seconds(ABANDONED_AFTER_SECS)).naive_utc())
    .execute(pool)
    .await?
    .rows_affected();
    if taken_over == 1 {
        return Ok(Claim::Run);
    }
    // An expired key is forgotten, so the key can be used afresh.
    let expired = sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ? AND expires_at < ?",
    )
    .bind(user_id)
    .bind(key)
    .bind(now.naive_utc())
    .execute(pool)
    .await?
    .rows_affected();
    if expired == 1 && insert_claim(pool, user_id, key, hash, ttl_secs).await? {
        return Ok(Claim::Run);
    }
    let stored: Option<(String, Option<u16>, Option<String>)> = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ?",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(match stored {
        // Released between our insert and read: treat as still running, the client retries.
        None => Claim::InProgress,
        Some((stored_hash, _, _)) if stored_hash != hash => Claim::Mismatch,
        Some((_, Some(status), Some(body))) => Claim::Replay { status, body },
        Some(_) => Claim::InProgress,
    })
}

/// Inserts the claim on (`user_id`, `key`) unless the key is held; whether
/// this call inserted it (the primary key decides between racing callers).
async fn insert_claim(
    pool: &MySqlPool,
    user_id: u64,
    key: &str,
    hash: &str,
    ttl_secs: u64,
) -> Result<bool, sqlx::Error> {
    let now = Utc::now();
    let inserted = sqlx::query(
        "INSERT IGNORE INTO idempotency_keys (user_id, idempotency_key, request_hash, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(key)
    .bind(hash)
    .bind(now.naive_utc())
    .bind((now + Duration::seconds(ttl_secs as i64)).naive_utc())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Stores the response of the request that ran.
pub async fn complete(
    pool: &MySqlPool,
    user_id: u64,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = ?, response_body = ? WHERE user_id = ? AND idempotency_key = ?",
    )
    .bind(status)
    .bind(body)
    .bind(user_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a key whose request failed on our side, so the client may retry it.
pub async fn release(pool: &MySqlPool, user_id: u64, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ? AND response_status IS NULL")
        .bind(user_id)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes at most `limit` keys created before `cutoff`, oldest first, and
/// returns how many went. Small batches (`ix_idempotency_created`) keep each
/// statement short, so it never holds locks a request waits on.
pub async fn prune_created_before(
    pool: &MySqlPool,
    cutoff: chrono::DateTime<Utc>,
    limit: u32,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?",
        )
        .bind(cutoff.naive_utc())
        .bind(limit)
        .execute(pool)
        .await?
        .rows_affected(),
    )
}
