//! The optimizers, one file each; `adam` holds the Adam-direction passes they share.

pub(crate) mod adam;
pub mod adam_like;
pub mod adamw;
pub mod alias;
pub mod alias_adam;
pub mod prodigy;
pub mod sign_sgd;
pub mod sos;
