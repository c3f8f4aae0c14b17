//! Hand-written SVG charts for the benchmark report: a line chart and
//! horizontal grouped bars (linear or logarithmic axis). No dependencies:
//! each chart is a `<g>` of rectangles, lines and text, placed by
//! [`document`] one below the other.

use std::fmt::Write as _;

/// Width of every chart, in SVG user units (pixels).
pub const WIDTH: f64 = 900.0;
const MARGIN_LEFT: f64 = 230.0;
const MARGIN_RIGHT: f64 = 150.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";

/// One data series: a kernel's figures, drawn in one color.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub color: &'static str,
}

/// A chart, ready to be stacked: its SVG body drawn from y = 0 and its
/// height.
pub struct Chart {
    body: String,
    height: f64,
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with about three significant digits.
pub fn short(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A tick label: `short`, with k and M for thousands and millions.
pub fn compact(value: f64) -> String {
    match value.abs() {
        m if m >= 1e6 => format!("{}M", short(value / 1e6)),
        m if m >= 1e4 => format!("{}k", short(value / 1e3)),
        _ => short(value),
    }
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or
/// above `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|&candidate| candidate >= value * 0.999_999)
        .unwrap_or(10.0 * power)
}

fn title(out: &mut String, text: &str) {
    writeln!(
        out,
        "<text x=\"{}\" y=\"20\" font-family=\"sans-serif\" font-size=\"15\" \
         font-weight=\"bold\">{}</text>",
        10,
        escape(text)
    )
    .unwrap();
}

fn legend(out: &mut String, series: &[Series], y: f64) {
    for (i, s) in series.iter().enumerate() {
        let x = MARGIN_LEFT + 160.0 * i as f64;
        writeln!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" {FONT}>{}</text>",
            y - 9.0,
            s.color,
            x + 19.0,
            y,
            escape(&s.label)
        )
        .unwrap();
    }
}

/// A line chart: `points[i]` are series i's `(x, y)`. The y axis is
/// linear from 0; the x values that occur are spaced evenly in order (the
/// memory sizes 0, 1, 16, 64, 256 would crowd the left end of a linear
/// axis), each with its tick.
pub fn line_chart(
    heading: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    points: &[Vec<(f64, f64)>],
) -> Chart {
    let (top, plot_h) = (50.0, 260.0);
    let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let all = || points.iter().flatten();
    let mut xs: Vec<f64> = all().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let y_max = nice_ceiling(all().map(|p| p.1).fold(0.0, f64::max));
    let slots = xs.len().max(2) as f64 - 1.0;
    let sx = |x: f64| {
        let slot = xs.iter().position(|&v| v == x).unwrap_or(0);
        MARGIN_LEFT + 20.0 + slot as f64 / slots * (plot_w - 40.0)
    };
    let sy = |y: f64| top + plot_h - y / y_max * plot_h;
    let mut out = String::new();
    title(&mut out, heading);
    legend(&mut out, series, 40.0);
    for i in 0..=5 {
        let y = y_max * f64::from(i) / 5.0;
        writeln!(
            out,
            "<line x1=\"{MARGIN_LEFT}\" x2=\"{}\" y1=\"{py}\" y2=\"{py}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text>",
            MARGIN_LEFT + plot_w,
            MARGIN_LEFT - 6.0,
            sy(y) + 4.0,
            short(y),
            py = sy(y),
        )
        .unwrap();
    }
    for &x in &xs {
        writeln!(
            out,
            "<line x1=\"{px}\" x2=\"{px}\" y1=\"{top}\" y2=\"{}\" stroke=\"#eee\"/>\
             <text x=\"{px}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
            top + plot_h,
            top + plot_h + 16.0,
            short(x),
            px = sx(x),
        )
        .unwrap();
    }
    writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT} \
         transform=\"rotate(-90 {} {})\">{}</text>",
        MARGIN_LEFT + plot_w / 2.0,
        top + plot_h + 34.0,
        escape(x_label),
        MARGIN_LEFT - 60.0,
        top + plot_h / 2.0,
        MARGIN_LEFT - 60.0,
        top + plot_h / 2.0,
        escape(y_label)
    )
    .unwrap();
    for (s, pts) in series.iter().zip(points) {
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            path.join(" "),
            s.color
        )
        .unwrap();
        for &(x, y) in pts {
            writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} fill=\"{}\">{}</text>",
                sx(x),
                sy(y),
                s.color,
                sx(x) + 5.0,
                sy(y) - 6.0,
                s.color,
                short(y)
            )
            .unwrap();
        }
    }
    Chart {
        body: out,
        height: top + plot_h + 50.0,
    }
}

/// The axis of a bar chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Powers of ten: for figures spanning several orders of magnitude.
    Log,
}

/// One group of bars: a label and one value per series (`None`: missing).
#[derive(Clone, Debug)]
pub struct Group {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// Horizontal grouped bars; each bar is labelled with its value and
/// `unit`.
pub fn bar_chart(
    heading: &str,
    unit: &str,
    scale: Scale,
    series: &[Series],
    groups: &[Group],
) -> Chart {
    let top = 50.0;
    let bar_h = 14.0;
    let group_h = bar_h * series.len().max(1) as f64 + 12.0;
    let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = group_h * groups.len() as f64;
    let values = || {
        groups
            .iter()
            .flat_map(|g| g.values.iter().flatten().copied())
    };
    let max = values().fold(0.0, f64::max);
    let min_positive = values().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    // Axis range and the position of a value on it (0..=1).
    let (lo, hi) = match scale {
        Scale::Linear => (0.0, nice_ceiling(max)),
        Scale::Log if min_positive.is_finite() => (
            10f64.powf(min_positive.log10().floor()),
            10f64.powf(max.log10().ceil().max(min_positive.log10().floor() + 1.0)),
        ),
        Scale::Log => (1.0, 10.0),
    };
    let position = |v: f64| match scale {
        Scale::Linear => v / hi,
        Scale::Log => (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()),
    };
    let ticks: Vec<f64> = match scale {
        Scale::Linear => (0..=5).map(|i| hi * f64::from(i) / 5.0).collect(),
        Scale::Log => {
            let decades = (hi.log10() - lo.log10()).round() as i32;
            (0..=decades).map(|d| lo * 10f64.powi(d)).collect()
        }
    };
    let mut out = String::new();
    title(&mut out, heading);
    legend(&mut out, series, 40.0);
    for tick in ticks {
        let x = MARGIN_LEFT + position(tick) * plot_w;
        writeln!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{} {}</text>",
            top + plot_h,
            top + plot_h + 16.0,
            compact(tick),
            escape(unit)
        )
        .unwrap();
    }
    for (g, group) in groups.iter().enumerate() {
        let y0 = top + group_h * g as f64;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}</text>",
            MARGIN_LEFT - 8.0,
            y0 + group_h / 2.0,
            escape(&group.label)
        )
        .unwrap();
        for (i, (s, value)) in series.iter().zip(&group.values).enumerate() {
            let y = y0 + 4.0 + bar_h * i as f64;
            let (width, text) = match value {
                Some(v) => (position(*v) * plot_w, format!("{} {unit}", short(*v))),
                None => (0.0, "n/a".to_owned()),
            };
            writeln!(
                out,
                "<rect x=\"{MARGIN_LEFT}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{}\" \
                 fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{}</text>",
                width.max(1.0),
                bar_h - 2.0,
                s.color,
                MARGIN_LEFT + width + 4.0,
                y + bar_h - 3.0,
                escape(&text)
            )
            .unwrap();
        }
    }
    Chart {
        body: out,
        height: top + plot_h + 36.0,
    }
}

/// An SVG document: a caption line, then the charts one below the other.
pub fn document(caption: &str, charts: &[Chart]) -> String {
    let height = 30.0 + charts.iter().map(|c| c.height).sum::<f64>();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" {FONT} fill=\"#555\">{}</text>\n",
        escape(caption)
    );
    let mut y = 30.0;
    for chart in charts {
        writeln!(
            out,
            "<g transform=\"translate(0 {y})\">\n{}</g>",
            chart.body
        )
        .unwrap();
        y += chart.height;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Vec<Series> {
        vec![
            Series {
                label: "Tine".into(),
                color: "#c0392b",
            },
            Series {
                label: "Linux <6.1>".into(),
                color: "#2c3e50",
            },
        ]
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(256.0), 500.0);
        assert_eq!(nice_ceiling(200.0), 200.0);
        assert_eq!(nice_ceiling(0.03), 0.05);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn compact_ticks() {
        assert_eq!(compact(10_000_000.0), "10.0M");
        assert_eq!(compact(100_000.0), "100k");
        assert_eq!(compact(1000.0), "1000");
        assert_eq!(compact(0.1), "0.100");
    }

    #[test]
    fn short_keeps_three_digits() {
        assert_eq!(short(22500.4), "22500");
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(0.4217), "0.422");
    }

    #[test]
    fn document_is_well_formed_and_escaped() {
        let line = line_chart(
            "fork",
            "MiB",
            "µs",
            &two(),
            &[vec![(0.0, 1.0), (256.0, 20.0)], vec![(0.0, 2.0)]],
        );
        let bars = bar_chart(
            "latency",
            "µs",
            Scale::Log,
            &two(),
            &[Group {
                label: "getpid".into(),
                values: vec![Some(0.4), None],
            }],
        );
        let svg = document("a & b", &[line, bars]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("Linux &lt;6.1&gt;"));
        assert!(svg.contains("n/a"));
        assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
        // Log axis from 0.1 to 1 µs: one decade, two gridlines.
        assert!(svg.contains(">0.100 µs<") && svg.contains(">1.00 µs<"));
    }
}
