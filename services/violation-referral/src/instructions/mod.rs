//! Direct-contact meetings' instructions (دستور), issue 17: pure rules first. An instruction is
//! issued to one agency at a meeting and followed until a result: the agency acknowledges,
//! reports progress and reports it done; the special follow-up group verifies. Unfulfilled is a
//! fact reached once — by the group's verdict, or when the result stage has run through the last
//! level of its ladder with no report accepted.

pub mod rules;
