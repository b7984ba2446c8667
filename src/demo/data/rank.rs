//! Recommendations (call 16): a score per restaurant for one user.

use std::collections::HashSet;

use super::hash::{mix, unit};
use super::restaurants::{RESTAURANT_COUNT, cuisines};
use crate::demo::wire::RankedRestaurant;

/// What sharing a cuisine with a recent order adds to a score (capped at 1.0).
pub const CUISINE_BOOST: f64 = 0.15;

/// Call 16: one score in 0.0–1.0 (three decimals) per distinct existing restaurant
/// of `restaurant_ids`, in that order: a hash of (user, restaurant), plus
/// [`CUISINE_BOOST`] when the restaurant shares a cuisine with one of `recent_ids`.
pub fn rank(seed: u64, user_id: u64, restaurant_ids: &[u64], recent_ids: &[u64]) -> Vec<RankedRestaurant> {
    let recent: HashSet<String> = recent_ids.iter().flat_map(|&id| cuisines(seed, id)).collect();
    let mut seen = HashSet::new();
    restaurant_ids
        .iter()
        .filter(|&&id| (1..=RESTAURANT_COUNT).contains(&id) && seen.insert(id))
        .map(|&id| {
            let base = unit(mix(seed, "rank", &[user_id, id]));
            let shared = cuisines(seed, id).iter().any(|c| recent.contains(c));
            let score = if shared { base + CUISINE_BOOST } else { base };
            RankedRestaurant {
                restaurant_id: id,
                score: (score.min(1.0) * 1000.0).round() / 1000.0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_in_range_for_existing_distinct_ids() {
        let ranked = rank(42, 42, &[3, 3, 0, 9_999, 7], &[]);
        let ids: Vec<u64> = ranked.iter().map(|r| r.restaurant_id).collect();
        assert_eq!(ids, [3, 7]);
        assert!(ranked.iter().all(|r| (0.0..=1.0).contains(&r.score)));
    }

    #[test]
    fn recent_cuisines_boost_the_score() {
        let plain = rank(42, 42, &[10], &[]);
        let boosted = rank(42, 42, &[10], &[10]);
        assert!(boosted[0].score > plain[0].score || boosted[0].score == 1.0);
        assert_ne!(rank(42, 42, &[10], &[]), rank(42, 43, &[10], &[]));
    }
}
