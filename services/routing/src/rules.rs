//! Which agency handles a message: rules by category × province (× city); the most specific
//! matching rule wins; no match sends the message to 1888 triage.

use serde::Serialize;

/// Matches any province or city.
pub const ANY: &str = "*";

/// A routing rule: messages of `category` from `province` (and `city`) go to `agency_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutingRule)]
pub struct Rule {
    pub id: String,
    pub category: String,
    /// A province code, or `*` for every province.
    pub province: String,
    /// A city, or `*` for every city.
    pub city: String,
    pub agency_id: String,
}

impl Rule {
    fn matches(&self, category: &str, province: &str, city: Option<&str>) -> bool {
        self.category == category
            && (self.province == ANY || self.province == province)
            && (self.city == ANY || city.is_some_and(|c| same_city(c, &self.city)))
    }

    /// A city rule is more specific than a province rule, which is more specific than a
    /// nationwide one.
    fn specificity(&self) -> u8 {
        u8::from(self.province != ANY) * 2 + u8::from(self.city != ANY)
    }
}

/// Cities compare as people mean them: case aside, and Arabic ي/ك the same as Persian ی/ک (a
/// rule stored before normalisation still matches).
fn same_city(a: &str, b: &str) -> bool {
    nazer_shared::iran::normalize_persian(a).to_lowercase() == nazer_shared::iran::normalize_persian(b).to_lowercase()
}

/// The rule that decides, if any.
pub fn resolve<'a>(rules: &'a [Rule], category: &str, province: &str, city: Option<&str>) -> Option<&'a Rule> {
    rules.iter().filter(|r| r.matches(category, province, city)).max_by_key(|r| r.specificity())
}

/// The decline that sends a message to a supervisor instead of to another agency.
pub const SUPERVISOR_AFTER_DECLINES: usize = 3;

/// Where a declined message goes next.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterDecline<'a> {
    /// The most specific rule whose agency has not declined it.
    Reassign(&'a Rule),
    /// To 1888 triage; flagged for a supervisor from the third decline on.
    Triage { needs_supervisor: bool },
}

pub fn after_decline<'a>(
    rules: &'a [Rule],
    category: &str,
    province: &str,
    city: Option<&str>,
    declined_by: &[String],
    decline_count: usize,
) -> AfterDecline<'a> {
    if decline_count >= SUPERVISOR_AFTER_DECLINES {
        return AfterDecline::Triage { needs_supervisor: true };
    }
    let open: Vec<&Rule> = rules.iter().filter(|r| !declined_by.contains(&r.agency_id)).collect();
    open.into_iter()
        .filter(|r| r.matches(category, province, city))
        .max_by_key(|r| r.specificity())
        .map_or(AfterDecline::Triage { needs_supervisor: false }, AfterDecline::Reassign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, category: &str, province: &str, city: &str) -> Rule {
        Rule {
            id: id.into(),
            category: category.into(),
            province: province.into(),
            city: city.into(),
            agency_id: format!("agency-{id}"),
        }
    }

    fn rules() -> Vec<Rule> {
        vec![
            rule("national", "health.pharmacy", ANY, ANY),
            rule("tehran", "municipal.building", "tehran", ANY),
            rule("shemiranat", "municipal.building", "tehran", "shemiranat"),
            rule("national-building", "municipal.building", ANY, ANY),
        ]
    }

    #[test]
    fn a_city_typed_with_arabic_letters_matches_its_rule() {
        // A rule stored with Arabic kaf and yeh, a message normalised to Persian (and the reverse).
        let rules = [rule("karaj", "municipal.building", "alborz", "كرج"), rule("kish", "x", "hormozgan", "کیش")];
        assert_eq!(resolve(&rules, "municipal.building", "alborz", Some("کرج")).map(|r| r.id.as_str()), Some("karaj"));
        assert_eq!(resolve(&rules, "x", "hormozgan", Some("كيش")).map(|r| r.id.as_str()), Some("kish"));
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = rules();
        let pick = |p: &str, c: Option<&str>| resolve(&rules, "municipal.building", p, c).map(|r| r.id.as_str());
        assert_eq!(pick("tehran", Some("shemiranat")), Some("shemiranat"));
        assert_eq!(pick("tehran", Some("rey")), Some("tehran"));
        assert_eq!(pick("tehran", None), Some("tehran"));
        assert_eq!(pick("fars", Some("shiraz")), Some("national-building"));
    }

    #[test]
    fn rule_order_does_not_matter() {
        let mut reversed = rules();
        reversed.reverse();
        let id = resolve(&reversed, "municipal.building", "tehran", Some("shemiranat")).map(|r| r.id.as_str());
        assert_eq!(id, Some("shemiranat"));
    }

    #[test]
    fn no_matching_rule_means_triage() {
        assert_eq!(resolve(&rules(), "utilities.water", "tehran", None), None);
        assert_eq!(resolve(&[], "health.pharmacy", "qom", None), None);
    }

    #[test]
    fn a_city_rule_needs_a_city() {
        let only_city = vec![rule("shemiranat", "municipal.building", "tehran", "shemiranat")];
        assert_eq!(resolve(&only_city, "municipal.building", "tehran", None), None);
    }

    #[test]
    fn a_declined_message_goes_to_the_next_rule_then_triage_then_a_supervisor() {
        let rules = rules();
        let declined = |ids: &[&str]| ids.iter().map(|i| format!("agency-{i}")).collect::<Vec<_>>();
        // Shemiranat declines: the province rule is next, then the national one.
        let next =
            after_decline(&rules, "municipal.building", "tehran", Some("shemiranat"), &declined(&["shemiranat"]), 1);
        assert_eq!(next, AfterDecline::Reassign(&rules[1]));
        let next = after_decline(
            &rules,
            "municipal.building",
            "tehran",
            Some("shemiranat"),
            &declined(&["shemiranat", "tehran"]),
            2,
        );
        assert_eq!(next, AfterDecline::Reassign(&rules[3]));
        // Nobody else is responsible: the triage desk decides.
        let next = after_decline(&rules, "health.pharmacy", "qom", None, &declined(&["national"]), 1);
        assert_eq!(next, AfterDecline::Triage { needs_supervisor: false });
        // The third decline goes to a supervisor even while a rule is left.
        let all = declined(&["shemiranat", "tehran", "national-building"]);
        let next = after_decline(&rules, "municipal.building", "tehran", Some("shemiranat"), &all[..2], 3);
        assert_eq!(next, AfterDecline::Triage { needs_supervisor: true });
    }
}
