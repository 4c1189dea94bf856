//! Logs and traces. Logs are JSON lines (or plain text for a terminal) through `tracing`;
//! every span is also an OpenTelemetry span, so each log line carries its trace and span ids
//! and, with `telemetry.otlp_endpoint` set, spans are exported over OTLP/HTTP.
//! Spans carry ids (message, event, deadline), never personal data.
//!
//! One message is one trace across the services: the W3C trace context is kept beside each
//! outbox row and each webhook delivery, rides in the AMQP headers (`traceparent`), and is
//! picked up again by the consumer (see [`context`]).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, Settings};

mod client_faults;
pub mod context;
mod json_lines;

pub use json_lines::JsonLines;

/// The installed tracer provider; [`Telemetry::shutdown`] exports what is still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered, waiting at most `within`.
    pub async fn shutdown(self, within: Duration) {
        let Some(provider) = self.provider else { return };
        // The exporter's HTTP client blocks; keep it off the async workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(within)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "spans could not all be exported before the exit"),
            Err(error) => tracing::warn!(%error, "span export did not finish"),
        }
    }
}

/// The tracer provider of this process: ids and sampling always, export only with an endpoint.
pub fn tracer_provider(settings: &Settings, service_name: &str) -> Result<SdkTracerProvider, String> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_string())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.telemetry.sampling_ratio)));
    let mut builder = SdkTracerProvider::builder().with_resource(resource).with_sampler(sampler);
    if let Some(base) = &settings.telemetry.otlp_endpoint {
        use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')))
            .with_timeout(Duration::from_millis(settings.telemetry.export_timeout_ms))
            .with_headers(Default::default())
            .build()
            .map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Installs the global subscriber once (later calls, as in tests, change nothing) and returns
/// the handle that flushes the spans at exit.
pub fn init(settings: &Settings, service_name: &str) -> Telemetry {
    let filter = EnvFilter::try_from_env("NAZER_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP dispatcher's own lines go through `ClientFaults`, at the level they deserve.
    let filter = match client_faults::dispatcher_off() {
        Some(directive) => filter.add_directive(directive),
        None => filter,
    };
    let provider = match tracer_provider(settings, service_name) {
        Ok(provider) => provider,
        Err(error) => {
            // Validated settings make this rare; the service still runs, untraced.
            eprintln!("traces are not exported: {error}");
            SdkTracerProvider::builder().build()
        }
    };
    // The log filter decides what is written, never what is traced: a service logging at
    // `warn` must still carry the trace on to the next one.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("nazer"))
        .with_filter(Targets::new().with_target("nazer", LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(otel);
    let installed = match settings.log.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonLines)
                    .with_writer(std::io::stdout)
                    .with_filter(filter),
            )
            .with(client_faults::ClientFaults)
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().compact().with_filter(filter))
            .with(client_faults::ClientFaults)
            .try_init(),
    };
    let exporting = settings.telemetry.otlp_endpoint.is_some();
    if installed.is_ok() && exporting {
        tracing::info!(service = service_name, "traces are exported over OTLP");
    }
    // A second call installed nothing: its provider would only collect spans nobody sees.
    Telemetry { provider: installed.is_ok().then_some(provider) }
}
