//! Users of a tenant, managed by its owners and admins; bureau users, by the platform
//! operator. Passwords arrive here already hashed (argon2, in the API layer); every change
//! is audited without the hash.

use chrono::{DateTime, Utc};
use millwright_tenants::role::Role;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::parse_role;
use super::{audit, Store, TenantSession};
use crate::error::{Error, Result};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Sign-in email, lower case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role within the tenant.
    #[schema(value_type = String, example = "engineer")]
    pub role: Role,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user was disabled, if they are.
    pub disabled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, email, name, role, created_at, disabled_at";

fn from_row(r: &tokio_postgres::Row) -> Result<User> {
    Ok(User {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        role: parse_role(r.get(3))?,
        created_at: r.get(4),
        disabled_at: r.get(5),
    })
}

/// What may change about a user; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct UserChange {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Disable (`true`) or enable (`false`).
    pub disabled: Option<bool>,
    /// New argon2 password hash.
    pub password_hash: Option<String>,
}

impl TenantSession {
    /// The tenant's users.
    pub async fn users(&mut self) -> Result<Vec<User>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let rows = tx
            .query(
                &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant.0],
            )
            .await
            .map_err(Error::db("listing users"))?;
        rows.iter().map(from_row).collect()
    }

    /// One user of the tenant.
    pub async fn user(&mut self, id: i64) -> Result<Option<User>> {
        let tenant = self.tenant();
        let tx = self.begin().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $2 AND id = $1"),
                &[&id, &tenant.0],
            )
            .await
            .map_err(Error::db("reading a user"))?;
        row.as_ref().map(from_row).transpose()
    }

    /// Adds a user with an already hashed password.
    pub async fn create_user(
        &mut self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4) \
                     RETURNING {COLUMNS}"
                ),
                &[&email.to_lowercase(), &name, &role.as_str(), &password_hash],
            )
            .await
            .map_err(Error::db("creating a user"))?;
        let user = from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "user.create",
            format!("user/{}", user.id),
            None,
            serde_json::to_value(&user).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(user)
    }

    /// Changes a user; `None` if there is no such user in the tenant.
    pub async fn update_user(&mut self, id: i64, change: &UserChange) -> Result<Option<User>> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(before) = tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $2 AND id = $1 FOR UPDATE"),
                &[&id, &tenant.0],
            )
            .await
            .map_err(Error::db("reading a user"))?
        else {
            return Ok(None);
        };
        let before = from_row(&before)?;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE users SET name = coalesce($2, name), role = coalesce($3, role), \
                     disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at \
                                        WHEN $4 THEN coalesce(disabled_at, now()) ELSE NULL END \
                     WHERE tenant_id = $5 AND id = $1 RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &change.name,
                    &change.role.map(Role::as_str),
                    &change.disabled,
                    &tenant.0,
                ],
            )
            .await
            .map_err(Error::db("updating a user"))?;
        // Separately: `coalesce(…, password_hash)` would need the app role to read hashes.
        if let Some(hash) = &change.password_hash {
            tx.execute(
                "UPDATE users SET password_hash = $2 WHERE tenant_id = $3 AND id = $1",
                &[&id, hash, &tenant.0],
            )
            .await
            .map_err(Error::db("changing a password"))?;
        }
        let after = from_row(&row)?;
        let mut after_json = serde_json::to_value(&after).ok();
        if change.password_hash.is_some() {
            if let Some(serde_json::Value::Object(m)) = after_json.as_mut() {
                m.insert("password".into(), "changed".into());
            }
        }
        audit::append(
            &tx,
            tenant,
            &actor,
            "user.update",
            format!("user/{id}"),
            serde_json::to_value(&before).ok(),
            after_json,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(Some(after))
    }

    /// Removes a user; false if there is no such user in the tenant.
    pub async fn delete_user(&mut self, id: i64) -> Result<bool> {
        let (tenant, actor) = (self.tenant(), self.actor().to_owned());
        let tx = self.begin().await?;
        let Some(row) = tx
            .query_opt(
                &format!("DELETE FROM users WHERE tenant_id = $2 AND id = $1 RETURNING {COLUMNS}"),
                &[&id, &tenant.0],
            )
            .await
            .map_err(Error::db("deleting a user"))?
        else {
            return Ok(false);
        };
        let before = from_row(&row)?;
        audit::append(
            &tx,
            tenant,
            &actor,
            "user.delete",
            format!("user/{id}"),
            serde_json::to_value(&before).ok(),
            None,
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(true)
    }
}

impl Store {
    /// Adds a bureau user (no tenant) with an already hashed password; operators only. The
    /// operator's audit chain records it in the same transaction.
    pub async fn create_bureau_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
    ) -> Result<User> {
        let mut client = self.owner.get().await?;
        let tx = client
            .transaction()
            .await
            .map_err(Error::db("beginning a transaction"))?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO users (tenant_id, email, name, role, password_hash) \
                     VALUES (NULL, $1, $2, 'bureau', $3) RETURNING {COLUMNS}"
                ),
                &[&email.to_lowercase(), &name, &password_hash],
            )
            .await
            .map_err(Error::db("creating a bureau user"))?;
        let user = from_row(&row)?;
        super::audit::append_operator(
            &tx,
            "operator",
            "bureau_user.create",
            format!("user/{}", user.id),
            None,
            serde_json::to_value(&user).ok(),
        )
        .await?;
        tx.commit().await.map_err(Error::db("committing"))?;
        Ok(user)
    }
}
