//! One JSON object per log line: time, level, target, message, the event's fields, the fields
//! of every span it happened in (message, event and deadline ids), and the OpenTelemetry
//! `trace_id` and `span_id`, so a log line leads to its trace and back.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let (mut span_name, mut ids) = (None, None);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // Outer spans first, so an inner span's field of the same name wins.
                if let Some(fields) = extensions.get::<FormattedFields<JsonFields>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
                if let Some(otel) = extensions.get::<OtelData>() {
                    ids = Some((otel.trace_id(), otel.span_id()));
                }
                span_name = Some(span.name());
            }
        }
        event.record(&mut FieldsInto(&mut line));
        // The fixed keys last: no field of a span or an event can overwrite them.
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(name) = span_name {
            line.insert("span".into(), name.into());
        }
        if let Some((trace_id, span_id)) = ids {
            if let Some(trace_id) = trace_id {
                line.insert("trace_id".into(), trace_id.to_string().into());
            }
            if let Some(span_id) = span_id {
                line.insert("span_id".into(), span_id.to_string().into());
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Writes an event's fields into the line; `message` is the log message.
struct FieldsInto<'a>(&'a mut Map<String, Value>);

impl Visit for FieldsInto<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_carries_span_ids_and_the_trace_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonLines)
                    .with_writer(move || writer.clone()),
            );
        let trace_id = tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("consume", event_id = "e-1", attempt = 1);
            let _outer = outer.enter();
            let inner = tracing::info_span!("apply", message_id = "m-7", attempt = 2);
            let _inner = inner.enter();
            tracing::info!(count = 3, "applied");
            super::super::context::current_trace_id()
        });
        let text = String::from_utf8(lines.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let line: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
        assert_eq!(line["message"], "applied", "{text}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["count"], 3);
        assert_eq!(line["event_id"], "e-1");
        assert_eq!(line["message_id"], "m-7");
        assert_eq!(line["attempt"], 2, "the inner span's field wins");
        assert_eq!(line["span"], "apply");
        assert_eq!(line["trace_id"].as_str(), trace_id.as_deref(), "{text}");
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    }
}
