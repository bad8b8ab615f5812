//! Consumer groups: membership, generations, assignment strategies, committed offsets and the admin views.

pub mod actor;
pub mod api;
pub mod assign;
pub(crate) mod registry;
