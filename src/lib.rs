//! Gale facade.
