//! TLS (issue #11): the API serves HTTPS from configured certificate files, connectors reach
//! an `https` platform URL through a private CA, PostgreSQL connections honour
//! `sslmode=require|verify-ca|verify-full` with `sslrootcert`; plus the response headers and
//! the cross-origin policy every answer carries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use millwright_connectors::uplink::client::{IngestClient, Outcome};
use millwright_platform::config::BackendChoice;
use millwright_platform::pg_cluster::{Durability, PrivateCluster, TcpTls};
use millwright_platform::store::Store;
use millwright_platform::test_util::{fresh_settings, tenant_with_tags, TestApp};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;

/// A test CA and a server certificate it signed for `names`, written as PEM files in `dir`:
/// (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Millwright test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn client_trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_api_serves_https_and_connectors_reach_it_through_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), &["localhost", "127.0.0.1"]);
    let app = TestApp::spawn_with(|s| {
        s.http.tls_cert_file = Some(cert.clone());
        s.http.tls_key_file = Some(key.clone());
    })
    .await;
    let https = app.url.replacen("http://", "https://", 1);
    let t = tenant_with_tags(&app.store, "tls", &["line.temp"]).await;

    // A client trusting the CA gets answers, with HSTS and the other headers.
    let client = client_trusting(&ca);
    let res = client
        .get(format!("{https}/api/v1/tags"))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    // Without the CA the certificate is refused, and plain HTTP on the port gets nothing.
    let untrusting = reqwest::Client::new();
    assert!(untrusting
        .get(format!("{https}/healthz"))
        .send()
        .await
        .is_err());
    let plain = untrusting.get(format!("{}/healthz", app.url)).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // A connector's uplink, told the CA, delivers over HTTPS; without it, it keeps the batch.
    let device = app
        .store
        .issue_device_token(t.id, "tls connector", t.site_id)
        .await
        .unwrap();
    let batch = serde_json::to_vec(&serde_json::json!({"samples": [
        {"tag": "line.temp", "time": chrono::Utc::now(), "value": 21.0}
    ]}))
    .unwrap();
    let uplink =
        IngestClient::with_ca(&https, &device, Duration::from_secs(5), Some(ca.as_path())).unwrap();
    assert_eq!(
        uplink.send(batch.clone()).await,
        Outcome::Delivered {
            accepted: 1,
            duplicates: 0,
            rejected: 0
        }
    );
    let blind = IngestClient::new(&https, &device, Duration::from_secs(5)).unwrap();
    assert!(matches!(blind.send(batch).await, Outcome::Retry(_)));

    // Logins over HTTPS still know the client's address (throttling, the audit log).
    let res = client
        .post(format!("{https}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "nobody@tls.example", "password": "wrong one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let entries = app.store.operator_audit_entries(0, 100).await.unwrap();
    assert!(
        entries.iter().any(|e| e.actor == "client 127.0.0.1"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn secure_headers_and_the_cross_origin_policy() {
    let app = TestApp::spawn_with(|s| {
        s.http.cors_allowed_origins = vec!["https://console.example.com".into()];
    })
    .await;
    let t = tenant_with_tags(&app.store, "cors", &[]).await;
    let get = |origin: &'static str| {
        app.http()
            .get(format!("{}/api/v1/sites", app.url))
            .bearer_auth(&t.key)
            .header("origin", origin)
            .send()
    };
    let res = get("https://evil.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert!(h.get("access-control-allow-origin").is_none());
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        assert_eq!(h[name], value, "{name}");
    }
    assert!(
        h.get("strict-transport-security").is_none(),
        "plain HTTP sends no HSTS"
    );
    let res = get("https://console.example.com").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    // A preflight is answered before authentication, and only for the allowed origin.
    for (origin, allowed) in [
        ("https://console.example.com", true),
        ("https://evil.example", false),
    ] {
        let res = app
            .http()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/sites", app.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{origin}: {}", res.status());
        assert_eq!(
            res.headers().contains_key("access-control-allow-origin"),
            allowed,
            "{origin}"
        );
    }
}

/// A cluster of its own listening on loopback TCP with TLS, its certificate for `names`.
async fn tls_cluster(dir: &Path, names: &[&str]) -> (PrivateCluster, u16, PathBuf) {
    let (ca, cert, key) = certificates(dir, names);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = dir.join("cluster");
    let tcp = TcpTls {
        port,
        cert_file: cert,
        key_file: key,
    };
    let cluster = tokio::task::spawn_blocking(move || {
        PrivateCluster::start_with(&root, Durability::Scratch, Some(tcp))
    })
    .await
    .unwrap()
    .unwrap();
    (cluster, port, ca)
}

#[tokio::test]
async fn postgres_connections_verify_the_server_as_sslmode_says() {
    let dir = tempfile::tempdir().unwrap();
    // SAN 127.0.0.1 only: verify-full to 127.0.0.1 passes, to `localhost` fails on the name.
    let (cluster, port, ca) = tls_cluster(dir.path(), &["127.0.0.1"]).await;
    // An unrelated CA: every verifying mode must refuse the server.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificates(other.path(), &["127.0.0.1"]);
    cluster.create_database("tlsdb").await.unwrap();
    let (admin, conn) =
        tokio_postgres::connect(&cluster.url("postgres", "postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(
            "ALTER ROLE millwright_owner PASSWORD 'owner-pw'; \
             ALTER ROLE millwright_app PASSWORD 'app-pw';",
        )
        .await
        .unwrap();
    let url = |role: &str, pw: &str, host: &str, query: &str| {
        format!("postgresql://{role}:{pw}@{host}:{port}/tlsdb?{query}")
    };
    let ca = ca.display().to_string();
    let other_ca = other_ca.display().to_string();

    // The whole store over verified TLS: migrations, layout, a request's session.
    let mut settings = fresh_settings(BackendChoice::Plain).await;
    let q = format!("sslmode=verify-full&sslrootcert={ca}");
    settings.database.url = Some(millwright_platform::config::Secret::new(url(
        "millwright_owner",
        "owner-pw",
        "127.0.0.1",
        &q,
    )));
    settings.database.app_url = Some(millwright_platform::config::Secret::new(url(
        "millwright_app",
        "app-pw",
        "127.0.0.1",
        &q,
    )));
    let store = Store::open(&settings.database, &settings.store)
        .await
        .unwrap();
    let c = store.app_pool().get().await.unwrap();
    let (ssl, who): (bool, String) = {
        let r = c
            .query_one(
                "SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(ssl, "the connection is encrypted");
    assert_eq!(who, "millwright_app");

    // Mode by mode, against the right CA, an unrelated one, and the wrong host name.
    let cases = [
        (
            format!("sslmode=verify-full&sslrootcert={ca}"),
            "127.0.0.1",
            true,
        ),
        (
            format!("sslmode=verify-full&sslrootcert={ca}"),
            "localhost",
            false,
        ),
        (
            format!("sslmode=verify-full&sslrootcert={other_ca}"),
            "127.0.0.1",
            false,
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            "localhost",
            true,
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={other_ca}"),
            "localhost",
            false,
        ),
        ("sslmode=require".to_string(), "localhost", true),
        (
            format!("sslmode=require&sslrootcert={other_ca}"),
            "localhost",
            false,
        ),
    ];
    for (query, host, works) in cases {
        let u = url("millwright_app", "app-pw", host, &query);
        let (config, tls) = millwright_platform::tls::postgres(&u).unwrap();
        let connected = config.connect(tls.unwrap()).await;
        assert_eq!(
            connected.is_ok(),
            works,
            "{query} to {host}: {:?}",
            connected.err()
        );
    }
    // Without TLS the server refuses a TCP login altogether (hostssl only).
    let (config, tls) = millwright_platform::tls::postgres(&url(
        "millwright_app",
        "app-pw",
        "127.0.0.1",
        "sslmode=disable",
    ))
    .unwrap();
    assert!(tls.is_none());
    assert!(config.connect(tokio_postgres::NoTls).await.is_err());
}
