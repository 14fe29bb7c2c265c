//! The optimizers, one file each.

pub mod alias;
pub mod sign_sgd;
pub mod sos;
