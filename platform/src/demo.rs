//! `millwright demo`: the whole system, live, with no configuration. Without `DATABASE_URL`
//! it starts a private PostgreSQL cluster in a data folder of its own; it creates a demo
//! tenant with three plants, feeds them live data, serves the API and prints where it is.

mod generator;
mod plant;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::Server;
use crate::config::Settings;
use crate::error::Result;
use crate::pg_cluster::{Durability, LocalDatabase};
use crate::store::entities::{EntityFields, Kind, ValueType};
use crate::store::{Store, TenantId};

const TENANT: &str = "Demo Manufacturing";

/// Where the demo keeps its private cluster unless told otherwise: a folder the `postgres`
/// user can reach even when we run as root from a private home directory.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join("millwright-demo")
}

/// What a running demo tells its caller.
#[derive(Debug, Clone)]
pub struct DemoInfo {
    /// Base URL of the API.
    pub api: String,
    /// A fresh API key of the demo tenant.
    pub api_key: String,
}

/// The running demo.
pub struct Demo {
    /// Where to reach it.
    pub info: DemoInfo,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    database: LocalDatabase,
}

impl Demo {
    /// Starts everything; returns once the API answers.
    pub async fn start(mut settings: Settings, data_dir: PathBuf) -> Result<Self> {
        let database = LocalDatabase::provide(
            &mut settings.database,
            &data_dir,
            "millwright",
            Durability::Durable,
        )
        .await?;
        let store = Store::open(&settings.database, &settings.store).await?;
        let tenant = ensure_tenant(&store).await?;
        let api_key = store.issue_api_key(tenant, "demo").await?;
        let tags = ensure_plant(&store, tenant).await?;

        let settings = Arc::new(settings);
        let server = match Server::bind(store.clone(), settings.clone()).await {
            Ok(server) => server,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::warn!(listen = %settings.http.listen, "Port taken; the demo picks a free one.");
                let mut fallback = (*settings).clone();
                fallback.http.listen.set_port(0);
                Server::bind(store.clone(), Arc::new(fallback))
                    .await
                    .map_err(crate::Error::io("binding the API"))?
            }
            Err(e) => return Err(crate::Error::io("binding the API")(e)),
        };
        let api = format!("http://{}", server.local_addr());
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server.run(async move { s.cancelled().await }).await {
                tracing::error!(error = %e, "API server failed.");
            }
        }));
        tasks.push(tokio::spawn(maintenance_loop(
            store.clone(),
            settings.store.maintenance_interval_secs,
            stop.clone(),
        )));
        tasks.push(tokio::spawn(generator::run(
            api.clone(),
            api_key.clone(),
            tags,
            stop.clone(),
        )));
        Ok(Self {
            info: DemoInfo { api, api_key },
            stop,
            tasks,
            database,
        })
    }

    /// Stops the generators, the API and the private cluster, in that order.
    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(mut cluster) = self.database.cluster.take() {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }
}

/// Runs store maintenance (rollups, partitions, retention) every `secs` seconds.
pub async fn maintenance_loop(store: Store, secs: u64, stop: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs.max(1)));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.maintain().await {
            Ok(report) => tracing::debug!(?report, "Maintenance round done."),
            Err(e) => tracing::warn!(error = %e, "Maintenance round failed; retrying next round."),
        }
    }
}

async fn ensure_tenant(store: &Store) -> Result<TenantId> {
    let client = store.owner_pool().get().await?;
    let existing = client
        .query_opt("SELECT id FROM tenants WHERE name = $1", &[&TENANT])
        .await
        .map_err(crate::Error::db("looking up the demo tenant"))?;
    drop(client);
    match existing {
        Some(row) => Ok(TenantId(row.get(0))),
        None => store.create_tenant(TENANT).await,
    }
}

/// Creates the demo plant unless it exists; returns the tags to generate data for.
async fn ensure_plant(store: &Store, tenant: TenantId) -> Result<Vec<generator::GeneratedTag>> {
    let mut session = store.tenant(tenant).await?;
    let mut tags = Vec::new();
    let existing = session.list(Kind::Site, None, 0, 1000).await?;
    let fresh = existing.is_empty();
    for (site, lines) in plant::PLANT {
        for (line, machines) in *lines {
            for (machine, _, specs) in *machines {
                for spec in *specs {
                    tags.push(generator::GeneratedTag {
                        name: format!("{site}.{line}.{machine}.{}", spec.0),
                        spec: *spec,
                    });
                }
            }
        }
    }
    if !fresh {
        return Ok(tags);
    }
    let named = |name: &str| EntityFields {
        name: Some(name.to_string()),
        ..Default::default()
    };
    for (site, lines) in plant::PLANT {
        let site_id = session.create(Kind::Site, &named(site)).await?.id();
        for (line, machines) in *lines {
            let line_id = session
                .create(
                    Kind::Line,
                    &EntityFields {
                        parent_id: Some(site_id),
                        ..named(line)
                    },
                )
                .await?
                .id();
            for (machine, kind, specs) in *machines {
                let fields = EntityFields {
                    parent_id: Some(line_id),
                    kind: Some(kind.to_string()),
                    ..named(machine)
                };
                let machine_id = session.create(Kind::Machine, &fields).await?.id();
                for (suffix, unit, _, amplitude) in *specs {
                    let fields = EntityFields {
                        parent_id: Some(machine_id),
                        unit: Some(unit.to_string()),
                        value_type: Some(if *amplitude == 0.0 {
                            ValueType::Integer
                        } else {
                            ValueType::Float
                        }),
                        ..named(&format!("{site}.{line}.{machine}.{suffix}"))
                    };
                    session.create(Kind::Tag, &fields).await?;
                }
            }
        }
    }
    Ok(tags)
}
