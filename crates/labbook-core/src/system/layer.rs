//! A `tracing` layer that writes events into a run's console log.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{Sink, SysMsg, now_unix};

/// The layer made by [`Run::tracing_layer`](crate::Run::tracing_layer): each event becomes one
/// stderr line of the run's console log (`LEVEL target: message key=value`). Events whose
/// target starts with `labbook` are skipped, so labbook never logs into its own queue.
/// Once the run is finished, events are ignored.
#[derive(Clone)]
pub struct RunLayer {
    sink: Option<Sink>,
}

impl std::fmt::Debug for RunLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLayer")
            .field("active", &self.sink.as_ref().is_some_and(Sink::is_open))
            .finish()
    }
}

impl RunLayer {
    pub(crate) fn new(sink: Option<Sink>) -> RunLayer {
        RunLayer { sink }
    }
}

struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// One console line for an event.
pub(crate) fn format_event(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut f = Fields {
        message: String::new(),
        rest: String::new(),
    };
    event.record(&mut f);
    format!(
        "{} {}: {}{}\n",
        meta.level(),
        meta.target(),
        f.message,
        f.rest
    )
}

impl<S: Subscriber> Layer<S> for RunLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sink) = &self.sink else {
            return;
        };
        if event.metadata().target().starts_with("labbook") || !sink.is_open() {
            return;
        }
        let line = format_event(event);
        let bytes = 64 + line.len();
        sink.send(
            SysMsg::Output {
                stderr: true,
                line,
                unix: now_unix(),
            },
            bytes,
        );
    }
}
