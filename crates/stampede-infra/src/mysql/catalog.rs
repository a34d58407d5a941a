//! Products, their options (price, stock) and users' points.

use sqlx::MySqlPool;

/// An option as an order needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct OptionRecord {
    pub id: u64,
    pub product_id: u64,
    pub product_name: String,
    pub name: String,
    pub price: u64,
    pub stock: u64,
    pub campaign_id: Option<u64>,
}

/// Creates a product with its options; returns (product id, option ids).
pub async fn create_product(
    pool: &MySqlPool,
    name: &str,
    campaign_id: Option<u64>,
    options: &[(String, u64, u64)],
) -> Result<(u64, Vec<u64>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let product_id = sqlx::query("INSERT INTO products (name, campaign_id) VALUES (?, ?)")
        .bind(name)
        .bind(campaign_id)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
    let mut ids = Vec::with_capacity(options.len());
    for (option_name, price, stock) in options {
        let id = sqlx::query(
            "INSERT INTO product_options (product_id, name, price, stock) VALUES (?, ?, ?, ?)",
        )
        .bind(product_id)
        .bind(option_name)
        .bind(price)
        .bind(stock)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        ids.push(id);
    }
    tx.commit().await?;
    Ok((product_id, ids))
}

/// Sets an option's stock; false when there is no such option.
pub async fn set_stock(pool: &MySqlPool, option_id: u64, stock: u64) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query("UPDATE product_options SET stock = ? WHERE id = ?")
        .bind(stock)
        .bind(option_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(changed == 1 || find_options(pool, &[option_id]).await?.len() == 1)
}

pub async fn find_options(pool: &MySqlPool, ids: &[u64]) -> Result<Vec<OptionRecord>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = sqlx::QueryBuilder::new(
        "SELECT o.id, o.product_id, p.name AS product_name, o.name, o.price, o.stock, p.campaign_id \
         FROM product_options o JOIN products p ON p.id = o.product_id WHERE o.id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(") ORDER BY o.id");
    query.build_query_as().fetch_all(pool).await
}

/// Takes `amount` from the user's balance on `conn` (the payment's
/// transaction) if the balance covers it; false when it does not.
pub async fn take_points(
    conn: &mut sqlx::MySqlConnection,
    user_id: u64,
    amount: u64,
) -> Result<bool, sqlx::Error> {
    if amount == 0 {
        return Ok(true);
    }
    let taken = sqlx::query(
        "UPDATE user_points SET balance = balance - ? WHERE user_id = ? AND balance >= ?",
    )
    .bind(amount)
    .bind(user_id)
    .bind(amount)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

pub async fn points_balance(pool: &MySqlPool, user_id: u64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT balance FROM user_points WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0),
    )
}
