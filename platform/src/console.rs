//! The web console: pages for engineers, operators and admins, served by the platform itself
//! from files embedded in the binary (no separate server, no CDN, works offline).
//!
//! The console is a set of plain ES modules (`web/`) that call the same `/api/v1` routes as
//! every other client, so the access table ([`crate::api::access`]) decides what each user
//! sees and the server refuses what the menu would not offer anyway. Nothing here touches the
//! database or HTTP: the handlers are in [`crate::api::console`].
//!
//! # Layout
//! - [`assets`]: the embedded files, their content types and the version that names them
//!   (`/console/v/<version>/…`, cached for a year, changed whenever any file changes).
//! - [`page`]: the HTML shell and the security headers (a content security policy that
//!   forbids inline scripts and outside origins).
//! - [`language`]: `zh-CN` or `en` from the browser's `Accept-Language`.
//! - [`permissions`]: the permission table as the console reads it, generated from
//!   [`millwright_tenants::permission::TABLE`] so the menu cannot drift from the server.
//! - `web/`: the modules, the style sheet and `web/pages/` (one module per page, registered in
//!   `web/pages.js`); `i18n/`: the `en` and `zh-CN` catalogues; `vendor/`: uPlot, pinned, with
//!   its licence and `update.sh`, which rebuilds it from the npm registry.

pub mod assets;
pub mod language;
pub mod page;
pub mod permissions;
