//! Small types shared by the schema: money, places, paging.

use async_graphql::{InputObject, SimpleObject};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::error::bad_input;
use crate::upstream;

/// An amount of money.
#[derive(SimpleObject, Clone)]
pub struct Money {
    /// The amount in minor units of the currency (cents): 1250 is 12.50.
    pub amount: i64,
    /// The ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
}

impl From<&upstream::Money> for Money {
    fn from(m: &upstream::Money) -> Self {
        Self {
            amount: m.amount,
            currency: m.currency.clone(),
        }
    }
}

/// A point on the map.
#[derive(SimpleObject, Clone, Copy)]
#[graphql(name = "GeoPoint")]
pub struct GeoPoint {
    /// Latitude, degrees (WGS 84).
    pub lat: f64,
    /// Longitude, degrees (WGS 84).
    pub lng: f64,
}

impl From<upstream::Location> for GeoPoint {
    fn from(l: upstream::Location) -> Self {
        Self { lat: l.lat, lng: l.lng }
    }
}

/// A point on the map, as an argument.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct LocationInput {
    /// Latitude, degrees (WGS 84), -90 to 90.
    pub lat: f64,
    /// Longitude, degrees (WGS 84), -180 to 180.
    pub lng: f64,
}

impl LocationInput {
    /// The location, if it is on Earth.
    pub fn checked(self) -> async_graphql::Result<upstream::Location> {
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lng) {
            return Err(bad_input("`lat` must be within -90..90 and `lng` within -180..180"));
        }
        Ok(upstream::Location {
            lat: self.lat,
            lng: self.lng,
        })
    }
}

/// Where a page of a connection stands (Relay cursor connections).
#[derive(SimpleObject, Clone, Default)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items come before this page.
    pub has_previous_page: bool,
    /// Cursor of the first item of this page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// Checks a connection's `first` against `1..=max`.
pub fn page_size(first: i32, max: u32) -> async_graphql::Result<usize> {
    if first < 1 || first as u32 > max {
        return Err(bad_input(format!("`first` must be between 1 and {max}")));
    }
    Ok(first as usize)
}

/// Opaque cursors: `kind:position`, base64url. The kind stops a cursor of one
/// connection from being used with another.
pub fn encode_cursor(kind: &str, position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

/// The largest position a cursor may hold: 2^53 - 1, the largest integer a JSON
/// client keeps exact (ids and offsets are JSON numbers). A position past it is
/// none this server handed out, and refusing it leaves room for `position + 1`.
pub const MAX_CURSOR_POSITION: u64 = (1 << 53) - 1;

/// The position in a cursor of `kind`, or a `BAD_USER_INPUT` error (also for a
/// position above [`MAX_CURSOR_POSITION`], such as `u64::MAX`, which overflowed
/// the offset after it).
pub fn decode_cursor(kind: &str, cursor: &str) -> async_graphql::Result<u64> {
    let invalid = || bad_input("`after` is not a cursor of this connection");
    if cursor.len() > 64 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let (k, position) = text.split_once(':').ok_or_else(invalid)?;
    if k != kind {
        return Err(invalid());
    }
    match position.parse::<u64>() {
        Ok(position) if position <= MAX_CURSOR_POSITION => Ok(position),
        _ => Err(invalid()),
    }
}

/// Parses an `ID` argument that names a numeric id.
pub fn numeric_id(id: &async_graphql::ID, what: &str) -> async_graphql::Result<u64> {
    match id.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad_input(format!(
            "`{}` is not a {what} id",
            id.as_str().chars().take(32).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds() {
        let cursor = encode_cursor("r", 20);
        assert_eq!(decode_cursor("r", &cursor).unwrap(), 20);
        assert!(decode_cursor("o", &cursor).is_err());
        assert!(decode_cursor("r", "not a cursor!").is_err());
        assert!(decode_cursor("r", &URL_SAFE_NO_PAD.encode("r:-1")).is_err());
        // The audit's cursor: `rd:18446744073709551615`.
        assert!(decode_cursor("rd", "cmQ6MTg0NDY3NDQwNzM3MDk1NTE2MTU").is_err());
        let last = encode_cursor("r", MAX_CURSOR_POSITION);
        assert_eq!(decode_cursor("r", &last).unwrap(), MAX_CURSOR_POSITION);
        assert!(decode_cursor("r", &encode_cursor("r", MAX_CURSOR_POSITION + 1)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_decodes_without_panic_to_a_position_with_a_successor(text in ".{0,80}", n: u64) {
            if let Ok(position) = decode_cursor("r", &text) {
                proptest::prop_assert!(position.checked_add(1).is_some());
            }
            match decode_cursor("r", &encode_cursor("r", n)) {
                Ok(position) => proptest::prop_assert_eq!(position, n),
                Err(_) => proptest::prop_assert!(n > MAX_CURSOR_POSITION),
            }
        }
    }

    #[test]
    fn page_size_is_bounded() {
        assert!(page_size(0, 100).is_err());
        assert!(page_size(-1, 100).is_err());
        assert!(page_size(101, 100).is_err());
        assert_eq!(page_size(100, 100).unwrap(), 100);
    }
}
