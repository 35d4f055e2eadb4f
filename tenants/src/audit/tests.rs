use super::*;
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

fn change(i: i64) -> Change {
    Change {
        at: Utc.timestamp_opt(1_800_000_000 + i, 123_456_789).unwrap(),
        tenant: 7,
        actor: format!("user:{}", i % 3),
        action: "tag.update".into(),
        target: format!("tag:{i}"),
        before: Some(json!({"unit": "bar", "scale": i})),
        after: (i % 2 == 0).then(|| json!({"unit": "kPa", "scale": i * 10})),
    }
}

fn chain(n: i64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let entry = append(out.last().map(AuditEntry::head).as_ref(), change(i)).unwrap();
        out.push(entry);
    }
    out
}

fn broken(entries: &[AuditEntry]) -> Broken {
    verify_chain(entries).unwrap_err()
}

#[test]
fn an_untouched_chain_verifies_and_links() {
    let log = chain(5);
    assert!(verify_chain(&log).is_ok());
    assert!(verify_chain(&[]).is_ok());
    assert_eq!(log[0].prev_hash, GENESIS);
    assert_eq!(log[0].seq, 1);
    for pair in log.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
}

#[test]
fn editing_any_field_is_detected_at_that_entry() {
    let log = chain(4);
    let edits: Vec<fn(&mut AuditEntry)> = vec![
        |e| e.actor = "user:999".into(),
        |e| e.action = "tag.delete".into(),
        |e| e.target = "tag:999".into(),
        |e| e.tenant = 8,
        |e| e.at += chrono::TimeDelta::microseconds(1),
        |e| e.before = None,
        |e| e.after = Some(json!({"unit": "psi"})),
        |e| e.hash[0] ^= 1,
    ];
    for edit in edits {
        let mut tampered = log.clone();
        edit(&mut tampered[2]);
        assert_eq!(broken(&tampered).seq, 3);
    }
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let mut log = chain(4);
    log[1].after = Some(json!({"unit": "psi"}));
    log[1].hash = log[1].compute_hash();
    assert_eq!(
        broken(&log),
        Broken {
            seq: 3,
            reason: BrokenReason::PrevHash
        }
    );
}

#[test]
fn deleting_or_reordering_entries_is_detected() {
    let log = chain(5);

    let mut deleted = log.clone();
    deleted.remove(2);
    assert_eq!(
        broken(&deleted),
        Broken {
            seq: 4,
            reason: BrokenReason::Sequence { expected: 3 }
        }
    );

    assert_eq!(
        broken(&log[1..]).reason,
        BrokenReason::Sequence { expected: 1 }
    );

    let mut swapped = log.clone();
    swapped.swap(1, 3);
    assert_eq!(broken(&swapped).seq, 4);

    // Renumbering after a deletion still breaks the link.
    let mut renumbered = deleted;
    for (i, e) in renumbered.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    assert_eq!(broken(&renumbered).seq, 3);
}

#[test]
fn the_head_catches_a_cut_tail() {
    // The chain alone cannot see its newest entries removed: that is what recorded heads are for.
    let log = chain(5);
    let recorded = log[4].head();
    let cut = &log[..4];
    let head = verify_segment(None, cut).unwrap().unwrap();
    assert_ne!(head, recorded);
}

#[test]
fn pages_verify_like_the_whole() {
    let log = chain(7);
    let head = verify_segment(None, &log[..3]).unwrap();
    let head = verify_segment(head.as_ref(), &log[3..]).unwrap();
    assert_eq!(head, Some(log[6].head()));
    assert_eq!(verify_segment(head.as_ref(), &[]).unwrap(), head);
    assert!(verify_segment(Some(&log[1].head()), &log[3..]).is_err());
}

#[test]
fn a_database_round_trip_keeps_the_hash() {
    // jsonb reorders keys and timestamptz keeps microseconds: neither may change the hash.
    let log = chain(2);
    assert_eq!(log[0].at.timestamp_subsec_nanos(), 123_456_000);
    let mut reloaded: Vec<AuditEntry> = log
        .iter()
        .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
        .collect();
    reloaded[0].before = Some(serde_json::from_str(r#"{"scale":0,"unit":"bar"}"#).unwrap());
    assert_eq!(reloaded, log);
    assert!(verify_chain(&reloaded).is_ok());
    let text = serde_json::to_string(&log[0]).unwrap();
    assert!(text.contains(&hex::encode(log[0].hash)), "{text}");
}

#[test]
fn canonical_form_is_sorted_and_compact() {
    let v = json!({"b": [1, {"z": null, "a": "x\"y"}], "a": 1.5});
    assert_eq!(
        canonical::value(&v),
        r#"{"a":1.5,"b":[1,{"a":"x\"y","z":null}]}"#
    );
}

#[test]
fn oversized_values_and_foreign_tenants_are_refused() {
    let mut big = change(0);
    big.after = Some(json!("x".repeat(MAX_VALUE_BYTES)));
    assert!(matches!(
        append(None, big),
        Err(Error::AuditValueTooLarge { field: "after", .. })
    ));
    let first = append(None, change(0)).unwrap();
    let mut other = change(1);
    other.tenant = 8;
    assert!(matches!(
        append(Some(&first.head()), other),
        Err(Error::AuditTenantMismatch { .. })
    ));
    let mut log = chain(3);
    let mut foreign = append(
        None,
        Change {
            tenant: 8,
            ..change(9)
        },
    )
    .unwrap();
    foreign.seq = 3;
    foreign.prev_hash = log[1].hash;
    foreign.hash = foreign.compute_hash();
    log[2] = foreign;
    assert_eq!(
        broken(&log).reason,
        BrokenReason::Tenant {
            expected: 7,
            found: 8
        }
    );
}

#[derive(Debug, Clone)]
enum Tamper {
    Edit(usize, String),
    Delete(usize),
    Swap(usize, usize),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), "[a-z]{1,8}").prop_map(|(i, s)| Tamper::Edit(i, s)),
        any::<usize>().prop_map(Tamper::Delete),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Tamper::Swap(i, j)),
    ]
}

proptest! {
    /// Any edit, any deletion but the newest entry's, and any reordering is detected.
    #[test]
    fn tampering_is_detected(n in 2i64..12, op in tamper()) {
        let log = chain(n);
        let len = log.len();
        let mut t = log.clone();
        match op {
            Tamper::Edit(i, s) => {
                let e = &mut t[i % len];
                e.target.push_str(&s);
            }
            Tamper::Delete(i) => {
                let i = i % (len - 1); // deleting the newest is the recorded head's job
                t.remove(i);
            }
            Tamper::Swap(i, j) => {
                let (i, j) = (i % len, j % len);
                prop_assume!(i != j);
                t.swap(i, j);
            }
        }
        prop_assert!(verify_chain(&t).is_err());
    }
}

/// What `jsonb` gives back for numbers it stores: decimals without exponents, no negative
/// zero, exact digits. Format 2 writes both sides alike, so the hash survives the database.
#[test]
fn numbers_hash_alike_before_and_after_jsonb() {
    let pairs = [
        (json!(-0.0), "0"),
        (json!(-0.0), "0.0"),
        (json!(1e16), "10000000000000000"),
        (json!(1e-7), "0.0000001"),
        (json!(1.5e300), &format!("15{}", "0".repeat(299))),
        (json!(2.5), "2.50"),
        (json!(5.0), "5"),
        (json!(5.0), "5.0"),
        (json!(i64::MIN), "-9223372036854775808"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!(9007199254740993i64), "9007199254740993"),
        (json!(0.1 + 0.2), "0.30000000000000004"),
    ];
    for (sent, stored) in pairs {
        let back: Value = serde_json::from_str(stored).unwrap();
        assert_eq!(
            canonical::value(&sent),
            canonical::value(&back),
            "{sent} stored as {stored}"
        );
    }
    // A huge integer read as a double writes the same digits as the double it came from.
    let huge: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
    let again: Value = serde_json::from_str(&canonical::value(&huge)).unwrap();
    assert_eq!(canonical::value(&huge), canonical::value(&again));
    // Unicode escapes and raw characters are the same string; key order does not matter.
    let escaped: Value = serde_json::from_str(r#"{"b":"caf\u00e9 \ud83d\ude00","a":1}"#).unwrap();
    let raw = json!({"a": 1, "b": "café 😀"});
    assert_eq!(canonical::value(&escaped), canonical::value(&raw));
}

#[test]
fn entries_keep_the_format_they_were_hashed_in() {
    let mut log = chain(3);
    assert!(log.iter().all(|e| e.format == FORMAT_VERSION));
    // An entry of the first format verifies with that format, and not as another one.
    let mut legacy = change(9);
    legacy.after = Some(json!({"v": 1e16}));
    let mut entry = append(Some(&log[2].head()), legacy).unwrap();
    entry.format = LEGACY_FORMAT;
    entry.hash = entry.compute_hash();
    log.push(entry.clone());
    assert!(verify_chain(&log).is_ok());
    log[3].format = FORMAT_VERSION;
    assert_eq!(verify_chain(&log).unwrap_err().seq, 4);
    // Stored entries without a format are of the first one.
    let mut text: serde_json::Map<String, Value> =
        serde_json::from_value(serde_json::to_value(&entry).unwrap()).unwrap();
    text.remove("format");
    let text = serde_json::to_string(&Value::Object(text)).unwrap();
    let read: AuditEntry = serde_json::from_str(&text).unwrap();
    assert_eq!(read.format, LEGACY_FORMAT);
}
