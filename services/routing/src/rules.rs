//! Which agency handles a message: rules by category × area (× city). The rule on the deepest
//! area of the message's path wins, then a city rule over a cityless one, then the most
//! specific category; no match sends the message to 1888 triage.

use serde::Serialize;

/// Matches any area (or province, or city).
pub const ANY: &str = "*";

/// A routing rule: messages of `category` (or a sub-category of it) located in `area` (and
/// `city`) go to `agency_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RoutingRule)]
pub struct Rule {
    pub id: String,
    /// A category code; it also covers the codes under it (`municipal` covers
    /// `municipal.building`).
    pub category: String,
    /// An area code at any level (province, county, city, district, sub-district,
    /// neighbourhood), or `*` for everywhere.
    pub area: String,
    /// The province of `area`, or `*` for a rule of everywhere.
    pub province: String,
    /// A city, or `*` for every city.
    pub city: String,
    pub agency_id: String,
}

/// Where a message is and what it is about, as the rules read it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub category: &'a str,
    /// The area codes from the province down to the deepest area the message is located in.
    pub area_path: &'a [String],
    pub city: Option<&'a str>,
}

/// How closely a matching rule fits a message; a greater one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Fit {
    /// 0 for `*`, 1 for the province, and one more for each level down the message's path.
    area_depth: usize,
    names_city: bool,
    category_segments: usize,
}

/// `rule` covers `category`: the same code, or a dot-separated prefix of it.
fn covers_category(rule: &str, category: &str) -> bool {
    category.strip_prefix(rule).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

impl Rule {
    /// How the rule fits `message`; None when it does not match it.
    fn fit(&self, message: &Message<'_>) -> Option<Fit> {
        if !covers_category(&self.category, message.category) {
            return None;
        }
        let area_depth = if self.area == ANY { 0 } else { message.area_path.iter().position(|a| *a == self.area)? + 1 };
        let names_city = self.city != ANY;
        if names_city && !message.city.is_some_and(|c| same_city(c, &self.city)) {
            return None;
        }
        Some(Fit { area_depth, names_city, category_segments: self.category.split('.').count() })
    }
}

/// Cities compare as people mean them: case aside, and Arabic ي/ك the same as Persian ی/ک (a
/// rule stored before normalisation still matches).
fn same_city(a: &str, b: &str) -> bool {
    nazer_shared::iran::normalize_persian(a).to_lowercase() == nazer_shared::iran::normalize_persian(b).to_lowercase()
}

/// The best fitting of `rules`: deepest area, then a city, then the most specific category; of
/// two that fit alike (possible only for a city stored in two spellings), the smaller id.
fn best<'a>(rules: impl Iterator<Item = &'a Rule>, message: &Message<'_>) -> Option<&'a Rule> {
    rules
        .filter_map(|rule| rule.fit(message).map(|fit| (fit, rule)))
        .max_by(|(a, x), (b, y)| a.cmp(b).then_with(|| y.id.cmp(&x.id)))
        .map(|(_, rule)| rule)
}

/// The rule that decides, if any.
pub fn resolve<'a>(rules: &'a [Rule], message: &Message<'_>) -> Option<&'a Rule> {
    best(rules.iter(), message)
}

/// The categories a rule may name to cover `category`: the code and each dot-separated prefix.
pub fn covering_categories(category: &str) -> Vec<&str> {
    let mut prefixes: Vec<&str> = category.match_indices('.').map(|(at, _)| &category[..at]).collect();
    prefixes.push(category);
    prefixes
}

/// The decline that sends a message to a supervisor instead of to another agency.
pub const SUPERVISOR_AFTER_DECLINES: usize = 3;

/// Where a declined message goes next.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterDecline<'a> {
    /// The best fitting rule whose agency has not declined it.
    Reassign(&'a Rule),
    /// To 1888 triage; flagged for a supervisor from the third decline on.
    Triage { needs_supervisor: bool },
}

pub fn after_decline<'a>(
    rules: &'a [Rule],
    message: &Message<'_>,
    declined_by: &[String],
    decline_count: usize,
) -> AfterDecline<'a> {
    if decline_count >= SUPERVISOR_AFTER_DECLINES {
        return AfterDecline::Triage { needs_supervisor: true };
    }
    best(rules.iter().filter(|r| !declined_by.contains(&r.agency_id)), message)
        .map_or(AfterDecline::Triage { needs_supervisor: false }, AfterDecline::Reassign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, category: &str, area: &str, city: &str) -> Rule {
        Rule {
            id: id.into(),
            category: category.into(),
            area: area.into(),
            // Matching reads the area alone.
            province: area.into(),
            city: city.into(),
            agency_id: format!("agency-{id}"),
        }
    }

    fn path(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    fn pick<'a>(rules: &'a [Rule], category: &str, area_path: &[&str], city: Option<&str>) -> Option<&'a str> {
        let area_path = path(area_path);
        resolve(rules, &Message { category, area_path: &area_path, city }).map(|r| r.id.as_str())
    }

    fn rules() -> Vec<Rule> {
        vec![
            rule("national", "health.pharmacy", ANY, ANY),
            rule("tehran", "municipal.building", "tehran", ANY),
            rule("shemiranat", "municipal.building", "tehran", "shemiranat"),
            rule("national-building", "municipal.building", ANY, ANY),
        ]
    }

    /// Tehran province → Tehran county → Tehran city → district 5 → its sub-district 2.
    const DISTRICT_5: [&str; 5] =
        ["tehran", "tehran-county", "tehran-city", "tehran-district-05", "tehran-district-05-2"];

    #[test]
    fn a_city_typed_with_arabic_letters_matches_its_rule() {
        // A rule stored with Arabic kaf and yeh, a message normalised to Persian (and the reverse).
        let rules = [rule("karaj", "municipal.building", "alborz", "كرج"), rule("kish", "x", "hormozgan", "کیش")];
        assert_eq!(pick(&rules, "municipal.building", &["alborz"], Some("کرج")), Some("karaj"));
        assert_eq!(pick(&rules, "x", &["hormozgan"], Some("كيش")), Some("kish"));
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = rules();
        let pick = |p: &str, c: Option<&str>| pick(&rules, "municipal.building", &[p], c);
        assert_eq!(pick("tehran", Some("shemiranat")), Some("shemiranat"));
        assert_eq!(pick("tehran", Some("rey")), Some("tehran"));
        assert_eq!(pick("tehran", None), Some("tehran"));
        assert_eq!(pick("fars", Some("shiraz")), Some("national-building"));
    }

    #[test]
    fn rule_order_does_not_matter() {
        let mut reversed = rules();
        reversed.reverse();
        assert_eq!(pick(&reversed, "municipal.building", &["tehran"], Some("shemiranat")), Some("shemiranat"));
    }

    #[test]
    fn no_matching_rule_means_triage() {
        assert_eq!(pick(&rules(), "utilities.water", &["tehran"], None), None);
        assert_eq!(pick(&[], "health.pharmacy", &["qom"], None), None);
    }

    #[test]
    fn a_city_rule_needs_a_city() {
        let only_city = vec![rule("shemiranat", "municipal.building", "tehran", "shemiranat")];
        assert_eq!(pick(&only_city, "municipal.building", &["tehran"], None), None);
    }

    #[test]
    fn the_deepest_area_of_the_path_wins_whatever_the_order() {
        let mut rules = vec![
            rule("everywhere", "municipal.building", ANY, ANY),
            rule("province", "municipal.building", "tehran", ANY),
            rule("county", "municipal.building", "tehran-county", ANY),
            rule("district", "municipal.building", "tehran-district-05", ANY),
            rule("other-district", "municipal.building", "tehran-district-06", ANY),
        ];
        for _ in 0..2 {
            assert_eq!(pick(&rules, "municipal.building", &DISTRICT_5, None), Some("district"));
            assert_eq!(pick(&rules, "municipal.building", &DISTRICT_5[..3], None), Some("county"));
            assert_eq!(pick(&rules, "municipal.building", &["tehran"], None), Some("province"));
            assert_eq!(pick(&rules, "municipal.building", &["qom"], None), Some("everywhere"));
            // The district of another path never matches, however deep.
            let district_6 = ["tehran", "tehran-county", "tehran-city", "tehran-district-06"];
            assert_eq!(pick(&rules, "municipal.building", &district_6, None), Some("other-district"));
            rules.reverse();
        }
    }

    #[test]
    fn a_deeper_area_wins_over_a_city_and_a_city_over_a_more_specific_category() {
        let rules = [
            rule("province-city", "municipal.building", "tehran", "tehran"),
            rule("district", "municipal", "tehran-district-05", ANY),
        ];
        assert_eq!(pick(&rules, "municipal.building", &DISTRICT_5, Some("tehran")), Some("district"));
        // On one area: the city rule first, even of a broader category.
        let rules =
            [rule("building", "municipal.building", "tehran", ANY), rule("city", "municipal", "tehran", "tehran")];
        assert_eq!(pick(&rules, "municipal.building", &["tehran"], Some("tehran")), Some("city"));
        assert_eq!(pick(&rules, "municipal.building", &["tehran"], Some("rey")), Some("building"));
    }

    #[test]
    fn a_category_rule_covers_the_categories_under_it() {
        let rules = [
            rule("municipal", "municipal", "tehran", ANY),
            rule("building", "municipal.building", "tehran", ANY),
            rule("permits", "municipal.building.permits", "tehran", ANY),
        ];
        assert_eq!(pick(&rules, "municipal.building.permits", &["tehran"], None), Some("permits"));
        assert_eq!(pick(&rules, "municipal.building.noise", &["tehran"], None), Some("building"));
        assert_eq!(pick(&rules, "municipal.parks", &["tehran"], None), Some("municipal"));
        assert_eq!(pick(&rules, "municipal", &["tehran"], None), Some("municipal"));
        // A prefix of the text alone is not a parent category.
        assert_eq!(pick(&rules, "municipality.roads", &["tehran"], None), None);
        assert_eq!(pick(&rules, "municipa", &["tehran"], None), None);
        assert_eq!(
            covering_categories("municipal.building.permits"),
            ["municipal", "municipal.building", "municipal.building.permits"]
        );
        assert_eq!(covering_categories("water"), ["water"]);
    }

    #[test]
    fn rules_that_fit_alike_are_decided_by_id() {
        // The same city stored in two spellings, before normalisation.
        let rules = [rule("b", "x", "alborz", "كرج"), rule("a", "x", "alborz", "کرج")];
        assert_eq!(pick(&rules, "x", &["alborz"], Some("کرج")), Some("a"));
        let reversed = [rules[1].clone(), rules[0].clone()];
        assert_eq!(pick(&reversed, "x", &["alborz"], Some("کرج")), Some("a"));
    }

    #[test]
    fn a_declined_message_goes_to_the_next_rule_then_triage_then_a_supervisor() {
        let rules = rules();
        let declined = |ids: &[&str]| ids.iter().map(|i| format!("agency-{i}")).collect::<Vec<_>>();
        let tehran = path(&["tehran"]);
        let building = Message { category: "municipal.building", area_path: &tehran, city: Some("shemiranat") };
        // Shemiranat declines: the province rule is next, then the national one.
        let next = after_decline(&rules, &building, &declined(&["shemiranat"]), 1);
        assert_eq!(next, AfterDecline::Reassign(&rules[1]));
        let next = after_decline(&rules, &building, &declined(&["shemiranat", "tehran"]), 2);
        assert_eq!(next, AfterDecline::Reassign(&rules[3]));
        // Nobody else is responsible: the triage desk decides.
        let qom = path(&["qom"]);
        let pharmacy = Message { category: "health.pharmacy", area_path: &qom, city: None };
        let next = after_decline(&rules, &pharmacy, &declined(&["national"]), 1);
        assert_eq!(next, AfterDecline::Triage { needs_supervisor: false });
        // The third decline goes to a supervisor even while a rule is left.
        let all = declined(&["shemiranat", "tehran", "national-building"]);
        let next = after_decline(&rules, &building, &all[..2], 3);
        assert_eq!(next, AfterDecline::Triage { needs_supervisor: true });
    }

    #[test]
    fn a_declined_district_message_climbs_the_path() {
        let rules = [
            rule("district", "municipal.building", "tehran-district-05", ANY),
            rule("city", "municipal", "tehran-city", ANY),
            rule("province", "municipal.building", "tehran", ANY),
        ];
        let district = path(&DISTRICT_5);
        let message = Message { category: "municipal.building.permits", area_path: &district, city: None };
        let declined = |ids: &[&str]| ids.iter().map(|i| format!("agency-{i}")).collect::<Vec<_>>();
        assert_eq!(after_decline(&rules, &message, &declined(&["district"]), 1), AfterDecline::Reassign(&rules[1]));
        let next = after_decline(&rules, &message, &declined(&["district", "city"]), 2);
        assert_eq!(next, AfterDecline::Reassign(&rules[2]));
    }
}
