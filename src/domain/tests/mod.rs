//! Unit tests of the domain rules, in given/when/then form (see [`framework`]).

mod allocate;
mod batches;
mod change_quantity;
mod deallocate;
pub(crate) mod framework;
mod journal;
mod snapshot;
mod values;
