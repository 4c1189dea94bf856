//! Closed sets of values (a message's status, a clock's state, a province …) as enums: each
//! value named once, with its wire and database spelling, so code matches exhaustively and the
//! API documents list exactly the values accepted. Strings stay on the wire and in the database:
//! convert at the store and API boundaries with `as_str` and `parse`.

/// Declares an enum of unit variants, each with its text:
///
/// ```
/// nazer_shared::closed_set! {
///     /// A traffic light.
///     pub enum Light { Red = "red", Green = "green" }
/// }
/// assert_eq!(Light::parse("green"), Some(Light::Green));
/// assert_eq!(Light::Red.as_str(), "red");
/// assert_eq!(Light::ALL.len(), 2);
/// ```
///
/// The enum serialises as its text and its OpenAPI schema is a string `enum` of the texts.
#[macro_export]
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        $vis enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] #[schema(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as the API and the database spell it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The value `text` spells, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// Every text, comma-separated, for messages that say what is accepted.
            pub fn listed() -> String {
                Self::ALL.iter().map(|value| value.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    closed_set! {
        /// A test set.
        pub enum Weather { Sunny = "sunny", Rainy = "rainy", NotSure = "not_sure" }
    }

    #[test]
    fn texts_round_trip_and_are_listed() {
        for value in Weather::ALL {
            assert_eq!(Weather::parse(value.as_str()), Some(*value));
            assert_eq!(serde_json::to_value(value).unwrap(), value.as_str());
        }
        assert_eq!(Weather::parse("Sunny"), None);
        assert_eq!(Weather::listed(), "sunny, rainy, not_sure");
        assert_eq!(serde_json::from_str::<Weather>("\"not_sure\"").unwrap(), Weather::NotSure);
    }

    #[test]
    fn the_schema_lists_the_texts() {
        let schema = serde_json::to_value(<Weather as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["sunny", "rainy", "not_sure"]));
    }
}
