//! Restaurants (call 7) and their ratings (call 9): ids 1..=5,000, each living in
//! one home area (see [`super::geo`]) with a name, cuisines, price level and address.

use super::geo::{CELL_COUNT, Cell, City};
use super::hash::{Stream, mix, unit};
use super::words::{ADJECTIVES, CUISINE_PREFIXES, CUISINES, NOUNS, STREETS};
use crate::demo::wire::{Location, PostalAddress, Rating, Restaurant};

/// How many restaurants exist: ids `1..=RESTAURANT_COUNT`.
pub const RESTAURANT_COUNT: u64 = 5_000;

fn exists(id: u64) -> bool {
    (1..=RESTAURANT_COUNT).contains(&id)
}

/// The home area of an existing restaurant.
pub(crate) fn home_cell(id: u64) -> Cell {
    Cell(((id.max(1) - 1) % CELL_COUNT as u64) as usize)
}

/// Where a restaurant is (its call 7 `location`): a hashed point inside its home area.
pub fn restaurant_location(seed: u64, id: u64) -> Location {
    let mut s = Stream::new(seed, "restaurant.location", &[id]);
    let (fx, fy) = (unit(s.next_hash()), unit(s.next_hash()));
    home_cell(id).point(fx, fy)
}

/// A hashed street address in a city: street, house number and postcode.
pub(crate) fn street_address(s: &mut Stream, city: &City) -> PostalAddress {
    PostalAddress {
        street: format!("{} {}", s.pick(&STREETS), s.between(1, 150)),
        city: city.name.to_owned(),
        postcode: format!("{:05}", s.between(city.postcodes.0, city.postcodes.1)),
    }
}

/// A restaurant's cuisines (1–3, distinct), as indexes into the cuisine list.
fn cuisine_indexes(seed: u64, id: u64) -> Vec<usize> {
    let mut s = Stream::new(seed, "restaurant.cuisines", &[id]);
    let wanted = s.between(1, 3) as usize;
    let mut picked = Vec::with_capacity(wanted);
    while picked.len() < wanted {
        let c = s.between(0, CUISINES.len() as u64 - 1) as usize;
        if !picked.contains(&c) {
            picked.push(c);
        }
    }
    picked
}

/// A restaurant's cuisines, e.g. `["Italian", "Vegan"]`; empty for unknown ids.
pub fn cuisines(seed: u64, id: u64) -> Vec<String> {
    if !exists(id) {
        return Vec::new();
    }
    let indexes = cuisine_indexes(seed, id);
    indexes.iter().map(|&i| CUISINES[i].to_owned()).collect()
}

/// Call 7: one restaurant, `None` outside `1..=5000`.
pub fn restaurant(seed: u64, id: u64) -> Option<Restaurant> {
    if !exists(id) {
        return None;
    }
    let indexes = cuisine_indexes(seed, id);
    let mut s = Stream::new(seed, "restaurant", &[id]);
    let noun = s.pick(&NOUNS);
    let name = if s.chance(0.5) {
        format!("{} {}", CUISINE_PREFIXES[indexes[0]], noun)
    } else {
        format!("{} {}", s.pick(&ADJECTIVES), noun)
    };
    let price_level = s.between(1, 4) as u8;
    Some(Restaurant {
        id,
        name,
        cuisines: indexes.iter().map(|&i| CUISINES[i].to_owned()).collect(),
        price_level,
        address: street_address(&mut s, home_cell(id).city()),
        location: restaurant_location(seed, id),
        image_url: format!("https://img.example/restaurants/{id}.jpg"),
    })
}

/// Call 9: a restaurant's rating, `None` for unknown ids. Averages cluster between 3.0
/// and 5.0; about one in ten restaurants rates lower.
pub fn rating(seed: u64, restaurant_id: u64) -> Option<Rating> {
    if !exists(restaurant_id) {
        return None;
    }
    let mut s = Stream::new(seed, "rating", &[restaurant_id]);
    let tenths = if s.chance(0.1) {
        s.between(10, 29)
    } else {
        s.between(30, 50)
    };
    let count = s.between(1, 2_500) as u32;
    Some(Rating {
        restaurant_id,
        average: tenths as f64 / 10.0,
        count,
    })
}

/// A restaurant of a city's, chosen by a hash: some resident of one of its areas.
pub(crate) fn city_restaurant(h: u64, city_index: usize) -> u64 {
    let cell = Cell(city_index * super::geo::CELLS_PER_CITY + (h % 12) as usize);
    let residents = cell.residents().count() as u64;
    let k = mix(h, "city.restaurant", &[]) % residents.max(1);
    cell.0 as u64 + 1 + k * CELL_COUNT as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_restaurant_and_another_seed_another() {
        assert_eq!(restaurant(42, 17), restaurant(42, 17));
        assert_ne!(restaurant(42, 17), restaurant(43, 17));
        assert_eq!(
            restaurant(42, 17).map(|r| r.image_url).as_deref(),
            Some("https://img.example/restaurants/17.jpg")
        );
    }

    #[test]
    fn only_ids_1_to_5000_exist() {
        assert!(restaurant(42, 0).is_none());
        assert!(restaurant(42, 5_001).is_none());
        assert!(rating(42, 5_001).is_none());
        assert!(restaurant(42, 5_000).is_some());
    }

    #[test]
    fn ranges_hold_for_every_restaurant() {
        for id in 1..=RESTAURANT_COUNT {
            let r = restaurant(7, id).expect("exists");
            assert!((1..=4).contains(&r.price_level));
            assert!((1..=3).contains(&r.cuisines.len()));
            assert_eq!(
                super::super::geo::cell_at(r.location.lat, r.location.lng),
                Some(home_cell(id))
            );
            let rating = rating(7, id).expect("exists");
            assert!((1.0..=5.0).contains(&rating.average));
            assert_eq!((rating.average * 10.0).round() / 10.0, rating.average);
        }
    }

    #[test]
    fn city_restaurants_are_residents_of_that_city() {
        for h in 0..2_000u64 {
            let id = city_restaurant(mix(1, "t", &[h]), (h % 3) as usize);
            assert!(exists(id));
            assert_eq!(home_cell(id).0 / 12, (h % 3) as usize);
        }
    }
}
