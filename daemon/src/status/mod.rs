//! The status endpoints' content: the snapshot model (served as JSON) and the HTML page rendered
//! from it on the server. Owns no state and no routes; the server builds a snapshot per request.

#[cfg(test)]
mod fixture;
pub mod model;
pub mod page;
pub mod rollouts;
pub mod sparkline;
