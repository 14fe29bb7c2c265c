//! LIBSVM text format: `label index:value index:value ...`, indices 1-based and strictly rising.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::{Error, ParseErrorKind, Result};

/// The most values dense storage accepts (2^28, 2 GiB of `f64`); a file whose rows × largest
/// index exceeds it is a [`ParseErrorKind::DenseTooLarge`] error rather than a huge allocation.
/// The bundled sets need at most 15M (w8a). Sparse storage has no such limit.
pub const MAX_DENSE_VALUES: usize = 1 << 28;

/// How the feature matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// Compressed sparse rows (default; LIBSVM files are sparse).
    #[default]
    Sparse,
    /// A dense row-major `n × d` matrix (at most [`MAX_DENSE_VALUES`] values).
    Dense,
}

/// Options for [`Dataset::from_path`] and [`Dataset::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LibsvmOptions {
    /// The number of features `d`. `None` (default) takes the largest index in the file; give it
    /// when a split lacks the last feature (a9a's test split). An index above it is an error.
    pub n_features: Option<usize>,
    /// Sparse (default) or dense storage.
    pub storage: Storage,
}

/// A sparse matrix in compressed-row form.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
}

impl CsrMatrix {
    /// The number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }
    /// The number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// The number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Row `i` as (0-based column indices, values).
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[r.clone()], &self.values[r])
    }
}

/// A feature matrix, sparse or dense.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// Compressed sparse rows.
    Sparse(CsrMatrix),
    /// Dense, `n × d`, row-major.
    Dense(Array2<f64>),
}

impl Features {
    /// `n`, the number of rows.
    pub fn n_rows(&self) -> usize {
        match self {
            Features::Sparse(m) => m.n_rows(),
            Features::Dense(a) => a.nrows(),
        }
    }

    /// `d`, the number of columns.
    pub fn n_cols(&self) -> usize {
        match self {
            Features::Sparse(m) => m.n_cols(),
            Features::Dense(a) => a.ncols(),
        }
    }

    /// `⟨a_i, w⟩`. `w.len()` must equal [`Features::n_cols`].
    #[inline]
    pub fn row_dot(&self, i: usize, w: &[f64]) -> f64 {
        match self {
            Features::Sparse(m) => {
                let (idx, val) = m.row(i);
                idx.iter().zip(val).map(|(&j, &v)| v * w[j as usize]).sum()
            }
            Features::Dense(a) => a.row(i).iter().zip(w).map(|(v, wj)| v * wj).sum(),
        }
    }

    /// `out ← out + alpha · a_i`.
    #[inline]
    pub fn row_axpy(&self, i: usize, alpha: f64, out: &mut [f64]) {
        match self {
            Features::Sparse(m) => {
                let (idx, val) = m.row(i);
                for (&j, &v) in idx.iter().zip(val) {
                    out[j as usize] += alpha * v;
                }
            }
            Features::Dense(a) => {
                for (o, v) in out.iter_mut().zip(a.row(i)) {
                    *o += alpha * v;
                }
            }
        }
    }

    /// Calls `f(j, a_ij)` for each stored entry of row `i` (every entry when dense).
    pub fn for_each_in_row(&self, i: usize, mut f: impl FnMut(usize, f64)) {
        match self {
            Features::Sparse(m) => {
                let (idx, val) = m.row(i);
                idx.iter().zip(val).for_each(|(&j, &v)| f(j as usize, v));
            }
            Features::Dense(a) => a.row(i).iter().enumerate().for_each(|(j, &v)| f(j, v)),
        }
    }
}

/// A binary classification data set: features and labels in `{−1, +1}`.
///
/// **Label rule**: a file must have at most two distinct label values; the larger maps to `+1`
/// and the smaller to `−1` (mushrooms `2 → +1, 1 → −1`; phishing `1 → +1, 0 → −1`). A file with a
/// single label value maps it to `+1` if it is positive, else `−1`. The raw values are kept in
/// [`Dataset::raw_classes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Features,
    labels: Vec<f64>,
    raw_classes: (f64, Option<f64>),
}

impl Dataset {
    /// Reads and parses a LIBSVM file.
    ///
    /// ```
    /// use signfree::{Dataset, LibsvmOptions};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/heart_scale");
    /// let data = Dataset::from_path(path, LibsvmOptions::default())?;
    /// assert_eq!((data.n_samples(), data.n_features()), (270, 13));
    /// # Ok::<(), signfree::Error>(())
    /// ```
    pub fn from_path(path: impl AsRef<Path>, options: LibsvmOptions) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes, path, options)
    }

    /// Parses LIBSVM text from memory; `source` names it in errors.
    ///
    /// Lines may end in `\n` or `\r\n`; blank lines are skipped; tokens are separated by spaces
    /// or tabs. A row with a label and no features is valid (an all-zero row). Every malformed
    /// input is an [`Error::Parse`] with 1-based line and byte column, never a panic.
    pub fn parse(bytes: &[u8], source: impl AsRef<Path>, options: LibsvmOptions) -> Result<Self> {
        let source = source.as_ref();
        let err = |line: usize, column: usize, kind| Error::Parse {
            file: PathBuf::from(source),
            line,
            column,
            kind,
        };
        let mut indptr = vec![0usize];
        let mut indices: Vec<u32> = Vec::new();
        let mut values = Vec::new();
        let mut raw_labels = Vec::new();
        let mut classes: (Option<f64>, Option<f64>) = (None, None);
        let mut max_index = 0usize;
        let mut max_index_at = (1usize, 1usize);

        for (line_no, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_no = line_no + 1;
            let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
            let line = std::str::from_utf8(raw_line)
                .map_err(|e| err(line_no, e.valid_up_to() + 1, ParseErrorKind::InvalidUtf8))?;
            let mut tokens = tokens_with_columns(line);
            let Some((label_col, label_tok)) = tokens.next() else {
                continue;
            };
            let label = parse_finite(label_tok).ok_or_else(|| {
                err(
                    line_no,
                    label_col,
                    ParseErrorKind::BadLabel(label_tok.into()),
                )
            })?;
            match classes {
                (None, _) => classes.0 = Some(label),
                (Some(a), None) if a != label => classes.1 = Some(label),
                (Some(a), Some(b)) if a != label && b != label => {
                    return Err(err(
                        line_no,
                        label_col,
                        ParseErrorKind::TooManyClasses {
                            label,
                            first: a,
                            second: b,
                        },
                    ));
                }
                _ => {}
            }
            raw_labels.push(label);

            let mut previous = 0usize;
            for (col, tok) in tokens {
                let Some((idx_str, val_str)) = tok.split_once(':') else {
                    return Err(err(line_no, col, ParseErrorKind::BadToken(tok.into())));
                };
                let index = parse_index(idx_str)
                    .ok_or_else(|| err(line_no, col, ParseErrorKind::BadIndex(idx_str.into())))?;
                if index == 0 {
                    return Err(err(line_no, col, ParseErrorKind::ZeroIndex));
                }
                if index <= previous {
                    return Err(err(
                        line_no,
                        col,
                        ParseErrorKind::NonIncreasingIndex { previous, index },
                    ));
                }
                if let Some(n_features) = options.n_features
                    && index > n_features
                {
                    return Err(err(
                        line_no,
                        col,
                        ParseErrorKind::IndexOutOfRange { index, n_features },
                    ));
                }
                let value_col = col + idx_str.len() + 1;
                let value = parse_finite(val_str).ok_or_else(|| {
                    err(line_no, value_col, ParseErrorKind::BadValue(val_str.into()))
                })?;
                previous = index;
                if index > max_index {
                    max_index = index;
                    max_index_at = (line_no, col);
                }
                indices.push((index - 1) as u32);
                values.push(value);
            }
            indptr.push(indices.len());
        }

        if raw_labels.is_empty() {
            return Err(err(1, 1, ParseErrorKind::Empty));
        }
        let n_cols = options.n_features.unwrap_or(max_index);
        let first = classes.0.expect("at least one row was read");
        let positive = match classes.1 {
            Some(second) => first.max(second),
            None if first > 0.0 => first,
            None => f64::INFINITY, // the single class is the negative one
        };
        let labels = raw_labels
            .iter()
            .map(|&l| if l == positive { 1.0 } else { -1.0 })
            .collect();
        let csr = CsrMatrix {
            n_cols,
            indptr,
            indices,
            values,
        };
        let features = match options.storage {
            Storage::Sparse => Features::Sparse(csr),
            Storage::Dense => {
                let (rows, cols) = (csr.n_rows(), n_cols);
                let too_large = || {
                    err(
                        max_index_at.0,
                        max_index_at.1,
                        ParseErrorKind::DenseTooLarge { rows, cols },
                    )
                };
                // Fallible allocation: a file with one huge index must be an error, not an abort.
                let len = rows
                    .checked_mul(cols)
                    .filter(|&n| n <= MAX_DENSE_VALUES)
                    .ok_or_else(too_large)?;
                let mut values = Vec::new();
                values.try_reserve_exact(len).map_err(|_| too_large())?;
                values.resize(len, 0.0);
                for i in 0..rows {
                    let (idx, val) = csr.row(i);
                    for (&j, &v) in idx.iter().zip(val) {
                        values[i * cols + j as usize] = v;
                    }
                }
                let dense = Array2::from_shape_vec((rows, cols), values)
                    .expect("the buffer has rows × cols elements");
                Features::Dense(dense)
            }
        };
        Ok(Self {
            features,
            labels,
            raw_classes: (first, classes.1),
        })
    }

    /// Builds a data set from features and labels already in `{−1, +1}`.
    pub fn new(features: Features, labels: Vec<f64>) -> Result<Self> {
        if labels.len() != features.n_rows() {
            return Err(Error::DimensionMismatch {
                what: "labels".into(),
                expected: features.n_rows(),
                got: labels.len(),
            });
        }
        if let Some(&bad) = labels.iter().find(|&&l| l != 1.0 && l != -1.0) {
            return Err(Error::invalid(
                "Dataset",
                "labels",
                bad,
                "every label -1 or +1",
            ));
        }
        Ok(Self {
            features,
            labels,
            raw_classes: (1.0, Some(-1.0)),
        })
    }

    /// `n`, the number of rows.
    pub fn n_samples(&self) -> usize {
        self.labels.len()
    }

    /// `d`, the number of features.
    pub fn n_features(&self) -> usize {
        self.features.n_cols()
    }

    /// The feature matrix.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Labels in `{−1, +1}`.
    pub fn labels(&self) -> &[f64] {
        &self.labels
    }

    /// The raw label values in order of first appearance (the second is `None` for a file with
    /// one class).
    pub fn raw_classes(&self) -> (f64, Option<f64>) {
        self.raw_classes
    }

    /// The rows in `rows` as a new data set (same width, storage, labels and raw classes).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the range is decreasing or ends past [`Dataset::n_samples`].
    pub fn select_rows(&self, rows: std::ops::Range<usize>) -> Result<Self> {
        if rows.start > rows.end || rows.end > self.n_samples() {
            return Err(Error::invalid(
                "Dataset::select_rows",
                "rows",
                format!("{rows:?}"),
                "a non-decreasing range within 0..n_samples",
            ));
        }
        let features = match &self.features {
            Features::Sparse(m) => {
                let (lo, hi) = (m.indptr[rows.start], m.indptr[rows.end]);
                Features::Sparse(CsrMatrix {
                    n_cols: m.n_cols,
                    indptr: m.indptr[rows.start..=rows.end]
                        .iter()
                        .map(|&p| p - lo)
                        .collect(),
                    indices: m.indices[lo..hi].to_vec(),
                    values: m.values[lo..hi].to_vec(),
                })
            }
            Features::Dense(a) => {
                Features::Dense(a.slice(ndarray::s![rows.clone(), ..]).to_owned())
            }
        };
        Ok(Self {
            features,
            labels: self.labels[rows].to_vec(),
            raw_classes: self.raw_classes,
        })
    }

    /// Rank `rank`'s shard of `size` contiguous row blocks, for data-parallel training (see
    /// `signfree::dist`): block `r` holds rows `r·q + min(r, p) ..` with `q = n / size`,
    /// `p = n % size`, so the first `p` shards have one row more. Every row is in exactly one
    /// shard and the shards, concatenated in rank order, are the data set.
    ///
    /// ```
    /// use signfree::{Dataset, LibsvmOptions};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/heart_scale");
    /// let data = Dataset::from_path(path, LibsvmOptions::default())?;
    /// let sizes: Vec<usize> = (0..4).map(|r| data.shard(r, 4).map(|s| s.n_samples())).collect::<Result<_, _>>()?;
    /// assert_eq!(sizes, [68, 68, 67, 67]); // 270 rows
    /// # Ok::<(), signfree::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `size` is 0, `rank ≥ size` or `size > n_samples` (a shard
    /// would be empty).
    pub fn shard(&self, rank: usize, size: usize) -> Result<Self> {
        let n = self.n_samples();
        if size == 0 || size > n {
            return Err(Error::invalid(
                "Dataset::shard",
                "size",
                size,
                "an integer in 1..=n_samples",
            ));
        }
        if rank >= size {
            return Err(Error::invalid(
                "Dataset::shard",
                "rank",
                rank,
                "an integer in 0..size",
            ));
        }
        let (q, p) = (n / size, n % size);
        let start = rank * q + rank.min(p);
        let len = q + usize::from(rank < p);
        self.select_rows(start..start + len)
    }
}

/// Splits on spaces and tabs, yielding (1-based byte column, token).
fn tokens_with_columns(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = line.as_ptr() as usize;
    line.split([' ', '\t'])
        .filter(|t| !t.is_empty())
        .map(move |t| (t.as_ptr() as usize - base + 1, t))
}

fn parse_finite(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<usize>().ok().filter(|&i| i <= u32::MAX as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Dataset> {
        Dataset::parse(text.as_bytes(), "t.svm", LibsvmOptions::default())
    }

    fn parse_err(text: &str) -> (usize, usize, ParseErrorKind) {
        match parse(text) {
            Err(Error::Parse {
                line,
                column,
                kind,
                file,
            }) => {
                assert_eq!(file, PathBuf::from("t.svm"));
                (line, column, kind)
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn parses_sparse_rows_and_maps_labels() {
        let d = parse("2 1:0.5 3:-1\n1\n2 2:4e-1\r\n").unwrap();
        assert_eq!((d.n_samples(), d.n_features()), (3, 3));
        assert_eq!(d.labels(), [1.0, -1.0, 1.0]);
        assert_eq!(d.raw_classes(), (2.0, Some(1.0)));
        let Features::Sparse(m) = d.features() else {
            panic!("sparse expected")
        };
        assert_eq!(m.row(0), (&[0u32, 2][..], &[0.5, -1.0][..]));
        assert_eq!(m.row(1), (&[][..], &[][..]));
        assert_eq!(m.row(2), (&[1u32][..], &[0.4][..]));
        assert_eq!(d.features().row_dot(0, &[1.0, 1.0, 2.0]), -1.5);
    }

    #[test]
    fn dense_matches_sparse() {
        let text = "0 1:1 2:2\n1 2:3\n\n0 3:5\n";
        let opts = LibsvmOptions {
            n_features: Some(4),
            storage: Storage::Dense,
        };
        let dense = Dataset::parse(text.as_bytes(), "x", opts).unwrap();
        let sparse = Dataset::parse(
            text.as_bytes(),
            "x",
            LibsvmOptions {
                storage: Storage::Sparse,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(dense.n_features(), 4);
        assert_eq!(dense.labels(), [-1.0, 1.0, -1.0]);
        let w = [0.5, -1.0, 2.0, 7.0];
        for i in 0..3 {
            assert_eq!(
                dense.features().row_dot(i, &w),
                sparse.features().row_dot(i, &w)
            );
        }
    }

    /// Found by `cargo fuzz run libsvm_parse`: one index near u32::MAX made dense storage try to
    /// allocate 32 GB and abort (and one of 8e8, 6.4 GB). Beyond `MAX_DENSE_VALUES` it is now a
    /// typed error at the index's position.
    #[test]
    fn huge_dense_width_is_an_error_not_an_abort() {
        let text = b"083364731 4083364083:0";
        let opts = LibsvmOptions {
            n_features: None,
            storage: Storage::Dense,
        };
        match Dataset::parse(text, "f", opts) {
            Err(Error::Parse {
                line: 1,
                column: 11,
                kind: ParseErrorKind::DenseTooLarge { rows: 1, cols },
                ..
            }) => {
                assert_eq!(cols, 4083364083)
            }
            other => panic!("{other:?}"),
        }
        let text = b" +.71  0000000000800038321:3";
        assert!(matches!(
            Dataset::parse(text, "f", opts),
            Err(Error::Parse {
                kind: ParseErrorKind::DenseTooLarge {
                    rows: 1,
                    cols: 800038321
                },
                ..
            })
        ));
        // Sparse storage of such a file is fine.
        let text = b"083364731 4083364083:0";
        let sparse = Dataset::parse(text, "f", LibsvmOptions::default()).unwrap();
        assert_eq!(sparse.n_features(), 4083364083);
    }

    #[test]
    fn single_class_rule() {
        assert_eq!(parse("3 1:1\n").unwrap().labels(), [1.0]);
        assert_eq!(parse("0 1:1\n").unwrap().labels(), [-1.0]);
    }

    #[test]
    fn malformed_inputs_report_line_column_and_kind() {
        use ParseErrorKind::*;
        assert_eq!(parse_err(""), (1, 1, Empty));
        assert_eq!(parse_err("\n \n"), (1, 1, Empty));
        assert_eq!(parse_err("+1 1:2\nx 1:2"), (2, 1, BadLabel("x".into())));
        assert_eq!(parse_err("1 1:2 3"), (1, 7, BadToken("3".into())));
        assert_eq!(parse_err("1 0:2"), (1, 3, ZeroIndex));
        assert_eq!(parse_err("1 a:2"), (1, 3, BadIndex("a".into())));
        assert_eq!(parse_err("1 -1:2"), (1, 3, BadIndex("-1".into())));
        assert_eq!(
            parse_err("1 2:1 2:1"),
            (
                1,
                7,
                NonIncreasingIndex {
                    previous: 2,
                    index: 2
                }
            )
        );
        assert_eq!(
            parse_err("1 3:1  1:1"),
            (
                1,
                8,
                NonIncreasingIndex {
                    previous: 3,
                    index: 1
                }
            )
        );
        assert_eq!(parse_err("1 1:nan"), (1, 5, BadValue("nan".into())));
        assert_eq!(parse_err("1 12:inf"), (1, 6, BadValue("inf".into())));
        assert_eq!(parse_err("1 1:"), (1, 5, BadValue("".into())));
        assert_eq!(parse_err("inf 1:1"), (1, 1, BadLabel("inf".into())));
        assert!(matches!(
            parse_err("1\n2\n3 1:1"),
            (3, 1, TooManyClasses { .. })
        ));
        assert_eq!(
            parse_err("1 1:1\n\u{e9}"),
            (2, 1, BadLabel("\u{e9}".into()))
        );
        let opts = LibsvmOptions {
            n_features: Some(2),
            ..Default::default()
        };
        match Dataset::parse(b"1 1:1 3:1", "f", opts) {
            Err(Error::Parse {
                line: 1,
                column: 7,
                kind:
                    IndexOutOfRange {
                        index: 3,
                        n_features: 2,
                    },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_column_is_byte_offset() {
        let (line, col, kind) =
            match Dataset::parse(b"1 1:1\n1 2:\xff", "b", LibsvmOptions::default()) {
                Err(Error::Parse {
                    line, column, kind, ..
                }) => (line, column, kind),
                other => panic!("{other:?}"),
            };
        assert_eq!((line, col, kind), (2, 5, ParseErrorKind::InvalidUtf8));
    }

    #[test]
    fn io_error_names_the_file() {
        let e = Dataset::from_path("/no/such/file.svm", LibsvmOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { ref path, .. } if path == Path::new("/no/such/file.svm")));
        assert!(e.to_string().contains("/no/such/file.svm"));
    }
}
