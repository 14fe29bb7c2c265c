//! PNG and SVG figures with one panel per data set, drawn with plotters and an embedded font
//! (DejaVu Sans, `assets/fonts/`), so no system font library is needed.

use std::path::Path;

use plotters::coord::Shift;
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

/// A figure: a grid of panels sharing axis labels.
pub struct Figure<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
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
        let points = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.1 > 0.0 && p.1.is_finite())
        };
        let (mut x_max, mut y_min, mut y_max) = (1.0_f64, f64::INFINITY, 0.0_f64);
        for &(x, y) in points() {
            x_max = x_max.max(x);
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
        if !y_min.is_finite() {
            (y_min, y_max) = (1e-16, 1.0);
        }
        let (y_lo, y_hi) = (y_min * 0.8, (y_max * 1.25).max(y_min * 10.0));
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..x_max, (y_lo..y_hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(figure.x_label)
            .y_desc(figure.y_label)
            .label_style(("sans-serif", 15))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        for (i, s) in panel.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.1 > 0.0 && p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}
