//! Users (calls 1–3): ids 1..=100,000, each living in one home city, with 1–3
//! addresses there and 0–8 favourite restaurants of that city.
//!
//! Users 1..=100 are the **test subjects**: each lives in Berlin (where the acceptance
//! operations' location, 52.52 / 13.405, lies), with 2–3 addresses, 2–8 favourites and
//! 12–60 orders (see [`super::orders`]); user 42 is the one the gateway's tests sign
//! in as.

use super::geo::{CELLS_PER_CITY, CITIES, Cell};
use super::hash::{Stream, mix, unit};
use super::restaurants::{city_restaurant, street_address};
use super::words::{ADDRESS_LABELS, FIRST_NAMES, LAST_NAMES, LOCALES};
use crate::demo::wire::{Address, Favorites, User};

/// How many users exist: ids `1..=USER_COUNT`.
pub const USER_COUNT: u64 = 100_000;

/// Users `1..=TEST_SUBJECTS` always have a healthy history (favourites, orders).
pub const TEST_SUBJECTS: u64 = 100;

pub(crate) fn user_exists(id: u64) -> bool {
    (1..=USER_COUNT).contains(&id)
}

/// The index into the city list of a user's home city (Berlin, index 0, for the
/// test subjects).
pub(crate) fn home_city(seed: u64, user_id: u64) -> usize {
    if user_id <= TEST_SUBJECTS {
        return 0;
    }
    (mix(seed, "user.city", &[user_id]) % CITIES.len() as u64) as usize
}

/// Call 1: one user, `None` for unknown ids.
pub fn user(seed: u64, id: u64) -> Option<User> {
    if !user_exists(id) {
        return None;
    }
    let mut s = Stream::new(seed, "user", &[id]);
    let (first, last) = (s.pick(&FIRST_NAMES), s.pick(&LAST_NAMES));
    Some(User {
        id,
        name: format!("{first} {last}"),
        email: format!("{}.{}{}@example.com", ascii(first), ascii(last), id),
        locale: s.pick(&LOCALES).to_owned(),
        // 2015-01-01 plus up to 11 years and a bit: always before the reference date.
        member_since: super::clock::date_after_2015(s.between(0, 4_200) as u32),
    })
}

/// Lower-case ASCII for an e-mail address (`Müller` → `mueller`).
fn ascii(word: &str) -> String {
    word.to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
}

/// Call 2: a user's 1–3 addresses, all in the home city; `None` for unknown users.
/// Address ids are `user_id * 10 + k`.
pub fn addresses(seed: u64, user_id: u64) -> Option<Vec<Address>> {
    if !user_exists(user_id) {
        return None;
    }
    let city = home_city(seed, user_id);
    let mut s = Stream::new(seed, "user.addresses", &[user_id]);
    let fewest = if user_id <= TEST_SUBJECTS { 2 } else { 1 };
    let count = s.between(fewest, ADDRESS_LABELS.len() as u64) as usize;
    let list = ADDRESS_LABELS[..count]
        .iter()
        .enumerate()
        .map(|(k, label)| {
            let cell = Cell(city * CELLS_PER_CITY + s.between(0, CELLS_PER_CITY as u64 - 1) as usize);
            let postal = street_address(&mut s, &CITIES[city]);
            Address {
                id: user_id * 10 + k as u64,
                label: (*label).to_owned(),
                street: postal.street,
                city: postal.city,
                postcode: postal.postcode,
                location: cell.point(unit(s.next_hash()), unit(s.next_hash())),
            }
        })
        .collect();
    Some(list)
}

/// Call 3: a user's favourite restaurants (0–8, distinct, from the home city; 2–8 for
/// test subjects); `None` for unknown users.
pub fn favorites(seed: u64, user_id: u64) -> Option<Favorites> {
    if !user_exists(user_id) {
        return None;
    }
    let city = home_city(seed, user_id);
    let mut s = Stream::new(seed, "user.favorites", &[user_id]);
    let wanted = if user_id <= TEST_SUBJECTS {
        s.between(2, 8)
    } else {
        s.between(0, 8)
    };
    let mut restaurant_ids = Vec::new();
    while (restaurant_ids.len() as u64) < wanted {
        let id = city_restaurant(s.next_hash(), city);
        if !restaurant_ids.contains(&id) {
            restaurant_ids.push(id);
        }
    }
    Some(Favorites { restaurant_ids })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::data::geo::cell_at;
    use crate::demo::data::restaurants::home_cell;

    #[test]
    fn users_are_stable_per_seed_and_differ_across_seeds() {
        assert_eq!(user(42, 42), user(42, 42));
        assert_ne!(user(42, 42), user(41, 42));
        assert!(user(42, 0).is_none() && user(42, USER_COUNT + 1).is_none());
        assert!(addresses(42, 0).is_none() && favorites(42, 0).is_none());
    }

    #[test]
    fn addresses_and_favourites_lie_in_the_home_city() {
        for id in (1..=USER_COUNT).step_by(997).chain(1..=TEST_SUBJECTS) {
            let city = home_city(42, id);
            let list = addresses(42, id).expect("exists");
            assert!((1..=3).contains(&list.len()));
            assert!(id > TEST_SUBJECTS || (list.len() >= 2 && city == 0));
            for a in &list {
                let cell = cell_at(a.location.lat, a.location.lng).expect("inside an area");
                assert_eq!(cell.0 / CELLS_PER_CITY, city);
                assert_eq!(a.city, CITIES[city].name);
            }
            let favs = favorites(42, id).expect("exists").restaurant_ids;
            assert!(favs.len() <= 8);
            assert!(id > TEST_SUBJECTS || favs.len() >= 2);
            assert!(favs.iter().all(|&r| home_cell(r).0 / CELLS_PER_CITY == city));
        }
    }

    #[test]
    fn emails_are_ascii() {
        for id in 1..=500 {
            let u = user(42, id).expect("exists");
            assert!(u.email.is_ascii(), "{}", u.email);
            assert_eq!(u.member_since.len(), 10);
        }
    }
}
