//! A card payment's inputs, parsed: the card the buyer gives and the
//! verdict the PG calls back with.

/// A card as the buyer gives it: a non-empty type (`VISA`, `MASTER` …) and
/// 12 to 19 digits, dashes allowed between them. Only its shape is checked
/// here; whether it can pay is the PG's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    card_type: String,
    number: String,
}

/// The one refusal of [`Card::parse`].
pub const INVALID_CARD: &str = "card_no must be 12-19 digits and card_type non-empty";

impl Card {
    pub fn parse(card_type: &str, card_no: &str) -> Result<Self, &'static str> {
        let digits: String = card_no.chars().filter(|c| *c != '-').collect();
        if !(12..=19).contains(&digits.len())
            || !digits.chars().all(|c| c.is_ascii_digit())
            || card_type.trim().is_empty()
        {
            return Err(INVALID_CARD);
        }
        Ok(Card {
            card_type: card_type.to_owned(),
            number: card_no.to_owned(),
        })
    }

    pub fn card_type(&self) -> &str {
        &self.card_type
    }

    /// The number as the buyer wrote it (the PG accepts the dashes).
    pub fn number(&self) -> &str {
        &self.number
    }
}

/// What the PG decided about a card payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgVerdict {
    Success,
    /// Declined; the reason is kept on the payment.
    Failed(String),
}

impl PgVerdict {
    /// The verdict of a callback's `status` (`SUCCESS` or `FAILED`, with the
    /// PG's `reason`); any other status is refused, not guessed.
    pub fn from_callback(status: &str, reason: Option<&str>) -> Result<Self, String> {
        match status {
            "SUCCESS" => Ok(PgVerdict::Success),
            "FAILED" => Ok(PgVerdict::Failed(format!(
                "PG_DECLINED: {}",
                reason.unwrap_or_default()
            ))),
            other => Err(format!("unknown status {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_is_a_type_and_12_to_19_digits_with_dashes_allowed() {
        let card = Card::parse("VISA", "4111-1111-1111-1111").unwrap();
        assert_eq!(card.number(), "4111-1111-1111-1111");
        assert_eq!(card.card_type(), "VISA");
        assert!(Card::parse("VISA", "411111111111").is_ok());
        assert_eq!(Card::parse("VISA", "41111111111"), Err(INVALID_CARD));
        assert!(Card::parse("VISA", "41111111111111111111").is_err());
        assert!(Card::parse("VISA", "4111 1111 1111 1111").is_err());
        assert!(Card::parse(" ", "4111111111111111").is_err());
    }

    #[test]
    fn a_callback_status_is_success_or_failed_and_nothing_else() {
        assert_eq!(
            PgVerdict::from_callback("SUCCESS", None),
            Ok(PgVerdict::Success)
        );
        assert_eq!(
            PgVerdict::from_callback("FAILED", Some("limit")),
            Ok(PgVerdict::Failed("PG_DECLINED: limit".into()))
        );
        assert!(PgVerdict::from_callback("PENDING", None).is_err());
        assert!(PgVerdict::from_callback("success", None).is_err());
    }
}
