//! Scrubbing secrets out of text bound for logs and error bodies.
//!
//! [`redact`] replaces, wherever they occur:
//! - the secret part of API keys (`mwk_3f9a1c2e_<secret>` keeps its public prefix) and whole
//!   refresh tokens (`mwr_…`);
//! - bearer credentials (`Bearer <token>`, tokens of 8 characters or more) and bare JWTs
//!   (`eyJ….….…`);
//! - passwords in URLs (`postgres://user:pw@host` keeps the user and host);
//! - values of secret-looking keys: `password=…`, `token=…`, `client_secret = '…'` (libpq
//!   connection strings, query strings, TOML) and quoted values after `:`
//!   (`"password": "…"` in JSON, `password: "…"` in Rust `Debug` output). A key is
//!   secret-looking when it ends in password, passwd, pwd, secret, token, apikey, api_key or
//!   api-key, in any case.
//!
//! It is a safety net, not a licence: the types in this crate already refuse to print
//! secrets. Redaction is idempotent, and text without secrets comes back borrowed.
//!
//! ```
//! use millwright_tenants::redact::{redact, Redacted};
//! assert_eq!(
//!     redact("connect postgres://app:s3cret@db:5432/mw failed"),
//!     "connect postgres://app:[redacted]@db:5432/mw failed"
//! );
//! assert_eq!(redact("Authorization: Bearer abcdefgh12345"), "Authorization: Bearer [redacted]");
//! let err = "bad key mwk_3f9a1c2e_0123456789abcdefghijABCDEFGHIJ0123456789abc";
//! assert_eq!(Redacted(err).to_string(), "bad key mwk_3f9a1c2e_[redacted]");
//! ```

use std::borrow::Cow;
use std::fmt;

/// What every secret is replaced by.
pub const REDACTED: &str = "[redacted]";

const SECRET_KEYS: [&str; 8] = [
    "password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key",
];
const MIN_BEARER_LEN: usize = 8;

/// `text` with every secret this module recognises replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let passes: [fn(&str) -> String; 6] = [
        api_keys,
        refresh_tokens,
        bearer,
        jwts,
        url_passwords,
        assignments,
    ];
    let mut out = text.to_owned();
    for pass in passes {
        out = pass(&out);
    }
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// Displays (and debug-prints) its content redacted: `error = %Redacted(&e)` in a log call.
#[derive(Clone, Copy)]
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0.to_string()))
    }
}

impl<T: fmt::Debug> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&format!("{:?}", self.0)))
    }
}

/// Rebuilds `text`, letting `at` replace a span starting at a byte index: it returns the end
/// of the span and its replacement, or `None` to move on. Spans start and end at ASCII bytes,
/// so slicing stays on character boundaries.
fn rewrite(text: &str, at: impl Fn(&[u8], usize) -> Option<(usize, String)>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        match at(bytes, i) {
            Some((end, replacement)) if end > i => {
                out.push_str(&text[copied..i]);
                out.push_str(&replacement);
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn run_end(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !keep(b))
        .map_or(bytes.len(), |n| from + n)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `mwk_<8 prefix chars>_<secret>`: keep the marker and the prefix, which are public.
fn api_keys(text: &str) -> String {
    rewrite(text, |bytes, i| {
        let start = i + 4;
        if !bytes[i..].starts_with(b"mwk_") {
            return None;
        }
        let end = run_end(bytes, start, is_word);
        let run = &bytes[start..end];
        let prefix_ok = run.len() >= 8 && run[..8].iter().all(u8::is_ascii_alphanumeric);
        if prefix_ok && (run.len() == 8 || run.len() == 9 && run[8] == b'_') {
            return None; // A bare prefix, or one already redacted.
        }
        if prefix_ok && run[8] == b'_' {
            let keep = String::from_utf8_lossy(&bytes[i..start + 9]);
            return Some((end, format!("{keep}{REDACTED}")));
        }
        (!run.is_empty()).then(|| (end, format!("mwk_{REDACTED}")))
    })
}

fn refresh_tokens(text: &str) -> String {
    rewrite(text, |bytes, i| {
        if !bytes[i..].starts_with(b"mwr_") {
            return None;
        }
        let end = run_end(bytes, i + 4, is_word);
        (end > i + 4).then(|| (end, format!("mwr_{REDACTED}")))
    })
}

/// RFC 6750's token characters.
fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

fn bearer(text: &str) -> String {
    rewrite(text, |bytes, i| {
        let word = bytes.get(i..i + 6)?;
        if !word.eq_ignore_ascii_case(b"bearer") || i > 0 && is_word(bytes[i - 1]) {
            return None;
        }
        let start = run_end(bytes, i + 6, |b| b == b' ');
        let end = run_end(bytes, start, is_b64token);
        (start > i + 6 && end - start >= MIN_BEARER_LEN).then(|| {
            let head = String::from_utf8_lossy(&bytes[i..start]);
            (end, format!("{head}{REDACTED}"))
        })
    })
}

fn jwts(text: &str) -> String {
    rewrite(text, |bytes, i| {
        if !bytes[i..].starts_with(b"eyJ") {
            return None;
        }
        let end = run_end(bytes, i, |b| is_word(b) || b == b'-' || b == b'.');
        let parts: Vec<&[u8]> = bytes[i..end].split(|&b| b == b'.').collect();
        (parts.len() == 3 && !parts[1].is_empty()).then(|| (end, REDACTED.to_owned()))
    })
}

/// `scheme://user:password@host`: the password goes, the user and host stay.
fn url_passwords(text: &str) -> String {
    rewrite(text, |bytes, i| {
        if !bytes[i..].starts_with(b"://") {
            return None;
        }
        let start = i + 3;
        let end = run_end(bytes, start, |b| {
            !(b.is_ascii_whitespace() || b"/?#\"'<>`".contains(&b))
        });
        let authority = &bytes[start..end];
        let at = authority.iter().rposition(|&b| b == b'@')?;
        let colon = authority[..at].iter().position(|&b| b == b':')?;
        let head = String::from_utf8_lossy(&bytes[i..start + colon + 1]);
        Some((start + at, format!("{head}{REDACTED}")))
    })
}

/// `key=value`, `key = 'value'`, `"key": "value"`, `key: "value"` for secret-looking keys.
/// The span replaced starts at the `=` or `:`.
fn assignments(text: &str) -> String {
    rewrite(text, |bytes, i| {
        let op = bytes[i];
        if op != b'=' && op != b':' {
            return None;
        }
        if !secret_key_before(bytes, i) {
            return None;
        }
        let start = run_end(bytes, i + 1, |b| b == b' ');
        let head = String::from_utf8_lossy(&bytes[i..start]);
        match bytes.get(start) {
            Some(&quote @ (b'"' | b'\'')) => {
                let close = closing_quote(bytes, start + 1, quote)?;
                Some((close, format!("{head}{}{REDACTED}", quote as char)))
            }
            Some(_) if op == b'=' => {
                let end = run_end(bytes, start, |b| {
                    !(b.is_ascii_whitespace() || b"&;,\"')}".contains(&b))
                });
                (end > start).then(|| (end, format!("{head}{REDACTED}")))
            }
            _ => None,
        }
    })
}

/// Whether the bytes before `op` end with a secret-looking key, allowing spaces and a
/// closing quote between them.
fn secret_key_before(bytes: &[u8], op: usize) -> bool {
    let mut end = op;
    while end > 0 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    if end > 0 && bytes[end - 1] == b'"' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (is_word(bytes[start - 1]) || bytes[start - 1] == b'-') {
        start -= 1;
    }
    let key = bytes[start..end].to_ascii_lowercase();
    SECRET_KEYS.iter().any(|k| key.ends_with(k.as_bytes()))
}

/// The index of the quote closing a string that starts at `from`, skipping backslash escapes;
/// `None` if the string is not closed (then it is left alone: too unsure to cut).
fn closing_quote(bytes: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests;
