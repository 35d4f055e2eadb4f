//! The console's HTML shell and the headers every console response carries.
//!
//! The shell is the only response that is not cached for long: it names the current asset
//! version, and everything else comes from the versioned, immutable files. It holds no inline
//! script or style, so the content security policy can forbid both, along with every origin
//! but the platform's own.

use super::language::Lang;

/// The content security policy: scripts, styles, images and API calls from this origin only;
/// no inline scripts, no `eval`, no plugins, no framing, no `<base>` tricks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every console response (the shell and the files).
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// `Cache-Control` of the shell: always revalidated, since it names the asset version.
pub const SHELL_CACHE: &str = "no-cache";

/// `Cache-Control` of versioned files: their URL changes whenever their content does.
pub const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

const TEMPLATE: &str = include_str!("index.html");

/// The shell for `lang`, loading the files under `base` (`/console/v/<version>`).
pub fn shell(base: &str, lang: Lang) -> String {
    let noscript = match lang {
        Lang::ZhCn => "控制台需要启用 JavaScript。",
        Lang::En => "The console needs JavaScript.",
    };
    TEMPLATE
        .replace("{{lang}}", lang.tag())
        .replace("{{base}}", base)
        .replace("{{noscript}}", noscript)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_loads_versioned_files_and_nothing_inline() {
        let html = shell("/console/v/0123456789abcdef", Lang::ZhCn);
        assert!(html.contains(r#"<html lang="zh-CN">"#));
        assert!(html.contains(r#"src="/console/v/0123456789abcdef/app.js""#));
        assert!(!html.contains("{{"));
        // Every script has a src (no inline code), and nothing is styled inline.
        for script in html.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains("src="), "inline script: {script}");
            assert!(script[script.find('>').unwrap() + 1..].starts_with("</script>"));
        }
        assert!(!html.contains("style="));
        assert!(!html.contains("<style"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn the_policy_forbids_inline_scripts_and_other_origins() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        assert!(!CONTENT_SECURITY_POLICY.contains('*'));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none';"));
    }
}
