//! Reading requests: query parameters, path ids, and batches of ids (comma-separated
//! or a JSON array), plus the deliberately scrambled order of batch answers.

use std::collections::HashMap;

use super::reply::ApiError;

/// A request's query parameters (the last value wins for repeated names).
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses a raw query string; never fails.
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
        Params(pairs.into_owned().collect())
    }

    /// A parameter's value, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be present.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::bad(format!("missing parameter {name}")))
    }

    /// An optional number parameter; present but not a number is a 400.
    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| v.trim().parse::<T>())
            .transpose()
            .map_err(|_| ApiError::bad(format!("parameter {name} must be a number")))
    }
}

/// A path id: a positive integer, else 400.
pub(crate) fn path_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::bad(format!("{raw:?} is not an id")))
}

/// The distinct ids of a comma-separated list, in first-seen order. Empty lists,
/// empty or non-numeric entries, and more than `max` entries are a 400.
pub(crate) fn parse_ids(raw: &str, max: usize) -> Result<Vec<u64>, ApiError> {
    if raw.trim().is_empty() {
        return Err(ApiError::bad("no ids given"));
    }
    let ids = raw
        .split(',')
        .map(|part| part.trim().parse::<u64>())
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|_| ApiError::bad("ids must be comma-separated positive integers"))?;
    distinct(&ids, max)
}

/// The distinct ids of the query parameter `name`; missing or malformed is a 400.
pub(crate) fn query_ids(query: Option<&str>, name: &str, max: usize) -> Result<Vec<u64>, ApiError> {
    parse_ids(Params::parse(query).required(name)?, max)
}

/// The distinct ids of a JSON list, in first-seen order; more than `max` is a 400.
pub(crate) fn distinct(ids: &[u64], max: usize) -> Result<Vec<u64>, ApiError> {
    if ids.len() > max {
        return Err(ApiError::bad(format!("at most {max} ids per call, got {}", ids.len())));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
}

/// Batch answers in an order that is deterministic but not the request's: sorted by
/// a scramble of the id, reversed if that happens to be the request order.
pub(crate) fn answer_order<T>(mut items: Vec<T>, id: impl Fn(&T) -> u64) -> Vec<T> {
    let before: Vec<u64> = items.iter().map(&id).collect();
    items.sort_by_key(|item| scramble(id(item)));
    if items.iter().map(&id).eq(before.iter().copied()) {
        items.reverse();
    }
    items
}

fn scramble(id: u64) -> u64 {
    (id ^ 0x5DEE_CE66_D1CE_5EED)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_distinct_and_bad_lists_are_rejected() {
        assert_eq!(parse_ids("4,8,4,15", 10).ok(), Some(vec![4, 8, 15]));
        for bad in ["", " ", "1,,2", "a", "1;2", "-1", "1,2,3"] {
            assert!(parse_ids(bad, 2).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_never_come_in_request_order() {
        for n in 2..40u64 {
            let ids: Vec<u64> = (1..=n).collect();
            assert_ne!(answer_order(ids.clone(), |i| *i), ids);
        }
        assert_eq!(answer_order(vec![7u64], |i| *i), vec![7]);
    }
}
