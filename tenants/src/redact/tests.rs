use super::*;
use crate::api_key::NewApiKey;
use crate::role::Role;
use crate::token::refresh::NewRefreshToken;
use crate::token::{JwtSecret, TokenIssuer, ACCESS_TTL};
use proptest::prelude::*;

fn r(s: &str) -> String {
    redact(s).into_owned()
}

#[test]
fn api_keys_keep_their_public_prefix() {
    let key = NewApiKey::generate();
    let line = format!("rejected key {} for tenant 3", key.plaintext);
    let out = r(&line);
    assert_eq!(
        out,
        format!("rejected key {}_{REDACTED} for tenant 3", key.prefix)
    );
    assert!(!out.contains(&key.plaintext[key.prefix.len() + 1..]));
    // A prefix alone is public and stays.
    assert_eq!(r("key mwk_3f9a1c2e revoked"), "key mwk_3f9a1c2e revoked");
    // Anything else after the marker goes.
    assert_eq!(r("mwk_garbage!"), format!("mwk_{REDACTED}!"));
}

#[test]
fn refresh_tokens_and_jwts_go_entirely() {
    let refresh = NewRefreshToken::generate();
    let out = r(&format!("refresh={}", refresh.plaintext.expose()));
    assert!(!out.contains(&refresh.plaintext.expose()[4..]), "{out}");

    let issuer = TokenIssuer::new(&JwtSecret::generate(), ACCESS_TTL).unwrap();
    let (jwt, _) = issuer
        .issue(Some(1), 2, Role::Admin, chrono::Utc::now())
        .unwrap();
    let out = r(&format!("token {} expired", jwt.expose()));
    assert_eq!(out, format!("token {REDACTED} expired"));
}

#[test]
fn bearer_credentials() {
    assert_eq!(
        r("authorization: bearer abc.def-ghi_123"),
        format!("authorization: bearer {REDACTED}")
    );
    assert_eq!(r("BEARER   QWERTYUIOP=="), format!("BEARER   {REDACTED}"));
    // Prose and the API's own hints are left alone.
    assert_eq!(
        r("missing Authorization: Bearer <API key>"),
        "missing Authorization: Bearer <API key>"
    );
    assert_eq!(r("bearer tokens expire"), "bearer tokens expire");
}

#[test]
fn url_passwords_keep_user_and_host() {
    assert_eq!(
        r("postgres://millwright_owner:p@ss:w0rd@tsdb:5432/millwright?sslmode=require"),
        format!("postgres://millwright_owner:{REDACTED}@tsdb:5432/millwright?sslmode=require")
    );
    assert_eq!(r("http://user@host/path"), "http://user@host/path");
    assert_eq!(
        r("see https://example.com/a:b@c"),
        "see https://example.com/a:b@c"
    );
    assert_eq!(
        r("redis://:onlypw@cache"),
        format!("redis://:{REDACTED}@cache")
    );
}

#[test]
fn secret_looking_assignments() {
    assert_eq!(
        r("host=db user=app password=s3cret dbname=mw"),
        format!("host=db user=app password={REDACTED} dbname=mw")
    );
    assert_eq!(
        r("password='with space' port=5432"),
        format!("password='{REDACTED}' port=5432")
    );
    assert_eq!(
        r("GET /x?access_token=abc&y=1"),
        format!("GET /x?access_token={REDACTED}&y=1")
    );
    assert_eq!(
        r(r#"{"password": "a\"b", "user": "x"}"#),
        format!(r#"{{"password": "{REDACTED}", "user": "x"}}"#)
    );
    assert_eq!(
        r(r#"Config { jwt_secret: "xyz", pool_size: 16 }"#),
        format!(r#"Config {{ jwt_secret: "{REDACTED}", pool_size: 16 }}"#)
    );
    assert_eq!(
        r("CLIENT_SECRET = hush"),
        format!("CLIENT_SECRET = {REDACTED}")
    );
    // Keys that merely contain a secret word, and unquoted values after a colon, stay.
    assert_eq!(r("token_count=5 tokens=3"), "token_count=5 tokens=3");
    assert_eq!(r("token: missing"), "token: missing");
}

#[test]
fn clean_text_is_borrowed() {
    let clean = "tag 12 rejected: value is NaN at samples[3].value";
    assert!(matches!(redact(clean), Cow::Borrowed(_)));
}

#[test]
fn redacted_wrapper_scrubs_display_and_debug() {
    let e = "connect postgres://a:b@c failed";
    assert_eq!(
        Redacted(e).to_string(),
        format!("connect postgres://a:{REDACTED}@c failed")
    );
    assert!(!format!("{:?}", Redacted(e)).contains(":b@"));
}

fn noise() -> impl Strategy<Value = String> {
    // Text around a secret, separated from it by a space (a secret glued to other word
    // characters is still caught, but the assertion would have to know where it ends).
    "[ -~]{0,40}".prop_map(|s| format!("{s} "))
}

proptest! {
    #[test]
    fn generated_secrets_never_survive(before in noise(), after in "[ -~]{0,40}") {
        let key = NewApiKey::generate();
        let refresh = NewRefreshToken::generate();
        for secret in [key.plaintext.clone(), refresh.plaintext.expose().to_owned()] {
            let line = format!("{before}{secret} {after}");
            let out = r(&line);
            prop_assert!(!out.contains(&secret[13..]), "{out}");
        }
    }

    #[test]
    fn url_and_assignment_passwords_never_survive(
        user in "[a-z]{1,8}",
        pw in "[A-Za-z0-9!$%*+]{8,20}",
        before in noise(),
    ) {
        let out = r(&format!("{before}postgres://{user}:{pw}@db/x"));
        prop_assert!(!out.contains(&format!(":{pw}@")), "{out}");
        let out = r(&format!("{before}password={pw}"));
        prop_assert!(!out.contains(&pw), "{out}");
    }

    #[test]
    fn idempotent_and_total(s in "\\PC{0,80}") {
        let once = r(&s);
        prop_assert_eq!(r(&once), once.clone());
    }

    #[test]
    fn idempotent_on_secret_shaped_text(
        s in "(mwk_|mwk_abcd1234_|mwr_|eyJ|Bearer |abcdefgh|://|u:p@|password=|secret = |\"token\": \"|[a-z@:=' \"_.\\\\\\[\\]]){0,24}"
    ) {
        let once = r(&s);
        prop_assert_eq!(r(&once), once.clone());
    }
}
