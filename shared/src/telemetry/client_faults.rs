//! actix-http logs a request it cannot parse, or a body the client broke off, at ERROR from its
//! connection dispatcher. That is the client's fault, not the service's: an operator paged on
//! ERROR must not be woken by a scanner. Those lines are kept out of the log and written again
//! under `nazer::http` at DEBUG; anything else the dispatcher reports stays an ERROR.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::Directive;
use tracing_subscriber::layer::{Context, Layer};

const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// The log writers' directive that leaves the dispatcher's lines to [`ClientFaults`].
pub fn dispatcher_off() -> Option<Directive> {
    format!("{DISPATCHER}=off").parse().ok()
}

fn from_dispatcher(meta: &Metadata<'_>) -> bool {
    meta.target() == DISPATCHER && *meta.level() <= Level::WARN
}

/// The dispatcher's texts that describe what a client sent (or failed to send).
pub fn is_client_fault(message: &str) -> bool {
    let message = message.strip_prefix("stream error: ").unwrap_or(message);
    let message = message.to_ascii_lowercase();
    [
        "request parse error",
        "request did not complete within",
        "payload reached",
        "payload length is unknown",
        "can not decode content-encoding",
        "connection shutdown timeout",
        "i/o error: connection reset",
        "i/o error: broken pipe",
    ]
    .iter()
    .any(|fault| message.starts_with(fault))
}

/// Writes the dispatcher's events again at the level they deserve. It must be the outermost
/// layer: the event it writes passes through every layer, which resets the per-layer filters'
/// state of the event being handled.
pub struct ClientFaults;

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !from_dispatcher(event.metadata()) {
            return;
        }
        let mut message = MessageOf(String::new());
        event.record(&mut message);
        let detail = message.0;
        if is_client_fault(&detail) {
            tracing::debug!(target: "nazer::http", %detail, "a client's request could not be read; it was answered 400 or dropped");
        } else {
            tracing::error!(target: "nazer::http", %detail, "an HTTP connection failed");
        }
    }
}

struct MessageOf(String);

impl Visit for MessageOf {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatcher_directive_parses() {
        assert_eq!(dispatcher_off().map(|d| d.to_string()).as_deref(), Some("actix_http::h1::dispatcher=off"));
    }

    #[test]
    fn what_a_client_sent_is_its_fault_and_the_rest_is_not() {
        for fault in [
            "stream error: request parse error: invalid Header provided",
            "stream error: payload reached EOF before completing: None",
            "stream error: request did not complete within the specified timeout",
            "stream error: I/O error: Connection reset by peer (os error 104)",
        ] {
            assert!(is_client_fault(fault), "{fault}");
        }
        for failure in [
            "Internal server error: unexpected payload chunk",
            "write zero; closing",
            "stream error: I/O error: Too many open files (os error 24)",
        ] {
            assert!(!is_client_fault(failure), "{failure}");
        }
    }
}
