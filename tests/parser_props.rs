//! The LIBSVM parser never panics, and reads back what a writer wrote.

use proptest::prelude::*;
use signfree::{Dataset, Error, Features, LibsvmOptions, Storage};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for storage in [Storage::Sparse, Storage::Dense] {
            let opts = LibsvmOptions { n_features: None, storage };
            match Dataset::parse(&bytes, "fuzz", opts) {
                Ok(d) => prop_assert_eq!(d.labels().len(), d.n_samples()),
                Err(Error::Parse { line, column, .. }) => prop_assert!(line >= 1 && column >= 1),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }

    /// Bytes drawn from the format's own alphabet reach the deeper error paths.
    #[test]
    fn near_valid_text_never_panics(s in "[-+0-9.:eEna \t\r\n]{0,120}") {
        let _ = Dataset::parse(s.as_bytes(), "fuzz", LibsvmOptions::default());
        let _ = Dataset::parse(s.as_bytes(), "fuzz", LibsvmOptions { n_features: Some(3), storage: Storage::Dense });
    }

    #[test]
    fn written_rows_round_trip(
        rows in prop::collection::vec(
            (any::<bool>(), prop::collection::btree_map(1usize..50, -1e3..1e3f64, 0..6)),
            1..20,
        )
    ) {
        let mut text = String::new();
        for (positive, feats) in &rows {
            text.push_str(if *positive { "+1" } else { "-1" });
            for (j, v) in feats {
                text.push_str(&format!(" {j}:{v:?}"));
            }
            text.push('\n');
        }
        let d = Dataset::parse(text.as_bytes(), "rt", LibsvmOptions { n_features: Some(50), storage: Storage::Sparse }).unwrap();
        let Features::Sparse(m) = d.features() else { unreachable!() };
        let both = rows.iter().any(|r| r.0) && rows.iter().any(|r| !r.0);
        for (i, (positive, feats)) in rows.iter().enumerate() {
            let (idx, val) = m.row(i);
            let idx: Vec<usize> = idx.iter().map(|&j| j as usize + 1).collect();
            prop_assert_eq!(idx, feats.keys().copied().collect::<Vec<_>>());
            prop_assert_eq!(val.to_vec(), feats.values().copied().collect::<Vec<_>>());
            if both {
                prop_assert_eq!(d.labels()[i], if *positive { 1.0 } else { -1.0 });
            }
        }
    }
}
