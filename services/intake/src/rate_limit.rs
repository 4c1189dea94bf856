//! Fixed-window counters in the database, so every replica counts the same attempts, and the
//! client a request counts against.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, to_db_time};

use crate::schema::rate_limits;
use crate::sealing::ReporterKeys;

/// Who is asking, for the per-client limits: the configured proxy header (its last entry, the
/// one the proxy itself wrote), else the peer address; counted by [`client_key`] and kept only
/// as a keyed pseudonym.
pub fn client_pseudonym(req: &HttpRequest, header: Option<&str>, keys: &ReporterKeys) -> String {
    let forwarded = header
        .and_then(|name| req.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let client = forwarded.map(str::to_string).or(peer).unwrap_or_else(|| "unknown".into());
    keys.pseudonym(&client_key(&client))
}

/// The client an address counts as: an IPv4 address (also written IPv4-mapped in IPv6), an
/// IPv6 address by its /64 (one subscriber's network: its other addresses are the same client),
/// any other text as itself.
pub fn client_key(address: &str) -> String {
    let address = address.trim();
    let ip = address.parse::<IpAddr>().or_else(|_| address.parse::<SocketAddr>().map(|a| a.ip()));
    match ip {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
        Err(_) => address.to_string(),
    }
}

/// Where a window stands after one more hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub hits: i32,
    pub window_ends: DateTime<Utc>,
}

impl Count {
    /// Seconds until the window ends, rounded up (at least 1), for `Retry-After`: a client
    /// waiting exactly that long finds a new window.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> u64 {
        let millis = u64::try_from((self.window_ends - now).num_milliseconds()).unwrap_or(0);
        millis.div_ceil(1_000).max(1)
    }
}

/// The window a hit at `now` counts in: the stored one while it lasts, else a new one.
pub fn next_count(stored: Option<(NaiveDateTime, i32)>, window: Duration, now: DateTime<Utc>) -> (NaiveDateTime, i32) {
    match stored {
        Some((start, hits)) if from_db_time(start) + window > now => (start, hits.saturating_add(1)),
        _ => (to_db_time(now), 1),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rate_limits)]
struct WindowRow {
    window_start: NaiveDateTime,
    hits: i32,
}

/// Counts one hit on `bucket`; call it in a write transaction of its own, so the count stands
/// whatever the request then does.
pub fn hit(conn: &mut DbConnection, bucket: &str, window: Duration, now: DateTime<Utc>) -> Result<Count, DbError> {
    // Two replicas counting the same bucket take turns (PostgreSQL; SQLite writes one at a time).
    lock_key(conn, bucket)?;
    let stored = rate_limits::table
        .find(bucket)
        .select(WindowRow::as_select())
        .first(conn)
        .optional()?
        .map(|row: WindowRow| (row.window_start, row.hits));
    let (start, hits) = next_count(stored, window, now);
    if stored.is_some() {
        diesel::update(rate_limits::table.find(bucket))
            .set((rate_limits::window_start.eq(start), rate_limits::hits.eq(hits)))
            .execute(conn)?;
    } else {
        diesel::insert_into(rate_limits::table)
            .values((rate_limits::bucket.eq(bucket), rate_limits::window_start.eq(start), rate_limits::hits.eq(hits)))
            .execute(conn)?;
    }
    Ok(Count { hits, window_ends: from_db_time(start) + window })
}

/// Takes one hit back (an attempt that turned out to be legitimate).
pub fn refund(conn: &mut DbConnection, bucket: &str) -> Result<(), DbError> {
    diesel::update(rate_limits::table.find(bucket).filter(rate_limits::hits.gt(0)))
        .set(rate_limits::hits.eq(rate_limits::hits - 1))
        .execute(conn)?;
    Ok(())
}

/// The longest window a bucket counts in (a tracking code's daily ceiling, which takes it as
/// its window so the sweep below cannot forget a window still counting).
pub fn longest_window() -> Duration {
    Duration::days(1)
}

/// Windows that started before this have all ended, with an hour to spare: they may be forgotten.
pub fn forgettable_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - longest_window() - Duration::hours(1)
}

/// Forgets windows that started before `before`.
pub fn forget_before(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(rate_limits::table.filter(rate_limits::window_start.lt(to_db_time(before)))).execute(conn)?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_prefix() {
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), client_key("2001:db8:1:2:bbbb::2"));
        assert_eq!(client_key("2001:DB8:1:2::"), client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        // A proxy may write the port too.
        assert_eq!(client_key("[2001:db8:1:2::9]:443"), client_key("2001:db8:1:2::1"));
    }

    #[test]
    fn an_ipv4_client_counts_by_its_address_also_when_mapped_into_ipv6() {
        assert_eq!(client_key("::ffff:192.0.2.7"), client_key("192.0.2.7"));
        assert_ne!(client_key("192.0.2.7"), client_key("192.0.2.8"));
        assert_eq!(client_key("192.0.2.7:5150"), client_key("192.0.2.7"));
        // Two mapped addresses are two clients, not one /64.
        assert_ne!(client_key("::ffff:192.0.2.7"), client_key("::ffff:192.0.2.8"));
    }

    #[test]
    fn text_that_is_no_address_is_its_own_client() {
        assert_eq!(client_key(" unknown "), "unknown");
        assert_ne!(client_key("proxy-a"), client_key("proxy-b"));
    }

    #[test]
    fn hits_count_within_the_window_and_start_over_after_it() {
        let start = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        let minute = Duration::minutes(1);
        let first = next_count(None, minute, start);
        assert_eq!(first, (to_db_time(start), 1));
        let second = next_count(Some(first), minute, start + Duration::seconds(59));
        assert_eq!(second, (to_db_time(start), 2));
        let later = start + Duration::seconds(60);
        assert_eq!(next_count(Some(second), minute, later), (to_db_time(later), 1));
    }

    #[test]
    fn a_daily_window_is_not_forgotten_while_it_lasts() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        let started = now - Duration::hours(23);
        assert!(started > forgettable_before(now));
        assert!(now - Duration::hours(26) < forgettable_before(now));
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window_and_never_zero() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        let count = Count { hits: 9, window_ends: now + Duration::milliseconds(42_500) };
        assert_eq!(count.retry_after_secs(now), 43);
        assert_eq!(Count { hits: 9, window_ends: now }.retry_after_secs(now), 1);
    }
}
