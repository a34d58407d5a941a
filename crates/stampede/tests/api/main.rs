//! Integration tests: each spawns the real application against real
//! MariaDB, Redis and a Kafka-protocol broker, with its own database,
//! topic prefix, group prefix and Redis key prefix.

mod after_payment;
mod backbone;
mod box_office;
mod card;
mod card_refunds;
mod chaos;
mod concerts;
mod consumer_failures;
mod consumer_lag;
mod demo;
mod dlt;
mod fcfs;
mod fcfs_claims;
mod fcfs_failures;
mod fcfs_gate_reads;
mod helpers;
mod http;
mod idempotency_claims;
mod idempotency_pruning;
mod identity_provider;
mod openapi_contract;
mod payments;
mod points_history;
mod post_payment;
mod refund_audit;
mod refunds;
mod resilience;
mod sink;
#[path = "../support/mod.rs"]
mod support;
mod top_ups;
mod waiting_page;
mod waiting_room;
mod waiting_room_opening;
