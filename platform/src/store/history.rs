//! Machine history for model training and scoring: the machines of a class, their measured
//! (not derived) float tags, and per-step averages of their samples, read through the
//! tenant-filtered `tenant_samples` view like every other read. Also the derived tags the
//! scorer writes its predictions to.

use chrono::{DateTime, Utc};

use super::TenantSession;
use crate::error::{Error, Result};

/// A machine of the class being trained or scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMachine {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// Per-step averages of one tag: (bucket start, mean of the good samples in it).
pub type TagSeries = Vec<(DateTime<Utc>, f64)>;

impl TenantSession {
    /// Machines of a class (`machines.kind`), by id.
    pub async fn machines_of_class(&mut self, class: &str) -> Result<Vec<ClassMachine>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, name FROM machines WHERE tenant_id = $2 AND kind = $1 ORDER BY id",
                &[&class, &tenant.0],
            )
            .await
            .map_err(Error::db("listing machines of a class"))?;
        Ok(rows
            .iter()
            .map(|r| ClassMachine {
                id: r.get(0),
                name: r.get(1),
            })
            .collect())
    }

    /// Measured numeric tags of a machine: (tag id, tag name, whether it is a float tag);
    /// derived and boolean tags excluded.
    pub async fn measured_tags(&mut self, machine_id: i64) -> Result<Vec<(i64, String, bool)>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT id, name, value_type = 'float' FROM tags WHERE tenant_id = $2 \
                 AND machine_id = $1 AND value_type IN ('float', 'integer') AND NOT derived \
                 ORDER BY id",
                &[&machine_id, &tenant.0],
            )
            .await
            .map_err(Error::db("listing measured tags"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Averages of good samples of `tag_ids` per `step_secs` bucket (aligned to 2000-01-01)
    /// in `[from, to)`, one series per tag in the order given.
    pub async fn stepped_series(
        &mut self,
        tag_ids: &[i64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_secs: f64,
    ) -> Result<Vec<TagSeries>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let rows = tx
            .query(
                "SELECT tag_id, date_bin(make_interval(secs => $4), time, \
                        TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, avg(value) \
                 FROM tenant_samples \
                 WHERE tenant_id = $5 AND tag_id = ANY($1) AND time >= $2 AND time < $3 \
                   AND quality = 0 AND value IS NOT NULL \
                 GROUP BY 1, 2 ORDER BY 2",
                &[&tag_ids, &from, &to, &step_secs, &tenant],
            )
            .await
            .map_err(Error::db("reading stepped series"))?;
        let mut out = vec![Vec::new(); tag_ids.len()];
        for r in &rows {
            let tag: i64 = r.get(0);
            if let Some(i) = tag_ids.iter().position(|t| *t == tag) {
                out[i].push((r.get(1), r.get(2)));
            }
        }
        Ok(out)
    }

    /// The time of the newest sample of any of `tag_ids`.
    pub async fn newest_sample_time(&mut self, tag_ids: &[i64]) -> Result<Option<DateTime<Utc>>> {
        let tenant = self.tenant().0;
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                "SELECT max(s.time) FROM unnest($1::bigint[]) AS t(id) \
                 CROSS JOIN LATERAL (SELECT time FROM tenant_samples \
                                     WHERE tenant_id = $2 AND tag_id = t.id \
                                     ORDER BY time DESC LIMIT 1) s",
                &[&tag_ids, &tenant],
            )
            .await
            .map_err(Error::db("reading the newest sample time"))?;
        Ok(row.get(0))
    }

    /// The id of the derived tag `name` of a machine, created (marked derived) if absent.
    pub async fn ensure_derived_tag(
        &mut self,
        machine_id: i64,
        name: &str,
        unit: &str,
        description: &str,
    ) -> Result<i64> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let existing = tx
            .query_opt(
                "SELECT id FROM tags WHERE tenant_id = $2 AND name = $1",
                &[&name, &tenant.0],
            )
            .await
            .map_err(Error::db("reading a derived tag"))?;
        if let Some(row) = existing {
            return Ok(row.get(0));
        }
        // Inserted only when missing, so scoring rounds do not burn identity values.
        tx.execute(
            "INSERT INTO tags (tenant_id, machine_id, name, unit, value_type, description, derived) \
             VALUES ($5, $1, $2, $3, 'float', $4, true) ON CONFLICT (tenant_id, name) DO NOTHING",
            &[&machine_id, &name, &unit, &description, &tenant.0],
        )
        .await
        .map_err(Error::db("creating a derived tag"))?;
        let row = tx
            .query_one(
                "SELECT id FROM tags WHERE tenant_id = $2 AND name = $1",
                &[&name, &tenant.0],
            )
            .await
            .map_err(Error::db("reading a derived tag"))?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(row.get(0))
    }
}
