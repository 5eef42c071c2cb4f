//! Status views: the snapshot model (JSON) and the server-rendered page.

pub mod model;
pub mod page;
