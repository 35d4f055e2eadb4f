//! Model versions and training jobs. A version is immutable once stored (its parameters,
//! hold-out metrics, training range, machines and serialized model); only its `promoted` flag
//! changes, and at most one version per (machine class, model kind) is promoted: the one the
//! scorer runs. Jobs record the progress of a training run for `GET /training-jobs/{id}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::{Store, TenantId, TenantSession};
use crate::error::{Error, Result};

/// What a model predicts (and what an alarm is about).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Anomaly score against normal operation, with a calibrated threshold.
    Anomaly,
    /// Probability of a failure within the horizon.
    Failure,
    /// Remaining useful life, in hours.
    Rul,
    /// Probability that a unit is defective, from its process parameters (issue #15; learnt
    /// from quality records, scored as records arrive).
    Defect,
}

impl ModelKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anomaly => "anomaly",
            Self::Failure => "failure",
            Self::Rul => "rul",
            Self::Defect => "defect",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anomaly" => Some(Self::Anomaly),
            "failure" => Some(Self::Failure),
            "rul" => Some(Self::Rul),
            "defect" => Some(Self::Defect),
            _ => None,
        }
    }
}

/// A stored model version (without its serialized model).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ModelVersion {
    /// Identifier.
    pub id: i64,
    /// Machine class it was trained for (`machines.kind`).
    pub machine_class: String,
    /// What it predicts.
    pub kind: ModelKind,
    /// Version number within (machine class, kind), from 1.
    pub version: i32,
    /// Training parameters, as requested plus the defaults applied.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Hold-out metrics.
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    /// Start of the training range.
    pub trained_from: DateTime<Utc>,
    /// End of the training range.
    pub trained_to: DateTime<Utc>,
    /// Machines whose history it was trained on.
    pub machines: Vec<i64>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Whether the scorer runs it.
    pub promoted: bool,
}

impl ModelVersion {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            machine_class: r.get("machine_class"),
            kind: ModelKind::parse(r.get("model_kind")).unwrap_or(ModelKind::Anomaly),
            version: r.get("version"),
            params: r.get("params"),
            metrics: r.get("metrics"),
            trained_from: r.get("trained_from"),
            trained_to: r.get("trained_to"),
            machines: r.get("machines"),
            created_at: r.get("created_at"),
            promoted: r.get("promoted"),
        }
    }
}

/// A model version to store.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    /// Machine class.
    pub machine_class: String,
    /// What it predicts.
    pub kind: ModelKind,
    /// Training parameters.
    pub params: serde_json::Value,
    /// Hold-out metrics.
    pub metrics: serde_json::Value,
    /// Training range.
    pub trained_from: DateTime<Utc>,
    /// Training range.
    pub trained_to: DateTime<Utc>,
    /// Machines trained on.
    pub machines: Vec<i64>,
    /// The serialized model.
    pub artifact: Vec<u8>,
}

/// Where a training job stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted, not started.
    Queued,
    /// Reading history or fitting.
    Running,
    /// Done; `version_id` names the stored version.
    Succeeded,
    /// Stopped; `message` says why.
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }
}

/// A training job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrainingJob {
    /// Identifier.
    pub id: i64,
    /// Where it stands.
    pub status: JobStatus,
    /// Share done, 0 to 1.
    pub progress: f64,
    /// The last step taken, or why it failed.
    pub message: String,
    /// The version it produced, once succeeded.
    pub version_id: Option<i64>,
    /// The request, with defaults applied.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl TrainingJob {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            status: JobStatus::parse(r.get("status")),
            progress: r.get("progress"),
            message: r.get("message"),
            version_id: r.get("version_id"),
            request: r.get("request"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        }
    }
}

const VERSION_COLUMNS: &str = "id, machine_class, model_kind, version, params, metrics, \
     trained_from, trained_to, machines, created_at, promoted";
const JOB_COLUMNS: &str =
    "id, status, progress, message, version_id, request, created_at, updated_at";

impl TenantSession {
    /// Stores a new version, numbered one past the latest of its (class, kind).
    pub async fn store_model_version(&mut self, v: &NewModelVersion) -> Result<ModelVersion> {
        let sql = format!(
            "INSERT INTO model_versions (tenant_id, machine_class, model_kind, version, params, \
                 metrics, trained_from, trained_to, machines, artifact) \
             SELECT $9, $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7, $8 \
             FROM model_versions WHERE tenant_id = $9 AND machine_class = $1 AND model_kind = $2 \
             RETURNING {VERSION_COLUMNS}"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        // Two jobs of this tenant finishing at once take turns for the number (other tenants
        // are not held up).
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('model_versions'), current_tenant())",
            &[],
        )
        .await
        .map_err(Error::db("locking model version numbers"))?;
        let row = tx
            .query_one(
                &sql,
                &[
                    &v.machine_class,
                    &v.kind.as_str(),
                    &v.params,
                    &v.metrics,
                    &v.trained_from,
                    &v.trained_to,
                    &v.machines,
                    &v.artifact,
                    &tenant.0,
                ],
            )
            .await
            .map_err(Error::db("storing a model version"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(ModelVersion::from_row(&row))
    }

    /// Versions, newest first, optionally of one class and kind.
    pub async fn model_versions(
        &mut self,
        machine_class: Option<&str>,
        kind: Option<ModelKind>,
    ) -> Result<Vec<ModelVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions \
             WHERE tenant_id = $3 \
               AND ($1::text IS NULL OR machine_class = $1) AND ($2::text IS NULL OR model_kind = $2) \
             ORDER BY id DESC LIMIT 1000"
        );
        let kind = kind.map(ModelKind::as_str);
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&machine_class, &kind, &tenant.0])
            .await
            .map_err(Error::db("listing model versions"))?;
        Ok(rows.iter().map(ModelVersion::from_row).collect())
    }

    /// One version, or `None` if it does not exist for this tenant.
    pub async fn model_version(&mut self, id: i64) -> Result<Option<ModelVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE tenant_id = $2 AND id = $1"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("reading a model version"))?;
        Ok(row.as_ref().map(ModelVersion::from_row))
    }

    /// Makes `id` the promoted version of its (class, kind), demoting the previous one.
    pub async fn promote_model_version(&mut self, id: i64) -> Result<Option<ModelVersion>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE model_versions o SET promoted = false FROM model_versions n \
             WHERE n.tenant_id = $2 AND n.id = $1 AND o.tenant_id = $2 AND o.promoted \
               AND o.id <> n.id AND o.machine_class = n.machine_class \
               AND o.model_kind = n.model_kind",
            &[&id, &tenant.0],
        )
        .await
        .map_err(Error::db("demoting the previous model version"))?;
        let sql = format!(
            "UPDATE model_versions SET promoted = true WHERE tenant_id = $2 AND id = $1 \
             RETURNING {VERSION_COLUMNS}"
        );
        let row = tx
            .query_opt(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("promoting a model version"))?;
        let promoted = row.as_ref().map(ModelVersion::from_row);
        if let Some(v) = &promoted {
            // Promotion changes the alarms everyone sees: it belongs in the audit log.
            super::audit::append(
                &tx,
                tenant,
                &actor,
                "model_version.promote",
                format!("model_version/{id}"),
                None,
                serde_json::to_value(v).ok(),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(promoted)
    }

    /// The promoted versions with their serialized models.
    pub async fn promoted_models(&mut self) -> Result<Vec<(ModelVersion, Vec<u8>)>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS}, artifact FROM model_versions \
             WHERE tenant_id = $1 AND promoted ORDER BY id"
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(&sql, &[&tenant.0])
            .await
            .map_err(Error::db("reading promoted models"))?;
        Ok(rows
            .iter()
            .map(|r| (ModelVersion::from_row(r), r.get("artifact")))
            .collect())
    }

    /// Accepts a training job.
    pub async fn create_training_job(
        &mut self,
        request: &serde_json::Value,
    ) -> Result<TrainingJob> {
        let sql =
            format!("INSERT INTO training_jobs (request) VALUES ($1) RETURNING {JOB_COLUMNS}");
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_one(&sql, &[request])
            .await
            .map_err(Error::db("creating a training job"))?;
        let job = TrainingJob::from_row(&row);
        super::audit::append(
            &tx,
            tenant,
            &actor,
            "training_job.start",
            format!("training_job/{}", job.id),
            None,
            Some(request.clone()),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(job)
    }

    /// One job, or `None` if it does not exist for this tenant.
    pub async fn training_job(&mut self, id: i64) -> Result<Option<TrainingJob>> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM training_jobs WHERE tenant_id = $2 AND id = $1");
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("reading a training job"))?;
        Ok(row.as_ref().map(TrainingJob::from_row))
    }

    /// Records a job's progress (which never goes back).
    pub async fn update_training_job(
        &mut self,
        id: i64,
        status: JobStatus,
        progress: f64,
        message: &str,
        version_id: Option<i64>,
    ) -> Result<()> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        tx.execute(
            "UPDATE training_jobs SET status = $2, progress = greatest(progress, $3), message = $4, \
                 version_id = coalesce($5, version_id), updated_at = now() \
             WHERE tenant_id = $6 AND id = $1",
            &[
                &id,
                &status.as_str(),
                &progress.clamp(0.0, 1.0),
                &message,
                &version_id,
                &tenant.0,
            ],
        )
        .await
        .map_err(Error::db("updating a training job"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(())
    }
}

impl Store {
    /// Tenants with at least one promoted model (owner role: the scorer's round-robin).
    pub async fn tenants_with_promoted_models(&self) -> Result<Vec<TenantId>> {
        let client = self.owner.get().await?;
        let rows = client
            .query(
                "SELECT DISTINCT tenant_id FROM model_versions WHERE promoted ORDER BY 1",
                &[],
            )
            .await
            .map_err(Error::db("listing tenants with promoted models"))?;
        Ok(rows.iter().map(|r| TenantId(r.get(0))).collect())
    }
}
