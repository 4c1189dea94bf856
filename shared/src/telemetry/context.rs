//! The W3C trace context (`traceparent`, `tracestate`) between processes: taken from the
//! current span when an event is written or a webhook queued, given as parent to the span
//! that picks the work up again, in another task, process or service.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and AMQP header) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The `traceparent` of the current span, when it belongs to a valid trace.
pub fn current_traceparent() -> Option<String> {
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The W3C headers of the current span, to send with an outgoing request.
pub fn current_headers() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    let context = Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
    }
    carrier
}

/// Makes `span` a child of the remote span the headers name; a missing or malformed
/// context leaves `span` where it was (a new trace, or its local parent).
pub fn adopt_parent(span: &Span, headers: &HashMap<String, String>) {
    let context = TraceContextPropagator::new().extract(headers);
    if context.span().span_context().is_valid() {
        // Fails only once the span has started, which callers do not do.
        let _ = span.set_parent(context);
    }
}

/// Starts `span` a trace of its own, linked to the remote span the headers name (if any).
pub fn link_to(span: &Span, headers: &HashMap<String, String>) {
    let context = TraceContextPropagator::new().extract(headers);
    let remote = context.span().span_context().clone();
    if remote.is_valid() {
        span.add_link(remote);
    }
}

/// [`adopt_parent`] from a stored `traceparent` alone.
pub fn adopt_traceparent(span: &Span, traceparent: Option<&str>) {
    if let Some(value) = traceparent {
        adopt_parent(span, &HashMap::from([(TRACEPARENT.to_string(), value.to_string())]));
    }
}

/// The trace id of the current span as 32 hex digits (for answers and tests), if any.
pub fn current_trace_id() -> Option<String> {
    let context = Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    fn traced<T>(work: impl FnOnce() -> T) -> T {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, work)
    }

    #[test]
    fn a_child_continues_the_trace_of_a_stored_traceparent() {
        traced(|| {
            let root = tracing::info_span!("root");
            let parent = root.in_scope(current_traceparent).expect("a root span has a traceparent");
            let trace_id = root.in_scope(current_trace_id).expect("trace id");
            assert!(parent.starts_with("00-") && parent.contains(&trace_id), "{parent}");

            // Elsewhere (another task, process): a fresh span adopts the stored context.
            let child = tracing::info_span!(parent: None, "consume");
            adopt_traceparent(&child, Some(&parent));
            assert_eq!(child.in_scope(current_trace_id), Some(trace_id.clone()));
            let child_parent = child.in_scope(current_traceparent).expect("child traceparent");
            assert_ne!(child_parent, parent, "the child is a span of its own");
        });
    }

    #[test]
    fn a_linked_span_keeps_its_own_trace() {
        traced(|| {
            let remote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!(parent: None, "request");
            link_to(&span, &HashMap::from([(TRACEPARENT.to_string(), remote.to_string())]));
            let trace_id = span.in_scope(current_trace_id).expect("a trace");
            assert_ne!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        });
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        traced(|| {
            let span = tracing::info_span!(parent: None, "consume");
            adopt_traceparent(&span, Some("00-not-a-context"));
            let trace_id = span.in_scope(current_trace_id).expect("a new trace");
            assert_eq!(trace_id.len(), 32);
        });
    }

    #[test]
    fn without_the_layer_nothing_is_propagated() {
        let span = tracing::info_span!("plain");
        assert_eq!(span.in_scope(current_traceparent), None);
        assert!(span.in_scope(current_headers).is_empty());
    }
}
