//! Every machine-readable `code` an error body can carry, in one enum.
//!
//! Clients branch on `code`, so the list is part of the API: it is published
//! as the `ErrorCode` schema in `/openapi.json`, and a code exists only once
//! it is added here. Which status goes with which code, and which domain
//! refusal answers with it, is decided in `error.rs`.

/// Declares the codes: each variant with the exact text clients see (its
/// name in SCREAMING_SNAKE_CASE, as serde and the schema spell it; a unit
/// test holds the two together).
macro_rules! error_codes {
    ($($variant:ident = $text:literal,)*) => {
        /// The stable, machine-readable `code` of an error body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order declared.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients see it, e.g. `SOLD_OUT`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    AlreadyIssued = "ALREADY_ISSUED",
    BadRequest = "BAD_REQUEST",
    CampaignEntryExpired = "CAMPAIGN_ENTRY_EXPIRED",
    CampaignEntryRequired = "CAMPAIGN_ENTRY_REQUIRED",
    CampaignNotFound = "CAMPAIGN_NOT_FOUND",
    Closed = "CLOSED",
    ConcertNotFound = "CONCERT_NOT_FOUND",
    CouponNotUsable = "COUPON_NOT_USABLE",
    DatabaseUnavailable = "DATABASE_UNAVAILABLE",
    Forbidden = "FORBIDDEN",
    GateRebuilding = "GATE_REBUILDING",
    HoldExpired = "HOLD_EXPIRED",
    IdempotencyKeyInProgress = "IDEMPOTENCY_KEY_IN_PROGRESS",
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
    InsufficientPoints = "INSUFFICIENT_POINTS",
    Internal = "INTERNAL",
    InvalidAmount = "INVALID_AMOUNT",
    InvalidAudience = "INVALID_AUDIENCE",
    InvalidBody = "INVALID_BODY",
    InvalidCard = "INVALID_CARD",
    InvalidIdempotencyKey = "INVALID_IDEMPOTENCY_KEY",
    InvalidIssuer = "INVALID_ISSUER",
    InvalidPath = "INVALID_PATH",
    InvalidQuery = "INVALID_QUERY",
    InvalidQueueRules = "INVALID_QUEUE_RULES",
    InvalidReason = "INVALID_REASON",
    InvalidRefundAmount = "INVALID_REFUND_AMOUNT",
    InvalidSignature = "INVALID_SIGNATURE",
    InvalidToken = "INVALID_TOKEN",
    InvalidTransition = "INVALID_TRANSITION",
    InvalidUser = "INVALID_USER",
    IssueUnavailable = "ISSUE_UNAVAILABLE",
    MalformedJson = "MALFORMED_JSON",
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    MissingToken = "MISSING_TOKEN",
    NotFound = "NOT_FOUND",
    NotOpen = "NOT_OPEN",
    NotYourPayment = "NOT_YOUR_PAYMENT",
    OptionNotFound = "OPTION_NOT_FOUND",
    OrderNotCancellable = "ORDER_NOT_CANCELLABLE",
    OrderNotFound = "ORDER_NOT_FOUND",
    OrderNotPayable = "ORDER_NOT_PAYABLE",
    OrderPaidRefundInstead = "ORDER_PAID_REFUND_INSTEAD",
    OutOfStock = "OUT_OF_STOCK",
    Overloaded = "OVERLOADED",
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    PaymentInProgress = "PAYMENT_IN_PROGRESS",
    PaymentNotFound = "PAYMENT_NOT_FOUND",
    PaymentNotRecorded = "PAYMENT_NOT_RECORDED",
    PaymentNotRefundable = "PAYMENT_NOT_REFUNDABLE",
    PgCircuitOpen = "PG_CIRCUIT_OPEN",
    PgUnavailable = "PG_UNAVAILABLE",
    PolicyNotFound = "POLICY_NOT_FOUND",
    QueueNotDrawn = "QUEUE_NOT_DRAWN",
    QueueTokenExpired = "QUEUE_TOKEN_EXPIRED",
    QueueTokenInvalid = "QUEUE_TOKEN_INVALID",
    QueueTokenNotFound = "QUEUE_TOKEN_NOT_FOUND",
    QueueTokenNotYours = "QUEUE_TOKEN_NOT_YOURS",
    QueueTokenRequired = "QUEUE_TOKEN_REQUIRED",
    QueueTokenWaiting = "QUEUE_TOKEN_WAITING",
    RateLimited = "RATE_LIMITED",
    RedisUnavailable = "REDIS_UNAVAILABLE",
    RefundExceedsCaptured = "REFUND_EXCEEDS_CAPTURED",
    RequestNotFound = "REQUEST_NOT_FOUND",
    ReservationNotFound = "RESERVATION_NOT_FOUND",
    ReservationNotPayable = "RESERVATION_NOT_PAYABLE",
    ScheduleNotFound = "SCHEDULE_NOT_FOUND",
    SeatNotFound = "SEAT_NOT_FOUND",
    SeatTaken = "SEAT_TAKEN",
    SigningKeysUnavailable = "SIGNING_KEYS_UNAVAILABLE",
    SoldOut = "SOLD_OUT",
    StaleCallback = "STALE_CALLBACK",
    TokenExpired = "TOKEN_EXPIRED",
    TopUpNotFound = "TOP_UP_NOT_FOUND",
    UnknownSigningKey = "UNKNOWN_SIGNING_KEY",
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn each_code_is_its_variant_in_screaming_snake_case_and_unique() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let variant = format!("{code:?}");
            let mut expected = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    expected.push('_');
                }
                expected.push(c.to_ascii_uppercase());
            }
            assert_eq!(code.as_str(), expected);
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }

    #[test]
    fn a_code_travels_as_its_text() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
    }
}
