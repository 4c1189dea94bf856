//! Logging: JSON lines (or plain text for a terminal) through `tracing`.
//! Spans carry ids (message, event, deadline), never personal data.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests, a second service) are no-ops.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_env("NAZER_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
