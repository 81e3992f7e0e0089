//! The one HTTP port: admin routes under `/_cloudsim/`, Google APIs under `/v1/…` and `/token`, and the
//! ElastiCache Query API at `POST /`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::sim::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/_cloudsim", crate::admin::routes())
        .fallback(cloud)
        .with_state(shared)
}

async fn cloud(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let response = if crate::gcp::owns(&path) {
        crate::gcp::handle(shared, method.clone(), &path, uri.query(), &headers, body).await
    } else if path == "/" && (method == Method::POST || method == Method::GET) {
        crate::aws::handle(shared, method.as_str(), uri.query(), &headers, &body).await
    } else {
        (
            StatusCode::NOT_FOUND,
            "cloudsim: no simulated API at this path\n",
        )
            .into_response()
    };
    tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    response
}
