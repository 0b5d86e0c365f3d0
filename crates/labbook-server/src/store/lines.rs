//! W&B's offset rules for `file_stream` lines, over a store's lines in memory. A database
//! store keys each line by `(run, stream, line_no)` and gets the same result with
//! replace-on-conflict.

/// JSON rows must continue exactly at `lines.len()`. On a repeat the rows replace the
/// stored ones from the offset (a client resend stores each row once); on a skip they are
/// appended at the end. Returns the expected offset when the chunk did not continue
/// exactly.
///
/// ```
/// use labbook_server::store::place_rows;
/// let mut lines = vec!["a".to_owned()];
/// assert_eq!(place_rows(&mut lines, 1, vec!["b".into()]), None);
/// assert_eq!(place_rows(&mut lines, 0, vec!["a2".into()]), Some(2));
/// assert_eq!(lines, ["a2", "b"]);
/// ```
pub fn place_rows<T>(lines: &mut Vec<T>, offset: usize, new: Vec<T>) -> Option<usize> {
    let expected = lines.len();
    if offset >= expected {
        lines.extend(new);
    } else {
        replace_from(lines, offset, new);
    }
    (offset != expected).then_some(expected)
}

/// Console lines: a chunk may start at or before the stored count and overwrites from its
/// offset (a carriage return rewrites the last line). Returns the expected offset when
/// lines were skipped.
///
/// ```
/// use labbook_server::store::place_overwrite;
/// let mut lines = vec!["a".to_owned(), "b\r".to_owned()];
/// assert_eq!(place_overwrite(&mut lines, 1, vec!["b2".into(), "c".into()]), None);
/// assert_eq!(lines, ["a", "b2", "c"]);
/// ```
pub fn place_overwrite<T>(lines: &mut Vec<T>, offset: usize, new: Vec<T>) -> Option<usize> {
    let expected = lines.len();
    if offset > expected {
        lines.extend(new);
        return Some(expected);
    }
    replace_from(lines, offset, new);
    None
}

/// Writes `new` over `lines` starting at `offset`, growing `lines` as needed.
fn replace_from<T>(lines: &mut Vec<T>, offset: usize, new: Vec<T>) {
    for (index, line) in new.into_iter().enumerate() {
        match lines.get_mut(offset + index) {
            Some(slot) => *slot = line,
            None => lines.push(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_must_continue_exactly() {
        let mut rows: Vec<i32> = Vec::new();
        assert_eq!(place_rows(&mut rows, 0, vec![1, 2]), None);
        assert_eq!(place_rows(&mut rows, 2, vec![3]), None);
        // A repeat replaces from its offset, a skip appends; both are reported.
        assert_eq!(place_rows(&mut rows, 1, vec![20]), Some(3));
        assert_eq!(place_rows(&mut rows, 5, vec![4]), Some(3));
        assert_eq!(rows, [1, 20, 3, 4]);
    }

    #[test]
    fn console_lines_may_be_resent_but_not_skipped() {
        let mut lines = vec!["a", "b\r"];
        assert_eq!(place_overwrite(&mut lines, 1, vec!["b2", "c"]), None);
        assert_eq!(lines, ["a", "b2", "c"]);
        assert_eq!(place_overwrite(&mut lines, 5, vec!["z"]), Some(3));
        assert_eq!(lines, ["a", "b2", "c", "z"]);
    }
}
