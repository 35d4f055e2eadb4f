//! Parts of the storage layout added after a database was first created, applied once each.
//!
//! The layout itself (`layout.rs`) is created once per database, on first start, because it
//! depends on whether TimescaleDB is present. A part added later (text samples, migration V7)
//! must reach databases created before it as well as new ones: each part is applied in its own
//! transaction, for the database's layout, and recorded by name in `storage_layout_parts`, so
//! it runs exactly once whatever the database's age. Parts never replace what the layout
//! created; a later part may replace an earlier part's functions (`CREATE OR REPLACE`), which
//! is how databases of any age get a fix (`text_ingest_scoped`, issue #11).

use deadpool_postgres::GenericClient;

use super::layout::Backend;
use crate::config::StoreSettings;
use crate::error::{Error, Result};

/// One part: its name and its SQL for each layout, then for both.
struct Part {
    name: &'static str,
    plain: &'static str,
    timescale: &'static str,
    /// Issue #18: the Citus layout's own SQL for the part.
    citus: &'static str,
    common: &'static str,
}

/// Every part, oldest first.
const PARTS: &[Part] = &[
    Part {
        name: "text_samples",
        plain: include_str!("layout/text_plain.sql"),
        timescale: include_str!("layout/text_timescale.sql"),
        citus: include_str!("layout/text_citus.sql"),
        common: include_str!("layout/text_common.sql"),
    },
    // Issue #11: text ingest confined to a device token's site, its staging table checked.
    Part {
        name: "text_ingest_scoped",
        plain: include_str!("layout/text_scoped_plain.sql"),
        timescale: include_str!("layout/text_scoped_timescale.sql"),
        citus: include_str!("layout/text_scoped_citus.sql"),
        common: include_str!("layout/text_scoped_common.sql"),
    },
    // Issue #18: samples, text samples and rollups keyed (tenant_id, tag_id, time|bucket).
    Part {
        name: "distribution_keys",
        plain: include_str!("layout/keys_plain.sql"),
        timescale: include_str!("layout/keys_timescale.sql"),
        citus: include_str!("layout/keys_citus.sql"),
        common: include_str!("layout/keys_common.sql"),
    },
    // Issue #18: the tenant views name their tenant, so reads can route to its shard.
    Part {
        name: "tenant_views_tenant_id",
        plain: include_str!("layout/views_tenant_key_none.sql"),
        timescale: include_str!("layout/views_tenant_key_none.sql"),
        citus: include_str!("layout/views_tenant_key_citus.sql"),
        common: include_str!("layout/views_tenant_key_common.sql"),
    },
];

/// Applies the parts this database does not have yet; returns their names.
pub(crate) async fn apply_pending(
    client: &mut deadpool_postgres::Object,
    backend: Backend,
    settings: &StoreSettings,
) -> Result<Vec<&'static str>> {
    apply_pending_through(client, backend, settings, PARTS.len()).await
}

/// [`apply_pending`] for the first `count` parts only (a database as an earlier release left
/// it, for upgrade tests).
pub(crate) async fn apply_pending_through(
    client: &mut deadpool_postgres::Object,
    backend: Backend,
    settings: &StoreSettings,
    count: usize,
) -> Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    for part in &PARTS[..count.min(PARTS.len())] {
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("starting a layout part"))?;
        // Two processes starting on one new database: the second waits here, then skips.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('millwright.layout_parts'))",
            &[],
        )
        .await
        .map_err(Error::db("locking the layout parts"))?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM storage_layout_parts WHERE name = $1",
                &[&part.name],
            )
            .await
            .map_err(Error::db("reading the layout parts"))?
            .is_some();
        if done {
            continue;
        }
        tracing::info!(part = part.name, backend = ?backend, "Adding a part of the storage layout.");
        let specific = match backend {
            Backend::Plain => part.plain.to_string(),
            Backend::Citus => part.citus.to_string(),
            Backend::Timescale => part
                .timescale
                .replace("{retention_days}", &settings.retention_days.to_string())
                .replace(
                    "{compress_after_days}",
                    &settings.compress_after_days.to_string(),
                ),
        };
        let citus_views = match backend {
            Backend::Citus => Some(super::layout::CITUS_VIEWS_SQL),
            _ => None,
        };
        for statement in specific
            .split("-- statement\n")
            .chain([part.common])
            .chain(citus_views)
        {
            tx.batch_execute(statement)
                .await
                .map_err(Error::db("adding a part of the storage layout"))?;
        }
        tx.execute(
            "INSERT INTO storage_layout_parts (name) VALUES ($1)",
            &[&part.name],
        )
        .await
        .map_err(Error::db("recording a layout part"))?;
        tx.commit()
            .await
            .map_err(Error::db("committing a layout part"))?;
        applied.push(part.name);
    }
    Ok(applied)
}

/// What the parts need from a maintenance round. Plain and Citus layouts: text-sample partitions created
/// ahead and dropped past retention (TimescaleDB's policies do this for its hypertable, and
/// the layout's maintenance runs their due jobs). Returns (created, dropped).
pub(crate) async fn maintain(
    client: &impl GenericClient,
    backend: Backend,
    settings: &StoreSettings,
) -> Result<(i32, i32)> {
    if backend == Backend::Timescale {
        return Ok((0, 0));
    }
    let ahead = settings.partitions_ahead_days as i32;
    let created: i32 = client
        .query_one(
            "SELECT ensure_text_sample_partitions(current_date, current_date + $1::int)",
            &[&ahead],
        )
        .await
        .map_err(Error::db("creating text-sample partitions ahead"))?
        .get(0);
    let keep = settings.retention_days as i32;
    let dropped: i32 = client
        .query_one(
            "SELECT drop_expired_text_sample_partitions(make_interval(days => $1))",
            &[&keep],
        )
        .await
        .map_err(Error::db("dropping expired text-sample partitions"))?
        .get(0);
    Ok((created, dropped))
}
