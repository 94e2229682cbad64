//! The PNGs: throughput and latency percentiles over time for two runs, the
//! intake run and its raw-publish baseline (and, for the hostile phase,
//! intake unloaded and under a login flood). Drawn with plotters into a
//! buffer (text with a TrueType font read at run time, no fontconfig) and
//! encoded with `png`.

use std::{io::BufWriter, path::Path};

use anyhow::{anyhow, Context};
use plotters::{
    coord::{types::RangedCoordf64, Shift},
    prelude::*,
};

use crate::{
    intake::Intake,
    stats::{Load, Point},
};

/// Debian's fonts-dejavu-core, which bench/run installs when missing.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";
const W: u32 = 1200;
const H: u32 = 900;
const INTAKE: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(214, 39, 40);

/// One run on a plot: its load, the legend of its throughput line, and the
/// name its latency lines go by.
pub struct Run<'a> {
    pub load: &'a Load,
    pub rate: String,
    pub name: &'a str,
}

/// Registers the font, once per process (a run may draw several plots).
fn load_font() -> anyhow::Result<()> {
    static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| register_font().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn register_font() -> anyhow::Result<()> {
    let path = std::env::var("BENCH_FONT").unwrap_or_else(|_| DEFAULT_FONT.into());
    let bytes = std::fs::read(&path).with_context(|| format!("reading the font {path}"))?;
    // Registered once per process; plotters wants the bytes for 'static.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a usable TrueType font"))
}

fn max_of(points: &[&[Point]], f: fn(&Point) -> f64) -> f64 {
    points
        .iter()
        .flat_map(|s| s.iter().map(f))
        .fold(1.0, f64::max)
}

fn line(points: &[Point], f: fn(&Point) -> f64) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|p| p.per_s > 0.0)
        .map(|p| (p.t_s, f(p)))
        .collect()
}

/// The intake run against its raw-publish baseline.
pub fn draw(path: &Path, data: &Intake, title: &str) -> anyhow::Result<()> {
    let runs = [
        Run {
            load: &data.intake,
            rate: format!("intake-api: 202 accepted/s (mean {:.0})", data.intake.per_s),
            name: "intake-api",
        },
        Run {
            load: &data.baseline,
            rate: format!(
                "raw confirmed publish, {} B (mean {:.0})",
                data.message_bytes, data.baseline.per_s
            ),
            name: "raw publish",
        },
    ];
    draw_runs(path, &runs, title)
}

/// Two runs, the first in blue, the second in red.
pub fn draw_runs(path: &Path, runs: &[Run<'_>; 2], title: &str) -> anyhow::Result<()> {
    load_font()?;
    let mut buffer = vec![255u8; (W * H * 3) as usize];
    render(&mut buffer, runs, title).map_err(|e| anyhow!("drawing the plot: {e}"))?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&buffer)?;
    writer.finish()?;
    Ok(())
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// One panel: `caption`, seconds across, `y_desc` from 0 to `y_max` up.
fn panel<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: String,
    seconds: f64,
    y_max: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn render(buffer: &mut [u8], runs: &[Run<'_>; 2], title: &str) -> Drawn {
    let root = BitMapBackend::with_buffer(buffer, (W, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 24))?;
    let (top, bottom) = root.split_vertically(H / 2 - 20);
    let [a, b] = runs;
    let (ia, ba) = (&a.load.series[..], &b.load.series[..]);
    let seconds = a.load.seconds.max(b.load.seconds);

    let caption = format!(
        "Throughput per 0.5 s, {} concurrent clients (warm-up excluded)",
        a.load.clients
    );
    let y_max = max_of(&[ia, ba], |p| p.per_s) * 1.15;
    let mut chart = panel(&top, caption, seconds, y_max, "per second")?;
    for (points, label, color) in [(ia, &a.rate, INTAKE), (ba, &b.rate, BASELINE)] {
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(line(points, |p| p.per_s), style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let caption = "Latency percentiles per 0.5 s".to_owned();
    let y_max = max_of(&[ia, ba], |p| p.p99_ms) * 1.15;
    let mut chart = panel(&bottom, caption, seconds, y_max, "milliseconds")?;
    let series: [(&[Point], String, RGBColor, bool); 4] = [
        (ia, format!("{} p99", a.name), INTAKE, true),
        (ia, format!("{} p50", a.name), INTAKE, false),
        (ba, format!("{} p99", b.name), BASELINE, true),
        (ba, format!("{} p50", b.name), BASELINE, false),
    ];
    for (points, label, color, p99) in series {
        let pick: fn(&Point) -> f64 = if p99 { |p| p.p99_ms } else { |p| p.p50_ms };
        let style = color.stroke_width(2);
        let drawn = if p99 {
            chart.draw_series(LineSeries::new(line(points, pick), style))?
        } else {
            chart.draw_series(DashedLineSeries::new(line(points, pick), 6, 4, style))?
        };
        drawn
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}
