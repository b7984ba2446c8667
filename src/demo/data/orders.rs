//! Past orders (call 4): 0–60 per user (12–60 for the test subjects 1..=100), newest
//! first, all placed before the reference instant 2026-10-01T00:00:00Z.
//!
//! The `k`-th oldest order of user `u` has id `u * 100 + k`, so ids are unique across
//! users and, within one user, grow with time: "older than order `b`" is `id < b`.
//! Orders come from restaurants of the user's home city (favourites often), and
//! their items are real items of that restaurant's menu at its prices.
//!
//! Generated orders never change: their `tracking` is fixed ([`fixed_tracking`]).
//! Orders placed through call 18 live in the demo's memory, not here.

use super::clock::{REFERENCE, timestamp};
use super::hash::Stream;
use super::live::fixed_tracking;
use super::menus::{menu, menu_items};
use super::restaurants::city_restaurant;
use super::users::{TEST_SUBJECTS, favorites, home_city, user_exists};
use crate::demo::wire::{Money, Order, OrderItem, OrderStatus, OrdersPage};

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

/// How many orders a user has (0 for unknown users).
fn order_count(seed: u64, user_id: u64) -> u64 {
    if !user_exists(user_id) {
        return 0;
    }
    let mut s = Stream::new(seed, "orders.count", &[user_id]);
    if user_id <= TEST_SUBJECTS {
        s.between(12, 60)
    } else {
        s.between(0, 60)
    }
}

/// Call 4's data: all of a user's orders, newest first (empty for unknown users).
pub fn orders(seed: u64, user_id: u64) -> Vec<Order> {
    let count = order_count(seed, user_id);
    let city = home_city(seed, user_id);
    let favourites = favorites(seed, user_id).map(|f| f.restaurant_ids).unwrap_or_default();
    let mut s = Stream::new(seed, "orders", &[user_id]);
    let mut placed = REFERENCE - s.between(HOUR as u64, 72 * HOUR as u64) as i64;
    let mut list = Vec::with_capacity(count as usize);
    for k in (0..count).rev() {
        placed -= placed % 60;
        let status = if k + 1 == count {
            s.pick(&[
                OrderStatus::Placed,
                OrderStatus::Preparing,
                OrderStatus::OnTheWay,
                OrderStatus::Delivered,
            ])
        } else if s.chance(0.06) {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Delivered
        };
        let restaurant_id = if !favourites.is_empty() && s.chance(0.4) {
            s.pick(&favourites)
        } else {
            city_restaurant(s.next_hash(), city)
        };
        let items = order_items(&mut s, seed, restaurant_id);
        let total = items.iter().map(|i| i64::from(i.quantity) * i.unit_price.amount).sum();
        list.push(Order {
            id: user_id * 100 + k,
            user_id,
            restaurant_id,
            placed_at: timestamp(placed),
            status,
            items,
            total: Money::eur(total),
            tracking: fixed_tracking(seed, status, placed, restaurant_id),
        });
        placed -= s.between(6 * HOUR as u64, 20 * DAY as u64) as i64;
    }
    list
}

/// Call 17's data for a generated order: order `id` (of user `id / 100`), `None`
/// when no generated order has that id.
pub fn order(seed: u64, id: u64) -> Option<Order> {
    orders(seed, id / 100).into_iter().find(|o| o.id == id)
}

/// 1–4 distinct items of the restaurant's menu, 1–3 of each.
fn order_items(s: &mut Stream, seed: u64, restaurant_id: u64) -> Vec<OrderItem> {
    let Some(menu) = menu(seed, restaurant_id) else {
        return Vec::new();
    };
    let all: Vec<_> = menu_items(&menu).collect();
    let wanted = s.between(1, 4) as usize;
    let mut items: Vec<OrderItem> = Vec::with_capacity(wanted);
    while items.len() < wanted.min(all.len()) {
        let item = s.pick(&all);
        if items.iter().all(|i| i.menu_item_id != item.id) {
            items.push(OrderItem {
                menu_item_id: item.id,
                name: item.name.clone(),
                quantity: s.between(1, 3) as u32,
                unit_price: item.price.clone(),
            });
        }
    }
    items
}

/// Call 4: one page of a user's orders, newest first: at most `limit`, only those
/// older than order `before` (`id < before`) when given; `total` counts all of them.
pub fn orders_page(seed: u64, user_id: u64, limit: usize, before: Option<u64>) -> OrdersPage {
    let all = orders(seed, user_id);
    let total = all.len() as u64;
    let orders = all
        .into_iter()
        .filter(|o| before.is_none_or(|b| o.id < b))
        .take(limit)
        .collect();
    OrdersPage { orders, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::data::menus::menu;
    use std::collections::HashSet;

    #[test]
    fn orders_are_newest_first_with_unique_ids_and_real_items() {
        let mut ids = HashSet::new();
        for user in (1..=TEST_SUBJECTS).chain((101..=100_000).step_by(4_999)) {
            let list = orders(42, user);
            assert!(list.len() <= 60);
            assert!(user > TEST_SUBJECTS || list.len() >= 12);
            assert!(
                list.windows(2)
                    .all(|w| w[0].placed_at > w[1].placed_at && w[0].id > w[1].id)
            );
            for o in &list {
                assert!(ids.insert(o.id), "duplicate order id {}", o.id);
                assert!(o.placed_at.as_str() < "2026-10-01T00:00:00Z");
                assert!(o.placed_at.ends_with(":00Z") && o.placed_at.len() == 20);
                let m = menu(42, o.restaurant_id).expect("real restaurant");
                for item in &o.items {
                    let real = menu_items(&m).find(|i| i.id == item.menu_item_id).expect("on the menu");
                    assert_eq!((&real.name, &real.price), (&item.name, &item.unit_price));
                }
                let sum: i64 = o
                    .items
                    .iter()
                    .map(|i| i64::from(i.quantity) * i.unit_price.amount)
                    .sum();
                assert_eq!(o.total.amount, sum);
            }
        }
    }

    #[test]
    fn pages_follow_before_and_limit() {
        let all = orders(42, 42);
        let first = orders_page(42, 42, 5, None);
        assert_eq!(first.total, all.len() as u64);
        assert_eq!(first.orders, all[..5]);
        let next = orders_page(42, 42, 5, first.orders.last().map(|o| o.id));
        assert_eq!(next.orders, all[5..10]);
        assert!(orders(42, 0).is_empty());
    }

    #[test]
    fn single_orders_are_found_by_id_and_never_change() {
        let all = orders(42, 42);
        for o in &all {
            assert_eq!(order(42, o.id).as_ref(), Some(o));
            assert_eq!(o.tracking.version, 1);
            assert_eq!(o.tracking.updated_at.replace(".000Z", "Z"), o.placed_at);
            assert_eq!(o.tracking.courier.is_some(), o.status == OrderStatus::OnTheWay);
        }
        assert_eq!(order(42, 42 * 100 + all.len() as u64), None);
        assert_eq!(order(42, 7), None);
    }
}
