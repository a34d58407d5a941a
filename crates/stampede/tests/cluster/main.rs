//! Stampede on Apache Kafka brokers that fail: real `stampede serve`
//! processes on the three-node cluster losing one broker, then two, and on a
//! single broker that restarts. The brokers are shared, so scripts/test.sh
//! runs this binary one test at a time, after the fast suite; where Apache
//! Kafka cannot run, every test says so and passes.

mod broker_loss;
mod broker_restart;
#[path = "../support/mod.rs"]
mod support;
