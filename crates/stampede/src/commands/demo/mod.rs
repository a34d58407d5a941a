//! `stampede demo`: drives a running server through the whole story and
//! prints what happened.
//!
//! 1. [`backbone`]: events committed to the outbox arrive once, in order;
//!    a rolled-back one never does.
//! 2. [`flash_sale`]: a coupon flash sale, audited against Redis.
//! 3. [`shop`]: coupon winners order and pay with points and by card
//!    (through `stampede pg-sim`, when it runs at `pg.base_url`).
//! 4. [`box_office`]: fans queue, race for seats, pay; failed payments are
//!    compensated; the schedule sells out and is ranked.
//! 5. A summary once the consumers have caught up: issued, paid, failed,
//!    dead letters, consumer lag, outbox.

mod backbone;
mod box_office;
mod client;
mod flash_sale;
mod shop;
mod summary;

use crate::configuration::Settings;
use anyhow::{bail, Context};
use client::Api;
use stampede_api::auth::JwtKeys;
use stampede_infra::Infra;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the running server (default: from http.host/http.port);
    /// several, comma-separated, for a fleet (`scripts/fleet.sh`): the
    /// requests are spread over them in turn.
    #[arg(long, value_delimiter = ',')]
    pub url: Vec<String>,
    /// Events to commit in the backbone check.
    #[arg(long, default_value_t = 500)]
    pub events: u64,
    /// Aggregates they are spread over (ordering is checked per aggregate).
    #[arg(long, default_value_t = 20)]
    pub aggregates: u64,
    /// Coupons in the flash sale.
    #[arg(long, default_value_t = 300)]
    pub coupons: u64,
    /// Simulated users; each asks once, and one in five asks twice.
    #[arg(long, default_value_t = 3000)]
    pub users: u64,
    /// Coupon winners who go on to buy in the shop.
    #[arg(long, default_value_t = 30)]
    pub buyers: usize,
    /// Seats of the concert schedule (twice as many fans queue for them).
    #[arg(long, default_value_t = 30)]
    pub seats: u32,
}

pub async fn run(settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events > 0
            && args.aggregates > 0
            && args.coupons > 0
            && args.users > 0
            && args.seats > 0,
        "--events, --aggregates, --coupons, --users and --seats must be positive"
    );
    let urls = match args.url.clone() {
        urls if urls.is_empty() => vec![format!(
            "http://{}:{}",
            settings.http.host, settings.http.port
        )],
        urls => urls,
    };
    let api = Api::new(urls.clone(), JwtKeys::new(&settings.auth));
    for url in &urls {
        let (status, ready) = api
            .get_from(url, "/ready")
            .await
            .with_context(|| format!("no server at {url}"))?;
        if status != 200 {
            bail!("server at {url} is not ready: {ready}");
        }
    }
    let infra = Infra::connect(settings.infra()).await?;
    let before = summary::Baseline::take(&api).await?;
    // Fresh user ids per run, so reruns start from empty balances and queues.
    let first_user = 1_000_000 + (chrono::Utc::now().timestamp() as u64 % 100_000) * 10_000;

    let backbone_ok = backbone::run(&api, &infra, args.events, args.aggregates).await?;
    let sale = flash_sale::run(&api, &infra, args.coupons, args.users, first_user).await?;
    let card = pg_reachable(&settings).await;
    let buyers = &sale.winners[..args.buyers.min(sale.winners.len())];
    let shop = shop::run(&api, buyers, card).await?;
    let box_office = box_office::run(&api, args.seats, first_user + 5_000).await?;
    let ok = summary::run(&api, &infra, &before, &sale, &shop, &box_office).await?;
    if !(backbone_ok && sale.ok && shop.ok && box_office.ok && ok) {
        bail!("the demo found a problem (see above)");
    }
    Ok(())
}

/// Whether the PG simulator answers at `pg.base_url`.
async fn pg_reachable(settings: &Settings) -> bool {
    let url = format!("{}/api/v1/payments/none", settings.pg.base_url);
    reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .is_ok()
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
