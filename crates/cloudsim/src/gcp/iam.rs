//! Project IAM policies (Cloud Resource Manager v1 getIamPolicy / setIamPolicy) with etag concurrency and
//! conditional bindings evaluated with CEL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube_cel::cel::{Context, Program, Value as CelValue};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::accounts::ServiceAccounts;
use super::error::{Code, RpcError};
use super::protojson::Obj;
use super::tokens::Principal;

/// The etag of a policy nobody has written yet (what Google returns for an empty policy).
const EMPTY_ETAG: &str = "ACAB";

/// Principal occurrences a policy may hold, each occurrence counted (google.iam.v1.Policy).
const MAX_PRINCIPALS: usize = 1500;
/// Of those, Google groups and domains (google.iam.v1.Policy).
const MAX_GROUPS_AND_DOMAINS: usize = 250;
/// Logical operators in one condition (IAM quotas and limits page).
const MAX_LOGICAL_OPERATORS: usize = 12;
/// Conditional bindings of one role that name the same principal (IAM quotas and limits page).
const MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL: usize = 20;

const MEMBER_PREFIXES: &[&str] = &[
    "user:",
    "serviceAccount:",
    "group:",
    "domain:",
    "principal://",
    "principalSet://",
    "deleted:",
    "projectOwner:",
    "projectEditor:",
    "projectViewer:",
];

#[derive(Debug, Clone)]
pub struct Condition {
    pub title: String,
    pub description: Option<String>,
    pub expression: String,
    program: Arc<Program>,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.title == other.title
            && self.description == other.description
            && self.expression == other.expression
    }
}

impl Condition {
    fn parse(mut o: Obj) -> Result<Self, RpcError> {
        let title = o.string("title")?.unwrap_or_default();
        let description = o.string("description")?;
        let expression = o.string("expression")?.unwrap_or_default();
        o.ignore(&["location"]);
        o.finish()?;
        if title.trim().is_empty() {
            return Err(RpcError::bad_field(
                "policy.bindings.condition.title",
                "A condition requires a title",
            ));
        }
        let program = Program::compile(&expression).map_err(|e| {
            RpcError::bad_field(
                "policy.bindings.condition.expression",
                format!("Condition expression {expression:?} is not valid CEL: {e}"),
            )
        })?;
        Ok(Self {
            title,
            description,
            expression,
            program: Arc::new(program),
        })
    }

    /// True when the condition holds for a request on `resource_name`; evaluation errors count as false.
    fn holds(&self, resource_name: &str, resource_type: &str, service: &str) -> bool {
        let mut ctx = Context::default();
        let resource: HashMap<String, CelValue> = HashMap::from([
            ("name".to_owned(), CelValue::from(resource_name)),
            ("type".to_owned(), CelValue::from(resource_type)),
            ("service".to_owned(), CelValue::from(service)),
        ]);
        ctx.add_variable_from_value("resource", resource);
        matches!(self.program.execute(&ctx), Ok(CelValue::Bool(true)))
    }

    fn render(&self) -> Value {
        let mut v = json!({"title": self.title, "expression": self.expression});
        if let Some(d) = &self.description {
            v["description"] = d.clone().into();
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub role: String,
    pub members: Vec<String>,
    pub condition: Option<Condition>,
}

impl Binding {
    fn parse(mut o: Obj) -> Result<Self, RpcError> {
        let role = o.string("role")?.unwrap_or_default();
        let members = o
            .array("members")?
            .unwrap_or_default()
            .into_iter()
            .map(|m| match m {
                Value::String(s) => Ok(s),
                other => Err(RpcError::bad_field(
                    "policy.bindings.members",
                    format!("Invalid member {other}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let condition = o.object("condition")?.map(Condition::parse).transpose()?;
        o.finish()?;
        let role_ok = role.starts_with("roles/")
            || role.starts_with("projects/")
            || role.starts_with("organizations/");
        if !role_ok || role.contains(char::is_whitespace) {
            return Err(RpcError::bad_field(
                "policy.bindings.role",
                format!("Role ({role}) does not exist in the resource's hierarchy."),
            ));
        }
        for m in &members {
            let ok = m == "allUsers"
                || m == "allAuthenticatedUsers"
                || MEMBER_PREFIXES
                    .iter()
                    .any(|p| m.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
            if !ok {
                return Err(RpcError::bad_field(
                    "policy.bindings.members",
                    format!(
                        "Invalid member {m:?}: use user:, serviceAccount:, group:, domain: or principal:// forms"
                    ),
                ));
            }
        }
        Ok(Self {
            role,
            members,
            condition,
        })
    }

    fn render(&self, role: &str) -> Value {
        let mut v = json!({"role": role, "members": self.members});
        if let Some(c) = &self.condition {
            v["condition"] = c.render();
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub version: i32,
    pub etag: String,
    pub bindings: Vec<Binding>,
    pub audit_configs: Option<Value>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: 1,
            etag: EMPTY_ETAG.into(),
            bindings: Vec::new(),
            audit_configs: None,
        }
    }
}

fn new_etag() -> String {
    // Real etags are 8 bytes starting 0x07 0x06 ("BwY…"): keep the look, randomise the rest.
    let mut bytes = [0u8; 8];
    rand::rng().fill(&mut bytes[2..]);
    bytes[0] = 0x07;
    bytes[1] = 0x06;
    STANDARD.encode(bytes)
}

/// Sorted bindings with unique (role, condition) and sorted, unique members — what Google stores.
fn normalize(bindings: Vec<Binding>) -> Vec<Binding> {
    let mut out: Vec<Binding> = Vec::new();
    for b in bindings {
        match out
            .iter_mut()
            .find(|o| o.role == b.role && o.condition == b.condition)
        {
            Some(existing) => existing.members.extend(b.members),
            None => out.push(b),
        }
    }
    for b in &mut out {
        b.members.sort();
        b.members.dedup();
    }
    out.retain(|b| !b.members.is_empty());
    out.sort_by(|a, b| a.role.cmp(&b.role));
    out
}

/// `1500` as Google prints it in limit errors: `1,500`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `&&`, `||` and `!` (not `!=`) outside string literals.
fn logical_operators(expression: &str) -> usize {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '&' | '|') if chars.peek() == Some(&c) => {
                chars.next();
                count += 1;
            }
            (None, '!') if chars.peek() != Some(&'=') => count += 1,
            _ => {}
        }
    }
    count
}

/// The member checks and size limits setIamPolicy enforces on the bindings it would store.
fn check_bindings(bindings: &[Binding], accounts: &ServiceAccounts) -> Result<(), RpcError> {
    for m in bindings.iter().flat_map(|b| &b.members) {
        if let Some(email) = m.strip_prefix("serviceAccount:")
            && !accounts.exists(email)
        {
            return Err(RpcError::invalid(format!(
                "Service account {email} does not exist."
            )));
        }
    }
    let principals: usize = bindings.iter().map(|b| b.members.len()).sum();
    if principals > MAX_PRINCIPALS {
        return Err(RpcError::invalid(format!(
            "The number of members in the policy ({}) is larger than the maximum allowed size {}.",
            thousands(principals),
            thousands(MAX_PRINCIPALS)
        )));
    }
    let groups = bindings
        .iter()
        .flat_map(|b| &b.members)
        .filter(|m| m.starts_with("group:") || m.starts_with("domain:"))
        .count();
    if groups > MAX_GROUPS_AND_DOMAINS {
        return Err(RpcError::invalid(format!(
            "The number of groups and domains in the policy ({groups}) is larger than the maximum allowed size {MAX_GROUPS_AND_DOMAINS}."
        )));
    }
    let mut conditional: HashMap<(&str, &str), usize> = HashMap::new();
    for b in bindings {
        let Some(c) = &b.condition else { continue };
        let operators = logical_operators(&c.expression);
        if operators > MAX_LOGICAL_OPERATORS {
            return Err(RpcError::invalid(format!(
                "The condition expression {:?} has {operators} logical operators; at most {MAX_LOGICAL_OPERATORS} are allowed.",
                c.expression
            )));
        }
        for m in &b.members {
            let n = conditional.entry((&b.role, m)).or_default();
            *n += 1;
            if *n > MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL {
                return Err(RpcError::invalid(format!(
                    "The policy has more than {MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL} conditional role bindings of {} for {m}.",
                    b.role
                )));
            }
        }
    }
    Ok(())
}

impl Policy {
    pub fn has_conditions(&self) -> bool {
        self.bindings.iter().any(|b| b.condition.is_some())
    }

    /// Does `principal` hold `role` on the resource named `resource_name` (of `resource_type`, in
    /// the API `service`)?
    pub fn grants(
        &self,
        principal: &Principal,
        role: &str,
        resource_name: &str,
        resource_type: &str,
        service: &str,
    ) -> bool {
        self.bindings.iter().any(|b| {
            b.role == role
                && b.members.iter().any(|m| {
                    m.eq_ignore_ascii_case(principal.as_str())
                        || m == "allUsers"
                        || m == "allAuthenticatedUsers"
                })
                && b.condition
                    .as_ref()
                    .is_none_or(|c| c.holds(resource_name, resource_type, service))
        })
    }

    /// The policy as getIamPolicy returns it for `requested_version`.
    pub fn render(&self, requested_version: i32) -> Value {
        let full = requested_version >= 3;
        let version = if self.has_conditions() && full { 3 } else { 1 };
        let bindings: Vec<Value> = self
            .bindings
            .iter()
            .map(|b| match (&b.condition, full) {
                (Some(c), false) => {
                    // Version-1 readers see conditional bindings as suffixed roles, as the real API does.
                    let hash = hex::encode(&Sha256::digest(c.expression.as_bytes())[..10]);
                    let mut v = b.render(&format!("{}_withcond_{hash}", b.role));
                    v.as_object_mut().map(|m| m.remove("condition"));
                    v
                }
                _ => b.render(&b.role),
            })
            .collect();
        let mut v = json!({"version": version, "etag": self.etag});
        if !bindings.is_empty() {
            v["bindings"] = Value::Array(bindings);
        }
        if let Some(a) = &self.audit_configs {
            v["auditConfigs"] = a.clone();
        }
        v
    }
}

/// Every project's policy. Projects exist implicitly: an unknown project has an empty policy.
#[derive(Debug, Default)]
pub struct Policies {
    by_project: BTreeMap<String, Policy>,
}

/// The parsed body of setIamPolicy.
pub struct SetRequest {
    version: i32,
    etag: Option<String>,
    bindings: Vec<Binding>,
    audit_configs: Option<Value>,
    mask: Vec<String>,
}

impl SetRequest {
    pub fn parse(body: &[u8]) -> Result<Self, RpcError> {
        let mut req = Obj::from_body(body, "request")?;
        let mut policy = req
            .object("policy")?
            .ok_or_else(|| RpcError::bad_field("policy", "policy is required"))?;
        let mask = req.string("updateMask")?;
        req.finish()?;
        let version = policy.int32("version")?.unwrap_or(1);
        let etag = policy.string("etag")?;
        let bindings = policy
            .objects("bindings")?
            .unwrap_or_default()
            .into_iter()
            .map(Binding::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let audit_configs = policy.raw("auditConfigs");
        policy.finish()?;
        if ![0, 1, 3].contains(&version) {
            return Err(RpcError::bad_field(
                "policy.version",
                format!("Invalid policy version {version}; use 1 or 3"),
            ));
        }
        if version < 3 && bindings.iter().any(|b| b.condition.is_some()) {
            return Err(RpcError::bad_field(
                "policy.version",
                "Policies with conditional role bindings must use version 3 (set policy.version to 3)",
            ));
        }
        let mask = match mask {
            Some(m) if !m.trim().is_empty() => m.split(',').map(|p| p.trim().to_owned()).collect(),
            _ => vec!["bindings".to_owned(), "etag".to_owned()],
        };
        if let Some(bad) = mask.iter().find(|p| {
            ![
                "bindings",
                "etag",
                "auditConfigs",
                "audit_configs",
                "version",
            ]
            .contains(&p.as_str())
        }) {
            return Err(RpcError::bad_field(
                "update_mask",
                format!("Invalid update_mask path {bad:?}"),
            ));
        }
        Ok(Self {
            version,
            etag,
            bindings,
            audit_configs,
            mask,
        })
    }
}

fn concurrent_change() -> RpcError {
    RpcError::new(
        Code::Aborted,
        "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
    )
}

impl Policies {
    pub fn get(&self, project: &str) -> Policy {
        self.by_project.get(project).cloned().unwrap_or_default()
    }

    pub fn get_ref(&self, project: &str) -> Option<&Policy> {
        self.by_project.get(project)
    }

    /// A deleted service account stays in every binding that named it, as
    /// `deleted:serviceAccount:EMAIL?uid=UID`, and grants nothing any more. The policies are not
    /// otherwise written, so their etags stay.
    pub fn forget_account(&mut self, email: &str, uid: &str) {
        let member = format!("serviceAccount:{email}");
        let tombstone = format!("deleted:serviceAccount:{email}?uid={uid}");
        for policy in self.by_project.values_mut() {
            for b in &mut policy.bindings {
                for m in &mut b.members {
                    if m.eq_ignore_ascii_case(&member) {
                        m.clone_from(&tombstone);
                    }
                }
                b.members.sort();
                b.members.dedup();
            }
        }
    }

    /// Pretends another writer changed the policy: the caller's etag is now stale.
    pub fn bump_etag(&mut self, project: &str) -> RpcError {
        self.by_project.entry(project.to_owned()).or_default().etag = new_etag();
        concurrent_change()
    }

    pub fn set(
        &mut self,
        project: &str,
        req: SetRequest,
        accounts: &ServiceAccounts,
    ) -> Result<&Policy, RpcError> {
        let current = self.by_project.entry(project.to_owned()).or_default();
        if let Some(etag) = &req.etag
            && *etag != current.etag
        {
            return Err(concurrent_change());
        }
        let has = |p: &str| req.mask.iter().any(|m| m == p);
        if has("bindings") {
            let bindings = normalize(req.bindings);
            check_bindings(&bindings, accounts)?;
            current.bindings = bindings;
            current.version = if current.has_conditions() {
                3
            } else {
                req.version.max(1)
            };
        }
        if has("auditConfigs") || has("audit_configs") {
            current.audit_configs = req.audit_configs;
        }
        current.etag = new_etag();
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB_CONNECTION_USER: &str = "roles/redis.dbConnectionUser";
    const SERVICE: &str = "redis.googleapis.com";

    fn set(policies: &mut Policies, body: Value) -> Result<Value, RpcError> {
        let req = SetRequest::parse(body.to_string().as_bytes())?;
        policies
            .set("p", req, &ServiceAccounts::default())
            .map(|p| p.render(3))
    }

    #[test]
    fn stale_etags_are_refused_and_fresh_ones_accepted() {
        let mut ps = Policies::default();
        let first = ps.get("p").render(3);
        assert_eq!(first, json!({"version": 1, "etag": "ACAB"}));
        let written = set(
            &mut ps,
            json!({"policy": {"etag": "ACAB", "bindings": [{"role": DB_CONNECTION_USER, "members": ["user:a@x.com"]}]}}),
        )
        .unwrap();
        assert_ne!(written["etag"], "ACAB");
        let e = set(&mut ps, json!({"policy": {"etag": "ACAB", "bindings": []}})).unwrap_err();
        assert_eq!(e.code, Code::Aborted);
        assert!(
            set(
                &mut ps,
                json!({"policy": {"etag": written["etag"], "bindings": []}})
            )
            .is_ok()
        );
    }

    #[test]
    fn conditions_need_version_3_and_scope_the_grant() {
        let mut ps = Policies::default();
        let binding = json!({"role": DB_CONNECTION_USER, "members": ["serviceAccount:app@p.iam.gserviceaccount.com"],
            "condition": {"title": "only orders", "expression":
                "resource.name.startsWith(\"projects/p/locations/r/clusters/orders\") || resource.name.startsWith(\"projects/p/locations/r/clusters/pay\")"}});
        let e = set(&mut ps, json!({"policy": {"bindings": [binding.clone()]}})).unwrap_err();
        assert!(e.message.contains("version 3"));
        let v = set(
            &mut ps,
            json!({"policy": {"version": 3, "bindings": [binding]}}),
        )
        .unwrap();
        assert_eq!(v["version"], 3);
        let p = ps.get("p");
        let app = Principal::service_account("app@p.iam.gserviceaccount.com");
        let ty = "redis.googleapis.com/Cluster";
        assert!(p.grants(
            &app,
            DB_CONNECTION_USER,
            "projects/p/locations/r/clusters/orders",
            ty,
            SERVICE
        ));
        assert!(p.grants(
            &app,
            DB_CONNECTION_USER,
            "projects/p/locations/r/clusters/pay",
            ty,
            SERVICE
        ));
        assert!(!p.grants(
            &app,
            DB_CONNECTION_USER,
            "projects/p/locations/r/clusters/other",
            ty,
            SERVICE
        ));
        assert!(!p.grants(
            &Principal::service_account("x@p.iam.gserviceaccount.com"),
            DB_CONNECTION_USER,
            "projects/p/locations/r/clusters/orders",
            ty,
            SERVICE
        ));
        let v1 = p.render(1);
        assert_eq!(v1["version"], 1);
        assert!(
            v1["bindings"][0]["role"]
                .as_str()
                .unwrap()
                .starts_with("roles/redis.dbConnectionUser_withcond_")
        );
        assert!(v1["bindings"][0].get("condition").is_none());
    }

    #[test]
    fn bindings_are_merged_and_bad_ones_refused() {
        let mut ps = Policies::default();
        let v = set(
            &mut ps,
            json!({"policy": {"bindings": [
            {"role": "roles/viewer", "members": ["user:b@x.com"]},
            {"role": "roles/viewer", "members": ["user:a@x.com", "user:b@x.com"]},
            {"role": "roles/editor", "members": []}]}}),
        )
        .unwrap();
        assert_eq!(
            v["bindings"],
            json!([{"role": "roles/viewer", "members": ["user:a@x.com", "user:b@x.com"]}])
        );
        assert!(
            set(
                &mut ps,
                json!({"policy": {"bindings": [{"role": "viewer", "members": ["user:a@x.com"]}]}})
            )
            .is_err()
        );
        assert!(
            set(
                &mut ps,
                json!({"policy": {"bindings": [{"role": "roles/viewer", "members": ["a@x.com"]}]}})
            )
            .is_err()
        );
        let bad_cel = json!({"policy": {"version": 3, "bindings": [{"role": "roles/viewer", "members": ["user:a@x.com"],
            "condition": {"title": "t", "expression": "resource.name.startsWith("}}]}});
        assert!(
            set(&mut ps, bad_cel)
                .unwrap_err()
                .message
                .contains("not valid CEL")
        );
    }
}
