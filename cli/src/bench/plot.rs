//! `cowftl bench --plot DIR`: SVG charts of a bench report (WA vs fill, wear histogram, WA over
//! time).

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::greedy::analytic_greedy_wa;
use super::report::{find, Report, Workload};
use crate::fmt;

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Write the three charts into `dir` (created if needed).
pub fn plot(dir: &Path, r: &Report) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    wa_vs_fill(&dir.join("wa_vs_fill.svg"), r)?;
    // Wear histogram of the static-cold run.
    if let Some(w) = find(r, "static_cold_50").or(r.workloads.last()) {
        wear_histogram(&dir.join("wear_histogram.svg"), w)?;
    }
    wa_over_time(&dir.join("wa_over_time.svg"), r)
}

/// A white 800x500 chart with f64 axes.
fn chart<'a, 'b>(
    root: &'a Area<'b>,
    caption: &str,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(err)?;
    ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(err)
}

/// WA versus fill (raw fill on the x axis) of the uniform workloads, beside both references.
fn wa_vs_fill(path: &Path, r: &Report) -> Result<(), String> {
    let uni: Vec<&Workload> = r
        .workloads
        .iter()
        .filter(|w| w.name.starts_with("uniform_"))
        .collect();
    let ymax = uni
        .iter()
        .map(|w| {
            w.wa.max(w.greedy_sim_wa.unwrap_or(0.0))
                .max(w.analytic_wa.unwrap_or(0.0))
        })
        .fold(1.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let caption = "Write amplification vs fill (uniform random)";
    let mut c = chart(&root, caption, 0.3..1.0, 0.0..ymax)?;
    c.configure_mesh()
        .x_desc("fill (live / all slots)")
        .y_desc("WA")
        .draw()
        .map_err(err)?;
    draw_wa_vs_fill(&mut c, &uni, ymax)?;
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn draw_wa_vs_fill(c: &mut Chart<'_, '_>, uni: &[&Workload], ymax: f64) -> Result<(), String> {
    let curve: Vec<(f64, f64)> = (30..=95)
        .map(|p| {
            let f = p as f64 / 100.0;
            (f, analytic_greedy_wa(f))
        })
        .filter(|p| p.1 <= ymax)
        .collect();
    c.draw_series(LineSeries::new(curve, &BLACK))
        .map_err(err)?
        .label("analytic greedy")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    let pts = |f: &dyn Fn(&Workload) -> Option<f64>| -> Vec<(f64, f64)> {
        uni.iter()
            .filter_map(|w| f(w).map(|v| (w.fill_raw, v)))
            .collect()
    };
    c.draw_series(LineSeries::new(pts(&|w| Some(w.wa)), RED.stroke_width(2)))
        .map_err(err)?
        .label("cowftl (bytes)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    c.draw_series(
        pts(&|w| Some(w.wa))
            .into_iter()
            .map(|p| Circle::new(p, 4, RED.filled())),
    )
    .map_err(err)?;
    c.draw_series(LineSeries::new(
        pts(&|w| w.greedy_sim_wa),
        BLUE.stroke_width(2),
    ))
    .map_err(err)?
    .label("greedy sim (same geometry)")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    Ok(())
}

/// Histogram of the erases of every unit at the end of workload `w`.
fn wear_histogram(path: &Path, w: &Workload) -> Result<(), String> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let h = fmt::wear_histogram(&w.unit_wear, 16);
    let top = h.iter().map(|b| b.2).max().unwrap_or(1) as u32 + 1;
    let lo = h.first().map_or(0, |b| b.0);
    let hi = h.last().map_or(1, |b| b.1 + 1);
    let mut c = ChartBuilder::on(&root)
        .caption(
            format!("Unit wear histogram ({})", w.name),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0u32..top)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("erases")
        .y_desc("units")
        .draw()
        .map_err(err)?;
    c.draw_series(
        h.iter()
            .map(|&(a, b, n)| Rectangle::new([(a, 0), (b + 1, n as u32)], BLUE.filled())),
    )
    .map_err(err)?;
    root.present().map_err(err)
}

/// WA per chunk of host writes over each run, warm-up included.
fn wa_over_time(path: &Path, r: &Report) -> Result<(), String> {
    let series: Vec<&Workload> = r
        .workloads
        .iter()
        .filter(|w| !w.wa_over_time.is_empty())
        .collect();
    let points = || series.iter().flat_map(|w| w.wa_over_time.iter());
    let xmax = points().map(|p| p.0).max().unwrap_or(1) as f64;
    let ymax = points().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let caption = "Write amplification over time (per chunk, warm-up included)";
    let mut c = chart(&root, caption, 0.0..xmax, 0.0..ymax)?;
    c.configure_mesh()
        .x_desc("host writes")
        .y_desc("WA")
        .draw()
        .map_err(err)?;
    for (i, w) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(LineSeries::new(
            w.wa_over_time.iter().map(|&(x, y)| (x as f64, y)),
            color,
        ))
        .map_err(err)?
        .label(w.name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
