//! The Law on Investigating Administrative Violations (قانون رسیدگی به تخلفات اداری) as data: the
//! 38 items of Article 8 that culpability findings and violation types cite, and the penalties
//! of Article 9 the compliance committee's outcomes name. Each carries a short summary where
//! the item is well known, never the article's text; where unsure, the reference alone (null).

use serde::Serialize;

/// The law's title, as violation types cite it.
pub const LAW: &str = "قانون رسیدگی به تخلفات اداری";

/// Article 8's items by number, with a short summary where well known.
pub const ARTICLE_8_ITEMS: [(&str, Option<&str>); 38] = [
    ("1", Some("اعمال و رفتار خلاف شئون شغلی یا اداری")),
    ("2", Some("نقض قوانین و مقررات مربوط")),
    ("3", Some("ایجاد نارضایتی در ارباب رجوع یا انجام ندادن یا تأخیر در انجام امور قانونی آن‌ها بدون دلیل")),
    ("4", Some("ایراد تهمت و افترا، هتک حیثیت")),
    ("5", Some("اخاذی")),
    ("6", Some("اختلاس")),
    ("7", Some("تبعیض یا اعمال غرض یا روابط غیراداری در اجرای قوانین و مقررات")),
    ("8", Some("ترک خدمت در خلال ساعات موظف اداری")),
    ("9", Some("تکرار در تأخیر ورود به محل خدمت یا تکرار خروج از آن بدون کسب مجوز")),
    ("10", Some("تسامح در حفظ اموال و اسناد و وجوه دولتی، ایراد خسارت به اموال دولتی")),
    ("11", Some("افشای اسرار و اسناد محرمانه اداری")),
    ("12", Some("ارتباط و تماس غیرمجاز با اتباع بیگانه")),
    ("13", Some("سرپیچی از اجرای دستورهای مقام‌های بالاتر در حدود وظایف اداری")),
    ("14", Some("کم‌کاری یا سهل‌انگاری در انجام وظایف محول شده")),
    ("15", Some("سهل‌انگاری رؤسا و مدیران در ندادن گزارش تخلفات کارمندان تحت امر")),
    ("16", Some("ارائه گواهی یا گزارش خلاف واقع در امور اداری")),
    (
        "17",
        Some("گرفتن وجوهی غیر از آنچه در قوانین و مقررات تعیین شده یا اخذ هر گونه مالی که در عرف رشوه‌خواری تلقی می‌شود"),
    ),
    ("18", None),
    ("19", None),
    ("20", None),
    ("21", None),
    ("22", None),
    ("23", None),
    ("24", Some("داشتن شغل دولتی دیگر به استثنای سمت‌های آموزشی و تحقیقاتی")),
    ("25", Some("هر نوع استفاده غیرمجاز از شئون یا موقعیت شغلی و امکانات و اموال دولتی")),
    ("26", Some("جعل یا مخدوش نمودن و دست بردن در اسناد و اوراق رسمی یا دولتی")),
    ("27", None),
    ("28", None),
    ("29", Some("غیبت غیرموجه به صورت متناوب یا متوالی")),
    ("30", Some("سوء استفاده از مقام و موقعیت اداری")),
    ("31", None),
    ("32", None),
    ("33", None),
    ("34", None),
    ("35", None),
    ("36", None),
    ("37", None),
    ("38", None),
];

/// Article 9's penalties by clause letter, each with a short summary (not the article's text).
pub const ARTICLE_9_PENALTIES: [(&str, &str); 11] = [
    ("الف", "اخطار کتبی بدون درج در پرونده استخدامی"),
    ("ب", "توبیخ کتبی با درج در پرونده استخدامی"),
    ("ج", "کسر حقوق و فوق‌العاده شغل"),
    ("د", "انفصال موقت"),
    ("ه", "تغییر محل جغرافیایی خدمت"),
    ("و", "تنزل مقام یا محرومیت از انتصاب به پست‌های حساس و مدیریتی"),
    ("ز", "تنزل یا تعویق در اعطای گروه"),
    ("ح", "بازخرید خدمت"),
    ("ط", "بازنشستگی با تقلیل گروه"),
    ("ی", "اخراج از دستگاه متبوع"),
    ("ک", "انفصال دائم از خدمات دولتی"),
];

/// One item or penalty of the law.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LawClause {
    /// The item's number (Article 8) or the clause's letter (Article 9).
    pub clause: &'static str,
    /// A short summary, not the article's text; null where only the reference is shipped.
    pub summary_fa: Option<&'static str>,
}

/// The law's Articles 8 and 9, as `GET /api/v1/administrative-violations` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AdministrativeViolationsLaw {
    pub law: &'static str,
    /// Article 8: the administrative violations, by item number.
    pub violations: Vec<LawClause>,
    /// Article 9: the penalties, by clause letter.
    pub penalties: Vec<LawClause>,
}

pub fn administrative_violations_law() -> AdministrativeViolationsLaw {
    AdministrativeViolationsLaw {
        law: LAW,
        violations: ARTICLE_8_ITEMS
            .iter()
            .map(|(clause, summary_fa)| LawClause { clause, summary_fa: *summary_fa })
            .collect(),
        penalties: ARTICLE_9_PENALTIES
            .iter()
            .map(|(clause, summary)| LawClause { clause, summary_fa: Some(summary) })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_8_has_its_38_items_in_order_and_the_shipped_types_cite_only_them() {
        let numbers: Vec<String> = ARTICLE_8_ITEMS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(numbers, (1..=38).map(|n| n.to_string()).collect::<Vec<_>>());
        for violation_type in super::super::catalogue().expect("the catalogue reads") {
            for basis in violation_type.document().legal_bases.iter().filter(|b| b.law == LAW) {
                assert_eq!(basis.article.as_deref(), Some("8"), "{}", violation_type.code());
                let clause = basis.clause.as_deref().unwrap_or_default();
                assert!(
                    ARTICLE_8_ITEMS.iter().any(|(n, summary)| *n == clause && summary.is_some()),
                    "{} cites item {clause}",
                    violation_type.code()
                );
            }
        }
    }
}
