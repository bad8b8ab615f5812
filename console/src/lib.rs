//! The web console's assets (HTML, CSS, JavaScript), compiled into the binary: no build step, no network.
//! The HTTP gateway serves them at `/`; the pages talk to the REST API under `/api/v1`.
//!
//! The console is a single page (`index.html`) with hash routing and plain ES modules under `js/`, styled by
//! `css/console.css`. Lookups match the embedded table exactly, so no path outside it (`..`, encoded or doubled
//! slashes, other files of the crate) can ever be served.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// File contents.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// Embeds files of `assets/` by their path relative to it.
macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)).as_slice())),*]
    };
}

/// Every file of the console, by its path under `/`.
static ASSETS: &[(&str, &[u8])] = embed![
    "index.html",
    "favicon.svg",
    "css/console.css",
    "js/app.js",
    "js/api.js",
    "js/router.js",
    "js/ui.js",
    "js/chart.js",
    "js/codec.js",
    "js/data.js",
    "js/messages.js",
    "js/pages/overview.js",
    "js/pages/topics.js",
    "js/pages/topic.js",
    "js/pages/groups.js",
    "js/pages/group.js",
    "js/pages/users.js",
];

/// The `Content-Type` of an embedded file, from its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The asset served at `path` (`/` is the console's page), if any.
///
/// `path` is the request path (a query string, if passed along, is ignored). Only the exact paths of the embedded
/// files match (with or without the leading `/`); anything else, `..` segments included, is `None`.
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let relative = path.strip_prefix('/').unwrap_or(path);
    let relative = if relative.is_empty() { "index.html" } else { relative };
    ASSETS
        .iter()
        .find(|(name, _)| *name == relative)
        .map(|(name, bytes)| Asset { bytes, content_type: content_type(name) })
}

/// The paths (under `/`) of every embedded file, `index.html` first.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    fn text(path: &str) -> &'static str {
        let asset = asset(path).unwrap_or_else(|| panic!("{path} is served"));
        std::str::from_utf8(asset.bytes).expect("UTF-8")
    }

    fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read assets dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    /// Values following each `marker` up to `end` (e.g. `href="` .. `"`).
    fn between<'a>(haystack: &'a str, marker: &str, end: char) -> Vec<&'a str> {
        let mut found = Vec::new();
        let mut rest = haystack;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            if let Some(stop) = rest.find(end) {
                found.push(&rest[..stop]);
                rest = &rest[stop..];
            }
        }
        found
    }

    /// Resolves `reference` relative to the directory of `from` (both paths under the root, no leading `/`).
    fn resolve(from: &str, reference: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for segment in reference.split('/') {
            match segment {
                "." | "" => {}
                ".." => {
                    assert!(parts.pop().is_some(), "{reference} from {from} climbs above the root");
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    #[test]
    fn root_and_index_serve_the_page() {
        for path in ["/", "", "/index.html", "index.html", "/?x=1"] {
            let page = asset(path).unwrap_or_else(|| panic!("{path:?} serves the page"));
            assert_eq!(page.content_type, "text/html; charset=utf-8");
            assert!(std::str::from_utf8(page.bytes).expect("UTF-8").starts_with("<!doctype html>"));
        }
    }

    #[test]
    fn every_file_in_assets_is_embedded_and_identical() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut files = Vec::new();
        files_under(&root, &mut files);
        let on_disk: BTreeSet<String> = files
            .iter()
            .map(|p| p.strip_prefix(&root).expect("under root").to_string_lossy().replace('\\', "/"))
            .collect();
        let embedded: BTreeSet<String> = paths().map(str::to_string).collect();
        assert_eq!(on_disk, embedded, "console/assets and the embedded table differ");
        for name in &on_disk {
            let bytes = std::fs::read(root.join(name)).expect("read asset");
            assert_eq!(asset(&format!("/{name}")).expect("served").bytes, bytes.as_slice(), "{name}");
        }
    }

    #[test]
    fn every_reference_is_served_with_its_type() {
        let html = text("/");
        let mut checked = BTreeSet::new();
        let mut pending: Vec<(String, String)> = Vec::new();
        for marker in ["href=\"", "src=\""] {
            for reference in between(html, marker, '"') {
                if reference.starts_with('#') {
                    continue;
                }
                pending.push(("index.html".into(), reference.to_string()));
            }
        }
        assert!(pending.iter().any(|(_, r)| r == "js/app.js"), "index.html loads js/app.js");
        assert!(pending.iter().any(|(_, r)| r == "css/console.css"), "index.html loads the stylesheet");
        while let Some((from, reference)) = pending.pop() {
            assert!(!reference.starts_with('/') && !reference.contains("//"), "{reference} in {from} is not relative");
            let path = resolve(&from, &reference);
            let served = asset(&format!("/{path}")).unwrap_or_else(|| panic!("{reference} (from {from}) is served"));
            let expected = match path.rsplit_once('.').map(|(_, e)| e) {
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected reference type {other:?} for {path}"),
            };
            assert_eq!(served.content_type, expected, "{path}");
            if path.ends_with(".js") && checked.insert(path.clone()) {
                let source = std::str::from_utf8(served.bytes).expect("UTF-8");
                for quote in ['\'', '"'] {
                    for import in between(source, &format!(" from {quote}"), quote) {
                        pending.push((path.clone(), import.to_string()));
                    }
                }
            }
        }
        let modules: BTreeSet<String> = paths().filter(|p| p.ends_with(".js")).map(str::to_string).collect();
        assert_eq!(checked, modules, "every module is reachable from js/app.js, and only those");
    }

    #[test]
    fn unknown_and_escaping_paths_are_none() {
        for path in [
            "/nope",
            "/js/",
            "/js",
            "/JS/app.js",
            "/index.htm",
            "//index.html",
            "/./index.html",
            "/js/../index.html",
            "/../Cargo.toml",
            "/..%2fCargo.toml",
            "/%2e%2e/Cargo.toml",
            "/js/%2e%2e/index.html",
            "\\index.html",
            "/js\\app.js",
            "/src/lib.rs",
            "/assets/index.html",
            "/Cargo.toml",
            "/css/console.css/",
            "/index.html\0",
            "/api/v1/status",
        ] {
            assert!(asset(path).is_none(), "{path:?} must not be served");
        }
    }

    #[test]
    fn nothing_is_loaded_from_elsewhere() {
        for name in paths() {
            let source = text(name);
            let cleaned = source.replace("http://www.w3.org/2000/svg", "");
            for scheme in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!cleaned.contains(scheme), "{name} refers to {scheme}");
            }
        }
        let html = text("/");
        assert!(html.contains("Content-Security-Policy"), "index.html sets a content security policy");
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn files_stay_small() {
        for name in paths() {
            let lines = text(name).lines().count();
            assert!(lines <= 600, "{name} has {lines} lines");
        }
    }
}
