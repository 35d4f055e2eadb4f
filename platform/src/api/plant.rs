//! The plant model's resources: sites, lines, machines and tags, each with list, create, get,
//! update and delete. One macro writes the five handlers of each, so the four resources cannot
//! drift apart; storage is in `store::entities`. Row-level security makes another tenant's
//! object a plain 404.

use super::problem::ApiError;

fn page(after: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = super::input::limit(limit, 100, 1000)?;
    Ok((after.unwrap_or(0), limit))
}

fn require<T>(value: &Option<T>, field: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Ok(()),
        None => Err(ApiError::field(field, "missing")),
    }
}

/// Refuses a new tag past the plan's tag quota, naming a plan with room.
async fn tag_quota(
    caller: &super::extract::Caller,
    session: &mut crate::store::TenantSession,
) -> Result<(), ApiError> {
    use millwright_tenants::plan::Plan;
    let plan = caller.plan();
    let max = plan.quotas().max_tags;
    let tags = session.consumption().await?.tags;
    if tags < i64::from(max) {
        return Ok(());
    }
    let bigger = Plan::ALL
        .into_iter()
        .find(|p| p.quotas().max_tags > max)
        .map(|p| format!("; the {p} plan allows {}", p.quotas().max_tags))
        .unwrap_or_default();
    Err(
        ApiError::forbidden(format!("the {plan} plan allows {max} tags{bigger}"))
            .with_kind("quota")
            .with_field("machine_id"),
    )
}

/// Writes a resource module: its request body, list parameters and five handlers.
macro_rules! resource {
    (
        $module:ident: $kind:ident, $entity:ident, $body:ident,
        list = $list_path:literal, item = $item_path:literal, tag = $tag:literal, name = $name:literal,
        parent = [$($parent:ident, $parent_doc:literal)?],
        fields = { $($(#[$fmeta:meta])* $field:ident: $fty:ty),* $(,)? }
    ) => {
        #[doc = concat!("`", $list_path, "`: the tenant's ", $tag, ".")]
        pub mod $module {
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use serde::Deserialize;
            use utoipa::{IntoParams, ToSchema};

            use super::super::extract::{Caller, Json, Query};
            use super::super::problem::{ApiError, ApiResult, Problem};
            use super::super::AppState;
            use super::{page, require};
            #[allow(unused_imports)]
            use crate::store::entities::{EntityFields, Kind, ValueType, $entity};

            const KIND: Kind = Kind::$kind;

            #[doc = concat!("Fields of a ", $name, " to create or change; absent fields keep their value.")]
            #[derive(Debug, Default, Deserialize, ToSchema)]
            #[serde(deny_unknown_fields)]
            pub struct $body {
                $(#[doc = $parent_doc] pub $parent: Option<i64>,)?
                /// Name (required on create; 1 to 200 characters).
                pub name: Option<String>,
                /// Free text.
                pub description: Option<String>,
                $($(#[$fmeta])* pub $field: Option<$fty>,)*
            }

            impl From<$body> for EntityFields {
                fn from(b: $body) -> Self {
                    Self {
                        $(parent_id: b.$parent,)?
                        name: b.name,
                        description: b.description,
                        $($field: b.$field,)*
                        ..Default::default()
                    }
                }
            }

            #[doc = concat!("Query parameters of `GET ", $list_path, "`.")]
            #[derive(Debug, Deserialize, IntoParams)]
            #[serde(deny_unknown_fields)]
            #[into_params(parameter_in = Query)]
            pub struct ListQuery {
                $(#[doc = concat!("Only those of this parent (`", stringify!($parent), "`).")] $parent: Option<i64>,)?
                /// Only ids greater than this (keyset pagination: pass the last id seen).
                after: Option<i64>,
                /// Most to return (default 100, at most 1000).
                limit: Option<i64>,
            }

            #[doc = concat!("Lists ", $tag, ".")]
            #[utoipa::path(
                get, path = $list_path, tag = $tag,
                params(ListQuery),
                security(("api_key" = [])),
                responses(
                    (status = 200, body = Vec<$entity>),
                    (status = 401, body = Problem, content_type = "application/problem+json"),
                    (status = 422, body = Problem, content_type = "application/problem+json"),
                )
            )]
            pub async fn list(
                State(state): State<AppState>,
                caller: Caller,
                Query(q): Query<ListQuery>,
            ) -> ApiResult<axum::Json<Vec<$entity>>> {
                let (after, limit) = page(q.after, q.limit)?;
                #[allow(unused_mut, unused_assignments)]
                let mut parent = None;
                $(parent = q.$parent;)?
                let mut session = caller.session(&state.store).await?;
                let rows = session.list(KIND, parent, after, limit).await?;
                Ok(axum::Json(rows.into_iter().filter_map(|e| $entity::try_from(e).ok()).collect()))
            }

            #[doc = concat!("Creates a ", $name, ".")]
            #[utoipa::path(
                post, path = $list_path, tag = $tag,
                request_body = $body,
                security(("api_key" = [])),
                responses(
                    (status = 201, body = $entity),
                    (status = 401, body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Name already taken", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "Missing or invalid field", body = Problem, content_type = "application/problem+json"),
                )
            )]
            pub async fn create(
                State(state): State<AppState>,
                caller: Caller,
                Json(b): Json<$body>,
            ) -> ApiResult<(StatusCode, axum::Json<$entity>)> {
                require(&b.name, "name")?;
                $(require(&b.$parent, stringify!($parent))?;)?
                let mut session = caller.session(&state.store).await?;
                if KIND == Kind::Tag {
                    super::tag_quota(&caller, &mut session).await?;
                }
                let created = session.create(KIND, &b.into()).await?;
                let created = $entity::try_from(created).map_err(|_| ApiError::not_found($name))?;
                Ok((StatusCode::CREATED, axum::Json(created)))
            }

            #[doc = concat!("One ", $name, ".")]
            #[utoipa::path(
                get, path = $item_path, tag = $tag,
                params(("id" = i64, Path, description = "Its id")),
                security(("api_key" = [])),
                responses(
                    (status = 200, body = $entity),
                    (status = 401, body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json"),
                )
            )]
            pub async fn get(
                State(state): State<AppState>,
                caller: Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<axum::Json<$entity>> {
                let mut session = caller.session(&state.store).await?;
                let found = session.get(KIND, id).await?.and_then(|e| $entity::try_from(e).ok());
                found.map(axum::Json).ok_or_else(|| ApiError::not_found($name))
            }

            #[doc = concat!("Changes the given fields of a ", $name, ".")]
            #[utoipa::path(
                patch, path = $item_path, tag = $tag,
                params(("id" = i64, Path, description = "Its id")),
                request_body = $body,
                security(("api_key" = [])),
                responses(
                    (status = 200, body = $entity),
                    (status = 401, body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json"),
                    (status = 409, body = Problem, content_type = "application/problem+json"),
                    (status = 422, body = Problem, content_type = "application/problem+json"),
                )
            )]
            pub async fn update(
                State(state): State<AppState>,
                caller: Caller,
                Path(id): Path<i64>,
                Json(b): Json<$body>,
            ) -> ApiResult<axum::Json<$entity>> {
                let mut session = caller.session(&state.store).await?;
                let updated = session.update(KIND, id, &b.into()).await?.and_then(|e| $entity::try_from(e).ok());
                updated.map(axum::Json).ok_or_else(|| ApiError::not_found($name))
            }

            #[doc = concat!("Deletes a ", $name, " and everything under it.")]
            #[utoipa::path(
                delete, path = $item_path, tag = $tag,
                params(("id" = i64, Path, description = "Its id")),
                security(("api_key" = [])),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 401, body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json"),
                )
            )]
            pub async fn delete(
                State(state): State<AppState>,
                caller: Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<StatusCode> {
                let mut session = caller.session(&state.store).await?;
                if session.delete(KIND, id).await? {
                    Ok(StatusCode::NO_CONTENT)
                } else {
                    Err(ApiError::not_found($name))
                }
            }
        }
    };
}

resource!(sites: Site, Site, SiteBody,
    list = "/sites", item = "/sites/{id}", tag = "sites", name = "site",
    parent = [], fields = {});
resource!(lines: Line, Line, LineBody,
    list = "/lines", item = "/lines/{id}", tag = "lines", name = "line",
    parent = [site_id, "The site it belongs to (required on create)."], fields = {});
resource!(machines: Machine, Machine, MachineBody,
list = "/machines", item = "/machines/{id}", tag = "machines", name = "machine",
parent = [line_id, "The line it stands on (required on create)."],
fields = {
    /// Machine class, e.g. `injection_moulding`, `cnc`, `sewing`.
    kind: String,
});
resource!(tags: Tag, Tag, TagBody,
list = "/tags", item = "/tags/{id}", tag = "tags", name = "tag",
parent = [machine_id, "The machine it belongs to (required on create)."],
fields = {
    /// Engineering unit, e.g. `degC`.
    unit: String,
    /// `float` (default), `integer`, `boolean` or `text` (strings such as a program name or
    /// recipe id; ingest then takes `"value": "AUTO"` and refuses numbers).
    value_type: ValueType,
});
