//! The loop that drives one consumer: poll a batch, handle it with retries,
//! dead-letter what cannot be handled, commit, repeat.

use super::context::{Commits, GroupContext};
use super::dead_letter::{self, FailedRecord, FailureCause};
use super::lag::{Assignment, LagSampler};
use super::plan::{after_failure, commit_offsets, BatchNext, BatchProgress, NextStep};
use super::{BatchEventHandler, ConsumedEvent, ConsumerSpec, EventHandler, Handler, HandlerError};
use crate::kafka::{ClosingConsumer, EventProducer, KafkaSettings, TopicNames};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use stampede_core::events::EventEnvelope;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Shutdown was requested while a record was waiting (back-off, DLT retry):
/// it stays uncommitted and is redelivered after the restart.
struct Interrupted;

/// Why a record was dead-lettered (the `reason` metric label).
#[derive(Clone, Copy)]
enum DeadLetterReason {
    Undecodable,
    Fatal,
    RetriesExhausted,
}

impl DeadLetterReason {
    fn label(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Fatal => "fatal",
            Self::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// One polled record: its raw form (for the DLT) and its decoded form.
struct Polled {
    raw: FailedRecord,
    decoded: Result<ConsumedEvent, anyhow::Error>,
}

impl Polled {
    fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let raw = FailedRecord::from_message(message);
        let decoded = serde_json::from_slice::<EventEnvelope>(&raw.payload)
            .map(|envelope| ConsumedEvent {
                topic: raw.topic.clone(),
                partition: raw.partition,
                offset: raw.offset,
                envelope,
            })
            .map_err(|e| anyhow::Error::new(e).context("record is not a Stampede event envelope"));
        Self { raw, decoded }
    }
}

type GroupConsumer = StreamConsumer<GroupContext>;

/// How long the consumer waits for a record before it commits again what
/// the broker has not confirmed.
const RECOMMIT_WHEN_IDLE: Duration = Duration::from_secs(1);

struct Runner {
    name: String,
    group: String,
    producer: EventProducer,
    retry_attempts: u32,
    backoff: Duration,
    shutdown: CancellationToken,
    commits: Commits,
}

/// Runs `spec` until `shutdown` is cancelled; then finishes the batch in
/// hand, commits, and returns.
pub async fn run_consumer(
    spec: ConsumerSpec,
    settings: KafkaSettings,
    producer: EventProducer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let names = TopicNames::new(&settings);
    let group = names.group(&spec.group_id);
    let c = &settings.consumer;
    let context = GroupContext {
        consumer: spec.name.clone(),
        assignment: Assignment::default(),
        commits: Commits::default(),
    };
    let consumer: GroupConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", &group)
        .set("client.id", format!("stampede-{}", spec.name))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", c.session_timeout_ms.to_string())
        .set("heartbeat.interval.ms", c.heartbeat_interval_ms.to_string())
        .set("fetch.wait.max.ms", c.fetch_wait_max_ms.to_string())
        .create_with_context(context.clone())?;
    let consumer = ClosingConsumer::new(consumer);
    let topics: Vec<String> = spec.topics.iter().map(|t| names.physical(t)).collect();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs)?;
    tracing::info!(consumer = %spec.name, %group, ?topics, "consumer started");
    let stop_sampling = CancellationToken::new();
    if c.stats_interval_ms > 0 {
        let sampler = LagSampler {
            consumer: spec.name.clone(),
            group: group.clone(),
            bootstrap_servers: settings.bootstrap_servers.clone(),
            assignment: context.assignment.clone(),
            every: Duration::from_millis(c.stats_interval_ms),
        };
        tokio::spawn(sampler.run(stop_sampling.clone()));
    }
    let _stop_sampling = stop_sampling.drop_guard();

    let (max_records, max_wait) = match spec.handler {
        Handler::Batch(_) => (c.max_poll_records, Duration::from_millis(c.max_wait_ms)),
        // Per-record handlers take what is already buffered, without waiting.
        Handler::PerRecord(_) => (c.max_poll_records, Duration::ZERO),
    };
    let runner = Runner {
        name: spec.name.clone(),
        group,
        producer,
        retry_attempts: c.retry_attempts,
        backoff: Duration::from_millis(c.retry_backoff_ms),
        shutdown: shutdown.clone(),
        commits: context.commits.clone(),
    };

    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            polled = tokio::time::timeout(RECOMMIT_WHEN_IDLE, consumer.recv()) => polled,
        };
        let Ok(first) = first else {
            runner.commit_list(
                &consumer,
                &offset_list(&runner.commits.unconfirmed()),
                CommitMode::Async,
            );
            continue;
        };
        let mut batch = match first {
            Ok(message) => vec![Polled::from_message(&message)],
            Err(error) => {
                tracing::warn!(consumer = %spec.name, %error, "poll failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let deadline = tokio::time::Instant::now() + max_wait;
        while batch.len() < max_records {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(message)) => batch.push(Polled::from_message(&message)),
                Ok(Err(error)) => {
                    tracing::warn!(consumer = %spec.name, %error, "poll failed");
                    break;
                }
                Err(_elapsed) => break,
            }
        }
        metrics::histogram!("stampede_consumer_batch_size", "consumer" => spec.name.clone())
            .record(batch.len() as f64);

        let mut done = vec![false; batch.len()];
        let finished = match &spec.handler {
            Handler::PerRecord(handler) => {
                runner
                    .run_per_record(handler.as_ref(), &batch, &mut done)
                    .await
            }
            Handler::Batch(handler) => runner.run_batch(handler.as_ref(), &batch, &mut done).await,
        };
        runner.commit(&consumer, &batch, &done);
        if finished.is_err() {
            break;
        }
    }
    // A final synchronous commit makes sure the asynchronous ones have landed.
    runner.commit_list(
        &consumer,
        &offset_list(&runner.commits.asked()),
        CommitMode::Sync,
    );
    // Past the session timeout the broker evicts the member anyway.
    let close_within = Duration::from_millis(c.session_timeout_ms);
    if !consumer.close(close_within).await {
        tracing::warn!(consumer = %spec.name, ?close_within, "consumer did not leave its group in time; the broker evicts it");
    }
    tracing::info!(consumer = %spec.name, "consumer stopped");
    Ok(())
}

impl Runner {
    async fn run_per_record(
        &self,
        handler: &dyn EventHandler,
        batch: &[Polled],
        done: &mut [bool],
    ) -> Result<(), Interrupted> {
        for (index, polled) in batch.iter().enumerate() {
            match &polled.decoded {
                Err(error) => {
                    let cause = FailureCause::new("stampede::kafka::UndecodableRecord", error);
                    self.dead_letter(&polled.raw, &cause, DeadLetterReason::Undecodable)
                        .await?;
                }
                Ok(event) => {
                    self.handle_with_retries(handler, event, &polled.raw)
                        .await?
                }
            }
            done[index] = true;
        }
        Ok(())
    }

    async fn handle_with_retries(
        &self,
        handler: &dyn EventHandler,
        event: &ConsumedEvent,
        raw: &FailedRecord,
    ) -> Result<(), Interrupted> {
        let mut retries = 0;
        loop {
            let started = Instant::now();
            let result = handler.handle(event).await;
            self.observe_attempt(started);
            let error = match result {
                Ok(()) => {
                    self.count_handled(1);
                    return Ok(());
                }
                Err(error) => error,
            };
            match after_failure(error.kind(), retries, self.retry_attempts) {
                NextStep::WaitOutOutage => self.retry_pause(&error, event, retries).await?,
                NextStep::Retry { attempt } => {
                    retries = attempt;
                    self.retry_pause(&error, event, attempt).await?;
                }
                NextStep::DeadLetter => return self.dead_letter_for(raw, &error).await,
            }
        }
    }

    /// Runs a batch handler the way [`BatchProgress`] plans it.
    async fn run_batch(
        &self,
        handler: &dyn BatchEventHandler,
        batch: &[Polled],
        done: &mut [bool],
    ) -> Result<(), Interrupted> {
        let mut events = Vec::with_capacity(batch.len());
        let mut positions = Vec::with_capacity(batch.len());
        for (index, polled) in batch.iter().enumerate() {
            match &polled.decoded {
                Ok(event) => {
                    events.push(event.clone());
                    positions.push(index);
                }
                Err(error) => {
                    let cause = FailureCause::new("stampede::kafka::UndecodableRecord", error);
                    self.dead_letter(&polled.raw, &cause, DeadLetterReason::Undecodable)
                        .await?;
                    done[index] = true;
                }
            }
        }
        let mut mark_done = |range: std::ops::Range<usize>| {
            for i in range {
                done[positions[i]] = true;
            }
        };
        let mut progress = BatchProgress::new(events.len(), self.retry_attempts);
        while let Some(pending) = progress.pending() {
            let started = Instant::now();
            let result = handler.handle_batch(&events[pending]).await;
            self.observe_attempt(started);
            let failure = match result {
                Ok(()) => {
                    let handled = progress.succeeded();
                    self.count_handled(handled.len());
                    mark_done(handled);
                    continue;
                }
                Err(failure) => failure,
            };
            let step = progress.failed(failure.index, failure.error.kind());
            self.count_handled(step.handled.len());
            mark_done(step.handled);
            let error = failure.error;
            match step.next {
                BatchNext::Pause { retry } => {
                    // The record the retry starts from, for the log line.
                    let from = progress.pending().map_or(0, |rest| rest.start);
                    self.retry_pause(&error, &events[from], retry).await?;
                }
                BatchNext::DeadLetter(parked) => {
                    for i in parked {
                        self.dead_letter_for(&batch[positions[i]].raw, &error)
                            .await?;
                        mark_done(i..i + 1);
                    }
                }
            }
        }
        Ok(())
    }

    async fn retry_pause(
        &self,
        error: &HandlerError,
        event: &ConsumedEvent,
        attempt: u32,
    ) -> Result<(), Interrupted> {
        metrics::counter!("stampede_consumer_retries_total", "consumer" => self.name.clone())
            .increment(1);
        tracing::warn!(
            consumer = %self.name, topic = %event.topic, partition = event.partition, offset = event.offset,
            attempt, error = %error, "handler failed; retrying after back-off"
        );
        self.pause().await
    }

    async fn pause(&self) -> Result<(), Interrupted> {
        tokio::select! {
            _ = tokio::time::sleep(self.backoff) => Ok(()),
            _ = self.shutdown.cancelled() => Err(Interrupted),
        }
    }

    async fn dead_letter_for(
        &self,
        raw: &FailedRecord,
        error: &HandlerError,
    ) -> Result<(), Interrupted> {
        let reason = if error.is_fatal() {
            DeadLetterReason::Fatal
        } else {
            DeadLetterReason::RetriesExhausted
        };
        let cause = FailureCause::new(error.type_name, &error.error);
        self.dead_letter(raw, &cause, reason).await
    }

    /// Publishes the dead letter, retrying until the broker takes it: the
    /// offset must not move past a record that is neither handled nor parked.
    async fn dead_letter(
        &self,
        raw: &FailedRecord,
        cause: &FailureCause,
        reason: DeadLetterReason,
    ) -> Result<(), Interrupted> {
        loop {
            match dead_letter::publish(&self.producer, raw, &self.group, cause).await {
                Ok(()) => {
                    tracing::error!(
                        consumer = %self.name, topic = %raw.topic, partition = raw.partition, offset = raw.offset,
                        reason = reason.label(), error = %cause.message, "record dead-lettered"
                    );
                    metrics::counter!(
                        "stampede_consumer_dead_lettered_total",
                        "consumer" => self.name.clone(), "reason" => reason.label()
                    )
                    .increment(1);
                    return Ok(());
                }
                Err(error) => {
                    tracing::error!(consumer = %self.name, %error, "dead-letter publish failed; will retry");
                    self.pause().await?;
                }
            }
        }
    }

    fn observe_attempt(&self, started: Instant) {
        metrics::histogram!("stampede_consumer_handle_seconds", "consumer" => self.name.clone())
            .record(started.elapsed().as_secs_f64());
    }

    fn count_handled(&self, records: usize) {
        metrics::counter!("stampede_consumer_handled_total", "consumer" => self.name.clone())
            .increment(records as u64);
    }

    /// Commits, per partition, past the longest run of finished records,
    /// and records what it asked in [`Commits`].
    fn commit(&self, consumer: &GroupConsumer, batch: &[Polled], done: &[bool]) {
        let finished = batch.iter().zip(done).map(|(polled, &finished)| {
            let raw = &polled.raw;
            (raw.topic.as_str(), raw.partition, raw.offset, finished)
        });
        let mut list = TopicPartitionList::new();
        for ((topic, partition), next) in commit_offsets(finished) {
            let _ = list.add_partition_offset(topic, partition, Offset::Offset(next));
            self.commits.ask(topic, partition, next);
        }
        self.commit_list(consumer, &list, CommitMode::Async);
    }

    fn commit_list(&self, consumer: &GroupConsumer, list: &TopicPartitionList, mode: CommitMode) {
        if list.count() == 0 {
            return;
        }
        if let Err(error) = consumer.commit(list, mode) {
            metrics::counter!("stampede_consumer_commit_failures_total", "consumer" => self.name.clone()).increment(1);
            tracing::warn!(consumer = %self.name, %error, "offset commit failed; records may be redelivered");
        }
    }
}

fn offset_list(positions: &BTreeMap<(String, i32), i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in positions {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    list
}
