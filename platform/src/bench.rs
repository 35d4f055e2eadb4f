//! Benchmarks that print figures beside a reference measured in the same run. They never
//! assert a speed; the numbers go into the README and the closing notes.
//!
//! # Layout
//! - [`ingest`]: store COPY path vs HTTP ingest vs `psql \copy` of the same rows.
//! - [`query`]: a day of 1 Hz data, bucketed from rollups vs from raw samples.
//! - [`alarms`]: HTTP ingest with 1,000 alarm rules vs without, and a paced run.
//! - [`oee`]: per-shift OEE of many machines from state intervals vs from raw samples.
//! - [`orders`]: C2B quotes over HTTP with 1,000 open orders, and scheduling 1,000 orders.
//! - [`load`]: N tenants × M tags through connector uplinks while consoles query.
//! - [`bureau`]: a month of daily sector indices from stored contributions vs from raw samples.
//! - [`citus`]: ingest and queries on one node vs a Citus coordinator with one and two workers,
//!   and bytes per sample in row and columnar storage (issue #18).

pub mod alarms;
pub mod bureau;
// Issue #18: one node vs a Citus coordinator with one and with two workers.
pub mod citus;
pub mod ingest;
pub mod load;
pub mod oee;
pub mod orders;
pub mod query;

use std::path::PathBuf;

use crate::config::Settings;
use crate::error::Result;
use crate::pg_cluster::{Durability, LocalDatabase};
use crate::store::entities::{EntityFields, Kind};
use crate::store::{Store, TenantId};

/// A store in a fresh benchmark database, with one tenant and `tags` tags.
pub(crate) struct BenchDb {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) tenant: TenantId,
    pub(crate) tag_ids: Vec<i64>,
    pub(crate) database: LocalDatabase,
}

impl BenchDb {
    pub(crate) async fn create(mut settings: Settings, tags: usize) -> Result<Self> {
        let dir: PathBuf = std::env::temp_dir().join("millwright-bench");
        let dbname = format!("bench_{}", std::process::id());
        let database =
            LocalDatabase::provide(&mut settings.database, &dir, &dbname, Durability::Scratch)
                .await?;
        let store = Store::open(&settings.database, &settings.store).await?;
        let tenant = store
            .create_tenant(&crate::store::admin::NewTenant::named(
                format!("bench-{}", std::process::id()),
                millwright_tenants::plan::Plan::Pro,
            ))
            .await?;
        let mut session = store.tenant(tenant).await?;
        let named = |name: String| EntityFields {
            name: Some(name),
            ..Default::default()
        };
        let site = session
            .create(Kind::Site, &named("site".into()))
            .await?
            .id();
        let line = (session
            .create(
                Kind::Line,
                &EntityFields {
                    parent_id: Some(site),
                    ..named("line".into())
                },
            )
            .await?)
            .id();
        let machine = (session
            .create(
                Kind::Machine,
                &EntityFields {
                    parent_id: Some(line),
                    ..named("machine".into())
                },
            )
            .await?)
            .id();
        let mut tag_ids = Vec::with_capacity(tags);
        for i in 0..tags {
            let fields = EntityFields {
                parent_id: Some(machine),
                ..named(format!("bench.tag{i:04}"))
            };
            tag_ids.push(session.create(Kind::Tag, &fields).await?.id());
        }
        Ok(Self {
            settings,
            store,
            tenant,
            tag_ids,
            database,
        })
    }
}

/// Prints a progress line to stderr (figures go to stdout).
pub(crate) fn progress(what: &str) {
    eprintln!("[bench] {what}");
}
