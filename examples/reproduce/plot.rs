//! PNG and SVG figures with one panel per data set (or per quantity), drawn with plotters and an
//! embedded font (DejaVu Sans, `assets/fonts/`), so no system font library is needed. Shared by
//! `examples/reproduce` (log-scale gaps) and `examples/tiny_llama` (linear-scale losses).
//!
//! Every series carries its own colour and dash pattern (callers give each method a fixed style,
//! so a method looks the same in every figure), an optional faint trace drawn under all lines
//! (the raw values of a curve shown as its best-so-far) and one legend for the whole figure, in a
//! column to the right of the panels so that it never covers data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`. Call once before drawing.
pub fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded DejaVu Sans font did not load".to_string())
}

/// Colours that stay apart for readers with the common colour-vision deficiencies (Okabe–Ito,
/// with a grey, a brown and an olive added; the Okabe–Ito yellow is too light on white).
pub mod colors {
    use plotters::style::RGBColor;
    pub const BLACK: RGBColor = RGBColor(0, 0, 0);
    pub const GREY: RGBColor = RGBColor(128, 128, 128);
    pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
    pub const SKY: RGBColor = RGBColor(86, 180, 233);
    pub const GREEN: RGBColor = RGBColor(0, 158, 115);
    pub const BLUE: RGBColor = RGBColor(0, 114, 178);
    pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
    pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
    pub const BROWN: RGBColor = RGBColor(140, 86, 75);
    pub const OLIVE: RGBColor = RGBColor(153, 153, 51);
}

/// How a line is stroked.
#[derive(Clone, Copy, PartialEq)]
pub enum Dash {
    Solid,
    /// 10 px dashes, 6 px gaps.
    Dashed,
    /// 3 px dots, 4 px gaps.
    Dotted,
}

/// Colour, dash pattern and width of one series.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: RGBColor,
    pub dash: Dash,
    pub width: u32,
}

impl Style {
    pub const fn new(color: RGBColor, dash: Dash) -> Self {
        Style {
            color,
            dash,
            width: 2,
        }
    }

    /// The same style, drawn thicker (for the reference line a figure is about).
    pub const fn bold(self) -> Self {
        Style { width: 3, ..self }
    }
}

/// The `(x, y)` points of a line.
pub type Points = Vec<(f64, f64)>;

/// What a panel does to a line's points before drawing (drop or clamp those off the axis).
type Clip<'a> = dyn Fn(&[(f64, f64)]) -> Points + 'a;

/// One line.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Drawn thin and faint under every line (empty: nothing), e.g. the raw trace of a curve
    /// whose `points` are its best-so-far values.
    pub faint: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, style: Style) -> Self {
        Series {
            label: label.into(),
            points,
            style,
            faint: Vec::new(),
        }
    }

    /// The running minimum of `points` as the line; the raw points as the faint trace when they
    /// oscillate (more than 2% of them at least twice the best so far), so that an oscillating
    /// run neither hides the lines under it nor looks better than it is at a given step.
    pub fn best_so_far(label: impl Into<String>, raw: Vec<(f64, f64)>, style: Style) -> Self {
        let mut best = f64::INFINITY;
        let points: Vec<(f64, f64)> = raw
            .iter()
            .map(|&(x, y)| {
                if y < best {
                    best = y;
                }
                (x, best)
            })
            .collect();
        let above = raw
            .iter()
            .zip(&points)
            .filter(|(r, b)| r.1 > 2.0 * b.1)
            .count();
        let faint = if above * 50 > raw.len() {
            raw
        } else {
            Vec::new()
        };
        Series {
            label: label.into(),
            points,
            style,
            faint,
        }
    }
}

/// One sub-plot.
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// How the y axis is scaled.
#[derive(Clone, Copy, PartialEq)]
pub enum YAxis {
    /// Logarithmic over the positive values (non-positive points are left out).
    Log,
    /// Linear from just below the lowest value up to the worst final value (at least 1.6× the
    /// lowest, at most the highest), so that every curve's end shows while a high start does not
    /// flatten the rest.
    Linear,
}

/// A figure: a grid of panels sharing axis labels, and one legend (taken from the first
/// panel's series: every panel is expected to hold the same methods in the same order) in a
/// column on the right, with `note` (lines split at `\n`) under it.
pub struct Figure<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub y_axis: YAxis,
    pub panels: Vec<Panel>,
    pub note: &'a str,
}

/// Width of the legend column in pixels.
const LEGEND_WIDTH: u32 = 380;

/// Writes `stem.png` and `stem.svg`.
pub fn save(figure: &Figure, stem: &Path) -> Result<(), String> {
    let cols = figure.panels.len().clamp(1, 2);
    let rows = figure.panels.len().div_ceil(cols).max(1);
    // Tall enough for the legend column too.
    let entries = figure.panels.first().map_or(0, |p| p.series.len()) as u32;
    let label_lines = figure.panels.first().map_or(0, |p| {
        p.series
            .iter()
            .map(|s| s.label.lines().count().saturating_sub(1))
            .sum::<usize>()
    }) as u32;
    let legend_height =
        90 + 52 * entries + 18 * label_lines + 20 * figure.note.lines().count() as u32;
    let size = (
        760 * cols as u32 + LEGEND_WIDTH,
        (540 * rows as u32 + 50).max(legend_height),
    );
    let png = stem.with_extension("png");
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        figure,
        rows,
        cols,
    )?;
    let svg = stem.with_extension("svg");
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        figure,
        rows,
        cols,
    )
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    figure: &Figure,
    rows: usize,
    cols: usize,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(figure.title, ("sans-serif", 26)).map_err(err)?;
    let width = root.dim_in_pixel().0;
    let (plots, legend) = root.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let areas = plots.split_evenly((rows, cols));
    for (area, panel) in areas.iter().zip(&figure.panels) {
        let finite = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.faint))
                .filter(|p| p.1.is_finite() && (figure.y_axis == YAxis::Linear || p.1 > 0.0))
        };
        // From the first point drawn (a zoomed panel may start late) to the last.
        let x_min = finite().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x_min = if x_min.is_finite() { x_min } else { 0.0 };
        let x_max = finite().map(|p| p.0).fold(x_min + 1.0, f64::max);
        let (lo, hi) = y_range(figure, panel);
        let builder = &mut ChartBuilder::on(area);
        builder
            .caption(&panel.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(80);
        match figure.y_axis {
            YAxis::Log => {
                let chart = builder
                    .build_cartesian_2d(x_min..x_max, (lo..hi).log_scale())
                    .map_err(err)?;
                let points = |p: &[(f64, f64)]| p.iter().copied().filter(|p| p.1 > 0.0).collect();
                draw_panel(chart, figure, panel, &points, &|v| format!("{v:.0e}"))?;
            }
            YAxis::Linear => {
                let decimals = (-((hi - lo) / 10.0).log10().floor()).clamp(1.0, 6.0) as usize;
                let chart = builder
                    .build_cartesian_2d(x_min..x_max, lo..hi)
                    .map_err(err)?;
                let points = |p: &[(f64, f64)]| {
                    p.iter()
                        .filter(|p| p.1.is_finite())
                        .map(|&(x, y)| (x, y.clamp(lo, hi)))
                        .collect()
                };
                // Enough decimals that neighbouring ticks (about ten per axis) differ.
                draw_panel(chart, figure, panel, &points, &|v| {
                    format!("{v:.*}", decimals)
                })?;
            }
        }
    }
    draw_legend(&legend, figure)?;
    root.present().map_err(err)
}

/// The y range of a panel: on a log axis the positive values with some room; on a linear one
/// from the lowest value up to the worst final value (see [`YAxis::Linear`]).
fn y_range(figure: &Figure, panel: &Panel) -> (f64, f64) {
    let finite = || {
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().chain(&s.faint))
            .filter(|p| p.1.is_finite() && (figure.y_axis == YAxis::Linear || p.1 > 0.0))
    };
    let y_min = finite().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_max = finite().map(|p| p.1).fold(0.0_f64, f64::max);
    match figure.y_axis {
        YAxis::Log if y_min.is_finite() => (y_min * 0.8, (y_max * 1.25).max(y_min * 10.0)),
        YAxis::Log => (1e-16, 1.0),
        YAxis::Linear if y_min.is_finite() => {
            let worst_end = panel
                .series
                .iter()
                .filter_map(|s| s.points.last().map(|p| p.1))
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            let hi = (1.6 * y_min).max(1.04 * worst_end).min(1.02 * y_max);
            let hi = hi.max(1.01 * y_min);
            (y_min - 0.06 * (hi - y_min), hi)
        }
        YAxis::Linear => (0.0, 1.0),
    }
}

/// For each series of the first panel, a legend line naming an earlier series whose line it
/// overlaps (within 1% of the axis height at 90% of the points), in every panel ("overlaps
/// name") or in some ("overlaps name on a, b", or "in 3 of 4 panels" where the titles would not
/// fit); empty when it overlaps none.
fn coincidences(figure: &Figure) -> Vec<String> {
    let Some(first) = figure.panels.first() else {
        return Vec::new();
    };
    // The shortest handle: the last line (the method's name in the tables, where given).
    let name = |s: &Series| s.label.lines().last().unwrap_or("").to_string();
    first
        .series
        .iter()
        .map(|sj| {
            // (earlier series' name, panels where they coincide)
            let mut hits: Vec<(String, Vec<&str>)> = Vec::new();
            for panel in &figure.panels {
                let (lo, hi) = y_range(figure, panel);
                let f = |y: f64| match figure.y_axis {
                    YAxis::Log => y.max(lo).log10(),
                    YAxis::Linear => y.clamp(lo, hi),
                };
                let tolerance = 0.01 * (f(hi) - f(lo));
                let Some(b) = panel.series.iter().find(|s| s.label == sj.label) else {
                    continue;
                };
                for a in panel.series.iter().take_while(|s| s.label != sj.label) {
                    let n = a.points.len().min(b.points.len());
                    let close = a
                        .points
                        .iter()
                        .zip(&b.points)
                        .filter(|(p, q)| (f(p.1) - f(q.1)).abs() <= tolerance)
                        .count();
                    if n > 0 && a.points.len() == b.points.len() && close * 10 >= n * 9 {
                        match hits.iter_mut().find(|h| h.0 == name(a)) {
                            Some(h) => h.1.push(&panel.title),
                            None => hits.push((name(a), vec![&panel.title])),
                        }
                        break;
                    }
                }
            }
            match hits.first() {
                None => String::new(),
                Some((other, panels)) if panels.len() == figure.panels.len() => {
                    format!("overlaps {other}")
                }
                // Name the panels while that fits the legend column.
                Some((other, panels)) if other.len() + panels.join(", ").len() <= 36 => {
                    format!("overlaps {other} on {}", panels.join(", "))
                }
                Some((other, panels)) => format!(
                    "overlaps {other} in {} of {} panels",
                    panels.len(),
                    figure.panels.len()
                ),
            }
        })
        .collect()
}

/// Mesh, then the faint traces, then the lines (solid first, dotted last, so that a dotted line
/// on top of a solid one it coincides with still shows both).
fn draw_panel<'a, DB: DrawingBackend + 'a, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    figure: &Figure,
    panel: &Panel,
    points: &Clip,
    y_format: &dyn Fn(&f64) -> String,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e}");
    chart
        .configure_mesh()
        .x_desc(figure.x_label)
        .y_desc(figure.y_label)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .max_light_lines(4)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .y_label_formatter(y_format)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    for s in panel.series.iter().filter(|s| !s.faint.is_empty()) {
        let faint = s.style.color.mix(0.22).stroke_width(1);
        chart
            .draw_series(LineSeries::new(points(&s.faint), faint))
            .map_err(err)?;
    }
    for dash in [Dash::Solid, Dash::Dashed, Dash::Dotted] {
        for s in panel.series.iter().filter(|s| s.style.dash == dash) {
            let style = s.style.color.stroke_width(s.style.width);
            let p = points(&s.points);
            match dash {
                Dash::Solid => chart.draw_series(LineSeries::new(p, style)),
                Dash::Dashed => chart.draw_series(DashedLineSeries::new(p, 10, 6, style)),
                Dash::Dotted => chart.draw_series(DashedLineSeries::new(p, 3, 4, style)),
            }
            .map_err(err)?;
        }
    }
    Ok(())
}

/// The legend column: one line sample and label per series of the first panel (with a faint
/// band under it when that series has a faint trace in any panel, and a line naming the series
/// it coincides with, if any), then the note.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &Figure,
) -> Result<(), String> {
    let panels = &figure.panels;
    let mut coincide = coincidences(figure).into_iter();
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e}");
    let font = ("sans-serif", 16).into_font();
    let (x0, mut y) = (8, 40);
    for s in panels.first().map_or(&[][..], |p| &p.series[..]) {
        let faint = panels
            .iter()
            .flat_map(|p| &p.series)
            .any(|o| o.label == s.label && !o.faint.is_empty());
        let style = s.style.color.stroke_width(s.style.width + 1);
        let line = vec![(x0, y), (x0 + 44, y)];
        match s.style.dash {
            Dash::Solid => area.draw(&PathElement::new(line, style)),
            Dash::Dashed => area.draw(&DashedPathElement::new(line, 10, 6, style)),
            Dash::Dotted => area.draw(&DashedPathElement::new(line, 3, 4, style)),
        }
        .map_err(err)?;
        if faint {
            let band = s.style.color.mix(0.22).stroke_width(7);
            area.draw(&PathElement::new(vec![(x0, y + 9), (x0 + 44, y + 9)], band))
                .map_err(err)?;
        }
        // A label's first line is the name; further lines are a smaller grey comment.
        let extra = coincide.next().unwrap_or_default();
        let mut lines = s
            .label
            .lines()
            .chain((!extra.is_empty()).then_some(extra.as_str()));
        let name = lines.next().unwrap_or("");
        area.draw(&Text::new(
            name.to_string(),
            (x0 + 54, y - 9),
            font.color(&BLACK),
        ))
        .map_err(err)?;
        let mut dy = 0;
        for line in lines {
            dy += 18;
            let style = ("sans-serif", 14).into_font().color(&RGBColor(90, 90, 90));
            area.draw(&Text::new(line.to_string(), (x0 + 54, y - 9 + dy), style))
                .map_err(err)?;
        }
        y += dy + if faint { 34 } else { 28 };
    }
    y += 12;
    let small = ("sans-serif", 15).into_font().color(&RGBColor(60, 60, 60));
    for line in figure.note.lines() {
        area.draw(&Text::new(line.to_string(), (x0, y), small.clone()))
            .map_err(err)?;
        y += 20;
    }
    Ok(())
}
