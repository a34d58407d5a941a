//! `stampede migrate`: create the database if needed and apply migrations.

use crate::configuration::Settings;
use anyhow::Context;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let pool = stampede_infra::mysql::connect(&settings.database)
        .await
        .with_context(|| format!("connecting to MariaDB at {}", settings.database.url))?;
    stampede_infra::mysql::migrate(&pool)
        .await
        .context("running migrations")?;
    println!("database `{}` is migrated", settings.database.name);
    Ok(())
}
