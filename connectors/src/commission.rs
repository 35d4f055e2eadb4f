//! `connector run --config F --print`: commissioning. The drivers run as configured but
//! nothing goes to the platform (no uplink, no queue, no setpoint commands): each decoded
//! sample is printed as one JSON line, `{"tag","time","value","quality"}`, so an engineer can
//! check a new device, its addresses, types and word orders before pointing it at the platform
//! (what Telegraf's `--test` does). The `[uplink]` section is not needed.

use std::io::Write;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    config::ConnectorConfig,
    runtime::{Connector, SAMPLE_CHANNEL},
    sample::{Quality, Sample, Value},
    Error, Result,
};

/// One printed line.
#[derive(Serialize)]
struct Line<'a> {
    /// The platform tag the sample would feed.
    tag: &'a str,
    /// RFC 3339 with milliseconds, UTC.
    time: String,
    /// A number, `true`/`false` for bits, a string for text; `null` when there is none.
    value: Option<PrintedValue<'a>>,
    quality: Quality,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PrintedValue<'a> {
    Bool(bool),
    Number(f64),
    Text(&'a str),
}

/// The JSON line of a sample (without the newline). A number that is not finite has no JSON
/// form: it prints as `null`, as the uplink would send it without value.
pub fn json_line(s: &Sample) -> String {
    let value = s.value.as_ref().and_then(|v| match v {
        Value::Bool(b) => Some(PrintedValue::Bool(*b)),
        Value::Number(n) if n.is_finite() => Some(PrintedValue::Number(*n)),
        Value::Number(_) => None,
        Value::Text(t) => Some(PrintedValue::Text(t)),
    });
    let line = Line {
        tag: &s.tag,
        time: s.time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        value,
        quality: s.quality,
    };
    serde_json::to_string(&line).expect("a sample serialises")
}

/// Runs the drivers of `config` and writes one JSON line per sample to `out` until Ctrl-C, or
/// until `count` lines are written.
pub async fn print(config: &ConnectorConfig, count: Option<u64>, out: impl Write) -> Result<()> {
    let mut out = std::io::LineWriter::new(out);
    let (tx, mut rx) = mpsc::channel(SAMPLE_CHANNEL);
    let (_commands, shutdown, mut drivers) = Connector::start_drivers(config, tx);
    let mut written = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome = loop {
        if count.is_some_and(|n| written >= n) {
            break Ok(());
        }
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    if let Err(e) = writeln!(out, "{}", json_line(&s)) {
                        // The reader went away (`| head`): stop quietly.
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            break Ok(());
                        }
                        break Err(Error::Io(e));
                    }
                    written += 1;
                }
                None => break Ok(()),
            },
            _ = &mut ctrl_c => break Ok(()),
        }
    };
    let _ = shutdown.send(true);
    drop(rx);
    while let Some(r) = drivers.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::debug!(error = %e, "A driver ended with an error while stopping.");
        }
    }
    let _ = out.flush();
    outcome
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn lines_carry_tag_time_value_and_quality() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let line = |v| json_line(&Sample::good("plant.m.x", t, v));
        assert_eq!(
            line(Value::Number(229.01)),
            r#"{"tag":"plant.m.x","time":"2026-03-01T08:00:00.000Z","value":229.01,"quality":"good"}"#
        );
        assert!(line(Value::Text("AUTO".into())).contains(r#""value":"AUTO""#));
        assert!(line(Value::Bool(true)).contains(r#""value":true"#));
        let bad = json_line(&Sample::bad("plant.m.x", t));
        assert!(bad.contains(r#""value":null,"quality":"bad""#), "{bad}");
    }
}
