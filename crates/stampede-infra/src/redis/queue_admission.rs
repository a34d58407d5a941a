//! Admission of one concert's waiting queue in two scripts around a core
//! decision: `queue_sweep.lua` forgets what no longer holds a place
//! (expired and no-show ACTIVE tokens, waiting tokens whose holder stopped
//! polling) and reports the counts and the operator's rules;
//! [`AdmissionRules::admit_count`] decides; `queue_admit.lua` applies the
//! count only if the active set is still the one the decision saw.
//!
//! Also the operator's side: setting a concert's rate and cap, pausing and
//! resuming intake, and marking an admitted token seated (no no-show).

use super::WaitingQueue;
use chrono::Utc;
use redis::{AsyncCommands, ErrorKind, RedisError, Script};
use stampede_core::concert::admission::abandoned_before;
use stampede_core::concert::AdmissionRules;
use std::sync::LazyLock;
use uuid::Uuid;

static SWEEP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_sweep.lua")));
static ADMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_admit.lua")));

/// One concert's queue after a sweep, with its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweptQueue {
    pub active: u64,
    pub waiting: u64,
    /// Waiting tokens that lost their place (not seen for the keepalive).
    pub dropped: u64,
    /// Admitted tokens that took no seat in time, their slot freed.
    pub no_shows: u64,
    pub pre_queued: u64,
    pub rules: AdmissionRules,
    /// When the pre-queue is drawn (ms), if anyone pre-queued.
    pub opens_at_ms: Option<i64>,
    pub drawn: bool,
}

/// One admission step's result for one concert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admission {
    pub admitted: u64,
    pub waiting: u64,
    pub active: u64,
}

/// How many tokens a concert's room holds, as stored: a token whose time
/// ran out still counts until the next sweep, so `active` never reads
/// lower than the truth (the cap is checked against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    pub waiting: u64,
    pub active: u64,
    pub pre_queued: u64,
}

impl WaitingQueue {
    /// How many wait, are active and are pre-queued (reads only).
    pub async fn occupancy(&self, concert_id: u64) -> Result<Occupancy, RedisError> {
        let (waiting, active, pre_queued) = redis::pipe()
            .zcard(self.key(concert_id, "waiting"))
            .zcard(self.key(concert_id, "active"))
            .zcard(self.key(concert_id, "prequeue"))
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(Occupancy {
            waiting,
            active,
            pre_queued,
        })
    }

    /// Forgets what no longer holds a place and reads the rules.
    pub async fn sweep(&self, concert_id: u64) -> Result<SweptQueue, RedisError> {
        let now = Utc::now().timestamp_millis();
        let mut script = SWEEP.prepare_invoke();
        for part in [
            "waiting", "active", "owners", "users", "seen", "unseated", "rules", "prequeue",
            "opening",
        ] {
            script.key(self.key(concert_id, part));
        }
        let (counts, rules): ([u64; 5], [String; 5]) = script
            .arg(now)
            .arg(abandoned_before(now, self.settings.keepalive()))
            .invoke_async::<Vec<redis::Value>>(&mut self.redis.clone())
            .await
            .and_then(split_sweep)?;
        let [per_interval, active_cap, paused, opens_at, drawn_at] = rules;
        Ok(SweptQueue {
            active: counts[0],
            waiting: counts[1],
            dropped: counts[2],
            no_shows: counts[3],
            pre_queued: counts[4],
            rules: self.rules_from(&per_interval, &active_cap, &paused)?,
            opens_at_ms: optional(&opens_at)?,
            drawn: !drawn_at.is_empty(),
        })
    }

    /// Admits `count` (decided on `swept`) unless the active set changed
    /// since the sweep: `None` then, and the next step decides afresh.
    pub async fn admit_decided(
        &self,
        concert_id: u64,
        swept: &SweptQueue,
        count: u64,
    ) -> Result<Option<Admission>, RedisError> {
        let now = Utc::now().timestamp_millis();
        let mut script = ADMIT.prepare_invoke();
        for part in ["waiting", "active", "seen", "unseated", "outflow"] {
            script.key(self.key(concert_id, part));
        }
        let (admitted, waiting, active): (i64, u64, u64) = script
            .arg(count)
            .arg(now)
            .arg(self.active_time.as_millis() as u64)
            .arg(self.settings.no_show().as_millis() as u64)
            .arg(swept.active)
            .arg(now - self.settings.outflow_window().as_millis() as i64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok((admitted >= 0).then_some(Admission {
            admitted: admitted as u64,
            waiting,
            active,
        }))
    }

    /// Sweeps, then admits up to `count` longest-waiting tokens by hand
    /// (tests and operators; the scheduler decides by the rules instead).
    pub async fn admit(&self, concert_id: u64, count: u64) -> Result<Admission, RedisError> {
        let swept = self.sweep(concert_id).await?;
        let admission = self.admit_decided(concert_id, &swept, count).await?;
        admission.ok_or_else(|| {
            RedisError::from((
                ErrorKind::TryAgain,
                "the active set changed during admission",
            ))
        })
    }

    /// The concert's rules (the defaults from the settings where the
    /// operator set none).
    pub async fn rules(&self, concert_id: u64) -> Result<AdmissionRules, RedisError> {
        let [per_interval, active_cap, paused]: [Option<String>; 3] = self
            .redis
            .clone()
            .hget(
                self.key(concert_id, "rules"),
                &["per_interval", "active_cap", "paused"],
            )
            .await?;
        self.rules_from(
            per_interval.as_deref().unwrap_or(""),
            active_cap.as_deref().unwrap_or(""),
            paused.as_deref().unwrap_or(""),
        )
    }

    /// Sets the concert's rate and cap (a pause stays as it was).
    pub async fn set_rules(
        &self,
        concert_id: u64,
        rules: AdmissionRules,
    ) -> Result<AdmissionRules, RedisError> {
        let key = self.key(concert_id, "rules");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, "per_interval", rules.per_interval)
            .ignore();
        match rules.active_cap {
            // 0 stands for "no cap" in storage: the operator removed it.
            Some(cap) => pipe.hset(&key, "active_cap", cap).ignore(),
            None => pipe.hset(&key, "active_cap", 0).ignore(),
        };
        pipe.query_async::<()>(&mut self.redis.clone()).await?;
        self.rules(concert_id).await
    }

    /// Pauses (`true`) or resumes intake: while paused nobody is admitted,
    /// and waiting fans keep their places as long as they poll.
    pub async fn set_paused(
        &self,
        concert_id: u64,
        paused: bool,
    ) -> Result<AdmissionRules, RedisError> {
        self.redis
            .clone()
            .hset::<_, _, _, ()>(self.key(concert_id, "rules"), "paused", u8::from(paused))
            .await?;
        self.rules(concert_id).await
    }

    /// The admitted `token` took a seat: it is no no-show.
    pub async fn took_seat(&self, concert_id: u64, token: Uuid) -> Result<(), RedisError> {
        self.redis
            .clone()
            .zrem(self.key(concert_id, "unseated"), token.to_string())
            .await
    }

    /// Rules read from storage; a value that does not parse is an error,
    /// never a default.
    fn rules_from(
        &self,
        per_interval: &str,
        active_cap: &str,
        paused: &str,
    ) -> Result<AdmissionRules, RedisError> {
        let per_interval = optional(per_interval)?.unwrap_or(self.default_rate);
        let active_cap = match optional::<u64>(active_cap)? {
            Some(0) => None,
            Some(cap) => Some(cap),
            None => self.settings.default_active_cap(),
        };
        let paused = match paused {
            "" | "0" => false,
            "1" => true,
            other => return Err(corrupt(format!("queue rule paused = {other:?}"))),
        };
        let rules = AdmissionRules::parse(per_interval, active_cap)
            .map_err(|refusal| corrupt(format!("stored queue rules: {refusal}")))?;
        Ok(AdmissionRules { paused, ..rules })
    }
}

/// `""` is absent; anything else must parse.
fn optional<T: std::str::FromStr>(value: &str) -> Result<Option<T>, RedisError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| corrupt(format!("queue field {value:?} is not a number")))
}

/// A stored waiting-queue value that does not parse.
pub(super) fn corrupt(message: String) -> RedisError {
    RedisError::from((ErrorKind::TypeError, "corrupt waiting-queue state", message))
}

/// `queue_sweep.lua`'s answer: five counts, then five rule fields.
fn split_sweep(values: Vec<redis::Value>) -> Result<([u64; 5], [String; 5]), RedisError> {
    use redis::FromRedisValue;
    if values.len() != 10 {
        return Err(corrupt(format!(
            "queue sweep answered {} fields",
            values.len()
        )));
    }
    let mut counts = [0u64; 5];
    for (slot, value) in counts.iter_mut().zip(&values[..5]) {
        *slot = u64::from_redis_value(value)?;
    }
    let mut fields: [String; 5] = Default::default();
    for (slot, value) in fields.iter_mut().zip(&values[5..]) {
        *slot = String::from_redis_value(value)?;
    }
    Ok((counts, fields))
}
