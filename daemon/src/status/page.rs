//! Placeholder until the status page lands.

use super::model::StatusSnapshot;

/// Render the page.
pub fn render(snapshot: &StatusSnapshot) -> String {
    format!("<pre>{}</pre>", snapshot.probes.len())
}
