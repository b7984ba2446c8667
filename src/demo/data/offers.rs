//! Money off and rewards: promotions (call 13), vouchers (call 14), loyalty (call 15).

use super::clock::{REFERENCE, timestamp};
use super::hash::{Stream, mix};
use super::restaurants::RESTAURANT_COUNT;
use super::users::user_exists;
use crate::demo::wire::{Loyalty, Money, Promotion, RestaurantPromotions, Tier, Voucher};

/// Personal offer ids start here, above every public one.
const PERSONAL_BASE: u64 = 1_000_000_000;

/// Call 13: a restaurant's 0–2 public offers and, with `user_id`, that user's personal
/// offer (about one restaurant in five has one for a given user). `None` for unknown
/// restaurants; an unknown user simply has no personal offers.
pub fn promotions(seed: u64, restaurant_id: u64, user_id: Option<u64>) -> Option<RestaurantPromotions> {
    if !(1..=RESTAURANT_COUNT).contains(&restaurant_id) {
        return None;
    }
    let mut s = Stream::new(seed, "promotions", &[restaurant_id]);
    let public = s.pick(&[0, 0, 1, 1, 2]);
    let mut promotions: Vec<Promotion> = (0..public)
        .map(|k| {
            let percent = 5 * s.between(1, 6) as u32;
            let title = match s.between(0, 2) {
                0 => format!("{percent}% off everything"),
                1 => format!("Lunch deal: {percent}% off"),
                _ => format!("{percent}% off your first order"),
            };
            Promotion {
                id: restaurant_id * 10 + k,
                title,
                discount_percent: percent,
            }
        })
        .collect();
    if let Some(user) = user_id.filter(|&u| user_exists(u)) {
        let mut p = Stream::new(seed, "promotions.personal", &[user, restaurant_id]);
        if p.chance(0.2) {
            let percent = 5 * p.between(2, 6) as u32;
            promotions.push(Promotion {
                id: PERSONAL_BASE + user * 10_000 + restaurant_id,
                title: format!("Just for you: {percent}% off"),
                discount_percent: percent,
            });
        }
    }
    Some(RestaurantPromotions {
        restaurant_id,
        promotions,
    })
}

/// Call 14: a user's 0–3 vouchers, expiring after the reference instant; `None` for
/// unknown users.
pub fn vouchers(seed: u64, user_id: u64) -> Option<Vec<Voucher>> {
    if !user_exists(user_id) {
        return None;
    }
    let mut s = Stream::new(seed, "vouchers", &[user_id]);
    let count = s.between(0, 3);
    let list = (0..count)
        .map(|k| Voucher {
            code: format!("DEMO-{:08X}", mix(seed, "voucher.code", &[user_id, k]) >> 32),
            value: Money::eur(300 + 50 * s.between(0, 24) as i64),
            expires_at: timestamp(REFERENCE + s.between(1, 180) as i64 * 86_400 - 60),
        })
        .collect();
    Some(list)
}

/// Call 15: a user's loyalty points (0–20,000) and the tier they earn; `None` for
/// unknown users.
pub fn loyalty(seed: u64, user_id: u64) -> Option<Loyalty> {
    if !user_exists(user_id) {
        return None;
    }
    let points = Stream::new(seed, "loyalty", &[user_id]).between(0, 20_000);
    let tier = match points {
        0..2_000 => Tier::Bronze,
        2_000..8_000 => Tier::Silver,
        _ => Tier::Gold,
    };
    Some(Loyalty { points, tier })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_offers_are_0_to_2_and_personal_ones_come_only_with_a_user() {
        let mut personal = 0;
        for id in 1..=1_000 {
            let anonymous = promotions(42, id, None).expect("exists");
            assert!(anonymous.promotions.len() <= 2);
            let mine = promotions(42, id, Some(42)).expect("exists");
            assert!(mine.promotions.starts_with(&anonymous.promotions));
            personal += mine.promotions.len() - anonymous.promotions.len();
        }
        assert!((100..=300).contains(&personal), "{personal}");
        assert!(promotions(42, 0, None).is_none());
    }

    #[test]
    fn vouchers_and_loyalty_hold_their_ranges() {
        for user in 1..=2_000 {
            assert!(vouchers(42, user).expect("exists").len() <= 3);
            let l = loyalty(42, user).expect("exists");
            assert!(l.points <= 20_000);
        }
        assert!(vouchers(42, 0).is_none() && loyalty(42, 100_001).is_none());
    }
}
