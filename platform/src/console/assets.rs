//! The console's files, embedded in the binary with `include_bytes!`, and the version that
//! names them.
//!
//! Every file is served under `/console/v/<version>/<path>`, where the version is a digest of
//! all of them: any change to any file gives every URL a new name, so browsers may cache them
//! for a year without ever running a stale mix, and modules can import each other by
//! relative paths (`./api.js`) with no build step to rewrite names. Only the HTML shell
//! (`/console/`) is revalidated on every load; it names the current version.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Served path → file (relative to this folder), embedded. `web/` is served at the root so
/// that the pages' relative imports match the URLs.
macro_rules! embedded {
    ($($served:literal => $file:literal),* $(,)?) => {
        &[$(($served, $file, include_bytes!($file) as &[u8])),*]
    };
}

/// Every embedded file: (served path, source file, bytes). A test checks that no file in
/// `web/`, `i18n/` or `vendor/` is missing here.
pub const FILES: &[(&str, &str, &[u8])] = embedded![
    "app.js" => "web/app.js",
    "app.css" => "web/app.css",
    "api.js" => "web/api.js",
    "i18n.js" => "web/i18n.js",
    "dom.js" => "web/dom.js",
    "format.js" => "web/format.js",
    "router.js" => "web/router.js",
    "pages.js" => "web/pages.js",
    "plant.js" => "web/plant.js",
    "states.js" => "web/states.js",
    "resolution.js" => "web/resolution.js",
    "trend.js" => "web/trend.js",
    "charts.js" => "web/charts.js",
    "mes.js" => "web/mes.js",
    "favicon.svg" => "web/favicon.svg",
    "pages/signin.js" => "web/pages/signin.js",
    "pages/overview.js" => "web/pages/overview.js",
    "pages/machine.js" => "web/pages/machine.js",
    "pages/alarms.js" => "web/pages/alarms.js",
    "pages/users.js" => "web/pages/users.js",
    "pages/keys.js" => "web/pages/keys.js",
    "pages/audit.js" => "web/pages/audit.js",
    "pages/usage.js" => "web/pages/usage.js",
    "pages/nothing.js" => "web/pages/nothing.js",
    "pages/oee.js" => "web/pages/oee.js",
    "pages/downtime.js" => "web/pages/downtime.js",
    "pages/workorders.js" => "web/pages/workorders.js",
    "pages/yield.js" => "web/pages/yield.js",
    "pages/spc.js" => "web/pages/spc.js",
    "pages/rules.js" => "web/pages/rules.js",
    "pages/webhooks.js" => "web/pages/webhooks.js",
    "pages/orders.js" => "web/pages/orders.js",
    "pages/bureau.js" => "web/pages/bureau.js",
    "i18n/en.json" => "i18n/en.json",
    "i18n/zh-CN.json" => "i18n/zh-CN.json",
    "vendor/uPlot.iife.min.js" => "vendor/uPlot.iife.min.js",
    "vendor/uPlot.min.css" => "vendor/uPlot.min.css",
    "vendor/uPlot.LICENSE" => "vendor/uPlot.LICENSE",
];

/// One file as served.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Bytes,
}

/// The console's files and their version.
#[derive(Debug)]
pub struct Bundle {
    /// Names this set of files in URLs: the first 16 hex digits of a SHA-256 over every path
    /// and body.
    pub version: String,
    files: BTreeMap<&'static str, Asset>,
}

impl Bundle {
    /// The file served at `path` (relative to the version), if any.
    pub fn get(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }

    /// Every served path.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.files.keys().copied()
    }

    /// The URL prefix of this version's files: `/console/v/<version>`.
    pub fn base(&self) -> String {
        format!("/console/v/{}", self.version)
    }

    fn build() -> Self {
        let mut files: BTreeMap<&'static str, Asset> = FILES
            .iter()
            .map(|(served, _, bytes)| {
                let asset = Asset {
                    content_type: content_type(served),
                    body: Bytes::from_static(bytes),
                };
                (*served, asset)
            })
            .collect();
        // Generated, so the menu reads the same permission table the server enforces.
        files.insert(
            "permissions.json",
            Asset {
                content_type: content_type("permissions.json"),
                body: Bytes::from(super::permissions::document().to_string()),
            },
        );
        // Generated too: the event types webhook endpoints may ask for, and the default ones.
        files.insert(
            "webhook-events.json",
            Asset {
                content_type: content_type("webhook-events.json"),
                body: Bytes::from(
                    serde_json::json!({
                        "all": crate::webhooks::event::EVENT_TYPES,
                        "default": crate::webhooks::event::DEFAULT_TYPES,
                    })
                    .to_string(),
                ),
            },
        );
        let mut digest = Sha256::new();
        for (path, asset) in &files {
            digest.update((path.len() as u64).to_le_bytes());
            digest.update(path.as_bytes());
            digest.update((asset.body.len() as u64).to_le_bytes());
            digest.update(&asset.body);
        }
        let version = hex::encode(digest.finalize())[..16].to_string();
        Self { version, files }
    }
}

/// The console's files, built once.
pub fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(Bundle::build)
}

/// The `Content-Type` of a served path, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "html" => "text/html; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn here() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/console"))
    }

    fn files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name);
            }
        }
    }

    #[test]
    fn every_file_of_the_console_is_embedded() {
        let mut on_disk = BTreeSet::new();
        for dir in ["web", "i18n", "vendor"] {
            files_under(&here().join(dir), &format!("{dir}/"), &mut on_disk);
        }
        // The rebuild script is for people, not browsers.
        on_disk.remove("vendor/update.sh");
        let embedded: BTreeSet<String> = FILES.iter().map(|(_, f, _)| f.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn files_are_served_with_their_types_under_one_version() {
        let b = bundle();
        assert_eq!(b.version.len(), 16);
        assert!(b.base().starts_with("/console/v/"));
        assert_eq!(
            b.get("app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            b.get("vendor/uPlot.min.css").unwrap().content_type,
            "text/css; charset=utf-8"
        );
        assert!(b.get("permissions.json").is_some());
        let events: serde_json::Value =
            serde_json::from_slice(&b.get("webhook-events.json").unwrap().body).unwrap();
        assert!(events["all"]
            .as_array()
            .unwrap()
            .contains(&"alarm.raised".into()));
        assert!(
            events["default"].as_array().unwrap().len() <= events["all"].as_array().unwrap().len()
        );
        assert!(b.get("../Cargo.toml").is_none());
        assert!(b.paths().all(|p| !p.starts_with('/') && !p.contains("..")));
    }

    /// Keys used by the pages and keys of both catalogues are the same set, so neither
    /// language shows a raw key. Pages write literal keys as `t('key')` and keys built at run
    /// time as `t(`prefix.${x}`)`, which accounts for every key under `prefix.`.
    #[test]
    fn both_catalogues_have_every_key_the_pages_use() {
        let catalogue = |lang: &str| -> BTreeSet<String> {
            let path = here().join(format!("i18n/{lang}.json"));
            let text = std::fs::read_to_string(path).unwrap();
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap();
            assert!(map
                .values()
                .all(|v| v.as_str().is_some_and(|s| !s.is_empty())));
            map.keys().cloned().collect()
        };
        let (en, zh) = (catalogue("en"), catalogue("zh-CN"));
        assert_eq!(
            en.symmetric_difference(&zh).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys in one catalogue only"
        );
        let (mut used, mut prefixes) = (BTreeSet::new(), BTreeSet::new());
        for (_, file, bytes) in FILES.iter().filter(|(s, _, _)| s.ends_with(".js")) {
            if file.starts_with("vendor/") {
                continue;
            }
            let source = std::str::from_utf8(bytes).unwrap();
            used.extend(calls(source, "t('", "'"));
            prefixes.extend(calls(source, "t(`", "${"));
        }
        let missing: Vec<_> = used.difference(&en).collect();
        assert!(
            missing.is_empty(),
            "used but not in the catalogues: {missing:?}"
        );
        let unused: Vec<_> = en
            .iter()
            .filter(|k| !used.contains(*k) && !prefixes.iter().any(|p| k.starts_with(p.as_str())))
            .collect();
        assert!(
            unused.is_empty(),
            "in the catalogues but never used: {unused:?}"
        );
        for prefix in &prefixes {
            assert!(
                en.iter().any(|k| k.starts_with(prefix.as_str())),
                "no key under {prefix}"
            );
        }
    }

    /// What follows `open` up to `close` in calls of `t` (not preceded by an identifier
    /// character, so `sort('x')` and `obj.t('x')` are not calls of `t`).
    fn calls(source: &str, open: &str, close: &str) -> Vec<String> {
        let bytes = source.as_bytes();
        let mut found = Vec::new();
        let mut i = 0;
        while let Some(pos) = source[i..].find(open) {
            let at = i + pos;
            let before = at.checked_sub(1).map(|b| bytes[b]);
            let is_call = before
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$')));
            let start = at + open.len();
            if let Some(len) = source[start..].find(close) {
                if is_call {
                    found.push(source[start..start + len].to_string());
                }
            }
            i = start;
        }
        found
    }

    #[test]
    fn key_scanner_finds_calls_only() {
        let source = "x = t('a.b'); sort('z'); h('p', t('c')); obj.t('d'); t(`role.${r}`)";
        assert_eq!(calls(source, "t('", "'"), ["a.b", "c"]);
        assert_eq!(calls(source, "t(`", "${"), ["role."]);
    }
}
