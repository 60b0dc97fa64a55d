//! Plain-text tables for the command line, as kubectl prints them: columns
//! padded to their widest cell, the last one not padded; control
//! characters in cells escaped so a name cannot forge a line.

use std::io::Write;

/// Writes `rows` (the first is the header) to `out`.
///
/// ```
/// let mut out = Vec::new();
/// tollgate_kube::table::write(&[["NAME", "CMD"], ["a\nb", "ls -l"]], &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "NAME   CMD\na\\nb   ls -l\n");
/// ```
///
/// # Errors
/// When `out` cannot be written.
pub fn write<const N: usize, S: AsRef<str>>(rows: &[[S; N]], out: &mut impl Write) -> std::io::Result<()> {
    let cells: Vec<[String; N]> = rows.iter().map(|r| r.each_ref().map(|c| cell(c.as_ref()))).collect();
    let widths = widths(&cells);
    for r in &cells {
        line(r, &widths, out)?;
    }
    Ok(())
}

/// A table printed as it goes, for outputs too long to hold: the column
/// widths are those of the first [`Streaming::BATCH`] rows (as `kubectl get
/// -w` fixes them from its first page); a longer cell later pushes its
/// line's next columns right instead of re-laying the table.
///
/// ```
/// let mut out = Vec::new();
/// let mut t = tollgate_kube::table::Streaming::new(["NAME", "AGE"]);
/// t.row(["web", "5m"], &mut out).unwrap();
/// t.finish(&mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "NAME   AGE\nweb    5m\n");
/// ```
#[derive(Debug)]
pub struct Streaming<const N: usize> {
    waiting: Vec<[String; N]>,
    widths: Option<Vec<usize>>,
}

impl<const N: usize> Streaming<N> {
    /// Rows held to size the columns.
    pub const BATCH: usize = 500;

    /// A table with this header.
    pub fn new<S: AsRef<str>>(header: [S; N]) -> Self {
        Streaming {
            waiting: vec![header.each_ref().map(|c| cell(c.as_ref()))],
            widths: None,
        }
    }

    /// Adds a row (written once the columns are sized).
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn row<S: AsRef<str>>(&mut self, row: [S; N], out: &mut impl Write) -> std::io::Result<()> {
        let row = row.each_ref().map(|c| cell(c.as_ref()));
        match &self.widths {
            Some(w) => line(&row, w, out),
            None => {
                self.waiting.push(row);
                if self.waiting.len() > Self::BATCH {
                    self.flush(out)?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let w = widths(&self.waiting);
        for r in self.waiting.drain(..) {
            line(&r, &w, out)?;
        }
        self.widths = Some(w);
        Ok(())
    }

    /// Writes what is still held.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn finish(mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.widths.is_none() {
            self.flush(out)?;
        }
        Ok(())
    }
}

fn cell(c: &str) -> String {
    if c.chars().any(char::is_control) {
        c.escape_default().to_string()
    } else {
        c.to_owned()
    }
}

fn widths<const N: usize>(cells: &[[String; N]]) -> Vec<usize> {
    (0..N)
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect()
}

fn line<const N: usize>(r: &[String; N], widths: &[usize], out: &mut impl Write) -> std::io::Result<()> {
    let mut text = String::new();
    for (i, c) in r.iter().enumerate() {
        if i + 1 == N {
            text.push_str(c);
        } else {
            text.push_str(&format!("{c:<w$}   ", w = widths[i]));
        }
    }
    writeln!(out, "{}", text.trim_end())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_short_stream_prints_what_the_whole_table_prints(rows in proptest::collection::vec(["[a-z\n]{0,8}", "[a-z ]{0,12}"], 0..40)) {
            let mut whole = Vec::new();
            let mut all = vec![["NAME".to_owned(), "WHAT".to_owned()]];
            all.extend(rows.iter().cloned());
            write(&all, &mut whole).unwrap();
            let mut streamed = Vec::new();
            let mut t = Streaming::new(["NAME", "WHAT"]);
            for r in &rows {
                t.row(r.clone(), &mut streamed).unwrap();
            }
            t.finish(&mut streamed).unwrap();
            prop_assert_eq!(whole, streamed);
        }
    }

    #[test]
    fn a_long_stream_keeps_the_first_batchs_widths() {
        let mut out = Vec::new();
        let mut t = Streaming::new(["A", "B"]);
        for i in 0..Streaming::<2>::BATCH {
            t.row([format!("{}", i % 10), "x".to_owned()], &mut out).unwrap();
        }
        let written_before_the_end = out.len();
        t.row(["a-much-longer-cell".to_owned(), "y".to_owned()], &mut out)
            .unwrap();
        assert!(written_before_the_end > 0, "rows are written before the end");
        t.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("A   B\n0   x\n"), "{text}");
        assert!(text.ends_with("a-much-longer-cell   y\n"), "{text}");
    }
}
