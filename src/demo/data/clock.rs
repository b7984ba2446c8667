//! The demo's fixed calendar: every timestamp is derived from the hash, relative to one
//! reference instant, never from the wall clock (so answers never change).

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime};

/// RFC 3339 UTC with exactly three fractional digits (`2026-10-01T18:22:00.000Z`).
const WITH_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The reference instant, 2026-10-01T00:00:00Z, as Unix seconds. Past orders lie
/// before it; vouchers expire and availabilities change after it.
pub(crate) const REFERENCE: i64 = 1_790_812_800;

/// Unix seconds as RFC 3339 UTC without fractional seconds (`2026-10-01T18:22:00Z`).
pub(crate) fn timestamp(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-10-01T18:22:00.250Z`),
/// as `tracking.updatedAt` and a placed order's `placedAt` read.
pub(crate) fn timestamp_ms(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(WITH_MILLIS).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// A calendar date `days` after 2015-01-01, as `YYYY-MM-DD`.
pub(crate) fn date_after_2015(days: u32) -> String {
    let start = Date::from_calendar_date(2015, Month::January, 1).ok();
    let date = start.and_then(|d| d.checked_add(time::Duration::days(i64::from(days))));
    match date {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => "2015-01-01".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_the_first_of_october_2026() {
        assert_eq!(timestamp(REFERENCE), "2026-10-01T00:00:00Z");
        assert_eq!(timestamp(REFERENCE + 18 * 3600 + 22 * 60), "2026-10-01T18:22:00Z");
    }

    #[test]
    fn millisecond_timestamps_keep_three_digits() {
        assert_eq!(timestamp_ms(REFERENCE * 1000), "2026-10-01T00:00:00.000Z");
        assert_eq!(timestamp_ms(REFERENCE * 1000 + 7), "2026-10-01T00:00:00.007Z");
        assert_eq!(timestamp_ms(REFERENCE * 1000 + 61_250), "2026-10-01T00:01:01.250Z");
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(date_after_2015(0), "2015-01-01");
        assert_eq!(date_after_2015(31), "2015-02-01");
    }
}
