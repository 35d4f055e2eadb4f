//! The plant model: sites contain lines, lines contain machines, machines carry tags. Every
//! statement runs in a tenant-scoped transaction, so row-level security decides what exists:
//! another tenant's object is simply not found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use deadpool_postgres::Transaction;

use super::{TenantId, TenantSession};
use crate::error::{Error, Result};

/// A factory site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Site {
    /// Identifier.
    pub id: i64,
    /// Name, unique within the tenant.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A production line within a site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Line {
    /// Identifier.
    pub id: i64,
    /// The site it belongs to.
    pub site_id: i64,
    /// Name, unique within the site.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A machine on a line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Machine {
    /// Identifier.
    pub id: i64,
    /// The line it stands on.
    pub line_id: i64,
    /// Name, unique within the line.
    pub name: String,
    /// Machine class, e.g. `injection_moulding`, `cnc`, `sewing`.
    pub kind: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What a tag's values mean: numbers of some kind, or text.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A measurement.
    #[default]
    Float,
    /// A counter or code.
    Integer,
    /// A state (0 or 1).
    Boolean,
    /// Text: a program name, recipe id, order number, operator badge or fault text. Its
    /// samples are strings, stored apart from numbers (see [`super::text`]).
    Text,
}

impl ValueType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Text => "text",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "text" => Self::Text,
            _ => Self::Float,
        }
    }
}

/// A measured or derived variable of a machine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Tag {
    /// Identifier.
    pub id: i64,
    /// The machine it belongs to.
    pub machine_id: i64,
    /// Name, unique within the tenant; connectors address tags by it.
    pub name: String,
    /// Engineering unit, e.g. `degC`, `bar`, `rpm`.
    pub unit: String,
    /// What the values mean as numbers.
    pub value_type: ValueType,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Written by the platform (model predictions such as `<machine>.pm.failure_probability`),
    /// not measured; models never train on derived tags.
    #[serde(default)]
    pub derived: bool,
}

/// Fields of a new or changed entity; absent fields keep their value (or default on create).
#[derive(Debug, Clone, Default)]
pub struct EntityFields {
    /// Parent: `site_id` for lines, `line_id` for machines, `machine_id` for tags.
    pub parent_id: Option<i64>,
    /// Name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Machines: class.
    pub kind: Option<String>,
    /// Tags: engineering unit.
    pub unit: Option<String>,
    /// Tags: value type.
    pub value_type: Option<ValueType>,
}

/// The four kinds of entity, for the generic operations below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `sites`
    Site,
    /// `lines`
    Line,
    /// `machines`
    Machine,
    /// `tags`
    Tag,
}

impl Kind {
    /// Table name.
    pub fn table(self) -> &'static str {
        match self {
            Self::Site => "sites",
            Self::Line => "lines",
            Self::Machine => "machines",
            Self::Tag => "tags",
        }
    }
    /// Singular name, for audit entries (`machine.update`, `machine/12`).
    pub fn noun(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Line => "line",
            Self::Machine => "machine",
            Self::Tag => "tag",
        }
    }
    /// Parent column, if any.
    pub fn parent(self) -> Option<&'static str> {
        match self {
            Self::Site => None,
            Self::Line => Some("site_id"),
            Self::Machine => Some("line_id"),
            Self::Tag => Some("machine_id"),
        }
    }
    fn columns(self) -> &'static str {
        match self {
            Self::Site => "id, name, description, created_at",
            Self::Line => "id, site_id, name, description, created_at",
            Self::Machine => "id, line_id, name, kind, description, created_at",
            Self::Tag => "id, machine_id, name, unit, value_type, description, created_at, derived",
        }
    }
}

/// Any entity, as returned by the generic operations.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Entity {
    /// A site.
    Site(Site),
    /// A line.
    Line(Line),
    /// A machine.
    Machine(Machine),
    /// A tag.
    Tag(Tag),
}

impl Entity {
    /// Its id, whatever its kind.
    pub fn id(&self) -> i64 {
        match self {
            Self::Site(x) => x.id,
            Self::Line(x) => x.id,
            Self::Machine(x) => x.id,
            Self::Tag(x) => x.id,
        }
    }

    /// Its name, whatever its kind.
    pub fn name(&self) -> &str {
        match self {
            Self::Site(x) => &x.name,
            Self::Line(x) => &x.name,
            Self::Machine(x) => &x.name,
            Self::Tag(x) => &x.name,
        }
    }

    fn from_row(kind: Kind, r: &Row) -> Self {
        match kind {
            Kind::Site => Self::Site(Site {
                id: r.get("id"),
                name: r.get("name"),
                description: r.get("description"),
                created_at: r.get("created_at"),
            }),
            Kind::Line => Self::Line(Line {
                id: r.get("id"),
                site_id: r.get("site_id"),
                name: r.get("name"),
                description: r.get("description"),
                created_at: r.get("created_at"),
            }),
            Kind::Machine => Self::Machine(Machine {
                id: r.get("id"),
                line_id: r.get("line_id"),
                name: r.get("name"),
                kind: r.get("kind"),
                description: r.get("description"),
                created_at: r.get("created_at"),
            }),
            Kind::Tag => Self::Tag(Tag {
                id: r.get("id"),
                machine_id: r.get("machine_id"),
                name: r.get("name"),
                unit: r.get("unit"),
                value_type: ValueType::parse(r.get("value_type")),
                description: r.get("description"),
                created_at: r.get("created_at"),
                derived: r.get("derived"),
            }),
        }
    }
}

macro_rules! narrow {
    ($($variant:ident),*) => {$(
        impl TryFrom<Entity> for $variant {
            type Error = Entity;
            fn try_from(e: Entity) -> Result<Self, Entity> {
                match e {
                    Entity::$variant(x) => Ok(x),
                    other => Err(other),
                }
            }
        }
    )*};
}
narrow!(Site, Line, Machine, Tag);

impl TenantSession {
    /// Lists entities of `kind`, optionally under one parent, by id after `after`.
    pub async fn list(
        &mut self,
        kind: Kind,
        parent_id: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Entity>> {
        let filter = match (kind.parent(), parent_id) {
            (Some(col), Some(_)) => format!("AND {col} = $4"),
            _ => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $3 AND id > $1 {filter} ORDER BY id LIMIT $2",
            kind.columns(),
            kind.table()
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = match (kind.parent(), parent_id) {
            (Some(_), Some(p)) => tx.query(&sql, &[&after, &limit, &tenant.0, &p]).await,
            _ => tx.query(&sql, &[&after, &limit, &tenant.0]).await,
        }
        .map_err(Error::db("listing entities"))?;
        Ok(rows.iter().map(|r| Entity::from_row(kind, r)).collect())
    }

    /// One entity, or `None` if it does not exist for this tenant.
    pub async fn get(&mut self, kind: Kind, id: i64) -> Result<Option<Entity>> {
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $2 AND id = $1",
            kind.columns(),
            kind.table()
        );
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("reading an entity"))?;
        Ok(row.map(|r| Entity::from_row(kind, &r)))
    }

    /// Creates an entity; the caller has checked that required fields are present.
    pub async fn create(&mut self, kind: Kind, f: &EntityFields) -> Result<Entity> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let (sql, params) = write_sql(kind, f, None, tenant);
        let tx = self.begin().await?;
        let row = tx
            .query_one(&sql, &refs(&params))
            .await
            .map_err(Error::db("creating an entity"))?;
        let created = Entity::from_row(kind, &row);
        audit_entity(
            &tx,
            (tenant, &actor),
            kind,
            "create",
            created.id(),
            None,
            Some(&created),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(created)
    }

    /// Changes the given fields; `None` if the entity does not exist for this tenant.
    pub async fn update(
        &mut self,
        kind: Kind,
        id: i64,
        f: &EntityFields,
    ) -> Result<Option<Entity>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let (sql, params) = write_sql(kind, f, Some(id), tenant);
        let tx = self.begin().await?;
        let Some(before) = locked(&tx, kind, id, tenant).await? else {
            return Ok(None);
        };
        let row = tx
            .query_opt(&sql, &refs(&params))
            .await
            .map_err(Error::db("updating an entity"))?;
        let after = row.map(|r| Entity::from_row(kind, &r));
        if let Some(after) = &after {
            audit_entity(
                &tx,
                (tenant, &actor),
                kind,
                "update",
                id,
                Some(&before),
                Some(after),
            )
            .await?;
        }
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(after)
    }

    /// Deletes an entity and everything under it; false if it does not exist for this tenant.
    pub async fn delete(&mut self, kind: Kind, id: i64) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let sql = format!(
            "DELETE FROM {} WHERE tenant_id = $2 AND id = $1",
            kind.table()
        );
        let tx = self.begin().await?;
        let Some(before) = locked(&tx, kind, id, tenant).await? else {
            return Ok(false);
        };
        let n = tx
            .execute(&sql, &[&id, &tenant.0])
            .await
            .map_err(Error::db("deleting an entity"))?;
        audit_entity(
            &tx,
            (tenant, &actor),
            kind,
            "delete",
            id,
            Some(&before),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(n == 1)
    }
}

/// Records a change to an entity in the audit log, in the change's own transaction.
async fn audit_entity(
    tx: &Transaction<'_>,
    (tenant, actor): (TenantId, &str),
    kind: Kind,
    verb: &str,
    id: i64,
    before: Option<&Entity>,
    after: Option<&Entity>,
) -> Result<()> {
    let json = |e: Option<&Entity>| e.and_then(|e| serde_json::to_value(e).ok());
    super::audit::append(
        tx,
        tenant,
        actor,
        &format!("{}.{verb}", kind.noun()),
        format!("{}/{id}", kind.noun()),
        json(before),
        json(after),
    )
    .await
}

/// The entity as it is now, locked until the transaction ends (for its audit "before").
async fn locked(
    tx: &Transaction<'_>,
    kind: Kind,
    id: i64,
    tenant: TenantId,
) -> Result<Option<Entity>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
        kind.columns(),
        kind.table()
    );
    let row = tx
        .query_opt(&sql, &[&id, &tenant.0])
        .await
        .map_err(Error::db("reading an entity"))?;
    Ok(row.map(|r| Entity::from_row(kind, &r)))
}

type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

fn refs(params: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

/// INSERT (id = None) or UPDATE of the fields that are present, in `tenant`.
fn write_sql(
    kind: Kind,
    f: &EntityFields,
    id: Option<i64>,
    tenant: TenantId,
) -> (String, Vec<Param>) {
    let mut cols: Vec<&str> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut push = |col: &'static str, p: Param| {
        cols.push(col);
        params.push(p);
    };
    if let (Some(col), Some(p)) = (kind.parent(), f.parent_id) {
        push(col, Box::new(p));
    }
    if let Some(v) = &f.name {
        push("name", Box::new(v.clone()));
    }
    if let Some(v) = &f.description {
        push("description", Box::new(v.clone()));
    }
    if kind == Kind::Machine {
        if let Some(v) = &f.kind {
            push("kind", Box::new(v.clone()));
        }
    }
    if kind == Kind::Tag {
        if let Some(v) = &f.unit {
            push("unit", Box::new(v.clone()));
        }
        if let Some(v) = f.value_type {
            push("value_type", Box::new(v.as_str()));
        }
    }
    push("tenant_id", Box::new(tenant.0));
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let sql = match id {
        None => format!(
            "INSERT INTO {} ({}) VALUES ({}) RETURNING {}",
            kind.table(),
            cols.join(", "),
            placeholders.join(", "),
            kind.columns()
        ),
        Some(id) => {
            // tenant_id (last) is the row's tenant to match, not a field to set.
            let n = cols.len() - 1;
            let sets: Vec<String> = cols[..n]
                .iter()
                .zip(&placeholders)
                .map(|(c, p)| format!("{c} = {p}"))
                .collect();
            // An empty patch still answers with the entity (or nothing if it is not ours);
            // `id` is generated always, so the no-op assignment is to `name`.
            let sets = if sets.is_empty() {
                "name = name".to_string()
            } else {
                sets.join(", ")
            };
            params.push(Box::new(id));
            format!(
                "UPDATE {} SET {sets} WHERE tenant_id = ${} AND id = ${} RETURNING {}",
                kind.table(),
                n + 1,
                params.len(),
                kind.columns()
            )
        }
    };
    (sql, params)
}
