//! The README's demo spread over three instances, as `scripts/fleet.sh
//! demo` runs it: the backbone's events relayed by three outbox relays
//! arrive once and in order per aggregate, the flash sale audits exact,
//! the shop's card payments are called back through the balancer, and the
//! box office's queue is admitted by one instance at a time.

use crate::Shop;
use stampede::commands::demo::{self, DemoArgs};
use stampede::commands::pg_sim::PgSimConfig;

#[tokio::test]
async fn the_demo_spread_over_three_instances_finds_no_problem() {
    let shop = Shop::start(
        PgSimConfig {
            latency_min_ms: 10,
            latency_max_ms: 50,
            ..PgSimConfig::default()
        },
        |_| {},
    )
    .await;
    let args = DemoArgs {
        url: (0..3).map(|n| shop.fleet.url(n, "")).collect(),
        events: 600,
        aggregates: 12,
        coupons: 100,
        users: 1500,
        buyers: 30,
        seats: 20,
    };
    demo::run(shop.settings.clone(), args)
        .await
        .expect("the demo tells its story over the fleet without a problem");
}
