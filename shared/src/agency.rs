//! An agency's ancestors as stored beside what it owns (`,parent,grandparent,`), so "assigned
//! to this agency or one of its sub-agencies" is one indexed-free `LIKE` in any backend.

/// The stored form of `ancestors` (parent first); None when there are none.
pub fn encode_ancestors(ancestors: &[String]) -> Option<String> {
    (!ancestors.is_empty()).then(|| format!(",{},", ancestors.join(",")))
}

pub fn decode_ancestors(stored: Option<&str>) -> Vec<String> {
    stored.unwrap_or_default().split(',').filter(|a| !a.is_empty()).map(str::to_string).collect()
}

/// A `LIKE` pattern (escape character `\`) matching stored ancestors that include `agency`.
/// `_` is a wildcard in `LIKE` and allowed in agency ids, so it is escaped.
pub fn ancestor_pattern(agency: &str) -> String {
    format!("%,{},%", crate::db::escape_like(agency))
}

/// Whose objects a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Overseers: the call centre, supervisors, special follow-up, admins.
    All,
    /// An agency: its own and its sub-agencies'.
    Agency(String),
    /// Neither (an Open311 client, say).
    Nobody,
}

impl Viewer {
    /// Whether this viewer sees what belongs to `agency`, whose ancestors are `ancestors`.
    pub fn sees(&self, agency: Option<&str>, ancestors: &[String]) -> bool {
        match (self, agency) {
            (Viewer::All, _) => true,
            (Viewer::Agency(mine), Some(theirs)) => mine == theirs || ancestors.iter().any(|a| a == mine),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_round_trip_and_patterns_escape_wildcards() {
        let chain = vec!["qom_governorate".to_string(), "interior".to_string()];
        let stored = encode_ancestors(&chain);
        assert_eq!(stored.as_deref(), Some(",qom_governorate,interior,"));
        assert_eq!(decode_ancestors(stored.as_deref()), chain);
        assert_eq!(encode_ancestors(&[]), None);
        assert_eq!(ancestor_pattern("qom_governorate"), "%,qom\\_governorate,%");
    }

    #[test]
    fn an_agency_sees_its_own_and_its_sub_agencies_objects_only() {
        let ancestors = vec!["tehran-governorate".to_string()];
        let own = Viewer::Agency("tehran-municipality".into());
        let parent = Viewer::Agency("tehran-governorate".into());
        let stranger = Viewer::Agency("isfahan-municipality".into());
        assert!(own.sees(Some("tehran-municipality"), &ancestors));
        assert!(parent.sees(Some("tehran-municipality"), &ancestors));
        assert!(!stranger.sees(Some("tehran-municipality"), &ancestors));
        assert!(!own.sees(None, &[]), "an unassigned message belongs to no agency");
        assert!(!parent.sees(Some("tehran-governorate-annex"), &[]), "a prefix is not a parent");
        assert!(Viewer::All.sees(None, &[]));
        assert!(!Viewer::Nobody.sees(Some("x"), &[]));
    }
}
