//! The API server core, independent of HTTP: the create/update/patch/apply/delete pipelines
//! (decode, strategy, field management, defaulting, validation, optimistic concurrency),
//! lists, and the registry kept in step with the stored CRDs.

use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;

use crate::builtin;
use crate::crd;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::managed::{self, Actor, ManagerEntry};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::registry::{Behaviour, GroupResource, Registry, ResourceDef};
use crate::schema;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Store, StoreError, StoredEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: &str) -> ApiResult<FieldValidation> {
        match s {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}, supported values: Ignore, Warn, Strict"
            ))),
        }
    }
}

/// How a write is made.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub manager: String,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub force: bool,
}

impl WriteOptions {
    pub fn internal(manager: &str) -> WriteOptions {
        WriteOptions {
            manager: manager.into(),
            dry_run: false,
            field_validation: FieldValidation::Ignore,
            force: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
    /// `namespaces/{name}/finalize`
    Finalize,
}

impl Subresource {
    fn name(self) -> &'static str {
        match self {
            Subresource::Main => "",
            Subresource::Status => "status",
            Subresource::Finalize => "finalize",
        }
    }
}

/// The result of a write, in the request's version.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    pub created: bool,
}

#[derive(Debug)]
pub enum Deleted {
    /// Finalizers remain: the object now carries a deletionTimestamp.
    Pending(Value),
    /// The object is gone; this is its final state.
    Gone(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: String,
    pub field_selector: String,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

pub struct ListResult {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_token: Option<String>,
}

enum Manage {
    Update,
    Apply(Vec<ManagerEntry>),
}

type CompiledCrd = (String, i64, Vec<Arc<ResourceDef>>);

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

pub struct Core {
    pub store: Store,
    registry: RwLock<Arc<Registry>>,
    builtin: Vec<Arc<ResourceDef>>,
    /// Compiled resources per CRD name, reused while the CRD's uid and generation are unchanged.
    crd_defs: Mutex<HashMap<String, CompiledCrd>>,
}

fn ns_gr() -> GroupResource {
    GroupResource::new("", "namespaces")
}

fn crd_gr() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

impl Core {
    /// A core with the built-in resources and the system namespaces; the receiver gets every change.
    pub fn new(history: usize) -> (Arc<Core>, mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
        let (store, rx) = Store::new(history);
        let builtin = builtin::builtin_defs();
        let core = Arc::new(Core {
            store,
            registry: RwLock::new(Arc::new(Registry::new(builtin.clone()))),
            builtin,
            crd_defs: Mutex::new(HashMap::new()),
        });
        let nsdef = core
            .registry()
            .get("", "v1", "namespaces")
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            core.create(&nsdef, "", body, &WriteOptions::internal("kube-apiserver"))
                .expect("system namespaces");
        }
        (core, rx)
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the served resources from the stored CRDs.
    pub fn refresh_registry(&self) {
        let (crds, _) = self.store.snapshot(&crd_gr(), None, &|_| true);
        let mut cache = self.crd_defs.lock().unwrap_or_else(|e| e.into_inner());
        let mut defs = self.builtin.clone();
        let mut live = HashMap::new();
        for c in crds {
            let name = meta::name(&c).to_string();
            let uid = meta::uid(&c).to_string();
            let generation = meta::generation(&c);
            let built = match cache.get(&name) {
                Some((u, g, d)) if *u == uid && *g == generation => d.clone(),
                _ => crd::build_defs(&c),
            };
            defs.extend(built.iter().cloned());
            live.insert(name, (uid, generation, built));
        }
        *cache = live;
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Registry::new(defs));
    }

    /// The stored form of an object as the request's version shows it.
    pub fn to_req(&self, def: &ResourceDef, stored: &Value) -> Value {
        match def.behaviour {
            Behaviour::EventsV1Event => {
                builtin::with_go_zero_fields(def.behaviour, builtin::core_event_to_v1(stored))
            }
            Behaviour::CoreEvent => builtin::with_go_zero_fields(def.behaviour, stored.clone()),
            Behaviour::Custom => {
                let mut v = stored.clone();
                v["apiVersion"] = Value::String(def.api_version());
                schema::apply_defaults(&mut v, &def.schema);
                v
            }
            _ => stored.clone(),
        }
    }

    fn to_storage(&self, def: &ResourceDef, req: Value) -> Value {
        match def.behaviour {
            Behaviour::EventsV1Event => builtin::v1_event_to_core(&req),
            Behaviour::Custom => {
                let mut v = req;
                v["apiVersion"] = Value::String(def.storage_api_version.clone());
                v
            }
            _ => req,
        }
    }

    fn invalid(&self, def: &ResourceDef, name: &str, errs: &[FieldError]) -> ApiError {
        ApiError::invalid(&def.group, &def.kind, name, errs)
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Value> {
        let stored = self
            .store
            .get(&def.storage, ns, name)
            .ok_or_else(|| ApiError::not_found(&def.gr(), name))?;
        Ok(self.to_req(def, &stored))
    }

    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListResult> {
        let label = LabelSelector::parse(&opts.label_selector)?;
        let field = FieldSelector::parse(&opts.field_selector, def)?;
        let (at, after) = match &opts.continue_token {
            Some(t) if !t.is_empty() => {
                let (rv, key) = decode_continue(t)?;
                (Some(rv), Some(key))
            }
            _ => {
                let at = match (
                    opts.resource_version.as_deref(),
                    opts.resource_version_match.as_deref(),
                ) {
                    (Some(rv), Some("Exact")) => Some(parse_rv(rv)?),
                    _ => None,
                };
                (at, None)
            }
        };
        if let Some(rv) = opts
            .resource_version
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "0")
        {
            let rv = parse_rv(rv)?;
            let current = self.store.current_rv();
            if rv > current {
                return Err(ApiError::too_large_resource_version(rv, current));
            }
        }
        let filter = |o: &Value| label.matches(o) && field.matches(o);
        let page = self
            .store
            .list(&def.storage, if def.namespaced { ns } else { None }, at, after.as_ref(), opts.limit.filter(|l| *l > 0), &filter)
            .map_err(|_| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a \
                     new list without the continue parameter, or use the continue token in this response to retrieve \
                     the remainder of the results. Continuing with the provided token results in an inconsistent list \
                     - objects that were created, modified, or deleted between the time the first chunk was returned \
                     and now may show up in the list.",
                )
            })?;
        Ok(ListResult {
            items: page.items.iter().map(|o| self.to_req(def, o)).collect(),
            rv: page.rv,
            continue_token: page.next.map(|k| encode_continue(page.rv, &k)),
        })
    }

    fn check_namespace(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
        if !def.namespaced {
            return Ok(());
        }
        let Some(n) = self.store.get(&ns_gr(), "", ns) else {
            return Err(ApiError::not_found(&ns_gr(), ns));
        };
        if meta::deletion_timestamp(&n).is_some() {
            return Err(ApiError::forbidden(
                &def.gr(),
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }

    /// Type-checks, prunes and checks the identity of a request body (in the request's version).
    fn decode(
        &self,
        def: &ResourceDef,
        body: Value,
        fv: FieldValidation,
        warnings: &mut Vec<String>,
    ) -> ApiResult<Value> {
        self.decode_as(def, body, fv, warnings, false)
    }

    /// Decodes a body; `as_sent` keeps its shape (apply configurations must not gain the
    /// zero values typed decoding fills in), dropping only unknown fields.
    fn decode_as(
        &self,
        def: &ResourceDef,
        body: Value,
        fv: FieldValidation,
        warnings: &mut Vec<String>,
        as_sent: bool,
    ) -> ApiResult<Value> {
        let Value::Object(o) = &body else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        };
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{body}'"
            )));
        }
        if !api_version.is_empty() && api_version != def.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
        if kind != def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        if o.get("metadata")
            .is_some_and(|m| !m.is_object() && !m.is_null())
        {
            return Err(self.cannot_handle(def, "metadata must be an object"));
        }
        let mut body = body;
        body["apiVersion"] = Value::String(def.api_version());
        let (decoded, unknown) = match def.behaviour {
            Behaviour::Custom => {
                let mut unknown = Vec::new();
                schema::prune(&mut body, &def.schema, "", true, &mut unknown);
                if let Some(m) = body.get_mut("metadata") {
                    schema::prune(
                        m,
                        &builtin::object_meta_schema(),
                        "metadata",
                        false,
                        &mut unknown,
                    );
                }
                (body, unknown)
            }
            b => {
                let (typed, unknown) = if b == Behaviour::EventsV1Event {
                    builtin::decode_events_v1(&body)
                } else {
                    builtin::decode(b, &body)
                }
                .map_err(|e| self.cannot_handle(def, &e))?;
                let decoded = if as_sent {
                    builtin::strip_unknown(&body, &typed)
                } else {
                    typed
                };
                (decoded, unknown)
            }
        };
        if !unknown.is_empty() {
            match fv {
                FieldValidation::Strict => {
                    let list: Vec<String> = unknown
                        .iter()
                        .map(|u| format!("unknown field \"{u}\""))
                        .collect();
                    return Err(self.cannot_handle(
                        def,
                        &format!("strict decoding error: {}", list.join(", ")),
                    ));
                }
                FieldValidation::Warn => {
                    warnings.extend(unknown.iter().map(|u| format!("unknown field \"{u}\"")))
                }
                FieldValidation::Ignore => {}
            }
        }
        Ok(decoded)
    }

    fn cannot_handle(&self, def: &ResourceDef, detail: &str) -> ApiError {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {detail}",
            def.kind, def.version, def.kind
        ))
    }

    fn validate(&self, def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = meta::validate_meta(obj, def.behaviour == Behaviour::Namespace);
        if let Some(old) = old
            && meta::deletion_timestamp(old).is_some()
        {
            let before = meta::finalizers(old);
            let added: Vec<String> = meta::finalizers(obj)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                let e = FieldError::forbidden(
                    "metadata.finalizers",
                    format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        added
                            .iter()
                            .map(|f| format!("\"{f}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                // Custom resources get their metadata validated twice (by the generic registry
                // and by their own strategy), so the cause appears twice.
                if def.behaviour == Behaviour::Custom {
                    errs.push(e.clone());
                }
                errs.push(e);
            }
        }
        match def.behaviour {
            Behaviour::Custom => {
                let mut se = Vec::new();
                let mut body = obj.clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("metadata");
                    o.remove("apiVersion");
                    o.remove("kind");
                }
                let mut root = (*def.schema).clone();
                for k in ["metadata", "apiVersion", "kind"] {
                    root.properties.remove(k);
                    root.required.retain(|r| r != k);
                }
                schema::validate(&body, &root, "", &mut se);
                // Validation ratcheting (on by default since 1.30): a value the update leaves
                // unchanged is not re-judged under a schema that has become stricter.
                let unchanged = |e: &FieldError| {
                    let field = e.field.trim_start_matches("<nil>");
                    old.is_some_and(|old| value_at(obj, field) == value_at(old, field))
                };
                se.retain(|e| !unchanged(e));
                // These errors block the CEL rules, as in the real server (hasBlockingErr).
                let blocked = errs.iter().chain(&se).any(|e| {
                    use crate::error::FieldErrorKind as K;
                    matches!(
                        e.kind,
                        K::NotSupported | K::Required | K::TooLong | K::TooMany | K::TypeInvalid
                    )
                });
                let cel = if def.cel.is_none() {
                    Vec::new()
                } else if blocked {
                    vec![FieldError::invalid(
                        "<nil>",
                        Value::Null,
                        "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                    )]
                } else {
                    // (ratchets its own errors, by the node holding each rule)
                    crd::validate_cel(def, obj, old)
                };
                errs.extend(se);
                errs.extend(cel);
            }
            Behaviour::Crd => errs.extend(crd::validate(obj, old)),
            b => errs.extend(builtin::validate(b, obj, old)),
        }
        errs
    }

    /// Creates an object (the request's version). `ns` is empty for cluster-scoped resources.
    pub fn create(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut warnings = Vec::new();
        let obj = self.decode(def, body, opts.field_validation, &mut warnings)?;
        let mut w = self.create_decoded(def, ns, obj, Manage::Update, opts)?;
        w.warnings.splice(0..0, warnings);
        Ok(w)
    }

    fn create_decoded(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        mut obj: Value,
        manage: Manage,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let now = meta::now_rfc3339();
        {
            let m = meta::meta_mut(&mut obj);
            if def.namespaced {
                match m.get("namespace").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => {
                        m.insert("namespace".into(), json!(ns));
                    }
                }
            } else {
                m.remove("namespace");
            }
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if name.is_empty()
                && let Some(g) = m
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|g| !g.is_empty())
            {
                let generated = format!("{g}{}", meta::random_suffix());
                m.insert("name".into(), json!(generated));
            }
            if m.get("resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty())
            {
                return Err(ApiError::internal(
                    "resourceVersion should not be set on objects to be created",
                ));
            }
            for k in [
                "resourceVersion",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now));
            meta::drop_empty(m);
            if def.behaviour.tracks_generation() {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        let name = meta::name(&obj).to_string();
        self.check_namespace(def, ns, &name)?;
        match def.behaviour {
            Behaviour::Custom => {
                // Defaults as the request is decoded, then status dropped (as PrepareForCreate
                // does): a status default appears only when the object is read, owned by no
                // manager.
                schema::apply_defaults(&mut obj, &def.schema);
                if def.status_subresource
                    && let Some(o) = obj.as_object_mut()
                {
                    o.remove("status");
                }
            }
            Behaviour::Crd => {
                crd::apply_defaults(&mut obj);
                let mut f = meta::finalizers(&obj);
                if !f.iter().any(|x| x == crd::CLEANUP_FINALIZER) {
                    f.push(crd::CLEANUP_FINALIZER.into());
                }
                meta::set_finalizers(&mut obj, &f);
                obj["status"] = crd::established_status(&obj, None, &now);
            }
            b => {
                builtin::prepare_create(b, &mut obj);
                builtin::normalize(b, &mut obj);
            }
        }
        let managers = match manage {
            Manage::Update => {
                let actor = Actor {
                    manager: &opts.manager,
                    api_version: &def.api_version(),
                    subresource: "",
                    now: &now,
                };
                let base = parse_request_managers(&obj).unwrap_or_default();
                managed::update(
                    &json!({"metadata": {}}),
                    &obj,
                    &def.ssa_schema,
                    base,
                    &actor,
                )
            }
            Manage::Apply(m) => m,
        };
        managed::set_managed_fields(&mut obj, managers);
        let errs = self.validate(def, &obj, None);
        if !errs.is_empty() {
            return Err(self.invalid(def, &name, &errs));
        }
        if opts.dry_run {
            // Answered as if read back, like a created object.
            return Ok(Written {
                object: self.to_req(def, &self.to_storage(def, obj)),
                warnings: Vec::new(),
                created: true,
            });
        }
        let stored = self
            .store
            .create(&def.storage, self.to_storage(def, obj))
            .map_err(|_| ApiError::already_exists(&def.gr(), &name))?;
        if def.behaviour == Behaviour::Crd {
            self.refresh_registry();
        }
        Ok(Written {
            object: self.to_req(def, &stored),
            warnings: Vec::new(),
            created: true,
        })
    }

    /// Replaces an object (PUT), optionally on a subresource.
    pub fn update(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        sub: Subresource,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut warnings = Vec::new();
        let body = self.decode(def, body, opts.field_validation, &mut warnings)?;
        let body_name = meta::name(&body);
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if def.namespaced && !meta::namespace(&body).is_empty() && meta::namespace(&body) != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let precondition = !meta::resource_version(&body).is_empty();
        if self.store.get(&def.storage, ns, name).is_none() {
            let create_on_update = matches!(
                def.behaviour,
                Behaviour::Lease | Behaviour::CoreEvent | Behaviour::EventsV1Event
            );
            if create_on_update && sub == Subresource::Main && !precondition {
                let mut w = self.create_decoded(def, ns, body, Manage::Update, opts)?;
                w.warnings.splice(0..0, warnings);
                return Ok(w);
            }
        }
        let mut w = self.update_loop(def, ns, name, sub, opts, !precondition, &mut |_| {
            Ok((body.clone(), Manage::Update))
        })?;
        w.warnings.splice(0..0, warnings);
        Ok(w)
    }

    /// Patches an object with a JSON, merge or strategic merge patch, or applies a configuration.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        sub: Subresource,
        ptype: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if ptype == PatchType::Apply {
            return self.apply(def, ns, name, sub, body, opts);
        }
        if ptype == PatchType::Strategic && !def.behaviour.is_builtin() {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ));
        }
        let patch_doc: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut warnings = Vec::new();
        let mut w = self.update_loop(def, ns, name, sub, opts, true, &mut |old| {
            let patched = match ptype {
                PatchType::Json => patch::json_patch(old, &patch_doc)?,
                PatchType::Merge => patch::merge_patch(old, &patch_doc)?,
                PatchType::Strategic => {
                    patch::strategic_merge_patch(def.behaviour, old, &patch_doc)?
                }
                PatchType::Apply => unreachable!(),
            };
            warnings.clear();
            let decoded = self.decode(def, patched, opts.field_validation, &mut warnings)?;
            Ok((decoded, Manage::Update))
        })?;
        w.warnings.splice(0..0, warnings);
        Ok(w)
    }

    fn apply(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        sub: Subresource,
        body: &[u8],
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        if opts.manager.is_empty() {
            let mut e = ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                &[FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            );
            e.details.name = None;
            return Err(e);
        }
        let config: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => serde_saphyr::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        };
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let cname = meta::name(&config);
        if !cname.is_empty() && cname != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({cname}) does not match the name on the URL ({name})"
            )));
        }
        let mut warnings = Vec::new();
        let mut config = self.decode_as(def, config, opts.field_validation, &mut warnings, true)?;
        {
            let m = meta::meta_mut(&mut config);
            m.insert("name".into(), json!(name));
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            }
        }
        // System fields in an apply configuration are ignored, except uid and resourceVersion,
        // which are preconditions.
        if let Some(m) = config.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "creationTimestamp",
                "generation",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                m.remove(k);
            }
        }
        let preconditions: Vec<(String, Value)> = ["uid", "resourceVersion"]
            .iter()
            .filter_map(|k| {
                config
                    .pointer(&format!("/metadata/{k}"))
                    .map(|v| (k.to_string(), v.clone()))
            })
            .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
            .collect();
        match sub {
            Subresource::Main if def.status_subresource => {
                if let Some(o) = config.as_object_mut() {
                    o.remove("status");
                }
            }
            Subresource::Status => {
                let status = config.get("status").cloned();
                let mut c = json!({"apiVersion": config["apiVersion"], "kind": config["kind"],
                                   "metadata": {"name": name}});
                if def.namespaced {
                    c["metadata"]["namespace"] = json!(ns);
                }
                for (k, v) in &preconditions {
                    c["metadata"][k.as_str()] = v.clone();
                }
                if let Some(s) = status {
                    c["status"] = s;
                }
                config = c;
            }
            _ => {}
        }
        let now = meta::now_rfc3339();
        let api_version = def.api_version();
        let actor = Actor {
            manager: &opts.manager,
            api_version: &api_version,
            subresource: sub.name(),
            now: &now,
        };
        loop {
            if self.store.get(&def.storage, ns, name).is_none() {
                // Nothing to apply a precondition to.
                if sub != Subresource::Main || !preconditions.is_empty() {
                    return Err(ApiError::not_found(&def.gr(), name));
                }
                let mut base = json!({"apiVersion": api_version, "kind": def.kind, "metadata": {"name": name}});
                if def.namespaced {
                    base["metadata"]["namespace"] = json!(ns);
                }
                let (merged, managers) =
                    managed::apply(&base, &config, &def.ssa_schema, opts.force, &actor)?;
                match self.create_decoded(def, ns, merged, Manage::Apply(managers), opts) {
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    Err(e) => return Err(e),
                    Ok(mut w) => {
                        w.warnings.splice(0..0, warnings);
                        return Ok(w);
                    }
                }
            }
            let result = self.update_loop(def, ns, name, sub, opts, true, &mut |old| {
                let (merged, managers) =
                    managed::apply(old, &config, &def.ssa_schema, opts.force, &actor)?;
                Ok((merged, Manage::Apply(managers)))
            });
            match result {
                Err(e) if e.code == 404 => continue,
                Err(e) => return Err(e),
                Ok(mut w) => {
                    w.warnings.splice(0..0, warnings);
                    return Ok(w);
                }
            }
        }
    }

    /// Read-modify-write with optimistic concurrency; `retry` re-runs `mutate` on a conflict
    /// (patches and unconditional updates), otherwise a conflict is a 409.
    #[allow(clippy::too_many_arguments)]
    fn update_loop(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        sub: Subresource,
        opts: &WriteOptions,
        retry: bool,
        mutate: &mut dyn FnMut(&Value) -> ApiResult<(Value, Manage)>,
    ) -> ApiResult<Written> {
        loop {
            let stored = self
                .store
                .get(&def.storage, ns, name)
                .ok_or_else(|| ApiError::not_found(&def.gr(), name))?;
            let old = self.to_req(def, &stored);
            let (candidate, manage) = mutate(&old)?;
            let new = self.prepare_update(def, sub, &old, candidate, manage, opts)?;
            let Some(mut new) = new else {
                return Ok(Written {
                    object: old,
                    warnings: Vec::new(),
                    created: false,
                });
            };
            if opts.dry_run {
                // A dry run answers with the live resourceVersion, as nothing was written.
                meta::meta_mut(&mut new).insert(
                    "resourceVersion".into(),
                    json!(meta::resource_version(&stored)),
                );
                return Ok(Written {
                    object: self.to_req(def, &self.to_storage(def, new)),
                    warnings: Vec::new(),
                    created: false,
                });
            }
            let gone = meta::deletion_timestamp(&new).is_some()
                && meta::finalizers(&new).is_empty()
                && (def.behaviour != Behaviour::Namespace
                    || new
                        .pointer("/spec/finalizers")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty));
            let rv = meta::resource_version(&stored).to_string();
            let result = if gone {
                self.store.delete(
                    &def.storage,
                    ns,
                    name,
                    Some(&rv),
                    Some(self.to_storage(def, new)),
                )
            } else {
                self.store
                    .update(&def.storage, ns, name, Some(&rv), self.to_storage(def, new))
            };
            match result {
                Ok(obj) => {
                    if def.behaviour == Behaviour::Crd {
                        self.refresh_registry();
                    }
                    return Ok(Written {
                        object: self.to_req(def, &obj),
                        warnings: Vec::new(),
                        created: false,
                    });
                }
                Err(StoreError::Conflict) if retry => continue,
                Err(StoreError::Conflict) => {
                    return Err(ApiError::conflict_modified(&def.gr(), name));
                }
                Err(StoreError::NotFound) => return Err(ApiError::not_found(&def.gr(), name)),
                Err(StoreError::AlreadyExists) => {
                    return Err(ApiError::already_exists(&def.gr(), name));
                }
            }
        }
    }

    /// Strategy, field management, defaulting and validation of an update.
    /// `None` means nothing changed (no write).
    fn prepare_update(
        &self,
        def: &ResourceDef,
        sub: Subresource,
        old: &Value,
        candidate: Value,
        manage: Manage,
        opts: &WriteOptions,
    ) -> ApiResult<Option<Value>> {
        let name = meta::name(old).to_string();
        let cand_rv = meta::resource_version(&candidate);
        if !cand_rv.is_empty() && cand_rv != meta::resource_version(old) {
            return Err(ApiError::conflict_modified(&def.gr(), &name));
        }
        let cand_uid = meta::uid(&candidate);
        if !cand_uid.is_empty() && cand_uid != meta::uid(old) {
            return Err(ApiError::conflict(
                &def.gr(),
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {cand_uid}, UID in object meta: {}",
                    meta::uid(old)
                ),
            ));
        }
        let request_managers = parse_request_managers(&candidate);
        let mut new = match sub {
            Subresource::Main => {
                let mut n = candidate;
                if def.status_subresource {
                    match old.get("status") {
                        Some(s) => n["status"] = s.clone(),
                        None => {
                            if let Some(o) = n.as_object_mut() {
                                o.remove("status");
                            }
                        }
                    }
                }
                if def.behaviour == Behaviour::Namespace {
                    match old.pointer("/spec/finalizers") {
                        Some(f) => n["spec"] = json!({"finalizers": f}),
                        None => {
                            if let Some(o) = n.as_object_mut() {
                                o.remove("spec");
                            }
                        }
                    }
                }
                n
            }
            Subresource::Status => {
                let mut n = old.clone();
                match candidate.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(o) = n.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                n
            }
            Subresource::Finalize => {
                let mut n = old.clone();
                n["spec"] = json!({"finalizers": candidate.pointer("/spec/finalizers").cloned().unwrap_or(json!([]))});
                n
            }
        };
        {
            let om = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            let m = meta::meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ] {
                match om.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            m.remove("resourceVersion");
            m.remove("selfLink");
            meta::drop_empty(m);
        }
        match def.behaviour {
            Behaviour::Custom => schema::apply_defaults(&mut new, &def.schema),
            Behaviour::Crd => {
                crd::apply_defaults(&mut new);
                let now = meta::now_rfc3339();
                new["status"] = crd::established_status(&new, old.get("status"), &now);
            }
            b => builtin::normalize(b, &mut new),
        }
        if def.behaviour.tracks_generation() && spec_changed(def, old, &new) {
            let g = meta::generation(old) + 1;
            meta::meta_mut(&mut new).insert("generation".into(), json!(g));
        }
        let now = meta::now_rfc3339();
        let api_version = def.api_version();
        let managers = match manage {
            Manage::Update => {
                let actor = Actor {
                    manager: &opts.manager,
                    api_version: &api_version,
                    subresource: sub.name(),
                    now: &now,
                };
                let base = request_managers.unwrap_or_else(|| managed::parse_managed_fields(old));
                managed::update(old, &new, &def.ssa_schema, base, &actor)
            }
            Manage::Apply(m) => m,
        };
        managed::set_managed_fields(&mut new, managers);
        let mut old_cmp = old.clone();
        meta::meta_mut(&mut old_cmp).remove("resourceVersion");
        if old_cmp == new {
            return Ok(None);
        }
        let errs = self.validate(def, &new, Some(old));
        if !errs.is_empty() {
            return Err(self.invalid(def, &name, &errs));
        }
        Ok(Some(new))
    }

    /// Deletes an object, honouring finalizers and the propagation policy.
    pub fn delete(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        if def.behaviour == Behaviour::Namespace
            && matches!(name, "default" | "kube-system" | "kube-public")
        {
            return Err(ApiError::forbidden(
                &def.gr(),
                name,
                "this namespace may not be deleted",
            ));
        }
        loop {
            let stored = self
                .store
                .get(&def.storage, ns, name)
                .ok_or_else(|| ApiError::not_found(&def.gr(), name))?;
            if let Some(uid) = &opts.uid
                && uid != meta::uid(&stored)
            {
                // The deletion path names the kind, not the resource.
                return Err(ApiError::conflict(
                    &GroupResource::new(&def.group, &def.kind),
                    name,
                    &format!(
                        "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                        meta::uid(&stored)
                    ),
                ));
            }
            if let Some(rv) = &opts.resource_version
                && rv != meta::resource_version(&stored)
            {
                return Err(ApiError::conflict(
                    &GroupResource::new(&def.group, &def.kind),
                    name,
                    &format!(
                        "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                        meta::resource_version(&stored)
                    ),
                ));
            }
            let mut new = (*stored).clone();
            let mut fins = meta::finalizers(&new);
            match opts.propagation {
                Some(Propagation::Orphan) => {
                    fins.retain(|f| f != FOREGROUND);
                    if !fins.iter().any(|f| f == ORPHAN) {
                        fins.push(ORPHAN.into());
                    }
                }
                Some(Propagation::Foreground) => {
                    fins.retain(|f| f != ORPHAN);
                    if !fins.iter().any(|f| f == FOREGROUND) {
                        fins.push(FOREGROUND.into());
                    }
                }
                Some(Propagation::Background) => fins.retain(|f| f != ORPHAN && f != FOREGROUND),
                None => {}
            }
            meta::set_finalizers(&mut new, &fins);
            let ns_pending = def.behaviour == Behaviour::Namespace
                && new
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
            let rv = meta::resource_version(&stored).to_string();
            if !fins.is_empty() || ns_pending {
                if meta::deletion_timestamp(&new).is_none() {
                    let m = meta::meta_mut(&mut new);
                    m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
                    m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    if let Some(g) = m
                        .get("generation")
                        .and_then(Value::as_i64)
                        .filter(|g| *g > 0)
                    {
                        m.insert("generation".into(), json!(g + 1));
                    }
                    if def.behaviour == Behaviour::Namespace {
                        new["status"] = json!({"phase": "Terminating"});
                    }
                    if def.behaviour == Behaviour::Crd {
                        new["status"] = crd::established_status(
                            &new,
                            stored.get("status"),
                            &meta::now_rfc3339(),
                        );
                    }
                }
                if new == *stored || opts.dry_run {
                    return Ok(Deleted::Pending(self.to_req(def, &new)));
                }
                match self.store.update(&def.storage, ns, name, Some(&rv), new) {
                    Ok(obj) => return Ok(Deleted::Pending(self.to_req(def, &obj))),
                    Err(StoreError::Conflict) => continue,
                    Err(_) => return Err(ApiError::not_found(&def.gr(), name)),
                }
            }
            if opts.dry_run {
                return Ok(Deleted::Gone(self.to_req(def, &new)));
            }
            match self
                .store
                .delete(&def.storage, ns, name, Some(&rv), Some(new))
            {
                Ok(obj) => {
                    if def.behaviour == Behaviour::Crd {
                        self.refresh_registry();
                    }
                    return Ok(Deleted::Gone(self.to_req(def, &obj)));
                }
                Err(StoreError::Conflict) => continue,
                Err(_) => return Err(ApiError::not_found(&def.gr(), name)),
            }
        }
    }

    /// Reads, changes and writes an object as an internal controller (no field validation).
    pub fn modify(
        &self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        sub: Subresource,
        manager: &str,
        f: &mut dyn FnMut(&mut Value) -> bool,
    ) -> ApiResult<Option<Value>> {
        let opts = WriteOptions::internal(manager);
        let mut unchanged = false;
        let w = self.update_loop(def, ns, name, sub, &opts, true, &mut |old| {
            let mut v = old.clone();
            unchanged = !f(&mut v);
            Ok((v, Manage::Update))
        })?;
        Ok((!unchanged).then_some(w.object))
    }
}

/// The value at a field path as errors name it (`spec.items[0].name`).
fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in rest.split('[').filter(|x| !x.is_empty()) {
            let i = idx.trim_end_matches(']');
            cur = match i.parse::<usize>() {
                Ok(n) => cur.get(n)?,
                Err(_) => cur.get(i)?,
            };
        }
    }
    Some(cur)
}

fn parse_request_managers(obj: &Value) -> Option<Vec<ManagerEntry>> {
    obj.pointer("/metadata/managedFields")
        .filter(|m| m.is_array())
        .map(|_| managed::parse_managed_fields(obj))
}

fn spec_changed(def: &ResourceDef, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            if def.status_subresource {
                o.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

fn parse_rv(s: &str) -> ApiResult<u64> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))
}

const CONT: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn encode_continue(rv: u64, key: &(String, String)) -> String {
    CONT.encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "ns": key.0, "name": key.1}).to_string())
}

fn decode_continue(t: &str) -> ApiResult<(u64, (String, String))> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = CONT.decode(t.trim_end_matches('=')).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let ns = v
        .get("ns")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    Ok((rv, (ns, name)))
}
