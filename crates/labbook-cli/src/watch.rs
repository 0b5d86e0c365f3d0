//! `labbook watch`: a live terminal view of a run while it trains, reading its transaction
//! log as it grows.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use labbook_wire::LogFollower;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use serde_json::Value as J;

use crate::run_log::{RunLog, log_file, scalar_of};

/// Runs the live view until `q`, Esc or Ctrl-C.
pub(crate) fn watch(dir: &Path, metrics: &[String]) -> Result<()> {
    let mut follower = LogFollower::new(log_file(dir)?);
    let mut run = RunLog {
        dir: dir.to_owned(),
        ..RunLog::default()
    };
    live_view(
        metrics,
        |run: &mut RunLog| {
            run.apply_all(follower.poll()?);
            run.modified_unix = std::fs::metadata(log_file(dir)?)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            Ok(())
        },
        &mut run,
    )
}

/// The live view of `entity/project/id` on a server: new rows as they arrive (the run's
/// state, summary and system metrics read again every few seconds).
pub(crate) fn watch_server(url: &str, spec: Option<&str>, metrics: &[String]) -> Result<()> {
    let spec = spec.context("with --server, name the run to watch: ENTITY/PROJECT/ID")?;
    let api = crate::remote::open(url)?;
    let info = crate::remote::run(&api, spec)?;
    let mut run = crate::remote::run_log(&api, &info, crate::remote::Rows::None)?;
    let mut follow = api.follow(&info)?;
    let mut checked = std::time::Instant::now();
    live_view(
        metrics,
        |run: &mut RunLog| {
            run.rows
                .extend(follow.poll()?.into_iter().map(crate::remote::flat));
            if checked.elapsed() > Duration::from_secs(5) {
                checked = std::time::Instant::now();
                let again =
                    crate::remote::run_log(&api, &api.run(spec)?, crate::remote::Rows::None)?;
                let rows = std::mem::take(&mut run.rows);
                *run = RunLog { rows, ..again };
            }
            Ok(())
        },
        &mut run,
    )
}

/// Draws `run` until `q`, Esc or Ctrl-C, bringing it up to date with `update` twice a
/// second.
fn live_view(
    metrics: &[String],
    mut update: impl FnMut(&mut RunLog) -> Result<()>,
    run: &mut RunLog,
) -> Result<()> {
    let mut terminal =
        ratatui::try_init().context("cannot start the terminal view (is this a terminal?)")?;
    let result = (|| -> Result<()> {
        loop {
            update(run)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            terminal.draw(|f| render(f, run, metrics, now))?;
            if event::poll(Duration::from_millis(500))?
                && let Event::Key(k) = event::read()?
                && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                    || (k.code == KeyCode::Char('c')
                        && k.modifiers.contains(KeyModifiers::CONTROL)))
            {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result
}

/// Draws one frame: header, a chart per metric, the latest values and system metrics.
pub(crate) fn render(f: &mut Frame, run: &RunLog, chosen: &[String], now_unix: f64) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let step = run
        .rows
        .last()
        .and_then(|r| r.get("_step"))
        .and_then(J::as_u64)
        .unwrap_or(0);
    let name = if run.name.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", run.name)
    };
    f.render_widget(
        Paragraph::new(format!(
            "labbook watch  {}{name}  {}  step {step}  {:.0}s",
            run.id,
            run.state(now_unix),
            run.duration()
        )),
        header,
    );
    f.render_widget(
        Paragraph::new("q: quit").style(Style::default().fg(Color::DarkGray)),
        footer,
    );
    let [charts, side] =
        Layout::horizontal([Constraint::Percentage(70), Constraint::Percentage(30)]).areas(body);

    let keys = run.numeric_keys(chosen, 4);
    if !keys.is_empty() {
        let areas = Layout::vertical(keys.iter().map(|_| Constraint::Ratio(1, keys.len() as u32)))
            .split(charts);
        for (key, area) in keys.iter().zip(areas.iter()) {
            let points: Vec<(f64, f64)> = run
                .rows
                .iter()
                .filter_map(|r| Some((r.get("_step")?.as_f64()?, r.get(key).and_then(scalar_of)?)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            let (x0, x1) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.0), b.max(p.0))
                });
            let (y0, y1) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.1), b.max(p.1))
                });
            let (x0, x1) = if points.is_empty() {
                (0.0, 1.0)
            } else {
                (x0, x1.max(x0 + 1.0))
            };
            let (y0, y1) = if points.is_empty() {
                (0.0, 1.0)
            } else if y1 > y0 {
                (y0, y1)
            } else {
                (y0 - 0.5, y1 + 0.5)
            };
            let last = points
                .last()
                .map_or(String::from("-"), |p| format!("{:.4}", p.1));
            let data = [Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(Color::Cyan))
                .data(&points)];
            let chart = Chart::new(data.to_vec())
                .block(Block::bordered().title(format!(" {key}  last {last} ")))
                .x_axis(Axis::default().bounds([x0, x1]))
                .y_axis(
                    Axis::default()
                        .bounds([y0, y1])
                        .labels([format!("{y0:.3}"), format!("{y1:.3}")]),
                );
            f.render_widget(chart, *area);
        }
    }

    let mut lines: Vec<Line> = Vec::new();
    let mut latest: std::collections::BTreeMap<&String, &J> = std::collections::BTreeMap::new();
    for r in &run.rows {
        for (k, v) in r {
            if !k.starts_with('_') {
                latest.insert(k, v);
            }
        }
    }
    for (k, v) in latest {
        let text = scalar_of(v).map_or_else(
            || {
                v.get("_type")
                    .and_then(J::as_str)
                    .map_or(v.to_string(), |t| format!("<{t}>"))
            },
            |x| format!("{x:.4}"),
        );
        lines.push(Line::from(format!("{k}: {text}")));
    }
    if let Some(s) = run.stats.last() {
        lines.push(Line::from(""));
        lines.push(Line::from("system"));
        for (k, v) in s.iter().filter(|(k, _)| k.starts_with("system.")) {
            if let Some(x) = v.as_f64() {
                lines.push(Line::from(format!("{}: {x:.1}", &k["system.".len()..])));
            }
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" latest ")),
        side,
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn row(step: u64, loss: f64) -> BTreeMap<String, J> {
        BTreeMap::from([
            ("_step".into(), J::from(step)),
            ("loss".into(), J::from(loss)),
            ("_runtime".into(), J::from(step as f64)),
        ])
    }

    #[test]
    fn a_frame_shows_the_run_its_chart_and_latest_values() {
        let mut run = RunLog {
            id: "abc12345".into(),
            name: "demo".into(),
            exit_code: Some(0),
            ..RunLog::default()
        };
        run.rows = (0..50).map(|s| row(s, 1.0 / (s as f64 + 1.0))).collect();
        run.stats = vec![BTreeMap::from([("system.cpu".into(), J::from(42.0))])];
        let mut t = Terminal::new(TestBackend::new(80, 16)).unwrap();
        t.draw(|f| render(f, &run, &[], 0.0)).unwrap();
        let text: String = t
            .backend()
            .buffer()
            .content()
            .chunks(80)
            .map(|line| line.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first.trim_end(),
            "labbook watch  abc12345 \"demo\"  finished  step 49  49s"
        );
        assert!(text.contains(" loss  last 0.0200 "), "{text}");
        assert!(text.contains("loss: 0.0200"), "{text}");
        assert!(text.contains("cpu: 42.0"), "{text}");
        assert!(text.lines().last().unwrap().starts_with("q: quit"));
        // The chart drew something: braille dots in the chart area.
        assert!(
            text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
            "{text}"
        );
    }
}
