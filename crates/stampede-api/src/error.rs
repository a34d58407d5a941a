//! The API's one error type and its JSON form.
//!
//! Every 4xx/5xx body is `{"code": "...", "message": "..."}`: `code` is stable
//! and machine-readable (clients branch on it), `message` is for people.
//! Extractor rejections (bad JSON, wrong types, oversize bodies, bad path
//! segments) are mapped here too, so no request reaches a 500 through them.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stampede_core::concert::{AdmissionRulesError, HoldRefusal, ReservationPaymentRefusal};
use stampede_core::fcfs::{GateOutcome, NotAdmitted, PoolError, PoolKind, PoolRef};
use stampede_core::order::{CancelRefusal, PlacementRefusal};
use stampede_core::payment::{PaymentRefusal, RefundRefusal};
use stampede_infra::fcfs_pools::PoolChangeError;
use stampede_infra::mysql::orders::CancelError;
use stampede_infra::mysql::payments::PaymentError;
use stampede_infra::mysql::refunds::RefundError;
use stampede_infra::mysql::reservations::{HoldError, ReservationPaymentError};
use utoipa::ToSchema;

pub use crate::error_code::ErrorCode;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `SOLD_OUT`, `INVALID_BODY`.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(axum::http::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: axum::http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn forbidden_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// An unexpected failure: logged in full, answered without details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl ApiError {
    /// A database failure: 503 when MariaDB cannot be reached (down,
    /// restarting, the pool exhausted), else 500.
    pub fn database(error: &sqlx::Error) -> Self {
        if stampede_infra::mysql::outage::is_outage(error) {
            tracing::error!(%error, "database unavailable");
            Self::unavailable(
                ErrorCode::DatabaseUnavailable,
                "the database is unavailable; retry later",
            )
        } else {
            Self::internal(error)
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::database(&error)
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        tracing::error!(%error, "redis unavailable");
        Self::unavailable(
            ErrorCode::RedisUnavailable,
            "the issue gate is unavailable; retry later",
        )
    }
}

impl From<PoolError> for ApiError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Invalid(message) => Self::unprocessable(ErrorCode::InvalidBody, message),
            transition @ PoolError::Transition { .. } => {
                Self::conflict(ErrorCode::InvalidTransition, transition.to_string())
            }
        }
    }
}

impl ApiError {
    /// No coupon policy or campaign `pool`.
    pub fn pool_not_found(pool: PoolRef) -> Self {
        match pool.kind {
            PoolKind::Coupon => Self::not_found(
                ErrorCode::PolicyNotFound,
                format!("no coupon policy {}", pool.id),
            ),
            PoolKind::Campaign => Self::not_found(
                ErrorCode::CampaignNotFound,
                format!("no campaign {}", pool.id),
            ),
        }
    }

    /// A refusal of the gate, for a pool of `kind`.
    pub fn refused_by_gate(outcome: GateOutcome, kind: PoolKind) -> Self {
        let what = kind.as_str();
        match outcome {
            GateOutcome::SoldOut => Self::conflict(ErrorCode::SoldOut, format!("this {what} is sold out")),
            GateOutcome::AlreadyIssued => {
                Self::conflict(ErrorCode::AlreadyIssued, format!("you already hold this {what}"))
            }
            GateOutcome::NotOpen => {
                Self::unprocessable(ErrorCode::NotOpen, format!("this {what} is outside its window"))
            }
            GateOutcome::Closed => Self::unprocessable(ErrorCode::Closed, format!("this {what} is closed")),
            GateOutcome::Uninitialised | GateOutcome::Won { .. } => {
                Self::unprocessable(ErrorCode::NotOpen, format!("this {what} has not been opened"))
            }
            GateOutcome::Rebuilding => Self::unavailable(
                ErrorCode::GateRebuilding,
                format!("this {what}'s gate is being rebuilt from the database; nothing was taken, retry in a few seconds"),
            ),
        }
    }
}

/// A coupon policy that does not take the request (DB-lock and queue modes;
/// the gate mode's refusals come from the gate).
impl From<NotAdmitted> for ApiError {
    fn from(refusal: NotAdmitted) -> Self {
        match refusal {
            NotAdmitted::Closed => Self::unprocessable(ErrorCode::Closed, "this coupon is closed"),
            NotAdmitted::NotOpened | NotAdmitted::OutsideWindow => {
                Self::unprocessable(ErrorCode::NotOpen, "this coupon is not open")
            }
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::Refused(refusal) => refusal.into(),
            PaymentError::Database(db) => ApiError::database(&db),
        }
    }
}

impl From<PaymentRefusal> for ApiError {
    fn from(refusal: PaymentRefusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            PaymentRefusal::OrderNotFound(_) => Self::not_found(ErrorCode::OrderNotFound, message),
            // Only a PG callback names a payment by its transaction key, and
            // the PG decides on its own clock: under load its verdict can come
            // before the shop has written the key the PG answered with (a
            // moment later). 503 with Retry-After makes the PG send it again,
            // where a 404 would make it give up and leave the payment to the
            // reconciler.
            PaymentRefusal::PaymentNotFound(key) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::PaymentNotRecorded,
                format!("no payment holds transaction {key} yet; send the callback again"),
            )
            .with_header(axum::http::header::RETRY_AFTER, "1".to_owned()),
            PaymentRefusal::OutOfStock(_) => {
                let code = refusal.code();
                Self::conflict(ErrorCode::OutOfStock, format!("{message} ({code})"))
            }
            PaymentRefusal::InsufficientPoints => {
                Self::conflict(ErrorCode::InsufficientPoints, message)
            }
            PaymentRefusal::CouponNotUsable => Self::conflict(ErrorCode::CouponNotUsable, message),
            PaymentRefusal::NotPayable { .. } => {
                Self::conflict(ErrorCode::OrderNotPayable, message)
            }
            PaymentRefusal::InProgress(_) => Self::conflict(ErrorCode::PaymentInProgress, message),
        }
    }
}

/// An order the loaded catalog refuses.
impl From<PlacementRefusal> for ApiError {
    fn from(refusal: PlacementRefusal) -> Self {
        match refusal {
            PlacementRefusal::OptionNotFound(_) => {
                Self::not_found(ErrorCode::OptionNotFound, refusal.to_string())
            }
            PlacementRefusal::SeveralCampaigns => {
                Self::unprocessable(ErrorCode::InvalidBody, refusal.to_string())
            }
        }
    }
}

impl ApiError {
    /// The seat someone else holds or bought.
    pub fn seat_taken(seat_id: u64) -> Self {
        Self::conflict(
            ErrorCode::SeatTaken,
            format!("seat {seat_id} is held or sold"),
        )
    }
}

impl From<HoldError> for ApiError {
    fn from(error: HoldError) -> Self {
        match error {
            HoldError::Refused(refusal) => refusal.into(),
            HoldError::Database(db) => Self::database(&db),
        }
    }
}

/// A seat core would not hold.
impl From<HoldRefusal> for ApiError {
    fn from(refusal: HoldRefusal) -> Self {
        match refusal {
            HoldRefusal::SeatNotFound { .. } => {
                Self::not_found(ErrorCode::SeatNotFound, refusal.to_string())
            }
            HoldRefusal::SeatTaken(seat) => Self::seat_taken(seat),
        }
    }
}

impl From<ReservationPaymentError> for ApiError {
    fn from(error: ReservationPaymentError) -> Self {
        match error {
            ReservationPaymentError::Refused(refusal) => refusal.into(),
            ReservationPaymentError::Database(db) => Self::database(&db),
        }
    }
}

/// A reservation core would not let be paid.
impl From<ReservationPaymentRefusal> for ApiError {
    fn from(refusal: ReservationPaymentRefusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            ReservationPaymentRefusal::NotFound(_) => {
                Self::not_found(ErrorCode::ReservationNotFound, message)
            }
            ReservationPaymentRefusal::NotPayable { .. } => {
                Self::conflict(ErrorCode::ReservationNotPayable, message)
            }
            ReservationPaymentRefusal::HoldExpired(_) => {
                Self::conflict(ErrorCode::HoldExpired, message)
            }
            ReservationPaymentRefusal::InsufficientPoints => {
                Self::conflict(ErrorCode::InsufficientPoints, message)
            }
            ReservationPaymentRefusal::SeatLost(_) => Self::conflict(ErrorCode::SeatTaken, message),
        }
    }
}

/// Queue rules an operator set that core refuses.
impl From<AdmissionRulesError> for ApiError {
    fn from(refusal: AdmissionRulesError) -> Self {
        Self::unprocessable(ErrorCode::InvalidQueueRules, refusal.to_string())
    }
}

impl From<PoolChangeError> for ApiError {
    fn from(error: PoolChangeError) -> Self {
        match error {
            PoolChangeError::NotFound(pool) => Self::pool_not_found(pool),
            PoolChangeError::Refused(refused) => refused.into(),
            PoolChangeError::ChangedMeanwhile(_) => Self::conflict(
                ErrorCode::InvalidTransition,
                "it changed meanwhile; reload it",
            ),
            PoolChangeError::Database(error) => error.into(),
            PoolChangeError::Gate(error) => error.into(),
        }
    }
}

impl From<stampede_core::points::PointsRefusal> for ApiError {
    fn from(refusal: stampede_core::points::PointsRefusal) -> Self {
        use stampede_core::points::PointsRefusal;
        let code = match refusal {
            PointsRefusal::AmountOutOfRange { .. } => ErrorCode::InvalidAmount,
            PointsRefusal::InvalidReason { .. } => ErrorCode::InvalidReason,
        };
        Self::unprocessable(code, refusal.to_string())
    }
}

impl From<crate::token_verifier::TokenRejection> for ApiError {
    fn from(rejection: crate::token_verifier::TokenRejection) -> Self {
        use crate::token_verifier::TokenRejection;
        let code = rejection.code();
        match rejection {
            TokenRejection::KeysUnavailable(message) => {
                tracing::warn!(%message, "bearer token not verified");
                Self::unavailable(code, message)
            }
            other => Self::unauthorized(code, other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => Self::unprocessable(ErrorCode::InvalidBody, message),
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, message)
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                message,
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body too large",
            ),
            other => Self::new(other.status(), ErrorCode::BadRequest, message),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPath,
            rejection.body_text(),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            rejection.body_text(),
        )
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NotFound, "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

/// The answer to a panic in a handler: still the JSON error shape.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "internal error",
    )
    .into_response()
}

impl From<RefundError> for ApiError {
    fn from(error: RefundError) -> Self {
        match error {
            RefundError::Refused(refusal) => refusal.into(),
            RefundError::Database(db) => ApiError::database(&db),
        }
    }
}

/// A refund core refused: nothing was written.
impl From<RefundRefusal> for ApiError {
    fn from(refusal: RefundRefusal) -> Self {
        let (status, code) = match refusal {
            RefundRefusal::PaymentNotFound(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::PaymentNotFound)
            }
            RefundRefusal::NotYours(_) => (StatusCode::FORBIDDEN, ErrorCode::NotYourPayment),
            RefundRefusal::ZeroAmount => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRefundAmount,
            ),
            RefundRefusal::NothingCaptured { .. } => {
                (StatusCode::CONFLICT, ErrorCode::PaymentNotRefundable)
            }
            RefundRefusal::ExceedsRefundable { .. } => {
                (StatusCode::CONFLICT, ErrorCode::RefundExceedsCaptured)
            }
        };
        Self::new(status, code, refusal.to_string())
    }
}

impl From<CancelError> for ApiError {
    fn from(error: CancelError) -> Self {
        match error {
            CancelError::Refused(refusal) => {
                let (status, code) = match refusal {
                    CancelRefusal::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::OrderNotFound),
                    CancelRefusal::PaidRefundInstead { .. } => {
                        (StatusCode::CONFLICT, ErrorCode::OrderPaidRefundInstead)
                    }
                    CancelRefusal::NotCancellable { .. } => {
                        (StatusCode::CONFLICT, ErrorCode::OrderNotCancellable)
                    }
                    CancelRefusal::PaymentInProgress(_) => {
                        (StatusCode::CONFLICT, ErrorCode::PaymentInProgress)
                    }
                };
                Self::new(status, code, refusal.to_string())
            }
            CancelError::Database(db) => ApiError::database(&db),
        }
    }
}

/// A JSON request body kept as bytes, for the routes that fingerprint the
/// exact body for `Idempotency-Key` before parsing it
/// ([`crate::idempotency::parse_json`]). Refused like [`ApiJson`]: 415
/// `UNSUPPORTED_MEDIA_TYPE` unless sent as `application/json` (or `+json`),
/// 413 `PAYLOAD_TOO_LARGE` past the body limit.
#[derive(Debug)]
pub struct JsonBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !sent_as_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let body = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "request body too large",
                ),
                status => {
                    Self::Rejection::new(status, ErrorCode::BadRequest, rejection.body_text())
                }
            })?;
        Ok(JsonBody(body))
    }
}

/// `application/json` or `application/…+json`, parameters aside — what `axum::Json` accepts.
fn sent_as_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}
