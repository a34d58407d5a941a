//! What an admin puts on sale: a concert, its schedules, their seats.

use super::SeatGrade;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A concert with its schedules, as an admin creates it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewConcert {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: String,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    pub schedules: Vec<NewSchedule>,
}

/// One date at one venue, with its seats in blocks of one grade and price.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSchedule {
    pub starts_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub venue: String,
    /// When booking opens; a sell-out is timed from here. Defaults to now.
    pub booking_opens_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub seats: Vec<SeatBlock>,
}

/// `count` seats of one grade and price, numbered after the blocks before it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatBlock {
    pub grade: SeatGrade,
    #[cfg_attr(feature = "openapi", schema(maximum = 100_000_000))]
    pub price: u64,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    pub count: u32,
}

impl NewConcert {
    pub const MAX_SCHEDULES: usize = 50;
    pub const MAX_SEATS_PER_SCHEDULE: u32 = 10_000;
    pub const MAX_PRICE: u64 = 100_000_000;

    /// Checks every rule; the message names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        text("title", &self.title)?;
        if self.schedules.is_empty() || self.schedules.len() > Self::MAX_SCHEDULES {
            return Err(format!(
                "schedules must hold 1 to {} schedules",
                Self::MAX_SCHEDULES
            ));
        }
        for (index, schedule) in self.schedules.iter().enumerate() {
            schedule
                .validate()
                .map_err(|e| format!("schedules[{index}].{e}"))?;
        }
        Ok(())
    }
}

impl NewSchedule {
    pub fn total_seats(&self) -> u32 {
        self.seats.iter().map(|b| b.count).sum()
    }

    fn validate(&self) -> Result<(), String> {
        text("venue", &self.venue)?;
        if self.seats.is_empty() || self.seats.iter().any(|b| b.count == 0) {
            return Err("seats must hold blocks of at least one seat".into());
        }
        let total: u64 = self.seats.iter().map(|b| u64::from(b.count)).sum();
        if total > u64::from(NewConcert::MAX_SEATS_PER_SCHEDULE) {
            return Err(format!(
                "seats must total at most {}",
                NewConcert::MAX_SEATS_PER_SCHEDULE
            ));
        }
        if let Some(block) = self.seats.iter().find(|b| b.price > NewConcert::MAX_PRICE) {
            return Err(format!(
                "seats: price {} is above {}",
                block.price,
                NewConcert::MAX_PRICE
            ));
        }
        if self
            .booking_opens_at
            .is_some_and(|opens| opens > self.starts_at)
        {
            return Err("booking_opens_at must not be after starts_at".into());
        }
        Ok(())
    }
}

fn text(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.chars().count() > 200 {
        Err(format!("{field} must be 1 to 200 characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concert(seats: Vec<SeatBlock>) -> NewConcert {
        NewConcert {
            title: "Stampede Live".into(),
            schedules: vec![NewSchedule {
                starts_at: Utc::now() + chrono::Duration::days(30),
                venue: "Olympic Hall".into(),
                booking_opens_at: None,
                seats,
            }],
        }
    }

    fn block(count: u32, price: u64) -> SeatBlock {
        SeatBlock {
            grade: SeatGrade::parse("R").unwrap(),
            price,
            count,
        }
    }

    #[test]
    fn a_sensible_concert_passes_and_counts_its_seats() {
        let concert = concert(vec![block(10, 100), block(5, 200)]);
        assert_eq!(concert.validate(), Ok(()));
        assert_eq!(concert.schedules[0].total_seats(), 15);
    }

    #[test]
    fn bad_fields_are_named() {
        let error = concert(vec![block(0, 100)]).validate().unwrap_err();
        assert!(error.starts_with("schedules[0].seats"), "{error}");
        let error = concert(vec![block(10_001, 100)]).validate().unwrap_err();
        assert!(error.contains("at most"), "{error}");
        let error = concert(vec![block(1, NewConcert::MAX_PRICE + 1)])
            .validate()
            .unwrap_err();
        assert!(error.contains("price"), "{error}");
        let mut untitled = concert(vec![block(1, 1)]);
        untitled.title = " ".into();
        assert!(untitled.validate().unwrap_err().starts_with("title"));
    }
}
