//! Forecast-vs-actual plots as PNG files, for `statecast eval --plot`, and detection plots
//! (values, calibrated score, threshold, alarm and label segments) for `statecast detect --plot`.
//!
//! Drawing goes through `plotters` into an in-memory RGB bitmap which is encoded with `png` and
//! written atomically (temporary file in the target's directory, then rename). Text is rendered
//! by `ab_glyph` from the DejaVu Sans font embedded in the binary, so no system fonts or
//! fontconfig are needed.
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::window::WindowDataset;

use statecast_service::data::PreparedData;
use statecast_service::ltsf::forecast_window;

/// Width of one panel in pixels.
pub(crate) const PANEL_WIDTH: u32 = 640;
/// Height of one panel in pixels.
pub(crate) const PANEL_HEIGHT: u32 = 340;
/// Height of the figure's title strip in pixels.
pub(crate) const TITLE_HEIGHT: u32 = 48;
/// Panels per row.
pub(crate) const COLUMNS: usize = 2;
/// Colour of the look-back history lines.
pub(crate) const HISTORY_COLOUR: RGBColor = RGBColor(150, 150, 150);
/// Colour of the actual (ground-truth) lines.
pub(crate) const ACTUAL_COLOUR: RGBColor = RGBColor(0, 0, 0);
/// Colour of the forecast lines.
pub(crate) const FORECAST_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// Font family name the embedded font is registered under (plotters' `FontFamily::SansSerif`).
const FONT_FAMILY: &str = "sans-serif";

/// One panel: a look-back window followed by the actual and forecast continuations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForecastPanel {
    /// Panel title.
    pub(crate) title: String,
    /// Look-back values `[L]`, plotted at steps `-L..0`.
    pub(crate) history: Vec<f32>,
    /// Actual values `[H]`, plotted at steps `0..H`.
    pub(crate) actual: Vec<f32>,
    /// Forecast values `[H]`, plotted at steps `0..H`.
    pub(crate) forecast: Vec<f32>,
    /// A forecast interval `(lower [H], upper [H], legend label)` shaded behind the forecast.
    pub(crate) band: Option<(Vec<f32>, Vec<f32>, String)>,
}

/// Why a plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PlotError {
    /// No panels, or a panel with mismatched or empty series.
    #[error("invalid plot input: {0}")]
    Invalid(String),
    /// The embedded font could not be registered with plotters.
    #[error("registering the embedded font: {0}")]
    Font(String),
    /// Drawing into the bitmap failed.
    #[error("drawing: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("encoding PNG: {0}")]
    Encode(#[from] png::EncodingError),
    /// Writing the file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// Register DejaVu Sans (regular and bold) with plotters once per process.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "DejaVu Sans regular is not a valid font".to_string())?;
            plotters::style::register_font(FONT_FAMILY, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "DejaVu Sans bold is not a valid font".to_string())
        })
        .clone()
        .map_err(PlotError::Font)
}

/// Figure size in pixels for `n` panels: `COLUMNS` panels per row under a title strip.
pub(crate) fn figure_size(n: usize) -> (u32, u32) {
    let rows = n.div_ceil(COLUMNS).max(1) as u32;
    let cols = n.clamp(1, COLUMNS) as u32;
    (cols * PANEL_WIDTH, TITLE_HEIGHT + rows * PANEL_HEIGHT)
}

fn validate(panels: &[ForecastPanel]) -> Result<(), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::Invalid("no panels to plot".into()));
    }
    for (i, p) in panels.iter().enumerate() {
        if p.actual.is_empty() || p.actual.len() != p.forecast.len() {
            return Err(PlotError::Invalid(format!(
                "panel {i} ({}): actual has {} values, forecast {} (need equal and non-zero)",
                p.title,
                p.actual.len(),
                p.forecast.len()
            )));
        }
        if let Some((lo, hi, _)) = &p.band
            && (lo.len() != p.forecast.len() || hi.len() != p.forecast.len())
        {
            return Err(PlotError::Invalid(format!(
                "panel {i} ({}): the interval needs one lower and upper value per forecast step",
                p.title
            )));
        }
    }
    Ok(())
}

/// Draw `panels` in a grid of `COLUMNS` columns under `title` and write the PNG to `path`
/// atomically. Each panel shows the history (grey), the actual continuation (black) and the
/// forecast (red) against the step relative to the forecast origin. Non-finite values are
/// skipped.
///
/// # Errors
/// Empty or mismatched panels, font registration, drawing, encoding and I/O errors.
// The closure is not redundant: it lets the bitmap backend's lifetime be chosen per call.
#[allow(clippy::redundant_closure)]
pub(crate) fn plot_forecasts(path: &Path, title: &str, panels: &[ForecastPanel]) -> Result<(), PlotError> {
    validate(panels)?;
    ensure_font()?;
    draw_grid(path, title, panels, |cell, panel| draw_panel(cell, panel))
}

/// The figure of [`plot_forecasts`] and [`plot_lines`]: `panels` in a grid of `COLUMNS`
/// columns under `title`, each drawn by `draw`, written to `path` as a PNG atomically.
fn draw_grid<P>(
    path: &Path,
    title: &str,
    panels: &[P],
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, &P) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    let (width, height) = figure_size(panels.len());
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (header, body) = root.split_vertically(TITLE_HEIGHT);
        header
            .titled(title, (FONT_FAMILY, 26).into_font().style(FontStyle::Bold))
            .map_err(draw_err)?;
        let rows = panels.len().div_ceil(COLUMNS);
        let cols = panels.len().min(COLUMNS);
        let cells = body.split_evenly((rows, cols));
        for (panel, cell) in panels.iter().zip(cells.iter()) {
            draw(cell, panel)?;
        }
        root.present().map_err(draw_err)?;
    }
    write_png_atomic(path, width, height, &rgb)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &ForecastPanel,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let l = p.history.len() as i64;
    let h = p.actual.len() as i64;
    let band_values = p.band.iter().flat_map(|(lo, hi, _)| lo.iter().chain(hi));
    let (lo, hi) = padded_range(
        p.history
            .iter()
            .chain(&p.actual)
            .chain(&p.forecast)
            .chain(band_values)
            .map(|&v| f64::from(v)),
    );
    let (lo, hi) = (lo as f32, hi as f32);

    let area = area.margin(6, 10, 8, 14);
    let mut chart = ChartBuilder::on(&area)
        .caption(&p.title, (FONT_FAMILY, 18).into_font().style(FontStyle::Bold))
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(-l..h, lo..hi)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_desc("step (0 = forecast origin)")
        .y_desc("value")
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 14))
        .y_label_formatter(&|v| format_tick(*v))
        .x_labels(8)
        .y_labels(6)
        .draw()
        .map_err(draw_err)?;

    let points = |values: &[f32], start: i64| -> Vec<(i64, f32)> {
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| (start + i as i64, v))
            .collect()
    };
    if let Some((lower, upper, label)) = &p.band {
        let outline: Vec<(i64, f32)> = points(upper, 0)
            .into_iter()
            .chain(points(lower, 0).into_iter().rev())
            .collect();
        if !outline.is_empty() {
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    BAND_COLOUR.mix(0.35).filled(),
                )))
                .map_err(draw_err)?
                .label(label.as_str())
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], BAND_COLOUR.mix(0.35).filled())
                });
        }
    }
    // Join the history to the first actual value so the two lines read as one series.
    let mut history = points(&p.history, -l);
    if let Some(&first) = p.actual.first().filter(|v| v.is_finite()) {
        history.push((0, first));
    }
    if !history.is_empty() {
        chart
            .draw_series(LineSeries::new(history, HISTORY_COLOUR.stroke_width(1)))
            .map_err(draw_err)?
            .label("history")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], HISTORY_COLOUR.stroke_width(2)));
    }
    // Forecasts of the future have no actual values yet (all NaN): no line, no legend entry.
    let actual = points(&p.actual, 0);
    if !actual.is_empty() {
        chart
            .draw_series(LineSeries::new(actual, ACTUAL_COLOUR.stroke_width(2)))
            .map_err(draw_err)?
            .label("actual")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ACTUAL_COLOUR.stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(
            points(&p.forecast, 0),
            FORECAST_COLOUR.stroke_width(2),
        ))
        .map_err(draw_err)?
        .label("forecast")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], FORECAST_COLOUR.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT_FAMILY, 13))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Panels for `windows` evenly spaced test windows (first, …, last) × up to two variates (the
/// last column, usually the target such as `OT`, then the first), titled
/// `"<dataset> <variate> window <i>"`; values in original units. Windows whose forecast fails
/// are skipped.
pub(crate) fn forecast_panels<M: Forecaster>(
    model: &M,
    prepared: &PreparedData,
    test: &WindowDataset,
    dataset: &str,
    windows: usize,
    device: &burn::prelude::Device,
) -> Vec<ForecastPanel> {
    let n = test.index().len();
    let columns = &prepared.scaled.columns;
    let c = columns.len();
    if n == 0 || c == 0 || windows == 0 {
        return Vec::new();
    }
    let mut picks: Vec<usize> = (0..windows)
        .map(|k| {
            if windows == 1 {
                0
            } else {
                k * (n - 1) / (windows - 1)
            }
        })
        .collect();
    picks.dedup();
    let variates: Vec<usize> = if c > 1 { vec![c - 1, 0] } else { vec![0] };
    let column = |values: &[f32], v: usize| values.iter().skip(v).step_by(c).copied().collect::<Vec<f32>>();
    let mut panels = Vec::new();
    for i in picks {
        let Some((x, y, forecast)) = forecast_window(model, prepared, test, i, device) else {
            continue;
        };
        for &v in &variates {
            panels.push(ForecastPanel {
                title: format!("{dataset} {} window {i}", columns[v]),
                history: column(&x, v),
                actual: column(&y, v),
                forecast: column(&forecast, v),
                band: None,
            });
        }
    }
    panels
}

/// Colour of a shaded forecast interval.
pub(crate) const BAND_COLOUR: RGBColor = RGBColor(214, 39, 40);
/// Colour of the calibrated score line.
pub(crate) const SCORE_COLOUR: RGBColor = RGBColor(31, 119, 180);
/// Colour of the threshold line and the shaded alarm segments.
pub(crate) const ALARM_COLOUR: RGBColor = RGBColor(214, 39, 40);
/// Colour of the shaded labelled-anomaly segments.
pub(crate) const LABEL_COLOUR: RGBColor = RGBColor(255, 160, 0);
/// Line colours of the plotted variates.
const VARIATE_COLOURS: [RGBColor; 4] = [
    RGBColor(0, 0, 0),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One row of a detection figure: a series' values (left panel) and its calibrated score with
/// the threshold (right panel), both with shaded alarm and labelled-anomaly segments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DetectionPanel {
    /// Row title (series id).
    pub(crate) title: String,
    /// Plotted variates: name and values `[time]` (NaN gaps skipped).
    pub(crate) variates: Vec<(String, Vec<f32>)>,
    /// Calibrated score `[time]` (NaN during warm-up).
    pub(crate) score: Vec<f64>,
    /// Threshold on the score's scale.
    pub(crate) threshold: f64,
    /// Alarm segments, rows `[start, end)`.
    pub(crate) alarms: Vec<(usize, usize)>,
    /// Labelled anomaly segments, rows `[start, end)` (empty without labels).
    pub(crate) labels: Vec<(usize, usize)>,
}

/// Figure size in pixels of a detection figure with `rows` series: two panels per row.
pub(crate) fn detection_figure_size(rows: usize) -> (u32, u32) {
    (2 * PANEL_WIDTH, TITLE_HEIGHT + rows.max(1) as u32 * PANEL_HEIGHT)
}

/// `[start, end)` runs of `true` in `flags`.
pub(crate) fn true_runs(flags: impl IntoIterator<Item = bool>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = None;
    let mut n = 0;
    for (i, f) in flags.into_iter().enumerate() {
        match (f, open) {
            (true, None) => open = Some(i),
            (false, Some(a)) => {
                out.push((a, i));
                open = None;
            }
            _ => {}
        }
        n = i + 1;
    }
    if let Some(a) = open {
        out.push((a, n));
    }
    out
}

/// Draw one row per entry of `rows` (series values | score with threshold) under `title` and
/// write the PNG to `path` atomically; size [`detection_figure_size`]`(rows.len())`.
///
/// # Errors
/// No rows, a row without values, font, drawing, encoding and I/O errors.
pub(crate) fn plot_detection(path: &Path, title: &str, rows: &[DetectionPanel]) -> Result<(), PlotError> {
    if rows.is_empty() {
        return Err(PlotError::Invalid("no series to plot".into()));
    }
    for r in rows {
        if r.score.is_empty() || r.variates.iter().any(|(_, v)| v.len() != r.score.len()) {
            return Err(PlotError::Invalid(format!(
                "{}: values and scores must be non-empty and equally long",
                r.title
            )));
        }
    }
    ensure_font()?;
    let (width, height) = detection_figure_size(rows.len());
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (header, body) = root.split_vertically(TITLE_HEIGHT);
        header
            .titled(title, (FONT_FAMILY, 26).into_font().style(FontStyle::Bold))
            .map_err(draw_err)?;
        let cells = body.split_evenly((rows.len(), 2));
        for (r, pair) in rows.iter().zip(cells.chunks(2)) {
            let values: Vec<(String, Vec<f64>)> = r
                .variates
                .iter()
                .map(|(n, v)| (n.clone(), v.iter().map(|&x| f64::from(x)).collect()))
                .collect();
            draw_detection_panel(
                &pair[0],
                &format!("{} values", r.title),
                "value",
                &values,
                None,
                r,
            )?;
            let score = vec![("score".to_string(), r.score.clone())];
            draw_detection_panel(
                &pair[1],
                &format!("{} score", r.title),
                "calibrated score",
                &score,
                Some(r.threshold),
                r,
            )?;
        }
        root.present().map_err(draw_err)?;
    }
    write_png_atomic(path, width, height, &rgb)
}

fn draw_detection_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    lines: &[(String, Vec<f64>)],
    threshold: Option<f64>,
    r: &DetectionPanel,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let n = r.score.len();
    let (lo, hi) = padded_range(lines.iter().flat_map(|(_, v)| v.iter().copied()).chain(threshold));
    let area = area.margin(6, 10, 8, 14);
    let mut chart = ChartBuilder::on(&area)
        .caption(caption, (FONT_FAMILY, 18).into_font().style(FontStyle::Bold))
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(0..n as i64, lo..hi)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_desc("row")
        .y_desc(y_desc)
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 14))
        .y_label_formatter(&|v| format_tick(*v as f32))
        .x_labels(8)
        .y_labels(6)
        .draw()
        .map_err(draw_err)?;
    // Labelled anomalies in the upper band, alarms in the lower band, so both stay visible.
    let mid = lo + (hi - lo) * 0.5;
    for (segs, colour, y0, y1, name) in [
        (&r.labels, LABEL_COLOUR, mid, hi, "labelled anomaly"),
        (&r.alarms, ALARM_COLOUR, lo, mid, "alarm"),
    ] {
        if segs.is_empty() {
            continue;
        }
        chart
            .draw_series(segs.iter().map(|&(a, b)| {
                // At least one pixel-ish wide so single-row segments show.
                let b = b.max(a + (n / 600).max(1));
                Rectangle::new([(a as i64, y0), (b as i64, y1)], colour.mix(0.25).filled())
            }))
            .map_err(draw_err)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], colour.mix(0.4).filled()));
    }
    for (k, (name, values)) in lines.iter().enumerate() {
        let colour = if threshold.is_some() {
            SCORE_COLOUR
        } else {
            VARIATE_COLOURS[k % VARIATE_COLOURS.len()]
        };
        let pts: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| (i as i64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(1)))
            .map_err(draw_err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    if let Some(t) = threshold.filter(|t| t.is_finite()) {
        chart
            .draw_series(LineSeries::new(
                vec![(0, t), (n as i64, t)],
                ALARM_COLOUR.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(format!("threshold {}", format_tick(t as f32)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ALARM_COLOUR.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT_FAMILY, 13))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// One panel of [`plot_lines`]: named lines over a shared x axis.
#[derive(Debug, Clone)]
pub(crate) struct LinePanel {
    /// Panel caption.
    pub title: String,
    /// x axis label.
    pub x_desc: String,
    /// y axis label.
    pub y_desc: String,
    /// x values, ascending.
    pub x: Vec<f64>,
    /// `(name, y values, colour)`; non-finite values are skipped.
    pub lines: Vec<(String, Vec<f64>, RGBColor)>,
}

/// Draw line `panels` in a grid under `title` and write the PNG to `path` atomically (e.g. a
/// backtest's errors by cut-off).
///
/// # Errors
/// Empty or mismatched panels, font registration, drawing, encoding and I/O errors.
// The closure is not redundant: it lets the bitmap backend's lifetime be chosen per call.
#[allow(clippy::redundant_closure)]
pub(crate) fn plot_lines(path: &Path, title: &str, panels: &[LinePanel]) -> Result<(), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::Invalid("no panels to plot".into()));
    }
    for p in panels {
        if p.x.is_empty() || p.lines.iter().any(|(_, y, _)| y.len() != p.x.len()) {
            return Err(PlotError::Invalid(format!(
                "panel {}: every line needs one value per x",
                p.title
            )));
        }
    }
    ensure_font()?;
    draw_grid(path, title, panels, |cell, panel| draw_line_panel(cell, panel))
}

fn draw_line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &LinePanel,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = (p.x[0], p.x[p.x.len() - 1]);
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x0 + 1.0) };
    let (lo, hi) = padded_range(p.lines.iter().flat_map(|(_, y, _)| y.iter().copied()));
    let area = area.margin(6, 10, 8, 14);
    let mut chart = ChartBuilder::on(&area)
        .caption(&p.title, (FONT_FAMILY, 18).into_font().style(FontStyle::Bold))
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, lo..hi)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 14))
        .y_label_formatter(&|v| format_tick(*v as f32))
        .x_label_formatter(&|v| format_tick(*v as f32))
        .x_labels(8)
        .y_labels(6)
        .draw()
        .map_err(draw_err)?;
    for (name, y, colour) in &p.lines {
        let points: Vec<(f64, f64)> =
            p.x.iter()
                .zip(y)
                .filter(|(_, v)| v.is_finite())
                .map(|(x, v)| (*x, *v))
                .collect();
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(draw_err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(points.into_iter().map(|pt| Circle::new(pt, 3, colour.filled())))
            .map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT_FAMILY, 13))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Short tick labels: at most ~4 significant digits, no trailing zeros.
fn format_tick(v: f32) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.into() }
    }
}

fn write_png_atomic(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), PlotError> {
    let io = |context: String| move |source| PlotError::Io { context, source };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| PlotError::Invalid(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        let mut out = BufWriter::new(file);
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
        out.flush().map_err(io(format!("writing {}", tmp.display())))?;
        let file = out.into_inner().map_err(|e| PlotError::Io {
            context: format!("writing {}", tmp.display()),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(io(format!("syncing {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(io(format!("renaming {} to {}", tmp.display(), path.display())))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The y range of a panel: min..max of the finite `values` (0..1 when there are none; a flat
/// series gets a span of max(1, 10 % of its level)), padded 6 % below and 30 % above so the
/// upper-left legend stays mostly clear of the data.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let span = if hi > lo {
        hi - lo
    } else {
        1.0_f64.max(hi.abs() * 0.1)
    };
    (lo - 0.06 * span, hi + 0.3 * span)
}

#[cfg(test)]
mod tests;
