//! The LIBSVM data sets shipped in the crate's `data/` folder.

use std::path::PathBuf;

use crate::error::Result;
use crate::problems::libsvm::{Dataset, LibsvmOptions};

/// A data set shipped in `data/` (checksums in `data/SHA256SUMS`, sources in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Bundled {
    /// mushrooms: 8124 × 112, labels 1/2.
    Mushrooms,
    /// a9a (Adult): 32561 × 123.
    A9a,
    /// w8a: 49749 × 300.
    W8a,
    /// phishing: 11055 × 68, labels 0/1.
    Phishing,
    /// heart_scale: 270 × 13.
    Heart,
    /// australian_scale: 690 × 14.
    Australian,
    /// breast-cancer_scale: 683 × 10.
    BreastCancer,
    /// german.numer_scale: 1000 × 24.
    GermanNumer,
}

impl Bundled {
    /// Every bundled set.
    pub const ALL: [Bundled; 8] = [
        Bundled::Mushrooms,
        Bundled::A9a,
        Bundled::W8a,
        Bundled::Phishing,
        Bundled::Heart,
        Bundled::Australian,
        Bundled::BreastCancer,
        Bundled::GermanNumer,
    ];

    /// The four sets of the paper's convex experiments.
    pub const PAPER: [Bundled; 4] = [
        Bundled::Mushrooms,
        Bundled::A9a,
        Bundled::W8a,
        Bundled::Phishing,
    ];

    /// The file name in `data/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Bundled::Mushrooms => "mushrooms",
            Bundled::A9a => "a9a",
            Bundled::W8a => "w8a",
            Bundled::Phishing => "phishing",
            Bundled::Heart => "heart_scale",
            Bundled::Australian => "australian_scale",
            Bundled::BreastCancer => "breast-cancer_scale",
            Bundled::GermanNumer => "german.numer_scale",
        }
    }

    /// Looks a set up by its file name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.file_name() == name)
    }

    /// The path of the file in this crate's source tree.
    pub fn path(self) -> PathBuf {
        [env!("CARGO_MANIFEST_DIR"), "data", self.file_name()]
            .iter()
            .collect()
    }

    /// Loads the set with sparse storage and the width inferred from the file.
    pub fn load(self) -> Result<Dataset> {
        Dataset::from_path(self.path(), LibsvmOptions::default())
    }
}
