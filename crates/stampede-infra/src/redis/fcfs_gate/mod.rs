//! The FCFS gate in Redis: Lua scripts over one pool's keys.
//!
//! Keys of one pool share a hash tag (`{fcfs:coupon:42}`), so the scripts
//! stay valid on Redis Cluster:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>{fcfs:<kind>:<id>}:pool` | hash | `stock` (units left; absent: never opened), `opens_ms`, `closes_ms`, `closed`, `rebuilding`, and `u:<user>` → that user's wins |
//! | `…:reserved` | hash | queue mode: request id → 1 |
//! | `…:token:<user>` | string | campaign entry token (TTL) |
//! | `…:claims` | hash | claim id → `O\|<user>\|<instance>` (open) or `R\|<user>` (revoked) |
//! | `…:open_claims` | sorted set | open claim ids by the time they were taken (ms) |
//!
//! Everything a request's answer depends on is in the one `pool` hash, so
//! one `HMGET` reads it whole: the take script starts with that read, and a
//! pool that refuses everyone is answered from that read alone
//! ([`take`]).
//!
//! Why every taken unit ends persisted or given back: `stampede_core::fcfs`.

mod take;

use super::RedisConnection;
use async_trait::async_trait;
use redis::{AsyncCommands, RedisError, Script};
use stampede_core::fcfs::{
    Gate, GateOutcome, IssueWindow, PoolKind, PoolRef, Revocation, Take, WinnerLedger,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;
use uuid::Uuid;

static REVOKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_revoke.lua")));
static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_settle.lua")));
static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_reserve.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_release.lua")));
static OPEN_CLAIMS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_open_claims.lua")));
static REBUILD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_rebuild.lua")));

/// Queue mode's reservation answer (the script says −1 sold out, −2 not initialised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Reserved,
    /// This request id had reserved before (a redelivery): no second unit was taken.
    AlreadyReserved,
    SoldOut,
    Uninitialised,
}

/// What Redis holds for a pool (for the audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSnapshot {
    pub stock: Option<i64>,
    pub marks: HashMap<u64, u32>,
    pub reservations: u64,
}

#[derive(Clone)]
pub struct FcfsGate {
    redis: RedisConnection,
    prefix: String,
    entry_token_ttl: Duration,
    /// This process's id, written into the claims it opens (the healer
    /// tells a dead instance's claims by it).
    instance: String,
    /// Pools whose last answer here refused everyone (sold out, closed, …):
    /// their requests are read before the script (see [`take`]).
    refusing: Arc<RwLock<HashSet<PoolRef>>>,
}

impl FcfsGate {
    /// `entry_token_ttl`: lifetime of the token a campaign win writes (30 min by default).
    pub fn new(
        redis: RedisConnection,
        prefix: &str,
        entry_token_ttl: Duration,
        instance: &str,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            entry_token_ttl,
            instance: instance.to_owned(),
            refusing: Arc::default(),
        }
    }

    /// `prefix{fcfs:kind:id}:`, the start of every key of `pool`: one hash
    /// tag, so a script can touch all of them on a Redis Cluster.
    fn base(&self, pool: PoolRef) -> String {
        format!("{}{{fcfs:{pool}}}:", self.prefix)
    }

    /// The key `part` of `pool`.
    fn key(&self, pool: PoolRef, part: &str) -> String {
        format!("{}{part}", self.base(pool))
    }

    /// The entry-token key of `user_id` in `pool`.
    fn token_key(&self, pool: PoolRef, user_id: u64) -> String {
        format!("{}token:{user_id}", self.base(pool))
    }

    /// Sets the stock and the window; the pool starts answering.
    pub async fn open(
        &self,
        pool: PoolRef,
        stock: u64,
        window: IssueWindow,
    ) -> Result<(), RedisError> {
        let fields = [
            ("stock", i64::try_from(stock).unwrap_or(i64::MAX)),
            ("opens_ms", window.opens_at().timestamp_millis()),
            ("closes_ms", window.closes_at().timestamp_millis()),
            ("closed", 0),
        ];
        self.redis
            .clone()
            .hset_multiple(self.key(pool, "pool"), &fields)
            .await
    }

    /// Every later request is refused as closed.
    pub async fn close(&self, pool: PoolRef) -> Result<(), RedisError> {
        self.redis
            .clone()
            .hset::<_, _, _, ()>(self.key(pool, "pool"), "closed", "1")
            .await
    }

    /// Queue mode: takes one unit for `request_id`, at most once.
    pub async fn reserve(
        &self,
        pool: PoolRef,
        request_id: &str,
    ) -> Result<Reservation, RedisError> {
        let (code, _remaining): (i64, i64) = RESERVE
            .key(self.key(pool, "pool"))
            .key(self.key(pool, "reserved"))
            .arg(request_id)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(match code {
            1 => Reservation::Reserved,
            2 => Reservation::AlreadyReserved,
            -1 => Reservation::SoldOut,
            _ => Reservation::Uninitialised,
        })
    }

    /// Queue mode: gives back `request_id`'s unit (+1), at most once.
    pub async fn release(&self, pool: PoolRef, request_id: &str) -> Result<bool, RedisError> {
        let released: i64 = RELEASE
            .key(self.key(pool, "pool"))
            .key(self.key(pool, "reserved"))
            .arg(request_id)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(released == 1)
    }

    /// The campaign entry token of `user_id`, if it has not expired.
    pub async fn entry_token(
        &self,
        campaign_id: u64,
        user_id: u64,
    ) -> Result<Option<String>, RedisError> {
        let pool = PoolRef {
            kind: PoolKind::Campaign,
            id: campaign_id,
        };
        self.redis.clone().get(self.token_key(pool, user_id)).await
    }

    /// The stock alone (absent: never opened).
    pub async fn snapshot_stock(&self, pool: PoolRef) -> Result<Option<i64>, RedisError> {
        self.redis
            .clone()
            .hget(self.key(pool, "pool"), "stock")
            .await
    }

    pub async fn snapshot(&self, pool: PoolRef) -> Result<GateSnapshot, RedisError> {
        let mut redis = self.redis.clone();
        let fields: HashMap<String, String> = redis.hgetall(self.key(pool, "pool")).await?;
        let reservations: u64 = redis.hlen(self.key(pool, "reserved")).await?;
        Ok(GateSnapshot {
            stock: fields.get("stock").and_then(|stock| stock.parse().ok()),
            marks: fields
                .iter()
                .filter_map(|(field, held)| {
                    Some((field.strip_prefix("u:")?.parse().ok()?, held.parse().ok()?))
                })
                .collect(),
            reservations,
        })
    }

    /// Blocks the pool while it is rebuilt: takes answer "rebuilding" and
    /// take nothing. A pool whose keys Redis lost is blocked from then on.
    pub async fn block(&self, pool: PoolRef) -> Result<(), RedisError> {
        self.redis
            .clone()
            .hset::<_, _, _, ()>(self.key(pool, "pool"), "rebuilding", "1")
            .await
    }

    /// Rewrites a blocked pool from the database (`remaining`, the holders,
    /// the window and whether it is closed), keeping its open claims, and
    /// unblocks it. Returns the new stock.
    pub async fn rebuild(&self, pool: PoolRef, truth: &PoolTruth) -> Result<i64, RedisError> {
        let mut invocation = REBUILD.key(self.key(pool, "pool"));
        invocation
            .key(self.key(pool, "open_claims"))
            .key(self.key(pool, "claims"))
            .arg(truth.remaining)
            .arg(truth.window.opens_at().timestamp_millis())
            .arg(truth.window.closes_at().timestamp_millis())
            .arg(u8::from(truth.closed));
        for (user, held) in &truth.holders {
            invocation.arg(*user).arg(*held);
        }
        invocation.invoke_async(&mut self.redis.clone()).await
    }

    /// Open claims taken before `before_ms`, oldest first, at most `limit`.
    pub async fn open_claims_before(
        &self,
        pool: PoolRef,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<OpenClaim>, RedisError> {
        let flat: Vec<String> = OPEN_CLAIMS
            .key(self.key(pool, "claims"))
            .key(self.key(pool, "open_claims"))
            .arg(before_ms)
            .arg(limit)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(flat
            .chunks(3)
            .filter_map(|c| OpenClaim::parse(&c[0], &c[1], &c[2]))
            .collect())
    }

    /// How many claims are open and when the oldest was taken.
    pub async fn ledger_stats(&self, pool: PoolRef) -> Result<LedgerStats, RedisError> {
        let mut redis = self.redis.clone();
        let open: u64 = redis.zcard(self.key(pool, "open_claims")).await?;
        let oldest: Vec<(String, f64)> = redis
            .zrange_withscores(self.key(pool, "open_claims"), 0, 0)
            .await?;
        let revoked: u64 = redis.hlen(self.key(pool, "claims")).await?;
        Ok(LedgerStats {
            open,
            oldest_taken_at_ms: oldest.first().map(|(_, at)| *at as i64),
            revoked: revoked.saturating_sub(open),
        })
    }
}

/// What the database says of a pool, for a rebuild.
#[derive(Debug, Clone)]
pub struct PoolTruth {
    pub remaining: u64,
    pub window: IssueWindow,
    pub closed: bool,
    /// User → units held (rows).
    pub holders: HashMap<u64, u32>,
}

/// A claim not settled yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClaim {
    pub claim: Uuid,
    pub user_id: u64,
    /// The instance that took it.
    pub instance: String,
    pub taken_at_ms: i64,
}

impl OpenClaim {
    fn parse(id: &str, taken_at: &str, value: &str) -> Option<Self> {
        let mut parts = value.strip_prefix("O|")?.splitn(2, '|');
        Some(Self {
            claim: Uuid::parse_str(id).ok()?,
            user_id: parts.next()?.parse().ok()?,
            instance: parts.next()?.to_owned(),
            taken_at_ms: taken_at.parse::<f64>().ok()? as i64,
        })
    }
}

/// The claim ledger of a pool at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerStats {
    pub open: u64,
    pub oldest_taken_at_ms: Option<i64>,
    /// Tombstones: claims revoked (their units given back).
    pub revoked: u64,
}

#[async_trait]
impl Gate for FcfsGate {
    type Error = RedisError;

    async fn try_take(&self, request: &Take) -> Result<GateOutcome, RedisError> {
        take::try_take(self, request).await
    }

    async fn revoke(
        &self,
        pool: PoolRef,
        claim: Uuid,
        user_id: u64,
    ) -> Result<Revocation, RedisError> {
        let answer: i64 = REVOKE
            .key(self.key(pool, "pool"))
            .key(self.key(pool, "claims"))
            .key(self.key(pool, "open_claims"))
            .key(self.token_key(pool, user_id))
            .arg(claim.to_string())
            .arg(user_id)
            .invoke_async(&mut self.redis.clone())
            .await?;
        match answer {
            1 => Ok(Revocation::GivenBack),
            0 => Ok(Revocation::AlreadySettled),
            2 => Ok(Revocation::AlreadyRevoked),
            -3 => Ok(Revocation::LedgerLost),
            _ => Err(RedisError::from((
                redis::ErrorKind::ClientError,
                "the claim belongs to another user",
                format!("claim {claim} of {pool}"),
            ))),
        }
    }
}

#[async_trait]
impl WinnerLedger for FcfsGate {
    type Error = RedisError;

    async fn settle(&self, pool: PoolRef, claims: &[Uuid]) -> Result<Vec<bool>, RedisError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = SETTLE.key(self.key(pool, "claims"));
        invocation.key(self.key(pool, "open_claims"));
        for claim in claims {
            invocation.arg(claim.to_string());
        }
        let answers: Vec<i64> = invocation.invoke_async(&mut self.redis.clone()).await?;
        Ok(answers.into_iter().map(|a| a == 1).collect())
    }
}
