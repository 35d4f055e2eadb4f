//! Parsers that never panic (issue #17): property tests over the functions the fuzz targets in
//! `platform/fuzz/` drive — the ingest body (`api::ingest::check_body`: the route's parser and
//! per-sample validation, without a database) and the query parameters of
//! `GET /tags/{id}/samples` (`api::samples::check_samples_query`). Besides never panicking,
//! each property checks the answer: a well-formed sample is valid, an error names a field.

use millwright_platform::api::ingest::check_body;
use millwright_platform::api::samples::check_samples_query;
use proptest::prelude::*;

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "[ -~]{0,30}".prop_map(serde_json::Value::String),
        Just(serde_json::json!("2026-03-01T08:00:00Z")),
        Just(serde_json::json!("9999-12-31T23:59:60Z")),
        Just(serde_json::json!("1970-01-01T00:00:00+25:00")),
    ]
}

fn sample() -> impl Strategy<Value = serde_json::Value> {
    (
        prop::option::of(prop_oneof!["[a-z.]{1,12}", "text[a-z]{0,4}"]),
        prop::option::of(any::<i64>()),
        prop::option::of(json_scalar()),
        prop::option::of(json_scalar()),
        prop::option::of(prop_oneof![
            Just(serde_json::json!("good")),
            Just(serde_json::json!("bad")),
            Just(serde_json::json!("uncertain")),
            json_scalar()
        ]),
    )
        .prop_map(|(tag, tag_id, time, value, quality)| {
            let mut m = serde_json::Map::new();
            if let Some(t) = tag {
                m.insert("tag".into(), t.into());
            }
            if let Some(i) = tag_id {
                m.insert("tag_id".into(), i.into());
            }
            for (k, v) in [("time", time), ("value", value), ("quality", quality)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            serde_json::Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any bytes: an error naming a field or the body, or one verdict per sample.
    #[test]
    fn any_bytes_parse_or_are_refused_naming_a_field(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = check_body(&bytes) {
            prop_assert!(e.status().is_client_error());
            prop_assert!(e.field_name().is_some(), "{e:?}");
        }
    }

    /// Bodies of random samples: one verdict each, naming a field when refused.
    #[test]
    fn random_samples_get_one_verdict_each(samples in prop::collection::vec(sample(), 0..20), atomic in any::<bool>()) {
        let body = serde_json::json!({ "samples": samples, "atomic": atomic });
        let verdicts = check_body(body.to_string().as_bytes()).expect("a well-formed batch parses");
        prop_assert_eq!(verdicts.len(), samples.len());
        for v in verdicts.into_iter().flatten() {
            prop_assert!(["tag", "tag_id", "time", "value", "quality", ""].contains(&v.0.as_str()), "{v:?}");
            prop_assert!(!v.1.is_empty());
        }
    }

    /// A well-formed numeric sample of now is always valid.
    #[test]
    fn a_well_formed_sample_is_valid(tag in "[a-z][a-z.]{0,11}", value in -1e12f64..1e12) {
        let now = chrono::Utc::now().to_rfc3339();
        let body = serde_json::json!({ "samples": [{ "tag": tag, "time": now, "value": value }] });
        let verdicts = check_body(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(verdicts, vec![None]);
    }

    /// Any query string: accepted, or refused naming the parameter.
    #[test]
    fn any_query_is_checked_or_refused_naming_a_parameter(
        pairs in prop::collection::vec((prop_oneof!["from", "to", "bucket", "agg", "limit", "source", "fill", "[a-z]{1,5}"],
                                        prop_oneof!["[ -~]{0,25}", "[0-9]{1,6}[smhd]", Just("2026-03-01T08:00:00Z".to_string())]), 0..6),
        raw in "[ -~]{0,60}",
    ) {
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        for q in [query.as_str(), raw.as_str()] {
            if let Err(e) = check_samples_query(q) {
                prop_assert!(e.status().is_client_error());
                prop_assert!(e.field_name().is_some_and(|f| !f.is_empty()), "{q}: {e:?}");
            }
        }
    }
}

#[test]
fn known_queries_are_checked() {
    assert!(check_samples_query("").is_ok());
    assert!(check_samples_query("bucket=1m&agg=avg").is_ok());
    let e = check_samples_query("bucket=7x").unwrap_err();
    assert_eq!(e.field_name(), Some("bucket"));
    let e = check_samples_query("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z").unwrap_err();
    assert_eq!(e.field_name(), Some("from"));
    let e = check_samples_query("limit=0").unwrap_err();
    assert_eq!(e.field_name(), Some("limit"));
}
