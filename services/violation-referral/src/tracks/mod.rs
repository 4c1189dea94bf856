//! A case's two tracks. The remedial one (effectiveness) opens when an inspector classifies the
//! case by violation type: the agency refers the violation to the competent authority, reports
//! its decision and execution, and 1888 gives its verdict. The culpability one (of those
//! responsible, before the compliance committee) is dealt with separately and never shown to
//! agencies.

pub mod api;
pub mod clock;
pub mod culpability;
pub mod culpability_api;
pub mod culpability_store;
pub mod deadlines;
pub mod remedial;
pub mod steps;
pub mod store;

use nazer_shared::db::DbError;
use nazer_shared::http::{ApiError, FieldIssue};
use nazer_shared::sealing::SealingKeys;
use serde::Serialize;

use crate::store::{CaseHead, CaseReader, CaseView};
use steps::{StepView, Track};

/// Why a change to a case was not made.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// No such case, or one the caller may not see.
    #[error("case not found")]
    NotFound,
    /// The case's state does not allow the change now (409), with why and what would.
    #[error("{0}")]
    NotAllowed(String),
    /// A field names something that does not exist or is not acceptable (422).
    #[error("invalid fields")]
    Invalid(Vec<FieldIssue>),
}

nazer_shared::from_diesel_error!(CaseError);

/// What a missing case (or one the caller may not see) answers.
pub(crate) const NOT_FOUND: &str = "no violation case has this id";

impl From<CaseError> for ApiError {
    fn from(error: CaseError) -> Self {
        match error {
            CaseError::NotFound => ApiError::NotFound(NOT_FOUND.into()),
            CaseError::NotAllowed(why) => ApiError::Conflict(why),
            CaseError::Invalid(issues) => ApiError::invalid(issues),
            CaseError::Db(error) => error.into(),
        }
    }
}

/// One track of a case: where it stands and every step taken on it, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ViolationCaseTrack)]
pub struct TrackView {
    /// Remedial: `pending`, `referred`, `decided`, `executed`, `effective`, `not_effective`,
    /// `withdrawn`. Culpability: `under_review`, `findings_recorded`, `at_committee`, `decided`,
    /// `outcome_recorded`, `closed`, `closed_no_fault`.
    pub state: String,
    pub steps: Vec<StepView>,
    /// The clocks of the track's stages, in the order they started: each stage's due instant,
    /// state and highest warning.
    pub deadlines: Vec<deadlines::CaseDeadline>,
}

/// A case with its tracks, as `GET /api/v1/violation-cases/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ViolationCaseDetail)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseView,
    /// The remedial track (effectiveness); null until the case is classified.
    pub remedial: Option<TrackView>,
    /// The culpability track; null until an inspector opens it. Never shown to agencies: the
    /// field is absent from their view. Officials named in its findings show by name to the
    /// counterpart unit, the committee and special follow-up only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TrackView>)]
    pub culpability: Option<Option<TrackView>>,
}

/// Steps an agency took itself: the only ones whose actor it sees.
fn by_agency(step: &StepView) -> bool {
    step.detail["by_agency"] == serde_json::Value::Bool(true)
}

/// The case as `reader` may see it, from its head, its steps and its clocks; `keys` open the
/// names of officials for those entrusted with them.
pub fn detail(
    head: CaseHead,
    steps: Vec<(Track, StepView)>,
    clocks: Vec<deadlines::CaseDeadline>,
    reader: &CaseReader,
    keys: &SealingKeys,
) -> Result<CaseDetail, DbError> {
    let agency_reader = reader.is_agency();
    let (mut remedial_steps, mut culpability_steps) = (Vec::new(), Vec::new());
    for (track, mut step) in steps {
        match track {
            Track::Remedial => {
                if agency_reader && !by_agency(&step) {
                    step.actor = None;
                }
                remedial_steps.push(step);
            }
            Track::Culpability if agency_reader => {}
            Track::Culpability => {
                culpability::show_officials(&head.view.id, &mut step, reader.opens_identities(), keys)?;
                culpability_steps.push(step);
            }
        }
    }
    let (remedial_clocks, culpability_clocks): (Vec<_>, Vec<_>) = clocks
        .into_iter()
        .filter(|c| !c.stage.starts_with("culpability.") || !agency_reader)
        .partition(|c| c.stage.starts_with("remedial."));
    let remedial = head.view.remedial_state.map(|state| TrackView {
        state: state.as_str().into(),
        steps: remedial_steps,
        deadlines: remedial_clocks,
    });
    let culpability = (!agency_reader).then(|| {
        head.view.culpability_state.flatten().map(|state| TrackView {
            state: state.as_str().into(),
            steps: culpability_steps,
            deadlines: culpability_clocks,
        })
    });
    Ok(CaseDetail { case: head.view.for_reader(reader), remedial, culpability })
}
