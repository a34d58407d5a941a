//! Status enums' stored and wire text, written once.
//!
//! Every status column holds a variant's SCREAMING_SNAKE_CASE text; adapters
//! bind it (`.bind(OrderStatus::Pending.as_str())`) and read it back with
//! `parse`, which refuses a text no variant spells: a corrupt row, or one a
//! newer version wrote, is an error, never a guess a state machine would act
//! on.

use std::fmt;

/// A status text no variant of the enum spells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} has no status {text:?}")]
pub struct UnknownStatus {
    /// The enum asked, e.g. `OrderStatus`.
    pub kind: &'static str,
    pub text: String,
}

/// A move a status's state machine does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition<S> {
    pub from: S,
    pub to: S,
}

impl<S: fmt::Display> fmt::Display for InvalidTransition<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = std::any::type_name::<S>()
            .rsplit("::")
            .next()
            .unwrap_or("status");
        write!(f, "{kind} {} cannot become {}", self.from, self.to)
    }
}

impl<S: fmt::Debug + fmt::Display> std::error::Error for InvalidTransition<S> {}

/// `status` → `to`, a move its state machine has only from one of `from`.
pub fn transition<S: Copy + PartialEq>(
    status: S,
    from: &[S],
    to: S,
) -> Result<S, InvalidTransition<S>> {
    if from.contains(&status) {
        Ok(to)
    } else {
        Err(InvalidTransition { from: status, to })
    }
}

/// A status that waits PENDING and settles once, to its success or its
/// failure; both ends are terminal, so a late or repeated answer moves
/// nothing. Payments and refunds settle this way.
pub trait SettlesOnce: Copy + PartialEq {
    const PENDING: Self;
    const SUCCEEDED: Self;
    const FAILED: Self;

    /// PENDING → the success end.
    fn succeed(self) -> Result<Self, InvalidTransition<Self>> {
        transition(self, &[Self::PENDING], Self::SUCCEEDED)
    }

    /// PENDING → the failure end.
    fn fail(self) -> Result<Self, InvalidTransition<Self>> {
        transition(self, &[Self::PENDING], Self::FAILED)
    }
}

/// Declares a status enum with its text: `as_str`, `parse` (unknown text →
/// [`UnknownStatus`]) and `Display` (the text).
///
/// # Format
///
/// ```
/// stampede_core::status_enum! {
///     /// PENDING → DONE.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum JobStatus {
///         Pending = "PENDING",
///         /// Finished.
///         Done = "DONE",
///     }
/// }
/// assert_eq!(JobStatus::Done.as_str(), "DONE");
/// assert_eq!(JobStatus::parse("PENDING"), Ok(JobStatus::Pending));
/// assert!(JobStatus::parse("done").is_err());
/// assert_eq!(JobStatus::Done.to_string(), "DONE");
/// ```
#[macro_export]
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),+
        }

        impl $name {
            /// The text stored in status columns and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }

            /// The variant `text` spells; any other text is an error.
            pub fn parse(text: &str) -> Result<Self, $crate::status::UnknownStatus> {
                match text {
                    $( $text => Ok(Self::$variant), )+
                    other => Err($crate::status::UnknownStatus {
                        kind: stringify!($name),
                        text: other.to_owned(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
pub(crate) mod tests {
    crate::status_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Light {
            Red = "RED",
            Green = "GREEN",
        }
    }

    #[test]
    fn every_variant_round_trips_and_unknown_text_is_refused() {
        for light in [Light::Red, Light::Green] {
            assert_eq!(Light::parse(light.as_str()), Ok(light));
            assert_eq!(light.to_string(), light.as_str());
        }
        assert_eq!(
            Light::parse("AMBER"),
            Err(super::UnknownStatus {
                kind: "Light",
                text: "AMBER".into()
            })
        );
        assert!(Light::parse("red").is_err(), "the text is exact");
    }

    /// Checks `S`'s settle-once machine: only PENDING moves, to either end.
    pub(crate) fn assert_settles_once<S: super::SettlesOnce + std::fmt::Debug>() {
        let (pending, succeeded, failed) = (S::PENDING, S::SUCCEEDED, S::FAILED);
        assert_eq!(pending.succeed(), Ok(succeeded));
        assert_eq!(pending.fail(), Ok(failed));
        for settled in [succeeded, failed] {
            assert!(settled.succeed().is_err() && settled.fail().is_err());
        }
    }

    #[test]
    fn a_move_is_allowed_only_from_its_states() {
        use super::{transition, InvalidTransition};
        assert_eq!(
            transition(Light::Red, &[Light::Red], Light::Green),
            Ok(Light::Green)
        );
        let refused = transition(Light::Green, &[Light::Red], Light::Green);
        assert_eq!(
            refused,
            Err(InvalidTransition {
                from: Light::Green,
                to: Light::Green
            })
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "Light GREEN cannot become GREEN"
        );
    }
}
