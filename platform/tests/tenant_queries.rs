//! Every query names its tenant (issue #18): a statement that touches a tenant-owned table
//! says which tenant explicitly, so a distributed store (Citus, distributed by tenant_id) can
//! route it to one shard. Row-level security stays the second wall; a filter that comes only
//! from RLS goes to every shard.
//!
//! This test reads the SQL held in the platform's source (`platform/src/store.rs`,
//! `platform/src/store/**.rs` and the benchmarks in `platform/src/bench/`): every string
//! literal that starts a statement (SELECT, INSERT, UPDATE, DELETE, WITH) and names a
//! tenant-owned table (the tables with a `tenant_id` column, read from a freshly migrated
//! database, and `{…}` placeholders standing for a table chosen at run time) must
//! - compare `tenant_id` with a value (`tenant_id = $n`, `= ANY (…)`, `IN (…)`), or
//! - use `current_tenant()` (the documented pattern of the definer functions and views), or
//! - be an INSERT naming `tenant_id` in its column list, or an `INSERT … VALUES` without a
//!   SELECT (the row's tenant is the column default `current_tenant()`, which Citus evaluates
//!   on the coordinator before routing),
//!
//! or be on the allowlist below, with its reason. Reads through the `tenant_*` views (which
//! filter on `current_tenant()` themselves) are not tenant-owned tables.
//!
//! A statement that reads several tenant-owned tables must tie each of them to the tenant:
//! it needs at least as many `tenant_id = $n` / `a.tenant_id = b.tenant_id` conditions as it
//! names tenant-owned tables after FROM, JOIN and UPDATE (a join on ids alone would make a
//! distributed store look at every shard of the joined table).

use std::path::{Path, PathBuf};

use millwright_platform::config::BackendChoice;
use millwright_platform::test_util::fresh_store;

/// Statements that touch tenant-owned tables across tenants on purpose: (file, a piece of
/// the statement, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "store/auth.rs",
        "FROM users  WHERE email = lower($1)",
        "login: the email is looked up before any tenant is known (auth directory, owner's connection)",
    ),
    (
        "store/orders.rs",
        "FROM public.storefront_keys k JOIN public.tenants t",
        "a storefront key is looked up by its digest before any tenant is known (auth directory)",
    ),
    (
        "store/leases.rs",
        "SELECT tenant_id, id FROM alarm_rule_inbox WHERE shard = ANY($1)",
        "the lease holder of some alarm shards (groups of tenants) takes their queued batches, several tenants at once (owner's connection)",
    ),
    (
        "store/alarm_rules.rs",
        "SELECT DISTINCT tenant_id FROM alarm_rules",
        "maintenance finds which tenants have work, then works per tenant",
    ),
    (
        "store/mes.rs",
        "SELECT DISTINCT tenant_id FROM public.machines",
        "maintenance finds which tenants have work, then works per tenant",
    ),
    (
        "store/models.rs",
        "SELECT DISTINCT tenant_id FROM model_versions",
        "the scorer finds which tenants have promoted models, then scores per tenant",
    ),
    (
        "store/orders/flow.rs",
        "SELECT DISTINCT tenant_id FROM public.custom_orders",
        "maintenance finds which tenants have orders in production, then works per tenant",
    ),
    (
        "store/quality.rs",
        "SELECT tenant_id, array_agg(id ORDER BY id) FROM public.quality_characteristics",
        "the SPC watch finds which tenants have tag characteristics, then works per tenant",
    ),
    (
        "store/webhooks.rs",
        "WITH due AS (  SELECT tenant_id, id FROM webhook_deliveries",
        "the sender claims due deliveries of every tenant (one query per round on the owner's connection)",
    ),
    (
        "store/webhooks.rs",
        "DELETE FROM webhook_events ev WHERE ev.created_at <",
        "retention of the outbox, every tenant at once (maintenance)",
    ),
    (
        "bench/citus.rs",
        "SELECT count(*) FROM samples",
        "bench citus: the query that fans out to every shard, every tenant counted on purpose",
    ),
];

/// One statement found in the source.
#[derive(Debug)]
struct Statement {
    file: String,
    line: usize,
    sql: String,
}

/// The string literals of a Rust source, with their line, `\`-continuations joined.
fn literals(src: &str) -> Vec<(usize, String)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let line_at = |i: usize| src[..i].bytes().filter(|c| *c == b'\n').count() + 1;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal ('"', '\'', 'x') or a lifetime.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 4;
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = j + 1;
                let end = src[start..].find(&close).map_or(b.len(), |e| start + e);
                out.push((line_at(i), src[start..end].to_string()));
                i = end + close.len();
            }
            b'"' => {
                let start_line = line_at(i);
                let mut text = String::new();
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        match b.get(j + 1) {
                            Some(b'\n') => {
                                j += 2;
                                while j < b.len() && b[j].is_ascii_whitespace() {
                                    j += 1;
                                }
                                continue;
                            }
                            Some(c) => {
                                text.push('\\');
                                text.push(*c as char);
                                j += 2;
                                continue;
                            }
                            None => break,
                        }
                    }
                    let ch = src[j..].chars().next().unwrap();
                    text.push(ch);
                    j += ch.len_utf8();
                }
                out.push((start_line, text));
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The tables a statement names after FROM, JOIN, INTO or UPDATE (`public.` dropped;
/// placeholders kept as `{…}`).
fn tables_named(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for pair in words.windows(2) {
        let kw = pair[0].to_ascii_uppercase();
        if ["FROM", "JOIN", "INTO", "UPDATE"].contains(&kw.as_str()) {
            let name = pair[1].trim_start_matches("public.");
            out.push(name.trim_end_matches(';').to_string());
        }
    }
    out
}

/// Whether a statement names its tenant (see the module documentation).
fn names_its_tenant(sql: &str) -> bool {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_ascii_lowercase();
    if lower.contains("current_tenant()") {
        return true;
    }
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("tenant_id") {
        let after = rest[at + "tenant_id".len()..].trim_start();
        if let Some(rhs) = after.strip_prefix('=') {
            let rhs = rhs.trim_start();
            if rhs.starts_with('$') || rhs.starts_with("any") {
                return true;
            }
        } else if after.starts_with("in ") || after.starts_with("in(") {
            return true;
        }
        rest = &rest[at + "tenant_id".len()..];
    }
    if let Some(insert) = lower.find("insert into ") {
        let tail = &lower[insert..];
        if let (Some(open), Some(close)) = (tail.find('('), tail.find(')')) {
            if open < close
                && tail[open..close]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == "tenant_id")
            {
                return true;
            }
        }
        if lower.starts_with("insert") && lower.contains(" values ") && !lower.contains("select ") {
            return true;
        }
    }
    false
}

/// How many conditions tie a table to the tenant: `tenant_id = $n`, `tenant_id = ANY (…)`,
/// `tenant_id IN (…)` or `x.tenant_id = y.tenant_id`.
fn tenant_ties(sql: &str) -> usize {
    let lower = sql.to_ascii_lowercase();
    let mut ties = 0;
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("tenant_id") {
        let after = rest[at + "tenant_id".len()..].trim_start();
        if let Some(rhs) = after.strip_prefix('=') {
            let rhs = rhs.trim_start();
            let ident: String = rhs
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            if rhs.starts_with('$') || rhs.starts_with("any") || ident.ends_with(".tenant_id") {
                ties += 1;
            }
            // `a.tenant_id = b.tenant_id` is one tie: skip the right-hand side.
            if ident.ends_with(".tenant_id") {
                let skip = rest.len() - rhs.len() + ident.len();
                rest = &rest[skip..];
                continue;
            }
        } else if after.starts_with("in ") || after.starts_with("in(") {
            ties += 1;
        }
        rest = &rest[at + "tenant_id".len()..];
    }
    ties
}

/// Tenant-owned tables a statement reads or changes in place (FROM, JOIN, UPDATE; an INSERT's
/// target takes its tenant from its column list or default).
fn tenant_tables_read(sql: &str, tenant_tables: &[String]) -> usize {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|pair| {
            let kw = pair[0].to_ascii_uppercase();
            ["FROM", "JOIN", "UPDATE"].contains(&kw.as_str())
                && tenant_tables.contains(&pair[1].trim_start_matches("public.").to_string())
        })
        .count()
}

fn is_statement(sql: &str) -> bool {
    let head = sql.trim_start().to_ascii_uppercase();
    ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "WITH "]
        .iter()
        .any(|k| head.starts_with(k))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every statement in the scanned files that touches a tenant-owned table.
fn statements(tenant_tables: &[String]) -> Vec<Statement> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("store.rs")];
    rust_files(&src.join("store"), &mut files);
    rust_files(&src.join("bench"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        for (line, sql) in literals(&text) {
            if !is_statement(&sql) {
                continue;
            }
            let touches = tables_named(&sql)
                .iter()
                .any(|t| t.starts_with('{') || tenant_tables.contains(t));
            if touches {
                out.push(Statement {
                    file: rel.clone(),
                    line,
                    sql,
                });
            }
        }
    }
    out
}

#[tokio::test]
async fn every_statement_on_tenant_tables_names_its_tenant() {
    // The tenant-owned tables, from the catalog of a migrated database with its layout.
    let (store, _) = fresh_store(BackendChoice::Plain).await;
    let owner = store.owner_pool().get().await.unwrap();
    let tenant_tables: Vec<String> = owner
        .query(
            "SELECT c.relname FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
               AND NOT c.relispartition \
               AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tenant_tables.iter().any(|t| t == "samples"));
    assert!(tenant_tables.iter().any(|t| t == "machines"));

    let found = statements(&tenant_tables);
    assert!(
        found.len() > 200,
        "the scan found only {} statements: is the literal reader broken?",
        found.len()
    );
    let mut used = vec![false; ALLOWED.len()];
    let mut missing = Vec::new();
    for s in &found {
        let read = tenant_tables_read(&s.sql, &tenant_tables);
        let tied = s.sql.contains("current_tenant()") || tenant_ties(&s.sql) >= read;
        if names_its_tenant(&s.sql) && tied {
            continue;
        }
        let flat: String = s.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let allowed = ALLOWED.iter().position(|(file, piece, _)| {
            s.file.replace('\\', "/") == *file
                && flat.contains(&piece.split_whitespace().collect::<Vec<_>>().join(" "))
        });
        match allowed {
            Some(i) => used[i] = true,
            None => missing.push(format!(
                "{}:{}: {}",
                s.file,
                s.line,
                flat.chars().take(200).collect::<String>()
            )),
        }
    }
    assert!(
        missing.is_empty(),
        "statements on tenant-owned tables that do not name their tenant \
         (add `tenant_id = $n`, or an allowlist entry with its reason):\n{}",
        missing.join("\n")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|((file, piece, _), _)| format!("{file}: {piece}"))
        .collect();
    assert!(
        stale.is_empty(),
        "allowlist entries that match nothing any more: {stale:?}"
    );
}

#[test]
fn the_reader_and_the_rule_see_what_they_should() {
    let src = "fn f() {\n    let c = '\"';\n    q(\"SELECT id FROM tags \\\n       WHERE id = $1\");\n    q(r#\"DELETE FROM alarms WHERE tenant_id = $2\"#);\n}\n";
    let lits = literals(src);
    assert_eq!(
        lits,
        [
            (3, "SELECT id FROM tags WHERE id = $1".to_string()),
            (5, "DELETE FROM alarms WHERE tenant_id = $2".to_string()),
        ]
    );
    assert_eq!(tables_named(&lits[0].1), ["tags"]);
    assert!(!names_its_tenant(&lits[0].1));
    assert!(names_its_tenant(&lits[1].1));
    assert!(names_its_tenant(
        "SELECT 1 FROM tags t WHERE t.tenant_id = ANY($1)"
    ));
    assert!(names_its_tenant(
        "INSERT INTO tags (tenant_id, name) SELECT $1, n FROM unnest($2) n"
    ));
    assert!(names_its_tenant("INSERT INTO users (email) VALUES ($1)"));
    assert!(!names_its_tenant(
        "INSERT INTO machine_events (machine_id) SELECT id FROM machines WHERE id = $1"
    ));
    assert!(!names_its_tenant(
        "SELECT * FROM tags t JOIN machines m ON m.tenant_id = t.tenant_id"
    ));
    let tables = ["tags".to_string(), "machines".to_string()];
    let loose =
        "SELECT * FROM tags t JOIN machines m ON m.id = t.machine_id WHERE t.tenant_id = $1";
    assert_eq!(
        (tenant_tables_read(loose, &tables), tenant_ties(loose)),
        (2, 1)
    );
    let tight = "SELECT * FROM tags t JOIN machines m ON m.tenant_id = t.tenant_id \
                 AND m.id = t.machine_id WHERE t.tenant_id = $1";
    assert_eq!(
        (tenant_tables_read(tight, &tables), tenant_ties(tight)),
        (2, 2)
    );
}
