//! The plant model's resources: one module per resource, each with list, create, get,
//! update and delete. Row-level security makes another tenant's object a plain 404.

pub mod lines;
pub mod machines;
pub mod sites;
pub mod tags;

use super::problem::ApiError;
use crate::store::entities::{Entity, Line, Machine, Site, Tag};

fn page(after: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    Ok((after.unwrap_or(0), limit))
}

fn require<T>(value: &Option<T>, field: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Ok(()),
        None => Err(ApiError::field(field, "missing")),
    }
}

fn into_site(e: Entity) -> Option<Site> {
    match e {
        Entity::Site(s) => Some(s),
        _ => None,
    }
}
fn into_line(e: Entity) -> Option<Line> {
    match e {
        Entity::Line(s) => Some(s),
        _ => None,
    }
}
fn into_machine(e: Entity) -> Option<Machine> {
    match e {
        Entity::Machine(s) => Some(s),
        _ => None,
    }
}
fn into_tag(e: Entity) -> Option<Tag> {
    match e {
        Entity::Tag(s) => Some(s),
        _ => None,
    }
}
