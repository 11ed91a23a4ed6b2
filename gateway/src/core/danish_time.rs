//! Danish local time without a time zone database: Danish time is UTC+1, +2 in summer
//! (CET/CEST; summer time from the last Sunday of March 01:00 UTC to the last Sunday of
//! October 01:00 UTC). For what citizens read: the portal's pages and their letters.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, month, 31).expect("March and October have 31 days");
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt().expect("a date");
    }
    d
}

/// Hours Danish time is ahead of UTC at `t`.
fn offset_hours(t: DateTime<Utc>) -> i64 {
    let y = t.year();
    let start = last_sunday(y, 3).and_hms_opt(1, 0, 0).expect("valid").and_utc();
    let end = last_sunday(y, 10).and_hms_opt(1, 0, 0).expect("valid").and_utc();
    if t >= start && t < end { 2 } else { 1 }
}

/// "30.11.2026 kl. 23:05", in Danish time.
pub fn time(t: DateTime<Utc>) -> String {
    (t + Duration::hours(offset_hours(t))).format("%d.%m.%Y kl. %H:%M").to_string()
}

/// "30.11.2026", the Danish calendar day of `t`.
pub fn date(t: DateTime<Utc>) -> String {
    (t + Duration::hours(offset_hours(t))).format("%d.%m.%Y").to_string()
}

/// The Danish calendar day of `t`, as a date.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    (t + Duration::hours(offset_hours(t))).date_naive()
}

/// The moment a Danish calendar day begins (midnight, local time), in UTC.
pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    let midnight = d.and_hms_opt(0, 0, 0).expect("valid").and_utc();
    // Midnight is never inside a change of offset (they happen at 02:00 and 03:00 local).
    midnight - Duration::hours(offset_hours(midnight - Duration::hours(1)))
}
