//! The envelope every event travels in, and the events the services exchange.
//!
//! Events are facts in the past tense. A consumer ignores fields it does not know, so a
//! producer may add fields without a new version; removing or changing one needs a new version.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub aggregate_id: String,
    pub producer: String,
    pub payload: serde_json::Value,
    /// The W3C `traceparent` of the span that published it: not part of the event, it travels
    /// beside it (an AMQP header, a column of the outbox) so the consumer continues the trace.
    #[serde(skip)]
    pub trace_parent: Option<String>,
}

/// One word of an AMQP topic key: a subject kind is routed on only if it is one.
fn is_routing_word(kind: &str) -> bool {
    !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event {event_id} is a `{actual}`, not a `{expected}`")]
    WrongType { event_id: Uuid, expected: &'static str, actual: String },
    #[error("payload of event {event_id} ({event_type}) does not match: {source}")]
    Payload { event_id: Uuid, event_type: String, source: serde_json::Error },
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

pub trait Event: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const VERSION: u32 = 1;
    fn aggregate_id(&self) -> String;
}

impl Envelope {
    pub fn new<E: Event>(producer: &str, event: &E, occurred_at: DateTime<Utc>) -> Result<Self, EventError> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: E::TYPE.to_string(),
            version: E::VERSION,
            occurred_at,
            aggregate_id: event.aggregate_id(),
            producer: producer.to_string(),
            payload: serde_json::to_value(event)?,
            trace_parent: None,
        })
    }

    /// The key it travels on: its type, or for a clock event about another subject's stage
    /// (its payload names a `subject`), `<type>.<subject kind>`, so a service following that
    /// kind of subject is not sent every message's clock events, nor the reverse.
    pub fn routing_key(&self) -> String {
        match self.payload.get("subject").and_then(|subject| subject.get("kind")).and_then(|kind| kind.as_str()) {
            Some(kind) if is_routing_word(kind) => format!("{}.{kind}", self.event_type),
            _ => self.event_type.clone(),
        }
    }

    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE
    }

    pub fn decode<E: Event>(&self) -> Result<E, EventError> {
        if self.event_type != E::TYPE {
            return Err(EventError::WrongType {
                event_id: self.event_id,
                expected: E::TYPE,
                actual: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.payload.clone()).map_err(|source| EventError::Payload {
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            source,
        })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, EventError> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

crate::closed_set! {
    /// What a citizen sends. Kept as text in events so that an older consumer survives a new kind.
    pub enum MessageKind {
        Complaint = "complaint",
        ViolationReport = "violation_report",
        Criticism = "criticism",
        Suggestion = "suggestion",
        Appreciation = "appreciation",
    }
}

crate::closed_set! {
    /// How a message reached Nazer.
    pub enum Channel {
        CallCenter = "call_center",
        Web = "web",
        MobileApp = "mobile_app",
        Open311 = "open311",
        DirectMeeting = "direct_meeting",
        Letter = "letter",
    }
}

crate::closed_set! {
    /// How urgent a message is; SLA policies may give urgent messages shorter budgets.
    #[derive(Default)]
    pub enum Priority {
        #[default]
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

/// Events written before priorities existed carry none: they were normal.
fn normal_priority() -> String {
    Priority::Normal.as_str().to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageReceived {
    pub message_id: String,
    pub tracking_code: String,
    pub kind: String,
    pub channel: String,
    pub category: String,
    /// The province the message is in: the first code of `area_path`.
    pub province: String,
    pub city: Option<String>,
    /// The deepest area the message is located in; None on events written before areas.
    #[serde(default)]
    pub area: Option<String>,
    /// The codes from the province down to `area`; empty on events written before areas.
    #[serde(default)]
    pub area_path: Vec<String>,
    #[serde(default = "normal_priority")]
    pub priority: String,
    pub received_at: DateTime<Utc>,
}

impl Event for MessageReceived {
    const TYPE: &'static str = "message.received";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A message placed with an agency (also the answer of a triage decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageAssigned {
    pub message_id: String,
    pub tracking_code: String,
    /// complaint, violation_report, criticism, suggestion or appreciation.
    pub kind: String,
    pub category: String,
    pub province: String,
    #[schema(required = true)]
    pub city: Option<String>,
    /// The area codes the message is located in, province first, deepest last; empty on
    /// events written before areas.
    #[serde(default)]
    pub area_path: Vec<String>,
    pub agency_id: String,
    pub agency_name: String,
    /// Where a level-2 warning goes: the agency's parent, when it has one.
    #[serde(default)]
    #[schema(required = true)]
    pub parent_agency_id: Option<String>,
    /// The agency's ancestors, parent first: each of them sees this message.
    #[serde(default)]
    pub agency_ancestors: Vec<String>,
    /// The routing rule that chose the agency; `manual` for an assignment from triage.
    pub rule_id: String,
    /// normal, high or urgent.
    #[serde(default = "normal_priority")]
    pub priority: String,
    /// How the message arrived; None on events written before the channel travelled with the
    /// assignment.
    #[serde(default)]
    #[schema(required = true)]
    pub channel: Option<String>,
    pub assigned_at: DateTime<Utc>,
    /// Who placed it by hand from triage: the caller's API key id, or `user:` and a digest for
    /// a person signed in — never a name, as events reach agencies' webhooks. None for a
    /// placement by rule, and on events written before placements named their caller.
    #[serde(default)]
    #[schema(required = true)]
    pub assigned_by: Option<String>,
}

impl Event for MessageAssigned {
    const TYPE: &'static str = "message.assigned";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageNeedsTriage {
    pub message_id: String,
    pub tracking_code: String,
    pub category: String,
    pub province: String,
    pub city: Option<String>,
    /// The area codes the message is located in, province first; empty on events written
    /// before areas.
    #[serde(default)]
    pub area_path: Vec<String>,
    pub reason: String,
    pub queued_at: DateTime<Utc>,
    /// Set on the third decline: a supervisor, not the triage desk alone, must decide.
    #[serde(default)]
    pub needs_supervisor: bool,
}

impl Event for MessageNeedsTriage {
    const TYPE: &'static str = "message.needs_triage";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// The assigned agency says the message is outside its jurisdiction; routing tries another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeclined {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub reason: String,
    /// How many times this message has been declined, this one included.
    pub decline_count: i32,
    pub declined_at: DateTime<Utc>,
}

impl Event for MessageDeclined {
    const TYPE: &'static str = "message.declined";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// Handling of the message is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageClosed {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: Option<String>,
    pub reason: String,
    pub closed_at: DateTime<Utc>,
}

impl Event for MessageClosed {
    const TYPE: &'static str = "message.closed";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A dissatisfied citizen (or the call centre on their behalf) reopened an answered message
/// within the reopening period: the same agency must answer again, on a fresh clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageReopened {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub reason: String,
    pub reopen_count: i32,
    pub reopened_at: DateTime<Utc>,
}

impl Event for MessageReopened {
    const TYPE: &'static str = "message.reopened";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// Until when the citizen may reopen an answered message: the configured number of working
/// days after the answer, on the business calendar of the message's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReopenWindowSet {
    pub message_id: String,
    pub response_id: String,
    pub reopen_until: DateTime<Utc>,
}

impl Event for ReopenWindowSet {
    const TYPE: &'static str = "message.reopen_window_set";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// The citizen rated an agency's answer (1–5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRated {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub response_id: String,
    pub rating: i32,
    pub rated_at: DateTime<Utc>,
}

impl Event for ResponseRated {
    const TYPE: &'static str = "response.rated";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A supervisor scored an agency's answer on the quality rubric; below the standard, the
/// deadline-timer registers a quality warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseReviewed {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub response_id: String,
    /// When the reviewed answer was given: it names the clock the answer met.
    pub responded_at: DateTime<Utc>,
    /// The mean of the rubric's criteria, 1–5.
    pub score: f64,
    pub below_standard: bool,
    pub reviewed_at: DateTime<Utc>,
}

impl Event for ResponseReviewed {
    const TYPE: &'static str = "response.reviewed";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResponded {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub response_id: String,
    pub outcome: String,
    pub responded_at: DateTime<Utc>,
}

impl Event for MessageResponded {
    const TYPE: &'static str = "message.responded";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// The assigned agency has confirmed it has the message (its acknowledge stage is met).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageAcknowledged {
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub acknowledged_at: DateTime<Utc>,
}

impl Event for MessageAcknowledged {
    const TYPE: &'static str = "message.acknowledged";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineScheduled {
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlineScheduled {
    const TYPE: &'static str = "deadline.scheduled";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A calendar change moved a pending stage's due instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineMoved {
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub previous_due_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// What changed, e.g. `closure 1405-09-10 (tehran) added`.
    pub reason: String,
    pub text_fa: String,
    pub moved_at: DateTime<Utc>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlineMoved {
    const TYPE: &'static str = "deadline.moved";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A stage's clock stopped while it waits for the citizen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlinePaused {
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub reason: String,
    /// The due instant when the clock stopped (it moves on resumption).
    pub due_at: DateTime<Utc>,
    pub paused_at: DateTime<Utc>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlinePaused {
    const TYPE: &'static str = "deadline.paused";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A paused stage's clock runs again, with the budget it had left: its new due instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineResumed {
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub due_at: DateTime<Utc>,
    pub resumed_at: DateTime<Utc>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlineResumed {
    const TYPE: &'static str = "deadline.resumed";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineMet {
    pub deadline_id: String,
    pub message_id: String,
    pub stage: String,
    pub due_at: DateTime<Utc>,
    pub met_at: DateTime<Utc>,
    /// Answered after the clock ran out (its state is then `answered_late`, not `met`). Absent
    /// on events written before late answers were announced.
    #[serde(default)]
    pub answered_late: bool,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlineMet {
    const TYPE: &'static str = "deadline.met";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// A pre-breach reminder: `fraction` of the stage's budget has been used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineReminderSent {
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub fraction: f64,
    pub text_fa: String,
    pub due_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for DeadlineReminderSent {
    const TYPE: &'static str = "deadline.reminder";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

/// What a clock runs for when it is not a message's own handling: a violation case's track
/// stage, a meeting instruction's. Deadline-timer runs such clocks as it runs a message's —
/// budget on the business calendar, reminders, the warning ladder, pause and resume — from the
/// `stage.*` events the subject's owner publishes; it knows nothing else of the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageSubject {
    /// `violation_case`, `instruction` …: the owner's name for what the clock is about.
    pub kind: String,
    /// The subject's id (a case's id).
    pub id: String,
}

/// A subject's stage starts: its clock runs from `opened_at` on `budget`, warning
/// `agency_id` (an agency's id, or another recipient such as `unit:<id>`) when it runs out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageOpened {
    pub subject: StageSubject,
    /// The stage's name, unique within the subject, e.g. `remedial.referred`.
    pub stage: String,
    /// What the stage asks, as warnings name it: «مهلت ارجاع تخلف به مرجع رسیدگی».
    pub stage_fa: String,
    /// The message the subject is about.
    pub message_id: String,
    pub tracking_code: String,
    /// Who answers for the stage: warned at level 1, reminded before.
    pub agency_id: String,
    /// Who is warned beside at level 2 (the agency's parent); level 3 goes to Special Follow-up.
    pub escalation_agency_id: Option<String>,
    /// The agencies above `agency_id`, parent first: they see its warnings as they see those
    /// of their sub-agencies' messages.
    #[serde(default)]
    pub agency_ancestors: Vec<String>,
    /// `10d`, `8h` or an ISO 8601 duration such as `PT30S`.
    pub budget: String,
    /// Fractions of the budget at which reminders go; null for the defaults (50 %, 80 %).
    pub reminders: Option<Vec<f64>>,
    pub level_2_after: Option<String>,
    pub level_3_after: Option<String>,
    pub province: String,
    pub area_path: Vec<String>,
    pub opened_at: DateTime<Utc>,
}

impl Event for StageOpened {
    const TYPE: &'static str = "stage.opened";
    fn aggregate_id(&self) -> String {
        self.subject.id.clone()
    }
}

/// A subject's stage was reached (or its track ended): its clock stops, what remains of its
/// ladder with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageClosed {
    pub subject: StageSubject,
    pub stage: String,
    pub closed_at: DateTime<Utc>,
}

impl Event for StageClosed {
    const TYPE: &'static str = "stage.closed";
    fn aggregate_id(&self) -> String {
        self.subject.id.clone()
    }
}

/// A subject's stage waits on someone outside (an authority): its clock stops where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePaused {
    pub subject: StageSubject,
    pub stage: String,
    pub reason: String,
    pub paused_at: DateTime<Utc>,
}

impl Event for StagePaused {
    const TYPE: &'static str = "stage.paused";
    fn aggregate_id(&self) -> String {
        self.subject.id.clone()
    }
}

/// A paused stage of a subject runs again with what its budget had left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResumed {
    pub subject: StageSubject,
    pub stage: String,
    pub resumed_at: DateTime<Utc>,
}

impl Event for StageResumed {
    const TYPE: &'static str = "stage.resumed";
    fn aggregate_id(&self) -> String {
        self.subject.id.clone()
    }
}

crate::closed_set! {
    /// What a clock (or a warning) is about: the agency acknowledging the message, answering
    /// it, or — for a warning only — the quality of its answer.
    pub enum Stage {
        Acknowledge = "acknowledge",
        Respond = "respond",
        /// A supervisor found the answer below standard (warnings only; no clock runs).
        Quality = "quality",
    }
}

crate::closed_set! {
    /// Where a clock stands, as deadline-timer keeps it and intake shows it.
    pub enum DeadlineState {
        /// Running.
        Pending = "pending",
        /// Stopped while waiting on the citizen; resumes where it stood.
        Paused = "paused",
        /// Answered (or acknowledged) in time.
        Met = "met",
        /// Ran out: a warning was registered, and no answer has come yet.
        Breached = "breached",
        /// Ran out, then answered.
        AnsweredLate = "answered_late",
        /// Its agency declined the message before the clock ran out.
        Declined = "declined",
    }
}

impl DeadlineState {
    /// Pending and paused give way to each other; the others are final.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Paused)
    }

    /// What a read model shows once `reported` arrives on this state: pending and paused give
    /// way to each other but never undo a final state (met, breached, answered late,
    /// declined); a final state replaces what was shown — so a late answer moves `breached` to
    /// `answered_late`.
    pub fn shown_after(self, reported: DeadlineState) -> DeadlineState {
        if reported.is_open() && !self.is_open() { self } else { reported }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningIssued {
    pub warning_id: String,
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub level: i32,
    pub reason: String,
    pub text_fa: String,
    pub due_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// Who must act beside the agency: its parent at level 2, Special Follow-up at level 3.
    #[serde(default)]
    pub escalated_to: Option<String>,
    /// Set when the clock runs for another subject's stage (a violation case's track …), not
    /// for the message's own handling; absent for a message's clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
}

impl Event for WarningIssued {
    const TYPE: &'static str = "warning.issued";
    fn aggregate_id(&self) -> String {
        self.message_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationCaseOpened {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub category: String,
    pub province: String,
    pub opened_at: DateTime<Utc>,
}

impl Event for ViolationCaseOpened {
    const TYPE: &'static str = "violation.case_opened";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// An inspector classified a violation case by violation type; its remedial track opens
/// (`pending`) with the type's budgets. Reclassified before the agency's first step, the case
/// takes the new type's budgets for the stages still to come; the running referral clock keeps
/// its start and budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationClassified {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub violation_type: String,
    /// The type it had before, when reclassified.
    pub previous_type: Option<String>,
    pub remedial_state: String,
    pub classified_at: DateTime<Utc>,
}

impl Event for ViolationClassified {
    const TYPE: &'static str = "violation.classified";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// A step of a case's remedial track: the agency referred the violation to an authority,
/// reported its decision or its execution, or an inspector withdrew the track (`withdrawn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationRemedialStep {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub step_id: String,
    /// `referred`, `decided`, `executed` or `withdrawn`.
    pub step: String,
    /// The track's state after the step.
    pub state: String,
    /// The reference letter's number, if given.
    pub reference: Option<String>,
    /// The authority referred to (`referred` only).
    pub authority: Option<String>,
    pub acted_at: DateTime<Utc>,
}

impl Event for ViolationRemedialStep {
    const TYPE: &'static str = "violation.remedial_step";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// 1888's verdict on a case's remedial track: the message became effective, or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationVerdict {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub effective: bool,
    /// `effective` or `not_effective`.
    pub state: String,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
}

impl Event for ViolationVerdict {
    const TYPE: &'static str = "violation.verdict";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// An inspector referred a case's culpability track to a counterpart unit. Names no agency:
/// agencies never hear of the culpability track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationCulpabilityOpened {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub unit_id: String,
    pub opened_at: DateTime<Utc>,
}

impl Event for ViolationCulpabilityOpened {
    const TYPE: &'static str = "violation.culpability_opened";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// The counterpart unit referred a case's culpability to the compliance committee, its findings
/// recorded. Names no agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationCulpabilityReferred {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub unit_id: String,
    pub referred_at: DateTime<Utc>,
}

impl Event for ViolationCulpabilityReferred {
    const TYPE: &'static str = "violation.culpability_referred";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// The compliance committee decided a case at one of its sessions: `violations_board`,
/// `prosecutor`, `agency_disciplinary`, `procedure_correction` or `no_fault` (which closes the
/// culpability track). Names no agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitteeDecisionRecorded {
    pub case_id: String,
    pub session_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub unit_id: String,
    pub decision: String,
    pub decided_at: DateTime<Utc>,
}

impl Event for CommitteeDecisionRecorded {
    const TYPE: &'static str = "committee.decision_recorded";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// A case's culpability track ended: `closed` once its outcome was watched through, or
/// `closed_no_fault` by the committee's decision. Names no agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationCulpabilityClosed {
    pub case_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub unit_id: String,
    pub state: String,
    pub closed_at: DateTime<Utc>,
}

impl Event for ViolationCulpabilityClosed {
    const TYPE: &'static str = "violation.culpability_closed";
    fn aggregate_id(&self) -> String {
        self.case_id.clone()
    }
}

/// One area as other services know it: without its geometry, which only intake needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaSummary {
    pub code: String,
    /// None for a province, the top of the tree.
    pub parent: Option<String>,
    /// `province`, `county`, `city`, `district`, `subdistrict` or `neighbourhood`.
    pub level: String,
    pub name_fa: String,
    pub name_en: String,
}

/// Areas added or changed by an import, parents before their children, so routing and the
/// calendars can accept rules and closures that name them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreasImported {
    pub import_id: String,
    pub areas: Vec<AreaSummary>,
    pub imported_at: DateTime<Utc>,
}

impl Event for AreasImported {
    const TYPE: &'static str = "areas.imported";
    fn aggregate_id(&self) -> String {
        self.import_id.clone()
    }
}

/// The outcome of one webhook delivery, published once it is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationOutcome {
    pub delivery_id: String,
    pub subscription_id: String,
    pub agency_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDelivered(pub NotificationOutcome);

impl Event for NotificationDelivered {
    const TYPE: &'static str = "notification.delivered";
    fn aggregate_id(&self) -> String {
        self.0.delivery_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationFailed(pub NotificationOutcome);

impl Event for NotificationFailed {
    const TYPE: &'static str = "notification.failed";
    fn aggregate_id(&self) -> String {
        self.0.delivery_id.clone()
    }
}

#[cfg(test)]
mod shown_tests {
    use super::DeadlineState::*;

    #[test]
    fn a_late_answer_moves_a_breached_clock_to_answered_late() {
        assert_eq!(Breached.shown_after(AnsweredLate), AnsweredLate);
        assert_eq!(Pending.shown_after(AnsweredLate), AnsweredLate, "the warning not yet seen");
        assert_eq!(Pending.shown_after(Met), Met);
    }

    #[test]
    fn final_states_are_never_undone_by_a_running_clock() {
        for shown in [Met, Breached, AnsweredLate, Declined] {
            for reported in [Pending, Paused] {
                assert_eq!(shown.shown_after(reported), shown, "{shown} then {reported}");
            }
        }
        assert_eq!(Paused.shown_after(Pending), Pending);
        assert_eq!(Pending.shown_after(Paused), Paused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn met(at: DateTime<Utc>) -> DeadlineMet {
        DeadlineMet {
            subject: None,
            deadline_id: "d".into(),
            message_id: "m".into(),
            stage: "respond".into(),
            due_at: at,
            met_at: at,
            answered_late: false,
        }
    }

    #[test]
    fn envelope_round_trips_and_decodes_its_own_type_only() {
        let at = Utc::now();
        let event = met(at);
        let envelope = Envelope::new("deadline-timer", &event, at).unwrap();
        let back = Envelope::from_bytes(&envelope.to_bytes().unwrap()).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.decode::<DeadlineMet>().unwrap(), event);
        assert!(back.decode::<MessageAssigned>().is_err());
        assert_eq!(back.aggregate_id, "m");
    }

    #[test]
    fn a_clock_event_about_a_subject_travels_on_its_kind() {
        let at = Utc::now();
        let mut met = met(at);
        assert_eq!(Envelope::new("x", &met, at).unwrap().routing_key(), "deadline.met");
        met.subject = Some(StageSubject { kind: "violation_case".into(), id: "c".into() });
        assert_eq!(Envelope::new("x", &met, at).unwrap().routing_key(), "deadline.met.violation_case");
        // A kind that is not one topic word (a dot, a wildcard) is not routed on.
        met.subject = Some(StageSubject { kind: "a.#".into(), id: "c".into() });
        assert_eq!(Envelope::new("x", &met, at).unwrap().routing_key(), "deadline.met");
    }

    #[test]
    fn consumers_ignore_unknown_fields() {
        let mut envelope = Envelope::new("x", &met(Utc::now()), Utc::now()).unwrap();
        envelope.payload["added_later"] = serde_json::json!(42);
        assert!(envelope.decode::<DeadlineMet>().is_ok());
    }

    #[test]
    fn kinds_parse_their_own_names() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(MessageKind::parse("rumour"), None);
    }
}
