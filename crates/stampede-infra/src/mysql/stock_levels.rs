//! Stock levels read outside a purchase (the low-stock notification): a
//! plain read, since nothing is decided on it but whether to warn.

use sqlx::MySqlPool;

/// The stock left of option `option_id`, `None` when it does not exist.
pub async fn option_stock(pool: &MySqlPool, option_id: u64) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT stock FROM product_options WHERE id = ?")
        .bind(option_id)
        .fetch_optional(pool)
        .await
}
