//! The fair opening: tokens taken before a concert's queue opens wait in a
//! pre-queue, and at the opening their order is a keyed random permutation,
//! so arriving early or fast (a bot) gains nothing over arriving in time.
//!
//! The order is the tokens sorted by SHA-256(seed ‖ token): it depends only
//! on the seed and on who is in the pre-queue, never on arrival order, and
//! anyone holding the seed and the tokens reproduces it (the audit route
//! shows both). The seed is drawn once per concert and never changes.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The key of one concert's draw.
pub type OpeningSeed = [u8; 32];

/// The pre-queue's order at the opening: a permutation of `tokens`, keyed
/// by `seed`.
pub fn draw_order(seed: &OpeningSeed, tokens: &[Uuid]) -> Vec<Uuid> {
    let mut keyed: Vec<([u8; 32], Uuid)> = tokens
        .iter()
        .map(|token| {
            let mut hash = Sha256::new();
            hash.update(seed);
            hash.update(token.as_bytes());
            (hash.finalize().into(), *token)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, token)| token).collect()
}

/// Whether a token taken at `now` asks for the pre-queue: before the
/// opening. The enter script grants it only until the draw (after it,
/// everyone queues FIFO, even through an instance whose clock lags).
pub fn pre_queues(opens_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < opens_at
}

/// Whether the draw is due: the opening has come and it has not happened.
pub fn draw_due(opens_at: Option<DateTime<Utc>>, now: DateTime<Utc>, drawn: bool) -> bool {
    !drawn && opens_at.is_some_and(|opens_at| now >= opens_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn tokens(count: u128) -> Vec<Uuid> {
        (1..=count).map(Uuid::from_u128).collect()
    }

    #[test]
    fn the_draw_is_a_permutation_reproducible_from_its_seed() {
        let arrivals = tokens(200);
        let order = draw_order(&[7; 32], &arrivals);
        assert_eq!(order.len(), arrivals.len());
        assert_eq!(
            order.iter().collect::<HashSet<_>>(),
            arrivals.iter().collect::<HashSet<_>>()
        );
        assert_ne!(order, arrivals, "not arrival order");
        // The same seed and tokens, in any order, give the same draw.
        let mut shuffled = arrivals.clone();
        shuffled.reverse();
        assert_eq!(draw_order(&[7; 32], &shuffled), order);
        assert_ne!(
            draw_order(&[8; 32], &arrivals),
            order,
            "another seed, another draw"
        );
    }

    #[test]
    fn only_tokens_taken_before_the_opening_pre_queue_and_the_draw_is_due_once() {
        let opens = DateTime::from_timestamp(1_000, 0).unwrap();
        let before = DateTime::from_timestamp(999, 0).unwrap();
        let after = DateTime::from_timestamp(1_001, 0).unwrap();
        assert!(pre_queues(opens, before));
        assert!(!pre_queues(opens, after));
        assert!(draw_due(Some(opens), after, false));
        assert!(!draw_due(Some(opens), after, true));
        assert!(!draw_due(Some(opens), before, false));
        assert!(!draw_due(None, after, false));
    }
}
