//! What a topology file's components may name: Gale's built-in Rust
//! components (`builtin: count`, [`COMPONENTS`]) and, for Flux files, the
//! classes of a [`Registry`] (`className: "org.apache.storm.testing.TestWordSpout"`,
//! or a class a binary of yours registers with its own factory).

mod args;
mod builtin;
mod class;
mod flux;
mod storm;

pub use args::{Arg, ClassArgs};
pub(crate) use builtin::{add_bolt, add_spout, check_args, names, streams, Outputs};
pub use builtin::{find, Named, Role, COMPONENTS};
pub(crate) use class::Class;
pub use class::{BoltFactory, Registry, SpoutFactory};
pub(crate) use flux::translate;
pub(crate) use storm::Stand;
