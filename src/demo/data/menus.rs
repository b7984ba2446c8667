//! Menus (call 8): 10–60 items in 2–6 sections per restaurant. Item `j` of restaurant
//! `r` has id `r * 100 + j`, so item ids are unique across all menus.

use super::hash::Stream;
use super::restaurants::RESTAURANT_COUNT;
use super::words::{CATEGORIES, DISHES, INGREDIENTS, SIDES};
use crate::demo::wire::{Menu, MenuCategory, MenuItem, Money};

/// Call 8: a restaurant's menu, `None` for unknown restaurants.
pub fn menu(seed: u64, restaurant_id: u64) -> Option<Menu> {
    if !(1..=RESTAURANT_COUNT).contains(&restaurant_id) {
        return None;
    }
    let mut s = Stream::new(seed, "menu", &[restaurant_id]);
    let item_count = s.between(10, 60) as usize;
    let category_count = s.between(2, 6) as usize;
    let names = category_names(&mut s, category_count);
    // Dish names walk the 100 ingredient × dish pairs with a stride coprime to 100,
    // so no name repeats within a menu.
    let offset = s.between(0, 99) as usize;
    let mut categories: Vec<MenuCategory> = names
        .iter()
        .map(|name| MenuCategory {
            name: (*name).to_owned(),
            items: Vec::new(),
        })
        .collect();
    for j in 0..item_count {
        let pair = (offset + j * 7) % (INGREDIENTS.len() * DISHES.len());
        let (ingredient, vegetarian) = INGREDIENTS[pair % INGREDIENTS.len()];
        let dish = DISHES[pair / INGREDIENTS.len()];
        let item = MenuItem {
            id: restaurant_id * 100 + j as u64,
            name: format!("{ingredient} {dish}"),
            description: description(&mut s, ingredient, dish),
            price: Money::eur(350 + 50 * s.between(0, 40) as i64),
            vegetarian,
        };
        // Contiguous runs: section k holds items k*n/c .. (k+1)*n/c, never empty.
        categories[j * category_count / item_count].items.push(item);
    }
    Some(Menu {
        restaurant_id,
        categories,
    })
}

/// "Tofu curry with chilli oil and fresh herbs.": two different sides.
fn description(s: &mut Stream, ingredient: &str, dish: &str) -> String {
    let first = s.between(0, SIDES.len() as u64 - 1) as usize;
    let second = (first + s.between(1, SIDES.len() as u64 - 1) as usize) % SIDES.len();
    let dish = dish.to_lowercase();
    format!("{ingredient} {dish} with {} and {}.", SIDES[first], SIDES[second])
}

/// `count` distinct section titles, in menu order.
fn category_names(s: &mut Stream, count: usize) -> Vec<&'static str> {
    let mut chosen = [false; CATEGORIES.len()];
    let mut picked = 0;
    while picked < count {
        let i = s.between(0, CATEGORIES.len() as u64 - 1) as usize;
        if !chosen[i] {
            chosen[i] = true;
            picked += 1;
        }
    }
    CATEGORIES
        .iter()
        .zip(chosen)
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}

/// Every item of a menu, in menu order.
pub(crate) fn menu_items(menu: &Menu) -> impl Iterator<Item = &MenuItem> {
    menu.categories.iter().flat_map(|c| c.items.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_menu_has_10_to_60_items_in_2_to_6_sections() {
        for id in 1..=RESTAURANT_COUNT {
            let m = menu(42, id).expect("exists");
            let items = menu_items(&m).count();
            assert!((10..=60).contains(&items), "{id}: {items}");
            assert!((2..=6).contains(&m.categories.len()));
            assert!(m.categories.iter().all(|c| !c.items.is_empty()));
            assert!(menu_items(&m).all(|i| i.id / 100 == id && i.price.amount > 0));
        }
    }

    #[test]
    fn menus_are_stable_per_seed_and_differ_across_seeds() {
        assert_eq!(menu(42, 9), menu(42, 9));
        assert_ne!(menu(42, 9), menu(1, 9));
        assert!(menu(42, 0).is_none());
        assert!(menu(42, 5_001).is_none());
    }
}
