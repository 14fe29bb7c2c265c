//! Loss curves on linear axes (PNG and SVG), drawn with plotters and the embedded DejaVu Sans
//! font (`assets/fonts/`), so no system font library is needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`.
pub fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded DejaVu Sans font did not load".to_string())
}

pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(0, 0, 0),
];

/// Writes `stem.png` and `stem.svg`, panels side by side.
pub fn save(figure: &Figure, stem: &Path) -> Result<(), String> {
    let size = (760 * figure.panels.len().max(1) as u32, 560);
    let png = stem.with_extension("png");
    draw(BitMapBackend::new(&png, size).into_drawing_area(), figure)?;
    let svg = stem.with_extension("svg");
    draw(SVGBackend::new(&svg, size).into_drawing_area(), figure)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e}");
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(&figure.title, ("sans-serif", 24))
        .map_err(err)?;
    let areas = root.split_evenly((1, figure.panels.len().max(1)));
    for (area, panel) in areas.iter().zip(&figure.panels) {
        let finite = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.1.is_finite())
        };
        let x_max = finite().map(|p| p.0).fold(1.0, f64::max);
        let y_min = finite().map(|p| p.1).fold(f64::INFINITY, f64::min);
        // From the best loss up to the worst final loss (at least 1.6× the best), so that every
        // curve's end is visible while the high start does not flatten the rest.
        let y_max = finite().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
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
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("cross-entropy (nats/char)")
            .label_style(("sans-serif", 14))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .draw()
            .map_err(err)?;
        for (i, s) in panel.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(x, y)| (x, y.clamp(lo, hi)))
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
            .position(SeriesLabelPosition::MiddleRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}
