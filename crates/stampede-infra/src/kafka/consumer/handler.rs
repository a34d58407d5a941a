//! What a handler receives and what it may answer.

use super::plan::FailureKind;
use async_trait::async_trait;
use stampede_core::events::{DomainEvent, EventEnvelope, PayloadError};
use std::fmt;

/// One decoded record, with where it came from.
#[derive(Debug, Clone)]
pub struct ConsumedEvent {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub envelope: EventEnvelope,
}

impl ConsumedEvent {
    /// The payload as `E`; a mismatch is a [`HandlerError::fatal`] because
    /// retrying cannot fix it.
    pub fn payload<E: DomainEvent>(&self) -> Result<E, HandlerError> {
        self.envelope
            .payload_as::<E>()
            .map_err(HandlerError::fatal::<PayloadError>)
    }
}

/// Handles one record at a time.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError>;
}

/// Handles a batch of records at once (bulk inserts and the like).
#[async_trait]
pub trait BatchEventHandler: Send + Sync + 'static {
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), BatchError>;
}

/// A handler failure: retryable (the default), fatal (straight to the DLT),
/// or "a dependency is unavailable" (MariaDB or Redis unreachable), which is
/// retried until the dependency is back instead of dead-lettering every
/// record that arrives during an outage.
///
/// Any `std::error::Error` converts into a retryable one with `?` (an
/// `anyhow::Error` through [`HandlerError::retryable`]); the error's
/// type name is kept for the `kafka_dlt-exception-fqcn` header.
pub struct HandlerError {
    pub(crate) error: anyhow::Error,
    pub(crate) type_name: &'static str,
    pub(crate) fatal: bool,
    pub(crate) unavailable: bool,
}

impl HandlerError {
    pub fn retryable<E: Into<anyhow::Error> + 'static>(error: E) -> Self {
        let error = error.into();
        let unavailable = is_outage(&error);
        Self {
            error,
            type_name: std::any::type_name::<E>(),
            fatal: false,
            unavailable,
        }
    }

    /// A dependency is not ready (not the record's fault): waited out like
    /// an outage, never dead-lettered.
    pub fn unavailable<E: Into<anyhow::Error> + 'static>(error: E) -> Self {
        Self {
            unavailable: true,
            ..Self::retryable(error)
        }
    }

    pub fn fatal<E: Into<anyhow::Error> + 'static>(error: E) -> Self {
        Self {
            fatal: true,
            unavailable: false,
            ..Self::retryable(error)
        }
    }

    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// MariaDB or Redis could not be reached: retried until they are back.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The kind the runtime's retry rule decides on.
    pub(super) fn kind(&self) -> FailureKind {
        if self.unavailable {
            FailureKind::Unavailable
        } else if self.fatal {
            FailureKind::Fatal
        } else {
            FailureKind::Retryable
        }
    }
}

/// Whether `error` (anywhere in its chain) says MariaDB or Redis cannot be reached.
fn is_outage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(db) = cause.downcast_ref::<sqlx::Error>() {
            return crate::mysql::outage::is_outage(db);
        }
        if let Some(redis) = cause.downcast_ref::<redis::RedisError>() {
            return redis.is_io_error()
                || redis.is_connection_dropped()
                || redis.is_timeout()
                || redis.is_connection_refusal();
        }
        false
    })
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::retryable(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:?}",
            if self.fatal { "fatal: " } else { "" },
            self.error
        )
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// A batch failure, optionally naming the record that caused it (its index
/// in the slice the handler was given), like Spring's `BatchListenerFailedException`.
#[derive(Debug)]
pub struct BatchError {
    pub(crate) index: Option<usize>,
    pub(crate) error: HandlerError,
}

impl BatchError {
    /// The whole batch failed: it is retried whole, then every record is dead-lettered.
    pub fn whole(error: impl Into<HandlerError>) -> Self {
        Self {
            index: None,
            error: error.into(),
        }
    }

    /// Record `index` failed: the ones before it are kept, it is retried
    /// (with the rest behind it) and finally dead-lettered alone.
    pub fn at(index: usize, error: impl Into<HandlerError>) -> Self {
        Self {
            index: Some(index),
            error: error.into(),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for BatchError {
    fn from(error: E) -> Self {
        Self::whole(error)
    }
}

impl From<HandlerError> for BatchError {
    fn from(error: HandlerError) -> Self {
        Self::whole(error)
    }
}
