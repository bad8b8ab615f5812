//! Output helpers for admin commands: tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

use super::connect::Output;

/// A table with a header row, laid out for the terminal.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

/// Prints `value` as JSON, or the table `render` builds from it.
pub fn print<T: Serialize>(output: Output, value: &T, render: impl FnOnce(&T) -> Table) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Table => println!("{}", render(value)),
    }
    Ok(())
}

/// Prints a one-line confirmation, or `{"ok": true, ...}` in JSON.
pub fn done<T: Serialize>(output: Output, value: &T, text: &str) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Table => println!("{text}"),
    }
    Ok(())
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC, seconds).
pub fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A byte count for people (`1.5 MiB`).
pub fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}
