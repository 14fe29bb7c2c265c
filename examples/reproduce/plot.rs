//! PNG and SVG figures with one panel per data set (or per quantity), drawn with plotters and an
//! embedded font (DejaVu Sans, `assets/fonts/`), so no system font library is needed. Shared by
//! `examples/reproduce` (log-scale gaps) and `examples/tiny_llama` (linear-scale losses).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`. Call once before drawing.
pub fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded DejaVu Sans font did not load".to_string())
}

/// One line.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
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
    /// Linear from the lowest value up to the worst final value (at least 1.6× the lowest), so
    /// that every curve's end shows while a high start does not flatten the rest.
    Linear,
}

/// A figure: a grid of panels sharing axis labels.
pub struct Figure<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub y_axis: YAxis,
    pub panels: Vec<Panel>,
}

/// Distinct colours, one per method (the reproduction has up to 13 series per panel).
const COLORS: [RGBColor; 15] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(188, 189, 34),
    RGBColor(0, 0, 128),
    RGBColor(255, 187, 120),
    RGBColor(128, 0, 0),
    RGBColor(152, 223, 138),
];

/// Writes `stem.png` and `stem.svg`.
pub fn save(figure: &Figure, stem: &Path) -> Result<(), String> {
    let cols = figure.panels.len().clamp(1, 2);
    let rows = figure.panels.len().div_ceil(cols).max(1);
    let size = (800 * cols as u32, 560 * rows as u32 + 40);
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
    let areas = root.split_evenly((rows, cols));
    for (area, panel) in areas.iter().zip(&figure.panels) {
        let finite = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.1.is_finite() && (figure.y_axis == YAxis::Linear || p.1 > 0.0))
        };
        let x_max = finite().map(|p| p.0).fold(1.0, f64::max);
        let y_min = finite().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let y_max = finite().map(|p| p.1).fold(0.0_f64, f64::max);
        let builder = &mut ChartBuilder::on(area);
        builder
            .caption(&panel.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(72);
        match figure.y_axis {
            YAxis::Log => {
                let (lo, hi) = if y_min.is_finite() {
                    (y_min * 0.8, (y_max * 1.25).max(y_min * 10.0))
                } else {
                    (1e-16, 1.0)
                };
                let chart = builder
                    .build_cartesian_2d(0.0..x_max, (lo..hi).log_scale())
                    .map_err(err)?;
                let points = |s: &Series| s.points.iter().copied().filter(|p| p.1 > 0.0).collect();
                draw_panel(
                    chart,
                    figure,
                    panel,
                    &points,
                    &|v| format!("{v:.0e}"),
                    // Log-scale curves here fall from the upper left: the lower left is free.
                    SeriesLabelPosition::LowerLeft,
                )?;
            }
            YAxis::Linear => {
                let worst_end = panel
                    .series
                    .iter()
                    .filter_map(|s| s.points.last().map(|p| p.1))
                    .filter(|v| v.is_finite())
                    .fold(f64::NEG_INFINITY, f64::max);
                let (lo, hi) = if y_min.is_finite() {
                    let hi = (1.6 * y_min).max(1.04 * worst_end).min(1.02 * y_max);
                    (0.95 * y_min, hi.max(1.05 * y_min))
                } else {
                    (0.0, 1.0)
                };
                let decimals = (-((hi - lo) / 10.0).log10().floor()).clamp(1.0, 6.0) as usize;
                let chart = builder
                    .build_cartesian_2d(0.0..x_max, lo..hi)
                    .map_err(err)?;
                let points = |s: &Series| {
                    s.points
                        .iter()
                        .filter(|p| p.1.is_finite())
                        .map(|&(x, y)| (x, y.clamp(lo, hi)))
                        .collect()
                };
                draw_panel(
                    chart,
                    figure,
                    panel,
                    &points,
                    // Enough decimals that neighbouring ticks (about ten per axis) differ.
                    &|v| format!("{v:.*}", decimals),
                    SeriesLabelPosition::MiddleRight,
                )?;
            }
        }
    }
    root.present().map_err(err)
}

/// Mesh, one line per series and the legend, on either y scale.
fn draw_panel<'a, DB: DrawingBackend + 'a, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    figure: &Figure,
    panel: &Panel,
    points: &dyn Fn(&Series) -> Vec<(f64, f64)>,
    y_format: &dyn Fn(&f64) -> String,
    legend: SeriesLabelPosition,
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
        .y_label_formatter(y_format)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    for (i, s) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points(s), color.stroke_width(2)))
            .map_err(err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}
