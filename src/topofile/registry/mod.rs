//! What a topology file's components may name: Gale's built-in Rust
//! components (`builtin: count`, [`COMPONENTS`]) and, for Flux files, the
//! classes of a [`Registry`] (`className: "org.apache.storm.testing.TestWordSpout"`,
//! or a class a binary of yours registers with its own factory).

mod builtin;
mod class;
mod storm;

pub(crate) use builtin::{add_bolt, add_spout, check_args, names, streams, Outputs};
pub use builtin::{find, Named, Role, COMPONENTS};
pub(crate) use class::Class;
pub use class::{Arg, BoltFactory, ClassArgs, Registry, SpoutFactory};
pub(crate) use storm::Stand;
