//! HTTP: routing of the Kubernetes REST paths (core `/api/v1` and `/apis/{group}/{version}`,
//! namespaced and cluster-scoped, subresources), content negotiation (JSON, Table,
//! PartialObjectMetadata, aggregated discovery), discovery, OpenAPI, health, and the
//! `/_kubesim/` admin endpoints.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::api::{
    Core, DeleteOptions, Deleted, FieldValidation, ListOptions, Propagation, Subresource,
    WriteOptions,
};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::openapi;
use crate::patch::{self, PatchType};
use crate::registry::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use crate::watch::{self, Render, WatchControl, WatchRequest};

/// Request counts by verb and resource (for API-call budget tests).
#[derive(Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl Stats {
    pub fn record(&self, verb: &str, resource: &str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry((verb.to_string(), resource.to_string()))
            .or_default() += 1;
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn to_json(&self) -> Value {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_verb: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_resource: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        let mut total = 0;
        for ((verb, res), n) in c.iter() {
            total += n;
            *by_verb.entry(verb).or_default() += n;
            *by_resource.entry(res).or_default().entry(verb).or_default() += n;
        }
        let requests: Vec<Value> = c
            .iter()
            .map(|((verb, res), n)| json!({"verb": verb, "resource": res, "count": n}))
            .collect();
        json!({"total": total, "byVerb": by_verb, "byResource": by_resource, "requests": requests})
    }
}

pub struct App {
    pub core: Arc<Core>,
    pub stats: Stats,
    pub watches: Arc<WatchControl>,
    pub server_address: String,
    pub max_watch_timeout: Duration,
}

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> ApiResult<Query> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
        Ok(Query(pairs))
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

fn json_response(
    status: StatusCode,
    body: &Value,
    content_type: &str,
    warnings: &[String],
) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    for w in warnings {
        let v = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(hv) = HeaderValue::from_str(&v) {
            h.append(header::WARNING, hv);
        }
    }
    resp
}

fn ok_json(body: &Value) -> Response {
    json_response(StatusCode::OK, body, "application/json", &[])
}

fn error_response(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_status(),
        "application/json",
        &[],
    )
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
    };
    let path = parts.uri.path().to_string();
    let started = std::time::Instant::now();
    let method = parts.method.clone();
    let resp = match route(
        &app,
        &parts.method,
        &path,
        parts.uri.query(),
        &parts.headers,
        body,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(method = %method, path = %path, query = parts.uri.query().unwrap_or_default(),
        status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    resp
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn route(
    app: &Arc<App>,
    method: &Method,
    path: &str,
    q: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let query = Query::parse(q)?;
    let accept = header_str(headers, header::ACCEPT);
    let reg = app.core.registry();
    match segs.as_slice() {
        [] => Ok(ok_json(
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
        )),
        ["healthz" | "livez" | "readyz", ..] => Ok((StatusCode::OK, "ok").into_response()),
        ["version"] => Ok(ok_json(&json!({
            "major": "1", "minor": crate::server::MINOR, "gitVersion": crate::server::VERSION, "gitCommit": "kubesim",
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"
        }))),
        ["_kubesim", rest @ ..] => admin(app, method, rest),
        ["openapi", "v2"] => Ok(if accept.contains("protobuf") {
            // kubectl reads the v2 document in protobuf (validating a List's items).
            let body = crate::openapi_pb::document(&openapi::v2_document(&reg));
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                ),
            );
            r
        } else {
            ok_json(&openapi::v2_document(&reg))
        }),
        ["openapi", "v3"] => Ok(ok_json(&openapi::v3_index(&reg))),
        ["openapi", "v3", "api", "v1"] => Ok(ok_json(&openapi::v3_document(&reg, "", "v1"))),
        ["openapi", "v3", "apis", g, v] if reg.has_group_version(g, v) => {
            Ok(ok_json(&openapi::v3_document(&reg, g, v)))
        }
        ["api"] => Ok(match discovery::wants_aggregated(accept) {
            Some(v) => aggregated_response(
                &discovery::aggregated(&reg, true, &format!("apidiscovery.k8s.io/{v}")),
                v,
            ),
            None => ok_json(&discovery::api_versions(&app.server_address)),
        }),
        ["apis"] => Ok(match discovery::wants_aggregated(accept) {
            Some(v) => aggregated_response(
                &discovery::aggregated(&reg, false, &format!("apidiscovery.k8s.io/{v}")),
                v,
            ),
            None => ok_json(&discovery::api_group_list(&reg)),
        }),
        ["api", "v1"] => Ok(ok_json(&discovery::resource_list(&reg, "", "v1"))),
        ["apis", g] => discovery::api_group(&reg, g)
            .map(|v| ok_json(&v))
            .ok_or_else(ApiError::not_found_path),
        ["apis", g, v] if reg.has_group_version(g, v) => {
            Ok(ok_json(&discovery::resource_list(&reg, g, v)))
        }
        ["api", "v1", rest @ ..] => {
            resource(app, &reg, "", "v1", rest, method, &query, headers, body).await
        }
        ["apis", g, v, rest @ ..] => {
            resource(app, &reg, g, v, rest, method, &query, headers, body).await
        }
        _ => Err(ApiError::not_found_path()),
    }
}

fn aggregated_response(doc: &Value, version: &str) -> Response {
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let mut r = json_response(StatusCode::OK, doc, &ct, &[]);
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn admin(app: &Arc<App>, method: &Method, rest: &[&str]) -> ApiResult<Response> {
    match (method, rest) {
        (&Method::POST, ["drop-watches"]) => {
            let open = app.watches.active.load(Ordering::SeqCst);
            app.watches.drops.send_modify(|g| *g += 1);
            Ok(ok_json(&json!({"dropped": open})))
        }
        (&Method::POST, ["compact"]) => {
            let rv = app.core.store.compact();
            Ok(ok_json(&json!({"compactedTo": rv.to_string()})))
        }
        (&Method::GET, ["stats"]) => Ok(ok_json(&app.stats.to_json())),
        (&Method::POST | &Method::DELETE, ["stats", "reset"]) | (&Method::DELETE, ["stats"]) => {
            app.stats.reset();
            Ok(ok_json(&json!({"reset": true})))
        }
        _ => Err(ApiError::not_found_path()),
    }
}

enum Output {
    Json,
    Table(&'static str),
    Partial,
}

fn negotiate(accept: &str) -> Output {
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        let base = p.split(';').next().unwrap_or_default();
        if p.contains("as=Table") && p.contains("g=meta.k8s.io") {
            if p.contains("v=v1beta1") {
                return Output::Table("v1beta1");
            }
            return Output::Table("v1");
        }
        if p.contains("as=PartialObjectMetadata") {
            return Output::Partial;
        }
        if matches!(
            base,
            "application/json" | "*/*" | "application/*" | "application/yaml" | ""
        ) {
            return Output::Json;
        }
    }
    Output::Json
}

fn table_ct(v: &str) -> String {
    format!("application/json;as=Table;v={v};g=meta.k8s.io")
}

fn manager(query: &Query, headers: &HeaderMap, apply: bool) -> ApiResult<String> {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        if m.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        return Ok(m.to_string());
    }
    if apply {
        return Ok(String::new());
    }
    let ua = header_str(headers, header::USER_AGENT);
    let prefix: String = ua
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    // What the API server records when neither names a manager.
    if prefix.is_empty() {
        return Ok("unknown".into());
    }
    Ok(prefix)
}

fn dry_run(query: &Query, body_dry_run: Option<&Value>) -> ApiResult<bool> {
    let mut values: Vec<String> = query
        .0
        .iter()
        .filter(|(k, _)| k == "dryRun")
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(Value::Array(a)) = body_dry_run {
        values.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
    }
    for v in &values {
        if v != "All" {
            return Err(ApiError::bad_request(format!("Invalid dry run value: {v}")));
        }
    }
    Ok(!values.is_empty())
}

fn write_options(query: &Query, headers: &HeaderMap, apply: bool) -> ApiResult<WriteOptions> {
    Ok(WriteOptions {
        manager: manager(query, headers, apply)?,
        dry_run: dry_run(query, None)?,
        field_validation: FieldValidation::parse(query.get("fieldValidation").unwrap_or_default())?,
        force: query.flag("force"),
    })
}

fn parse_body(body: &Bytes, headers: &HeaderMap) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if crate::protobuf::is_protobuf(header_str(headers, header::CONTENT_TYPE)) {
        return crate::protobuf::decode(body).map_err(ApiError::bad_request);
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_saphyr::from_slice(body).map_err(|_| {
            ApiError::bad_request(format!(
                "couldn't get version/kind; json parse error: {json_err}"
            ))
        }),
    }
}

fn resource_key(def: &ResourceDef, sub: Option<&str>) -> String {
    let mut k = def.gr().to_string();
    if let Some(s) = sub {
        k.push('/');
        k.push_str(s);
    }
    k
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    app: &Arc<App>,
    reg: &crate::registry::Registry,
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let (ns, rest): (Option<&str>, &[&str]) = match rest {
        ["namespaces", ns, r @ ..] if !r.is_empty() && !matches!(r[0], "status" | "finalize") => {
            (Some(*ns), r)
        }
        r => (None, r),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(*n), None),
        [p, n, s] => (*p, Some(*n), Some(*s)),
        _ => return Err(ApiError::not_found_path()),
    };
    let def = reg
        .get(group, version, plural)
        .ok_or_else(ApiError::not_found_path)?;
    if ns.is_some() && !def.namespaced {
        return Err(ApiError::not_found_path());
    }
    let subresource = match sub {
        None => Subresource::Main,
        Some("status") if def.status_subresource => Subresource::Status,
        Some("finalize") if def.behaviour == crate::registry::Behaviour::Namespace => {
            Subresource::Finalize
        }
        Some("scale") if def.scale.is_some() => {
            let name = name.unwrap_or_default();
            app.stats.record(
                &method.as_str().to_lowercase(),
                &resource_key(&def, Some("scale")),
            );
            return scale(
                app,
                &def,
                ns.unwrap_or_default(),
                name,
                method,
                query,
                headers,
                body,
            );
        }
        Some(_) => return Err(ApiError::not_found_path()),
    };
    let ns_str = ns.unwrap_or_default();
    let accept = header_str(headers, header::ACCEPT);
    let watching = legacy_watch || query.flag("watch");
    let verb = match (method, name, watching) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET, None, false) => "list",
        (&Method::GET, Some(_), false) => "get",
        (&Method::POST, None, _) => "create",
        (&Method::PUT, Some(_), _) => "update",
        (&Method::PATCH, Some(_), _) => "patch",
        (&Method::DELETE, Some(_), _) => "delete",
        (&Method::DELETE, None, _) => "deletecollection",
        _ => {
            return Err(ApiError::method_not_allowed());
        }
    };
    app.stats.record(verb, &resource_key(&def, sub));
    if sub.is_none() && !def.verbs().contains(&verb) {
        return Err(ApiError::method_not_allowed());
    }
    if def.namespaced && ns.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::not_found_path());
    }
    match verb {
        "watch" => {
            let mut field_selector = query.get("fieldSelector").unwrap_or_default().to_string();
            if let Some(n) = name {
                field_selector = if field_selector.is_empty() {
                    format!("metadata.name={n}")
                } else {
                    format!("{field_selector},metadata.name={n}")
                };
            }
            let render = match negotiate(accept) {
                Output::Json => Render::Json,
                Output::Table(_) => Render::Table(IncludeObject::parse(
                    query.get("includeObject").unwrap_or_default(),
                )),
                Output::Partial => Render::Metadata,
            };
            let ct = match render {
                Render::Table(_) => table_ct("v1"),
                Render::Metadata => {
                    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io".into()
                }
                Render::Json => "application/json".into(),
            };
            let timeout = query
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .filter(|t| *t > 0)
                .map(Duration::from_secs)
                .unwrap_or(app.max_watch_timeout)
                .min(app.max_watch_timeout);
            let req = WatchRequest {
                label: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?,
                field: FieldSelector::parse(&field_selector, &def)?,
                def,
                ns: ns.map(str::to_string),
                resource_version: query.get("resourceVersion").map(str::to_string),
                send_initial_events: query.get("sendInitialEvents").map(|v| v == "true"),
                bookmarks: query.flag("allowWatchBookmarks"),
                timeout,
                render,
            };
            let rx = watch::start(app.core.clone(), app.watches.clone(), req);
            let stream = ReceiverStream::new(rx).map(Ok::<_, std::io::Error>);
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_str(&ct).unwrap());
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(resp)
        }
        "list" => {
            let opts = ListOptions {
                label_selector: query.get("labelSelector").unwrap_or_default().into(),
                field_selector: query.get("fieldSelector").unwrap_or_default().into(),
                limit: query.get("limit").and_then(|l| l.parse().ok()),
                continue_token: query.get("continue").map(str::to_string),
                resource_version: query.get("resourceVersion").map(str::to_string),
                resource_version_match: query.get("resourceVersionMatch").map(str::to_string),
            };
            let list = app.core.list(&def, ns, &opts)?;
            let mut md = json!({"resourceVersion": list.rv.to_string()});
            if let Some(c) = &list.continue_token {
                md["continue"] = json!(c);
            }
            Ok(match negotiate(accept) {
                Output::Table(v) => {
                    let include =
                        IncludeObject::parse(query.get("includeObject").unwrap_or_default());
                    let mut t = table::table(&def, &list.items, include, md, true);
                    t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
                    json_response(StatusCode::OK, &t, &table_ct(v), &[])
                }
                Output::Partial => {
                    let items: Vec<Value> =
                        list.items.iter().map(table::partial_metadata).collect();
                    let l = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": md, "items": items});
                    json_response(
                        StatusCode::OK,
                        &l,
                        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                        &[],
                    )
                }
                Output::Json => ok_json(
                    &json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": md, "items": list_items(&def, list.items)}),
                ),
            })
        }
        "get" => {
            let obj = app.core.get(&def, ns_str, name.unwrap())?;
            Ok(render_object(&def, obj, accept, query, StatusCode::OK, &[]))
        }
        "create" => {
            let opts = write_options(query, headers, false)?;
            let w = app
                .core
                .create(&def, ns_str, parse_body(&body, headers)?, &opts)?;
            Ok(render_object(
                &def,
                w.object,
                accept,
                query,
                StatusCode::CREATED,
                &w.warnings,
            ))
        }
        "update" => {
            let opts = write_options(query, headers, false)?;
            let w = app.core.update(
                &def,
                ns_str,
                name.unwrap(),
                subresource,
                parse_body(&body, headers)?,
                &opts,
            )?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(render_object(
                &def,
                w.object,
                accept,
                query,
                code,
                &w.warnings,
            ))
        }
        "patch" => {
            let ct = header_str(headers, header::CONTENT_TYPE);
            let ptype = PatchType::from_content_type(ct).ok_or_else(|| {
                ApiError::unsupported_media_type(
                    ct,
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                        "application/strategic-merge-patch+json",
                    ],
                )
            })?;
            let opts = write_options(query, headers, ptype == PatchType::Apply)?;
            if ptype != PatchType::Apply && query.get("force").is_some() {
                return Err(ApiError::bad_request(
                    "force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            let w = app.core.patch(
                &def,
                ns_str,
                name.unwrap(),
                subresource,
                ptype,
                &body,
                &opts,
            )?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(render_object(
                &def,
                w.object,
                accept,
                query,
                code,
                &w.warnings,
            ))
        }
        "delete" => {
            let opts = delete_options(query, &body)?;
            match app.core.delete(&def, ns_str, name.unwrap(), &opts)? {
                Deleted::Pending(obj) => {
                    Ok(render_object(&def, obj, accept, query, StatusCode::OK, &[]))
                }
                // Removed at once: a Status naming what went (built-ins and, since 1.3x,
                // custom resources alike).
                Deleted::Gone(obj) => {
                    let mut details = json!({"name": meta::name(&obj), "kind": def.plural, "uid": meta::uid(&obj)});
                    if !def.group.is_empty() {
                        details["group"] = json!(def.group);
                    }
                    Ok(ok_json(
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                    ))
                }
            }
        }
        "deletecollection" => {
            let opts = delete_options(query, &body)?;
            let lopts = ListOptions {
                label_selector: query.get("labelSelector").unwrap_or_default().into(),
                field_selector: query.get("fieldSelector").unwrap_or_default().into(),
                ..Default::default()
            };
            let list = app.core.list(&def, ns, &lopts)?;
            let mut items = Vec::new();
            for o in &list.items {
                match app
                    .core
                    .delete(&def, meta::namespace(o), meta::name(o), &opts)
                {
                    Ok(Deleted::Pending(v) | Deleted::Gone(v)) => items.push(v),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(ok_json(
                &json!({"kind": def.list_kind, "apiVersion": def.api_version(),
                               "metadata": {"resourceVersion": app.core.store.current_rv().to_string()}, "items": list_items(&def, items)}),
            ))
        }
        _ => Err(ApiError::not_found_path()),
    }
}

/// The items of a list as the API server writes them: built-in kinds come from typed storage
/// and lose `apiVersion`/`kind` (only the list carries them), custom resources keep theirs.
fn list_items(def: &ResourceDef, mut items: Vec<Value>) -> Vec<Value> {
    if def.behaviour.is_builtin() {
        for item in &mut items {
            if let Some(o) = item.as_object_mut() {
                o.remove("apiVersion");
                o.remove("kind");
            }
        }
    }
    items
}

fn render_object(
    def: &ResourceDef,
    obj: Value,
    accept: &str,
    query: &Query,
    code: StatusCode,
    warnings: &[String],
) -> Response {
    match negotiate(accept) {
        Output::Table(v) => {
            let include = IncludeObject::parse(query.get("includeObject").unwrap_or_default());
            let md = json!({"resourceVersion": meta::resource_version(&obj)});
            let mut t = table::table(def, &[obj], include, md, true);
            t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            json_response(code, &t, &table_ct(v), warnings)
        }
        Output::Partial => json_response(
            code,
            &table::partial_metadata(&obj),
            "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
            warnings,
        ),
        Output::Json => json_response(code, &obj, "application/json", warnings),
    }
}

fn delete_options(query: &Query, body: &Bytes) -> ApiResult<DeleteOptions> {
    let b: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = b
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| query.get("propagationPolicy").map(str::to_string));
    let orphan = b
        .get("orphanDependents")
        .and_then(Value::as_bool)
        .or_else(|| query.get("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Orphan"), _) => Some(Propagation::Orphan),
        (Some(""), _) | (None, None) => None,
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (Some(other), _) => {
            return Err(ApiError::invalid(
                "",
                "DeleteOptions",
                "",
                &[crate::error::FieldError::not_supported(
                    "propagationPolicy",
                    json!(other),
                    &[
                        "Foreground".into(),
                        "Background".into(),
                        "Orphan".into(),
                        "nil".into(),
                    ],
                )],
            ));
        }
    };
    Ok(DeleteOptions {
        propagation,
        uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: dry_run(query, b.get("dryRun"))?,
    })
}

fn path_ptr(p: &str) -> String {
    format!("/{}", p.trim_start_matches('.').replace('.', "/"))
}

#[allow(clippy::too_many_arguments)]
fn scale(
    app: &Arc<App>,
    def: &Arc<ResourceDef>,
    ns: &str,
    name: &str,
    method: &Method,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let spec = def.scale.as_ref().expect("scale subresource");
    let to_scale = |obj: &Value| {
        let mut md = json!({"name": meta::name(obj), "uid": meta::uid(obj), "resourceVersion": meta::resource_version(obj),
                            "creationTimestamp": obj.pointer("/metadata/creationTimestamp")});
        if def.namespaced {
            md["namespace"] = json!(meta::namespace(obj));
        }
        let mut status = json!({"replicas": obj.pointer(&path_ptr(&spec.status_replicas_path)).and_then(Value::as_i64).unwrap_or(0)});
        if let Some(sel) = spec
            .label_selector_path
            .as_deref()
            .and_then(|p| obj.pointer(&path_ptr(p)))
            .and_then(Value::as_str)
        {
            status["selector"] = json!(sel);
        }
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md,
               "spec": {"replicas": obj.pointer(&path_ptr(&spec.spec_replicas_path)).and_then(Value::as_i64).unwrap_or(0)},
               "status": status})
    };
    let obj = app.core.get(def, ns, name)?;
    let current = to_scale(&obj);
    let desired = match *method {
        Method::GET => return Ok(ok_json(&current)),
        Method::PUT => parse_body(&body, headers)?,
        Method::PATCH => {
            let ct = header_str(headers, header::CONTENT_TYPE);
            let p = parse_body(&body, headers)?;
            match PatchType::from_content_type(ct) {
                Some(PatchType::Json) => patch::json_patch(&current, &p)?,
                Some(PatchType::Merge | PatchType::Strategic | PatchType::Apply) => {
                    patch::merge_patch(&current, &p)?
                }
                None => return Err(ApiError::unsupported_media_type(ct, &[])),
            }
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = desired
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let manager = manager(query, headers, false)?;
    let ptr = path_ptr(&spec.spec_replicas_path);
    let updated = app
        .core
        .modify(def, ns, name, Subresource::Main, &manager, &mut |o| {
            let parts: Vec<String> = ptr
                .trim_start_matches('/')
                .split('/')
                .map(str::to_string)
                .collect();
            let mut cur = &mut *o;
            for p in &parts[..parts.len() - 1] {
                if !cur.get(p).is_some_and(Value::is_object) {
                    cur[p.as_str()] = json!({});
                }
                cur = cur.get_mut(p).unwrap();
            }
            cur[parts[parts.len() - 1].as_str()] = json!(replicas);
            true
        })?;
    Ok(ok_json(&to_scale(&updated.unwrap_or(obj))))
}
