//! The offline subcommands: `crds` and `validate`.

pub mod crds;
pub mod validate;
