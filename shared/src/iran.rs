//! Iranian facts every service shares: the provinces, the Solar Hijri (Jalali) calendar and
//! Persian digits. People see Asia/Tehran time (UTC+03:30, no daylight saving since 1401).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};

/// Declares the provinces once: the [`Province`] enum (its code in the API) and [`PROVINCES`]
/// with each one's Persian and English name.
macro_rules! provinces {
    ($($variant:ident = $code:literal, $fa:literal, $en:literal;)+) => {
        crate::closed_set! {
            /// A province of Iran, by the code the API uses.
            pub enum Province { $($variant = $code),+ }
        }

        /// The 31 provinces: code used in the API, Persian name, English name.
        pub const PROVINCES: [(&str, &str, &str); 31] = [$(($code, $fa, $en)),+];
    };
}

provinces! {
    Alborz = "alborz", "البرز", "Alborz";
    Ardabil = "ardabil", "اردبیل", "Ardabil";
    Bushehr = "bushehr", "بوشهر", "Bushehr";
    ChaharmahalBakhtiari = "chaharmahal-bakhtiari", "چهارمحال و بختیاری", "Chaharmahal and Bakhtiari";
    EastAzerbaijan = "east-azerbaijan", "آذربایجان شرقی", "East Azerbaijan";
    Fars = "fars", "فارس", "Fars";
    Gilan = "gilan", "گیلان", "Gilan";
    Golestan = "golestan", "گلستان", "Golestan";
    Hamadan = "hamadan", "همدان", "Hamadan";
    Hormozgan = "hormozgan", "هرمزگان", "Hormozgan";
    Ilam = "ilam", "ایلام", "Ilam";
    Isfahan = "isfahan", "اصفهان", "Isfahan";
    Kerman = "kerman", "کرمان", "Kerman";
    Kermanshah = "kermanshah", "کرمانشاه", "Kermanshah";
    KhorasanNorth = "khorasan-north", "خراسان شمالی", "North Khorasan";
    KhorasanRazavi = "khorasan-razavi", "خراسان رضوی", "Razavi Khorasan";
    KhorasanSouth = "khorasan-south", "خراسان جنوبی", "South Khorasan";
    Khuzestan = "khuzestan", "خوزستان", "Khuzestan";
    KohgiluyehBoyerahmad = "kohgiluyeh-boyerahmad", "کهگیلویه و بویراحمد", "Kohgiluyeh and Boyer-Ahmad";
    Kurdistan = "kurdistan", "کردستان", "Kurdistan";
    Lorestan = "lorestan", "لرستان", "Lorestan";
    Markazi = "markazi", "مرکزی", "Markazi";
    Mazandaran = "mazandaran", "مازندران", "Mazandaran";
    Qazvin = "qazvin", "قزوین", "Qazvin";
    Qom = "qom", "قم", "Qom";
    Semnan = "semnan", "سمنان", "Semnan";
    SistanBaluchestan = "sistan-baluchestan", "سیستان و بلوچستان", "Sistan and Baluchestan";
    Tehran = "tehran", "تهران", "Tehran";
    WestAzerbaijan = "west-azerbaijan", "آذربایجان غربی", "West Azerbaijan";
    Yazd = "yazd", "یزد", "Yazd";
    Zanjan = "zanjan", "زنجان", "Zanjan";
}

pub fn is_province(code: &str) -> bool {
    Province::parse(code).is_some()
}

pub fn province_codes() -> String {
    Province::listed()
}

/// Asia/Tehran: UTC+03:30 all year.
pub fn tehran_offset() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600 + 1800).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// A Solar Hijri date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JalaliDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl std::fmt::Display for JalaliDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

// The Borkowski/jalaali algorithm: the years in which the 33-year leap cycle breaks.
const BREAKS: [i64; 20] =
    [-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324, 2394, 2456, 3178];

struct YearInfo {
    /// 0 when the year is leap (its Esfand has 30 days).
    leap: i64,
    gregorian_year: i64,
    /// The day of March on which Farvardin 1 falls.
    march: i64,
}

fn year_info(jy: i64) -> Option<YearInfo> {
    if jy < BREAKS[0] || jy >= BREAKS[BREAKS.len() - 1] {
        return None;
    }
    let gy = jy + 621;
    let mut leap_j = -14;
    let mut jp = BREAKS[0];
    let mut jump = 0;
    for &jm in &BREAKS[1..] {
        jump = jm - jp;
        if jy < jm {
            break;
        }
        leap_j += jump / 33 * 8 + (jump % 33) / 4;
        jp = jm;
    }
    let mut n = jy - jp;
    leap_j += n / 33 * 8 + ((n % 33) + 3) / 4;
    if jump % 33 == 4 && jump - n == 4 {
        leap_j += 1;
    }
    let leap_g = gy / 4 - ((gy / 100 + 1) * 3) / 4 - 150;
    let march = 20 + leap_j - leap_g;
    if jump - n < 6 {
        n = n - jump + (jump + 4) / 33 * 33;
    }
    let mut leap = (((n + 1) % 33) - 1) % 4;
    if leap == -1 {
        leap = 4;
    }
    Some(YearInfo { leap, gregorian_year: gy, march })
}

fn gregorian_to_day_number(gy: i64, gm: i64, gd: i64) -> i64 {
    let d = ((gy + (gm - 8) / 6 + 100100) * 1461) / 4 + (153 * ((gm + 9) % 12) + 2) / 5 + gd - 34840408;
    d - ((gy + 100100 + (gm - 8) / 6) / 100 * 3) / 4 + 752
}

fn day_number_to_gregorian(jdn: i64) -> (i64, i64, i64) {
    let mut j = 4 * jdn + 139361631;
    j += (4 * jdn + 183187720) / 146097 * 3 / 4 * 4 - 3908;
    let i = (j % 1461) / 4 * 5 + 308;
    let gd = (i % 153) / 5 + 1;
    let gm = (i / 153) % 12 + 1;
    let gy = j / 1461 - 100100 + (8 - gm) / 6;
    (gy, gm, gd)
}

pub fn is_leap_jalali_year(year: i32) -> bool {
    year_info(year as i64).is_some_and(|info| info.leap == 0)
}

pub fn jalali_month_length(year: i32, month: u32) -> u32 {
    match month {
        1..=6 => 31,
        7..=11 => 30,
        12 if is_leap_jalali_year(year) => 30,
        12 => 29,
        _ => 0,
    }
}

impl JalaliDate {
    /// A valid Solar Hijri date, or `None` (month 13, Esfand 30 of a common year, …).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=3000).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        (day <= jalali_month_length(year, month)).then_some(Self { year, month, day })
    }

    /// Parses `YYYY-MM-DD` or `YYYY/MM/DD`.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(['-', '/']).collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        Self::new(parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?)
    }

    pub fn from_gregorian(date: NaiveDate) -> Self {
        let jdn = gregorian_to_day_number(date.year() as i64, date.month() as i64, date.day() as i64);
        let (gy, _, _) = day_number_to_gregorian(jdn);
        let mut jy = gy - 621;
        let info = year_info(jy).unwrap_or(YearInfo { leap: 1, gregorian_year: gy, march: 21 });
        let farvardin_first = gregorian_to_day_number(gy, 3, info.march);
        let mut k = jdn - farvardin_first;
        if k >= 0 {
            if k <= 185 {
                return Self { year: jy as i32, month: (1 + k / 31) as u32, day: (k % 31 + 1) as u32 };
            }
            k -= 186;
        } else {
            jy -= 1;
            k += 179;
            if info.leap == 1 {
                k += 1;
            }
        }
        Self { year: jy as i32, month: (7 + k / 30) as u32, day: (k % 30 + 1) as u32 }
    }

    pub fn to_gregorian(self) -> Option<NaiveDate> {
        let info = year_info(self.year as i64)?;
        let (m, d) = (self.month as i64, self.day as i64);
        let jdn =
            gregorian_to_day_number(info.gregorian_year, 3, info.march) + (m - 1) * 31 - (m / 7) * (m - 7) + d - 1;
        let (gy, gm, gd) = day_number_to_gregorian(jdn);
        NaiveDate::from_ymd_opt(gy as i32, gm as u32, gd as u32)
    }
}

/// A day written either way people write it: Solar Hijri (`1405-09-08`, `1405/09/08`) or
/// Gregorian (`2026-11-29`); a year before 1700 is read as Solar Hijri.
pub fn parse_either_date(text: &str) -> Option<NaiveDate> {
    let year: i32 = text.split(['-', '/']).next()?.parse().ok()?;
    if year < 1700 {
        JalaliDate::parse(text)?.to_gregorian()
    } else {
        NaiveDate::parse_from_str(&text.replace('/', "-"), "%Y-%m-%d").ok()
    }
}

/// The instant a Tehran day starts.
pub fn tehran_day_start(date: NaiveDate) -> DateTime<Utc> {
    (date.and_time(chrono::NaiveTime::MIN) - chrono::Duration::seconds(i64::from(tehran_offset().local_minus_utc())))
        .and_utc()
}

/// Persian text as Persian keyboards write it: Arabic yeh (ي, ى) and kaf (ك), which Arabic
/// layouts and older systems produce, become Persian ی and ک, so a search or a comparison does
/// not miss a word for a look-alike letter. The zero-width non-joiner (نیم‌فاصله) is kept; digits
/// are left as typed (fields that hold numbers convert them themselves).
pub fn normalize_persian(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{064A}' | '\u{0649}' => '\u{06CC}',
            '\u{0643}' => '\u{06A9}',
            other => other,
        })
        .collect()
}

/// Text as search compares it, the same for what is stored and what is typed: Arabic forms of
/// letters as their Persian ones (ي ى → ی, ك → ک, ة ۀ → ه, أ إ ٱ → ا, ؤ → و), diacritics
/// (harakat, tanween, superscript alef), tatweel, ZWNJ and other invisible marks dropped, Persian
/// and Arabic-Indic digits as ASCII, letters case-folded, runs of white space as one space.
pub fn normalize_for_search(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        let c = match c {
            '\u{064A}' | '\u{0649}' => '\u{06CC}',
            '\u{0643}' => '\u{06A9}',
            '\u{0629}' | '\u{06C0}' => '\u{0647}',
            '\u{0623}' | '\u{0625}' | '\u{0671}' => '\u{0627}',
            '\u{0624}' => '\u{0648}',
            '۰'..='۹' => char::from_u32('0' as u32 + (c as u32 - '۰' as u32)).unwrap_or(c),
            '٠'..='٩' => char::from_u32('0' as u32 + (c as u32 - '٠' as u32)).unwrap_or(c),
            // Harakat and tanween, superscript alef, tatweel; ZWNJ, ZWJ, direction marks, BOM.
            '\u{064B}'..='\u{065F}'
            | '\u{0670}'
            | '\u{0640}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}' => continue,
            other => other,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// ASCII digits as Persian digits (۰–۹); everything else unchanged.
pub fn persian_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32('۰' as u32 + (c as u32 - '0' as u32)).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// Persian (۰–۹) and Arabic-Indic (٠–٩) digits as ASCII, for text where a number is expected;
/// everything else unchanged.
pub fn ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '۰'..='۹' => char::from_u32('0' as u32 + (c as u32 - '۰' as u32)).unwrap_or(c),
            '٠'..='٩' => char::from_u32('0' as u32 + (c as u32 - '٠' as u32)).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// An instant as a Tehran wall-clock Solar Hijri date and time in ASCII digits:
/// `1405/09/08 14:30`.
pub fn jalali_date_time(instant: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&tehran_offset());
    let date = JalaliDate::from_gregorian(local.date_naive());
    format!("{date} {:02}:{:02}", local.hour(), local.minute())
}

/// An instant as people in Iran read it: `۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰` (Tehran time).
pub fn persian_date_time(instant: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&tehran_offset());
    let date = JalaliDate::from_gregorian(local.date_naive());
    persian_digits(&format!("{date} ساعت {:02}:{:02}", local.hour(), local.minute()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn g(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn known_dates_convert_both_ways() {
        // Worked out by hand against the published calendar: Nowruz, the interview's date,
        // Yalda, and the leap day of 1403.
        let table = [
            (g(2026, 3, 21), JalaliDate { year: 1405, month: 1, day: 1 }),
            (g(2025, 3, 21), JalaliDate { year: 1404, month: 1, day: 1 }),
            (g(2019, 8, 18), JalaliDate { year: 1398, month: 5, day: 27 }),
            (g(2026, 12, 21), JalaliDate { year: 1405, month: 9, day: 30 }),
            (g(2025, 3, 20), JalaliDate { year: 1403, month: 12, day: 30 }),
            (g(2026, 11, 29), JalaliDate { year: 1405, month: 9, day: 8 }),
        ];
        for (gregorian, jalali) in table {
            assert_eq!(JalaliDate::from_gregorian(gregorian), jalali, "{gregorian}");
            assert_eq!(jalali.to_gregorian(), Some(gregorian), "{jalali}");
        }
    }

    #[test]
    fn every_day_of_a_century_round_trips() {
        let mut day = g(1990, 1, 1);
        let mut previous = JalaliDate::from_gregorian(day);
        while day < g(2090, 1, 1) {
            day = day.succ_opt().unwrap();
            let jalali = JalaliDate::from_gregorian(day);
            assert!(jalali > previous, "{day}");
            assert!(JalaliDate::new(jalali.year, jalali.month, jalali.day).is_some());
            assert_eq!(jalali.to_gregorian(), Some(day));
            previous = jalali;
        }
    }

    #[test]
    fn a_day_is_read_in_either_calendar() {
        assert_eq!(parse_either_date("1405-09-08"), Some(g(2026, 11, 29)));
        assert_eq!(parse_either_date("1405/09/08"), Some(g(2026, 11, 29)));
        assert_eq!(parse_either_date("2026-11-29"), Some(g(2026, 11, 29)));
        assert_eq!(parse_either_date("1405-12-30"), None, "1405 is not a leap year");
        assert_eq!(parse_either_date("2026-02-30"), None);
        assert_eq!(parse_either_date("yesterday"), None);
        assert_eq!(tehran_day_start(g(2026, 11, 29)).to_rfc3339(), "2026-11-28T20:30:00+00:00");
    }

    #[test]
    fn arabic_letters_become_persian_and_the_half_space_stays() {
        assert_eq!(normalize_persian("كيف"), "کیف");
        assert_eq!(normalize_persian("مصطفى"), "مصطفی");
        assert_eq!(normalize_persian("می\u{200C}خواهم ۱۲۳"), "می\u{200C}خواهم ۱۲۳");
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(JalaliDate::new(1405, 13, 1).is_none());
        assert!(JalaliDate::new(1405, 7, 31).is_none());
        assert!(JalaliDate::new(1404, 12, 30).is_none());
        assert!(JalaliDate::new(1403, 12, 30).is_some());
        assert!(JalaliDate::parse("1405-02-31").is_some());
        assert!(JalaliDate::parse("1405-02-32").is_none());
        assert!(JalaliDate::parse("1405-2").is_none());
    }

    #[test]
    fn persian_text_carries_tehran_time_and_jalali_date() {
        let instant = Utc.with_ymd_and_hms(2026, 12, 2, 11, 0, 0).unwrap();
        assert_eq!(persian_date_time(instant), "۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰");
        assert_eq!(jalali_date_time(instant), "1405/09/11 14:30");
        assert_eq!(ascii_digits("۱۴۰۵-٠٩-۱۱ ok"), "1405-09-11 ok");
    }

    #[test]
    fn provinces_are_known_by_code() {
        assert!(is_province("tehran"));
        assert!(!is_province("Tehran"));
        assert_eq!(PROVINCES.len(), 31);
    }

    #[test]
    fn search_text_is_normalised_the_same_however_it_was_typed() {
        // Arabic yeh and kaf, as a keyboard without Persian letters types them.
        assert_eq!(normalize_for_search("كيف شهرداري"), normalize_for_search("کیف شهرداری"));
        // With ZWNJ, without it: the same word.
        assert_eq!(normalize_for_search("می\u{200C}خواهم"), "میخواهم");
        assert_eq!(normalize_for_search("میخواهم"), "میخواهم");
        // Harakat, tanween, superscript alef and tatweel dropped.
        assert_eq!(normalize_for_search("شُكراً"), "شکرا");
        assert_eq!(normalize_for_search("تهـــران"), "تهران");
        assert_eq!(normalize_for_search("رحمٰن"), "رحمن");
        assert_eq!(normalize_for_search("مدرسة"), "مدرسه");
        // Digits in any script as ASCII; Latin letters case-folded; white space collapsed.
        assert_eq!(normalize_for_search("  پلاک ۱۲  و ٣٤\n\tBRT  Line "), "پلاک 12 و 34 brt line");
        assert_eq!(normalize_for_search(""), "");
        assert_eq!(normalize_for_search(" \u{200C} "), "");
    }
}
