//! The optimizers, one file each.

pub mod sign_sgd;
