//! The request path of the gate: a take, or a refusal read first.
//!
//! Once a pool refuses everyone (sold out, closed, outside its window), all
//! of its requests are refused, and a flash sale's requests are nearly all
//! of that kind: tens of thousands for the last of a thousand units. Such
//! a refusal takes nothing, so it needs no script: one `HMGET` of the pool
//! hash reads what the script would read first, and
//! [`GateState::refusal`] answers from it. That read costs Redis a
//! fraction of a script run (`EVALSHA` sets up its keys and arguments as
//! Lua strings, then calls back into Redis), and Redis is the one part
//! every instance shares.
//!
//! Which pools are read first is remembered per process: the pools whose
//! last answer here refused everyone. A request to any other pool goes
//! straight to the script, so a pool with stock left pays one round trip
//! per request, not two; a read that finds a unit to take sends the
//! request on to the script, and the pool is forgotten until it refuses
//! everyone again. The hint only chooses the path, never the answer: both
//! paths answer by the same rules ([`GateState::refusal`], followed line
//! by line by `fcfs_take.lua`), and a read refuses only what the script
//! would refuse at that moment.

use super::FcfsGate;
use crate::redis::RedisConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisWrite, Script, ToRedisArgs};
use stampede_core::fcfs::{GateOutcome, GateState, PoolKind, PoolRef, Take};
use std::fmt;
use std::sync::{LazyLock, PoisonError};
use uuid::Uuid;

/// At most this many pools are remembered as refusing everyone.
const REMEMBERED_POOLS: usize = 10_000;

static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/fcfs_take.lua")));

/// Answers `take`: from a read when its pool refused everyone last time,
/// else (or when the read finds a unit to take) from the take script.
pub(super) async fn try_take(gate: &FcfsGate, take: &Take) -> Result<GateOutcome, RedisError> {
    if gate.refused_everyone(take.pool) {
        match gate.read_state(take.pool, take.user_id).await {
            Ok(state) => {
                if let Some(refused) = state.refusal(take.now_ms, take.per_user_limit) {
                    return Ok(refused);
                }
            }
            // A field that is not a number (written by hand): the script,
            // which reads it its own way, decides.
            Err(error) if error.kind() == ErrorKind::TypeError => {}
            Err(error) => return Err(error),
        }
        gate.remember(take.pool, false);
    }
    let outcome = run_script(gate, take).await?;
    if outcome.refuses_everyone() {
        gate.remember(take.pool, true);
    }
    Ok(outcome)
}

impl FcfsGate {
    fn refused_everyone(&self, pool: PoolRef) -> bool {
        self.refusing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&pool)
    }

    /// Records whether `pool`'s last answer refused everyone (a write only
    /// when that changes). Closed pools stay remembered; past
    /// [`REMEMBERED_POOLS`] the memory starts over, which costs each pool
    /// one script run to be remembered again.
    fn remember(&self, pool: PoolRef, refusing: bool) {
        if self.refused_everyone(pool) == refusing {
            return;
        }
        let mut pools = self
            .refusing
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if refusing {
            if pools.len() >= REMEMBERED_POOLS {
                pools.clear();
            }
            pools.insert(pool);
        } else {
            pools.remove(&pool);
        }
    }

    /// What `pool`'s gate holds for `user_id`, read in one step: the pool
    /// hash's fields an answer depends on, the caller's wins among them.
    pub async fn read_state(&self, pool: PoolRef, user_id: u64) -> Result<GateState, RedisError> {
        let base = self.base(pool);
        let mut read = Cmd::with_capacity(8, 256);
        read.arg("HMGET")
            .arg(Written(format_args!("{base}pool")))
            .arg(&["stock", "opens_ms", "closes_ms", "closed", "rebuilding"])
            .arg(Written(format_args!("u:{user_id}")));
        let (stock, opens_ms, closes_ms, closed, rebuilding, held): Fields =
            read.query_async(&mut self.redis.clone()).await?;
        Ok(GateState {
            stock,
            opens_ms: opens_ms.unwrap_or(0),
            closes_ms: closes_ms.unwrap_or(0),
            closed: closed == Some(1),
            rebuilding: rebuilding == Some(1),
            held: held.map_or(0, |held| u32::try_from(held).unwrap_or(0)),
        })
    }
}

/// `stock, opens_ms, closes_ms, closed, rebuilding, u:<user>`, each absent
/// or a number.
type Fields = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The take script: the command is written into one buffer (keys formatted
/// in place, no string per argument), not assembled as a script invocation
/// and copied into a command afterwards.
async fn run_script(gate: &FcfsGate, take: &Take) -> Result<GateOutcome, RedisError> {
    let &Take {
        pool,
        claim,
        user_id,
        now_ms,
        per_user_limit,
    } = take;
    let base = gate.base(pool);
    let mut claim_id = Uuid::encode_buffer();
    let campaign = pool.kind == PoolKind::Campaign;
    let mut script = evalsha(&TAKE, if campaign { 4 } else { 3 });
    script
        .arg(Written(format_args!("{base}pool")))
        .arg(Written(format_args!("{base}claims")))
        .arg(Written(format_args!("{base}open_claims")));
    if campaign {
        script.arg(Written(format_args!("{base}token:{user_id}")));
    }
    script
        .arg(user_id)
        .arg(now_ms)
        .arg(per_user_limit)
        .arg(&*claim.hyphenated().encode_lower(&mut claim_id))
        .arg(&gate.instance);
    if campaign {
        script.arg(gate.entry_token_ttl.as_secs().max(1));
    }
    let (code, ordinal, remaining): (i64, i64, i64) =
        eval(&TAKE, &script, &mut gate.redis.clone()).await?;
    Ok(match code {
        1 => GateOutcome::Won {
            ordinal: ordinal as u32,
            remaining,
        },
        -1 => GateOutcome::SoldOut,
        -3 => GateOutcome::NotOpen,
        -4 => GateOutcome::Closed,
        -5 => GateOutcome::AlreadyIssued,
        -6 => GateOutcome::Rebuilding,
        _ => GateOutcome::Uninitialised,
    })
}

/// `EVALSHA` of `script` with its key count, for the keys and arguments to
/// follow; run by [`eval`].
fn evalsha(script: &Script, keys: usize) -> Cmd {
    let mut command = Cmd::with_capacity(16, 512);
    command.arg("EVALSHA").arg(script.get_hash()).arg(keys);
    command
}

/// Runs an [`evalsha`] command, loading `script` first where Redis does not
/// know it yet (a restarted server, a new cluster node), as
/// `Script::invoke_async` does.
async fn eval<T: FromRedisValue>(
    script: &Script,
    command: &Cmd,
    redis: &mut RedisConnection,
) -> Result<T, RedisError> {
    match command.query_async(redis).await {
        Err(error) if error.kind() == ErrorKind::NoScriptError => {
            script.prepare_invoke().load_async(redis).await?;
            command.query_async(redis).await
        }
        answer => answer,
    }
}

/// A command argument written straight into the command's buffer.
struct Written<T>(T);

impl<T: fmt::Display> ToRedisArgs for Written<T> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        out.write_arg_fmt(&self.0)
    }
}
