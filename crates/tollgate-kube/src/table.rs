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
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    let c = c.as_ref();
                    if c.chars().any(char::is_control) {
                        c.escape_default().to_string()
                    } else {
                        c.to_owned()
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..N)
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &cells {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
