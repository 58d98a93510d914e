//! What the benches print: the number formatting, [`Table`] (Markdown, columns
//! lined up), the medians table ([`summary_table`]) and the one ratio
//! definition and ratio table ([`over_first`], [`print_ratio_table`]) that the
//! `compare`, `executor` and `memory` benches share: each figure of a row over
//! the row's first (asyncio's), so that above 1 asyncio is faster (or, for
//! memory, uses less).

use std::fmt::Write as _;

use crate::stats::Summary;

/// A number with a precision that suits its size: `1234`, `56.7`, `8.90`.
pub fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A ratio as `1.23×`.
pub fn fmt_ratio(x: f64) -> String {
    format!("{x:.2}×")
}

/// A byte count as `123 B`, `4.5 KiB`, `67.8 MiB`.
pub fn fmt_bytes(b: f64) -> String {
    if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// The CPUs this process may use (0 if unknown), for a table's caption.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// Prints a section title: an empty line, `## title`, an empty line.
pub fn heading(title: &str) {
    println!();
    println!("## {title}");
    println!();
}

/// A plain-text table in Markdown syntax, columns padded to line up.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        Table {
            header: header.iter().map(|s| s.as_ref().to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells beyond the header are dropped, missing ones left empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, ending in a newline.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let cell = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, w) in width.iter_mut().enumerate() {
                *w = (*w).max(cell(row, i).chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: Vec<String>| {
            out.push('|');
            for (i, c) in cells.iter().enumerate() {
                let pad = width[i] - c.chars().count();
                // Left-align the first column, right-align the numbers.
                if i == 0 {
                    let _ = write!(out, " {c}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {}{c} |", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&mut out, self.header.clone());
        out.push('|');
        for (i, w) in width.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{}|", "-".repeat(w + 2));
            } else {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, (0..cols).map(|i| cell(row, i)).collect());
        }
        out
    }
}

/// One workload's figures for the medians table: its name, the unit of one
/// operation and one summary per column.
#[derive(Clone, Debug)]
pub struct Row {
    /// The workload's name.
    pub name: String,
    /// What one figure is (`ns/task`, `jobs/s`, ...).
    pub unit: String,
    /// One summary per column, the baseline (asyncio) first.
    pub sums: Vec<Summary>,
}

/// The medians table's column titles: `workload`, `unit`, then `columns`.
pub fn summary_header(columns: &[&str]) -> Vec<String> {
    let mut header = vec!["workload".to_owned(), "unit".to_owned()];
    header.extend(columns.iter().map(|s| s.to_string()));
    header
}

/// A row of the medians table: name, unit, then `median [min–max]` of each
/// column.
pub fn summary_cells(row: &Row) -> Vec<String> {
    let mut cells = vec![row.name.clone(), row.unit.clone()];
    cells.extend(row.sums.iter().map(Summary::display));
    cells
}

/// The medians table of `rows` under the column titles `columns`.
pub fn summary_table(columns: &[&str], rows: &[Row]) -> Table {
    let mut table = Table::new(&summary_header(columns));
    for row in rows {
        table.row(summary_cells(row));
    }
    table
}

/// Every figure of `values` over the first one (the baseline's): the ratio of
/// every comparison table here, above 1 where the baseline is faster or
/// smaller. The first ratio is 1.
pub fn over_first(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| v / values[0]).collect()
}

/// Prints the ratio table under a medians table: a heading, then one row per
/// workload with, for every column after the first, that column's median
/// over the first column's ([`over_first`] of the medians).
pub fn print_ratio_table(columns: &[&str], rows: &[Row]) {
    heading("Ratio peer / asyncio of the medians (> 1: asyncio is faster)");
    let mut header = vec!["workload".to_owned()];
    header.extend(columns[1..].iter().map(|s| format!("{s} / asyncio")));
    let mut table = Table::new(&header);
    for row in rows {
        let medians: Vec<f64> = row.sums.iter().map(|s| s.median).collect();
        let mut cells = vec![row.name.clone()];
        cells.extend(over_first(&medians)[1..].iter().map(|&r| fmt_ratio(r)));
        table.row(cells);
    }
    print!("{}", table.render());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_up() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["xyz".into(), "1".into()]);
        let text = t.render();
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn ratios_are_over_the_first_column() {
        assert_eq!(over_first(&[2.0, 4.0, 1.0]), vec![1.0, 2.0, 0.5]);
        assert_eq!(fmt_ratio(over_first(&[3.0, 4.0])[1]), "1.33×");
    }
}
