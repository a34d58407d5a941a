//! An order request, parsed: the placement rules, in two steps.
//!
//! [`NewOrder::parse`] checks what the request alone can tell (1 to
//! [`MAX_LINES`] lines of distinct options, valid quantities, distinct
//! coupons up to the shop's cap). [`NewOrder::price_with`] then takes the
//! options the adapter loaded and prices the lines, refusing an option that
//! does not exist and an order that mixes products of several campaigns (a
//! campaign product is bought by its winners, one campaign's verification
//! per order).

use super::{OrderLine, Quantity};
use std::collections::BTreeSet;

/// Lines an order holds at most.
pub const MAX_LINES: usize = 20;

/// A request that passed the placement rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    items: Vec<(u64, Quantity)>,
    coupon_ids: Vec<String>,
}

/// An option as the catalog offers it, what pricing an order needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferedOption {
    pub id: u64,
    pub price: u64,
    pub campaign_id: Option<u64>,
}

/// The lines of a new order, priced, and the campaign it buys from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLines {
    pub lines: Vec<OrderLine>,
    pub campaign_id: Option<u64>,
}

/// Why an order cannot be placed from what was loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementRefusal {
    #[error("no option {0}")]
    OptionNotFound(u64),
    #[error("one order may hold products of one campaign at most")]
    SeveralCampaigns,
}

impl NewOrder {
    /// `items` as (option id, quantity); the error says which rule failed.
    pub fn parse(
        items: &[(u64, u32)],
        coupon_ids: Vec<String>,
        max_coupons: usize,
    ) -> Result<Self, String> {
        if items.is_empty() || items.len() > MAX_LINES {
            return Err(format!("an order has 1-{MAX_LINES} items"));
        }
        let options: BTreeSet<u64> = items.iter().map(|(id, _)| *id).collect();
        if options.len() != items.len() {
            return Err("each option may appear once".into());
        }
        let coupons: BTreeSet<&String> = coupon_ids.iter().collect();
        if coupons.len() != coupon_ids.len() || coupons.len() > max_coupons {
            return Err(format!("up to {max_coupons} distinct coupons"));
        }
        let items = items
            .iter()
            .map(|&(id, quantity)| Quantity::parse(quantity).map(|q| (id, q)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewOrder { items, coupon_ids })
    }

    /// The options to load, ascending.
    pub fn option_ids(&self) -> Vec<u64> {
        let ids: BTreeSet<u64> = self.items.iter().map(|(id, _)| *id).collect();
        ids.into_iter().collect()
    }

    pub fn coupon_ids(&self) -> &[String] {
        &self.coupon_ids
    }

    /// The lines priced at `options`' prices, in the request's order.
    pub fn price_with(&self, options: &[OfferedOption]) -> Result<PricedLines, PlacementRefusal> {
        let offered = |id: u64| options.iter().find(|o| o.id == id);
        if let Some(missing) = self
            .option_ids()
            .into_iter()
            .find(|id| offered(*id).is_none())
        {
            return Err(PlacementRefusal::OptionNotFound(missing));
        }
        let campaigns: BTreeSet<u64> = options.iter().filter_map(|o| o.campaign_id).collect();
        if campaigns.len() > 1 {
            return Err(PlacementRefusal::SeveralCampaigns);
        }
        let lines = self
            .items
            .iter()
            .filter_map(|&(id, quantity)| {
                offered(id).map(|option| OrderLine {
                    option_id: id,
                    quantity: quantity.get(),
                    unit_price: option.price,
                })
            })
            .collect();
        Ok(PricedLines {
            lines,
            campaign_id: campaigns.into_iter().next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(id: u64, campaign_id: Option<u64>) -> OfferedOption {
        OfferedOption {
            id,
            price: 1000 * id,
            campaign_id,
        }
    }

    #[test]
    fn an_order_has_one_to_twenty_lines_of_distinct_options() {
        assert!(NewOrder::parse(&[], vec![], 2).is_err());
        let many: Vec<(u64, u32)> = (1..=21).map(|id| (id, 1)).collect();
        assert_eq!(
            NewOrder::parse(&many, vec![], 2).unwrap_err(),
            "an order has 1-20 items"
        );
        assert!(NewOrder::parse(&many[..20], vec![], 2).is_ok());
        assert_eq!(
            NewOrder::parse(&[(1, 1), (1, 2)], vec![], 2).unwrap_err(),
            "each option may appear once"
        );
    }

    #[test]
    fn quantities_are_checked_per_line() {
        assert!(NewOrder::parse(&[(1, 0)], vec![], 2).is_err());
        assert!(NewOrder::parse(&[(1, Quantity::MAX + 1)], vec![], 2).is_err());
    }

    #[test]
    fn coupons_are_distinct_and_at_most_the_cap() {
        let coupon = |s: &str| s.to_owned();
        assert!(NewOrder::parse(&[(1, 1)], vec![coupon("a"), coupon("b")], 2).is_ok());
        assert_eq!(
            NewOrder::parse(&[(1, 1)], vec![coupon("a"), coupon("a")], 2).unwrap_err(),
            "up to 2 distinct coupons"
        );
        assert!(
            NewOrder::parse(&[(1, 1)], vec![coupon("a"), coupon("b"), coupon("c")], 2).is_err()
        );
    }

    #[test]
    fn lines_are_priced_from_the_loaded_options_in_request_order() {
        let order = NewOrder::parse(&[(3, 2), (1, 1)], vec![], 2).unwrap();
        assert_eq!(order.option_ids(), vec![1, 3]);
        let priced = order
            .price_with(&[offered(1, None), offered(3, Some(9))])
            .unwrap();
        assert_eq!(priced.campaign_id, Some(9));
        assert_eq!(
            priced.lines,
            vec![
                OrderLine {
                    option_id: 3,
                    quantity: 2,
                    unit_price: 3000
                },
                OrderLine {
                    option_id: 1,
                    quantity: 1,
                    unit_price: 1000
                },
            ]
        );
    }

    #[test]
    fn a_missing_option_or_two_campaigns_refuse_the_order() {
        let order = NewOrder::parse(&[(1, 1), (2, 1)], vec![], 2).unwrap();
        assert_eq!(
            order.price_with(&[offered(1, None)]),
            Err(PlacementRefusal::OptionNotFound(2))
        );
        assert_eq!(
            order.price_with(&[offered(1, Some(7)), offered(2, Some(8))]),
            Err(PlacementRefusal::SeveralCampaigns)
        );
    }
}
