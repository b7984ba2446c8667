//! Cities and their delivery areas: three cities, each a 4 × 3 grid of rectangular
//! cells (36 areas, ids like `ber-06`). The layout is fixed (it does not depend on the
//! seed); which restaurants serve an area does.
//!
//! Restaurant `id` lives in cell `(id - 1) % 36` (138 or 139 per cell) and also serves
//! each grid neighbour of it in the same city with probability 15 %, so an area is
//! served by 139 + about 21 per neighbour: 180 to 320 restaurants, inside the contract's
//! 100–400 (checked by a test over every area and several seeds).

pub(crate) use super::cities::{CITIES, City};
use super::hash::{mix, unit};
use super::restaurants::{RESTAURANT_COUNT, restaurant_location};
use crate::demo::wire::{Area, AreaRestaurant, Location};

const COLS: usize = 4;
const ROWS: usize = 3;
/// Cells per city.
pub(crate) const CELLS_PER_CITY: usize = COLS * ROWS;
/// Cells (areas) in all.
pub(crate) const CELL_COUNT: usize = CELLS_PER_CITY * CITIES.len();
/// A cell's height and width in degrees (about 4.4 km × 4.4 km at these latitudes).
const CELL_LAT: f64 = 0.04;
const CELL_LNG: f64 = 0.065;
/// Share of a neighbour cell's restaurants that also serve an area.
const NEIGHBOUR_SHARE: f64 = 0.15;

/// One delivery area: index `0..36`, city-major, then row-major from the south-west.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell(pub(crate) usize);

impl Cell {
    pub(crate) fn city(self) -> &'static City {
        &CITIES[self.0 / CELLS_PER_CITY]
    }

    fn row_col(self) -> (usize, usize) {
        let local = self.0 % CELLS_PER_CITY;
        (local / COLS, local % COLS)
    }

    /// South-west corner of the city's grid: the centre sits inside column 1, row 1.
    fn origin(city: &City) -> Location {
        Location {
            lat: city.centre.lat - 1.5 * CELL_LAT,
            lng: city.centre.lng - 1.7 * CELL_LNG,
        }
    }

    pub(crate) fn id(self) -> String {
        format!("{}-{:02}", self.city().code, self.0 % CELLS_PER_CITY + 1)
    }

    pub(crate) fn from_id(id: &str) -> Option<Cell> {
        let (code, number) = id.split_once('-')?;
        let city = CITIES.iter().position(|c| c.code == code)?;
        let number: usize = number.parse().ok()?;
        if !(1..=CELLS_PER_CITY).contains(&number) {
            return None;
        }
        let cell = Cell(city * CELLS_PER_CITY + number - 1);
        (cell.id() == id).then_some(cell)
    }

    pub(crate) fn area(self) -> Area {
        Area {
            area_id: self.id(),
            city: self.city().name.to_owned(),
            name: self.city().districts[self.0 % CELLS_PER_CITY].to_owned(),
        }
    }

    /// A point inside the cell, `fx` and `fy` in `[0, 1)`, rounded to 6 decimals.
    pub(crate) fn point(self, fx: f64, fy: f64) -> Location {
        let origin = Cell::origin(self.city());
        let (row, col) = self.row_col();
        Location {
            lat: round6(origin.lat + (row as f64 + fy) * CELL_LAT),
            lng: round6(origin.lng + (col as f64 + fx) * CELL_LNG),
        }
    }

    pub(crate) fn centre(self) -> Location {
        self.point(0.5, 0.5)
    }

    /// The cell itself and its up to 8 grid neighbours in the same city.
    fn with_neighbours(self) -> impl Iterator<Item = Cell> {
        let (row, col) = self.row_col();
        let base = self.0 - self.0 % CELLS_PER_CITY;
        (row.saturating_sub(1)..=(row + 1).min(ROWS - 1)).flat_map(move |r| {
            (col.saturating_sub(1)..=(col + 1).min(COLS - 1)).map(move |c| Cell(base + r * COLS + c))
        })
    }

    /// The restaurants whose home is this cell.
    pub(crate) fn residents(self) -> impl Iterator<Item = u64> {
        (self.0 as u64 + 1..=RESTAURANT_COUNT).step_by(CELL_COUNT)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Great-circle distance in metres.
pub(crate) fn haversine_m(a: Location, b: Location) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Every delivery area, in id order.
pub fn areas() -> Vec<Area> {
    (0..CELL_COUNT).map(|i| Cell(i).area()).collect()
}

/// Call 5: the delivery area containing a point, `None` outside every area (or for
/// coordinates that are not finite). The layout does not depend on `seed`; the
/// parameter keeps every data function's shape alike.
pub fn area_lookup(_seed: u64, lat: f64, lng: f64) -> Option<Area> {
    cell_at(lat, lng).map(Cell::area)
}

pub(crate) fn cell_at(lat: f64, lng: f64) -> Option<Cell> {
    CITIES.iter().enumerate().find_map(|(i, city)| {
        let origin = Cell::origin(city);
        let row = ((lat - origin.lat) / CELL_LAT).floor();
        let col = ((lng - origin.lng) / CELL_LNG).floor();
        let inside = (0.0..ROWS as f64).contains(&row) && (0.0..COLS as f64).contains(&col);
        inside.then(|| Cell(i * CELLS_PER_CITY + row as usize * COLS + col as usize))
    })
}

/// Call 6: the restaurants serving an area, nearest to its centre first (ties by id);
/// `None` for an unknown area id.
pub fn area_restaurants(seed: u64, area_id: &str) -> Option<Vec<AreaRestaurant>> {
    let cell = Cell::from_id(area_id)?;
    let centre = cell.centre();
    let mut list: Vec<AreaRestaurant> = cell
        .with_neighbours()
        .flat_map(|home| home.residents().map(move |id| (home, id)))
        .filter(|&(home, id)| home == cell || serves_neighbour(seed, id, cell))
        .map(|(_, id)| AreaRestaurant {
            restaurant_id: id,
            distance_meters: haversine_m(centre, restaurant_location(seed, id)).round() as u32,
        })
        .collect();
    list.sort_by_key(|r| (r.distance_meters, r.restaurant_id));
    Some(list)
}

fn serves_neighbour(seed: u64, restaurant_id: u64, cell: Cell) -> bool {
    unit(mix(seed, "area.serves", &[restaurant_id, cell.0 as u64])) < NEIGHBOUR_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centre_of_berlin_is_in_a_berlin_area() {
        let area = area_lookup(42, 52.52, 13.405).expect("an area");
        assert_eq!(area.city, "Berlin");
        assert_eq!(area.area_id, "ber-06");
        assert_eq!(area.name, "Mitte");
    }

    #[test]
    fn points_outside_every_area_have_none() {
        assert_eq!(area_lookup(42, 0.0, 0.0), None);
        assert_eq!(area_lookup(42, 52.0, 13.405), None);
        assert_eq!(area_lookup(42, f64::NAN, 13.405), None);
    }

    #[test]
    fn every_area_has_100_to_400_restaurants_nearest_first() {
        for seed in [1, 42, 7777] {
            for area in areas() {
                let list = area_restaurants(seed, &area.area_id).expect("known area");
                assert!((100..=400).contains(&list.len()), "{} has {}", area.area_id, list.len());
                assert!(list.windows(2).all(|w| w[0].distance_meters <= w[1].distance_meters));
            }
        }
    }

    #[test]
    fn area_ids_round_trip_and_every_centre_looks_up_its_own_area() {
        assert_eq!(areas().len(), 36);
        for i in 0..CELL_COUNT {
            let cell = Cell(i);
            assert_eq!(Cell::from_id(&cell.id()), Some(cell));
            let c = cell.centre();
            assert_eq!(cell_at(c.lat, c.lng), Some(cell));
        }
        assert_eq!(Cell::from_id("ber-13"), None);
        assert_eq!(Cell::from_id("xyz-01"), None);
        assert_eq!(Cell::from_id("ber-006"), None);
        assert_eq!(area_restaurants(42, "nope"), None);
    }
}
