//! Which database errors mean "MariaDB is not there right now" (retry when
//! it is back) rather than "this statement is wrong": the one answer both
//! edges use, the HTTP API (503 instead of 500) and the consumers (retried
//! in place instead of dead-lettered).

/// What MariaDB answers while it shuts down or right after it dropped a
/// connection (a restart): server shutdown in progress (1053), connection
/// killed (1927), server gone away (2006), connection lost mid-query (2013).
const MARIADB_GOING_AWAY: [u16; 4] = [1053, 1927, 2006, 2013];

/// Whether `error` says MariaDB cannot be reached (down, restarting, the
/// pool exhausted) rather than that it refused the statement.
pub fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| MARIADB_GOING_AWAY.contains(&e.number())),
        _ => false,
    }
}
