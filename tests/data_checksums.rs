//! The bundled data files are exactly the published ones (data/SHA256SUMS, copied from the
//! project's shared data folder).

use sha2::{Digest, Sha256};
use signfree::Bundled;
use std::path::Path;

#[test]
fn bundled_files_match_sha256sums() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let expected = |name: &str| {
        sums.lines()
            .filter_map(|l| l.split_once("  "))
            .find(|(_, file)| *file == name)
            .map(|(hash, _)| hash.to_string())
            .unwrap_or_else(|| panic!("{name} missing from SHA256SUMS"))
    };
    for set in Bundled::ALL {
        let bytes = std::fs::read(set.path()).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, expected(set.file_name()), "{}", set.file_name());
    }
    // The example data: the tiny Shakespeare text (examples/tiny_llama) and a9a's test split
    // (examples/a9a_mlp).
    for (name, size) in [("tinyshakespeare.txt", 1_115_394), ("a9a.t", 1_164_628)] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, expected(name), "{name}");
        assert_eq!(bytes.len(), size, "{name}");
    }
}

#[test]
fn a9a_test_split_has_published_shape() {
    // The test split never uses feature 123, so its width is given, not inferred.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/a9a.t");
    let options = signfree::LibsvmOptions {
        n_features: Some(123),
        ..Default::default()
    };
    let test = signfree::Dataset::from_path(path, options).unwrap();
    assert_eq!((test.n_samples(), test.n_features()), (16281, 123));
    let positives = test.labels().iter().filter(|&&y| y == 1.0).count();
    assert_eq!(positives, 3846);
}

#[test]
fn bundled_files_have_published_sizes() {
    let sizes = [
        (Bundled::Mushrooms, 8124, 112),
        (Bundled::A9a, 32561, 123),
        (Bundled::W8a, 49749, 300),
        (Bundled::Phishing, 11055, 68),
        (Bundled::Heart, 270, 13),
        (Bundled::Australian, 690, 14),
        (Bundled::BreastCancer, 683, 10),
        (Bundled::GermanNumer, 1000, 24),
    ];
    for (set, n, d) in sizes {
        let data = set.load().unwrap();
        assert_eq!((data.n_samples(), data.n_features()), (n, d), "{set:?}");
        let positives = data.labels().iter().filter(|&&y| y == 1.0).count();
        assert!(positives > 0 && positives < n, "{set:?} has both classes");
    }
    // mushrooms: raw labels 1 (3916) and 2 (4208); 2 maps to +1.
    let m = Bundled::Mushrooms.load().unwrap();
    assert_eq!(m.labels().iter().filter(|&&y| y == 1.0).count(), 4208);
}
