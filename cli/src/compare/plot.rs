//! `cowftl compare --plot FILE`: one SVG, a row per part, WA (left) and modelled device time
//! per update (right) against fill, one line per store. Each line ends at the store's capacity
//! (the largest fill that completed), marked with a cross; both y axes are logarithmic because
//! the cliff at high fill spans orders of magnitude.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::sweep::Point;
use super::{Out, PartOut};

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One store's colour, the same in every panel.
fn colour(i: usize) -> RGBAColor {
    [RED, BLUE, RGBColor(0, 150, 0), MAGENTA][i % 4].to_rgba()
}

pub fn plot(path: &Path, out: &Out) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let rows = out.parts.len().max(1);
    let root = SVGBackend::new(path, (1100, 420 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((rows, 2));
    for (i, part) in out.parts.iter().enumerate() {
        panel(&panels[2 * i], part, "WA", |p| p.wa)?;
        panel(
            &panels[2 * i + 1],
            part,
            "device time per update (µs)",
            |p| p.device_us_per_update,
        )?;
    }
    root.present().map_err(err)
}

/// One chart: `metric` against fill for every store on `part`.
fn panel(
    area: &Area<'_>,
    part: &PartOut,
    what: &str,
    metric: fn(&Point) -> f64,
) -> Result<(), String> {
    let values = part
        .stores
        .iter()
        .flat_map(|s| s.sweep.points.iter().map(metric));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = if lo <= hi {
        (lo / 1.3, hi * 1.3)
    } else {
        (0.5, 2.0)
    };
    let mut c = ChartBuilder::on(area)
        .caption(format!("{what} vs fill, {}", part.part), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, (lo..hi).log_scale())
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("fill (live user bytes / region bytes)")
        .y_desc(what)
        .draw()
        .map_err(err)?;
    for (i, s) in part.stores.iter().enumerate() {
        let col = colour(i);
        let pts: Vec<(f64, f64)> = s.sweep.points.iter().map(|p| (p.fill, metric(p))).collect();
        c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
            .map_err(err)?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col));
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
            .map_err(err)?;
        c.draw_series(pts.last().map(|&p| Cross::new(p, 8, col.stroke_width(2))))
            .map_err(err)?;
    }
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)
}
