//! The table as printed: a header, a rule, and one padded line per row.

use crate::report::Row;

/// The table as text: one row a line, columns padded.
pub fn render(rows: &[Row]) -> String {
    let heads = ["figure", "measured", "target", "result"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                r.measured.clone(),
                r.target.clone().unwrap_or_default(),
                r.pass
                    .map(|p| if p { "PASS" } else { "FAIL" }.to_owned())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = heads.map(str::len);
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: [&str; 4]| {
        let mut s = String::new();
        for (k, (cell, w)) in c.iter().zip(widths).enumerate() {
            let pad = if k == 3 {
                0
            } else {
                w - cell.chars().count() + 2
            };
            s += cell;
            s += &" ".repeat(pad);
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(heads);
    out += &line(widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for c in &cells {
        out += &line(c.each_ref().map(String::as_str));
    }
    out
}
