//! The management API's service: [`gridmq_http::Management`] over the [`Namespace`],
//! mapping its errors to HTTP ones.

use std::sync::Arc;

use gridmq_access::{Problem, ResourceKind};
use gridmq_http::{ApiError, BoxFuture, FieldError, Management, Page, Saved};
use serde_json::{Map, Value};

use super::{Namespace, NamespaceError, document, set};

/// The namespace as the management API serves it.
#[derive(Debug, Clone)]
pub(crate) struct ManagementService(pub(crate) Arc<Namespace>);

fn field_error(problem: Problem) -> FieldError {
    FieldError {
        resource: problem
            .resource
            .map(|r| format!("{}/{}", document::collection(r.kind), r.name)),
        field: problem.path,
        position: problem.position,
        message: problem.message,
    }
}

fn api_error(error: NamespaceError) -> ApiError {
    match error {
        NamespaceError::NotFound(kind, name) => {
            ApiError::not_found(format!("no {kind} is named '{name}'"))
        }
        NamespaceError::Invalid(problems) => {
            let detail = match problems.len() {
                1 => "1 problem".to_owned(),
                n => format!("{n} problems"),
            };
            ApiError::invalid(detail, problems.into_iter().map(field_error).collect())
        }
        NamespaceError::Conflict(detail, problems) => {
            ApiError::conflict(detail, problems.into_iter().map(field_error).collect())
        }
        NamespaceError::Internal(cause) => ApiError::internal(cause),
    }
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

impl Management for ManagementService {
    fn get(&self, kind: ResourceKind, name: &str) -> Result<Value, ApiError> {
        set::find(&self.0.state().resources, kind, name)
            .ok_or_else(|| api_error(NamespaceError::NotFound(kind, name.to_owned())))
    }

    fn list(
        &self,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, ApiError> {
        let (items, next) = set::page(&self.0.state().resources, kind, after, limit);
        Ok(Page { items, next })
    }

    fn put(
        &self,
        kind: ResourceKind,
        name: String,
        body: Value,
    ) -> BoxFuture<'_, Result<Saved, ApiError>> {
        Box::pin(async move {
            let (created, resource) = self
                .0
                .put(kind, &name, object(body)?)
                .await
                .map_err(api_error)?;
            Ok(Saved { created, resource })
        })
    }

    fn delete(&self, kind: ResourceKind, name: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move { self.0.delete(kind, &name).await.map_err(api_error) })
    }

    fn namespace(&self) -> Value {
        self.0.namespace_json()
    }

    fn put_namespace(&self, body: Value) -> BoxFuture<'_, Result<Value, ApiError>> {
        Box::pin(async move { self.0.put_settings(object(body)?).await.map_err(api_error) })
    }

    fn apply(&self, document: Value, prune: bool) -> BoxFuture<'_, Result<Value, ApiError>> {
        Box::pin(async move { self.0.apply(document, prune).await.map_err(api_error) })
    }
}
