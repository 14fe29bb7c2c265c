//! The LIBSVM parser returns a data set or a typed error on any bytes, and what it returns is
//! self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signfree::{Dataset, Error, LibsvmOptions, Storage};

fuzz_target!(|data: &[u8]| {
    for storage in [Storage::Sparse, Storage::Dense] {
        let n_features = data.first().map(|&b| b as usize % 8).filter(|&n| n > 0);
        match Dataset::parse(data, "fuzz", LibsvmOptions { n_features, storage }) {
            Ok(d) => {
                assert_eq!(d.labels().len(), d.n_samples());
                assert!(d.labels().iter().all(|&y| y == 1.0 || y == -1.0));
                if d.n_features() <= 1 << 16 {
                    let w = vec![1.0; d.n_features()];
                    for i in 0..d.n_samples() {
                        let _ = d.features().row_dot(i, &w);
                    }
                }
            }
            Err(Error::Parse { line, column, .. }) => assert!(line >= 1 && column >= 1),
            Err(other) => panic!("unexpected error kind: {other:?}"),
        }
    }
});
