//! The AccessBinding plan, branch by branch: what a binding does in each situation the world
//! can be in, from its spec and what was observed.

use std::sync::Arc;

use cache_operator_api::AccessBinding;
use cache_operator_cloud::gcp::grants::clusters_digest;
use cache_operator_testkit::{Manifest, at, binding, cluster, group};
use serde_json::{Value, json};

use super::*;
use crate::controller::Issued;

const SA: &str = "app@shop-prod.iam.gserviceaccount.com";
const GCP_CLUSTER: &str = "projects/shop-prod/locations/us-central1/clusters/orders";

fn ready_status() -> Value {
    json!({"type": "Ready", "status": "True", "reason": "Available", "message": "",
           "lastTransitionTime": "2023-11-14T22:13:20Z", "observedGeneration": 1})
}

/// A cluster in `shop` with endpoints, Ready unless `ready` is false.
fn cluster_in_shop(m: Manifest, ready: bool) -> RedisCluster {
    let conditions = if ready { vec![ready_status()] } else { vec![] };
    m.namespace("shop")
        .generation(1)
        .status(json!({
            "endpoints": {"discovery": [{"host": "10.0.0.5", "port": 6379}]},
            "conditions": conditions,
        }))
        .parse()
}

/// A group in `shop`, Ready at generation 1, with `extra` status fields.
fn group_in_shop(m: Manifest, extra: Value) -> UserGroup {
    let mut status = json!({"observedGeneration": 1, "conditions": [ready_status()]});
    status
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    m.namespace("shop").generation(1).status(status).parse()
}

fn aws_sessions() -> RedisCluster {
    cluster_in_shop(
        cluster::aws("sessions").auth("iam").user_groups(&["users"]),
        true,
    )
}

fn aws_users() -> UserGroup {
    group_in_shop(
        group::aws("users", "us-east-1")
            .user("app", "iam")
            .user("web", "password"),
        json!({"userGroupId": "users"}),
    )
}

fn gcp_orders(auth: &str) -> RedisCluster {
    cluster_in_shop(
        cluster::gcp("orders").auth(auth).user_groups(&["readers"]),
        true,
    )
}

fn gcp_readers(granted: bool) -> UserGroup {
    let member = format!("serviceAccount:{SA}");
    let clusters = if granted {
        clusters_digest([GCP_CLUSTER])
    } else {
        clusters_digest(["projects/shop-prod/locations/us-central1/clusters/other"])
    };
    group_in_shop(
        group::gcp("readers", &[&member]),
        json!({"granted": {"generation": 1, "clusters": clusters}}),
    )
}

/// What a binding in `shop` sees: `cluster` (as `shop/<cluster name>`) and `group`.
fn world(b: &AccessBinding, cluster: Option<RedisCluster>, group: Option<UserGroup>) -> Observed {
    let cluster_at = crate::controller::refs::cluster_of(b);
    let group_at = crate::controller::refs::group_of(b);
    Observed {
        namespace: "shop".into(),
        watched: None,
        kind: TargetKind::RedisCluster,
        cluster_at,
        admitted: false,
        cluster: cluster.map_or(Found::Missing, Found::Here),
        serverless: Found::Missing,
        group_at,
        group: group.map_or(Found::Missing, Found::Here),
        listing: Some(clusters_digest([GCP_CLUSTER])),
        password: None,
        auth_token: None,
        secret: None,
    }
}

fn shop(m: Manifest) -> AccessBinding {
    m.namespace("shop")
        .uid("uid-b")
        .secret_name("app-redis")
        .parse()
}

/// How a plan stops: (conditions' kind and reason, withdrawn); panics for an issue.
fn stops(p: &Plan) -> (&'static str, &str, bool) {
    match p {
        Plan::Stop(s) => {
            let kind = match s.summary {
                Summary::Progressing { .. } => "waiting",
                Summary::Stalled { .. } => "stalled",
                _ => "other",
            };
            (kind, s.summary.reason(), s.withdraw)
        }
        Plan::Issue(i) => panic!("expected a stop, got an issue of {:?}", i.source),
    }
}

fn issue(p: Plan) -> Issue {
    match p {
        Plan::Issue(i) => *i,
        Plan::Stop(s) => panic!("expected an issue, got {s:?}"),
    }
}

fn plan_for(b: &AccessBinding, seen: &Observed) -> Plan {
    plan(b.desired(), seen, at(100))
}

/// Every way a binding stops short of a Secret, by what it names and what the world says.
#[test]
fn a_binding_stops_as_its_situation_says() {
    let aws = |user: &str| shop(binding::new("app", "sessions", "users").binding_user(user));
    let with = |b: &AccessBinding, c: RedisCluster, g: Option<UserGroup>| world(b, Some(c), g);
    let other_provider = group_in_shop(group::gcp("users", &["user:a@example.com"]), json!({}));
    let invalid = aws("app").tap(|b| b.spec.user = Some("Not A User!".into()));
    let unlisted = cluster_in_shop(
        cluster::aws("sessions")
            .auth("iam")
            .user_groups(&["others"]),
        true,
    );
    let token_cluster = cluster_in_shop(cluster::aws("sessions").auth("token"), true);
    let no_endpoints: RedisCluster = cluster::aws("sessions")
        .auth("iam")
        .user_groups(&["users"])
        .namespace("shop")
        .parse();
    let bad_spec = cluster_in_shop(
        cluster::aws("sessions")
            .auth("iam")
            .set("/spec/shardCount", 0),
        true,
    );
    let cross = shop(
        binding::new("app", "sessions", "users")
            .cluster_namespace("data")
            .group_namespace("data")
            .binding_user("app"),
    );
    let other_group_ns = shop(
        binding::new("app", "sessions", "users")
            .group_namespace("other")
            .binding_user("app"),
    );
    let mut watching = world(&aws("app"), Some(aws_sessions()), Some(aws_users()));
    watching.watched = Some("apps".into());
    let mut unreadable = world(&aws("app"), None, None);
    unreadable.cluster = Found::Unreadable;
    let gcp = |user: Option<&str>| {
        let m = binding::new("app", "orders", "readers");
        shop(match user {
            Some(u) => m.binding_user(u),
            None => m,
        })
    };
    let mut refused_member = gcp_readers(true);
    refused_member.status.as_mut().unwrap().missing_members = vec![format!("serviceAccount:{SA}")];
    let aws_world = |b: &AccessBinding| with(b, aws_sessions(), Some(aws_users()));
    let mut foreign = aws_world(&aws("app"));
    foreign.secret = Some(existing("aws-iam x", false, 3600, 2400));

    // (case, binding, what it sees) → (kind, reason, withdrawn)
    type Row<'a> = (&'a str, AccessBinding, Observed, (&'a str, &'a str, bool));
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("the spec breaks a rule", invalid.clone(), aws_world(&invalid),
            ("stalled", reason::INVALID_SPEC, false)),
        ("the cluster is in a namespace not watched", aws("app"), watching,
            ("stalled", reason::NAMESPACE_NOT_WATCHED, false)),
        ("the cluster does not exist", aws("app"), world(&aws("app"), None, None),
            ("waiting", reason::REFERENCE_NOT_FOUND, false)),
        ("the cluster does not parse", aws("app"), unreadable,
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("the cluster does not admit the namespace", cross.clone(), with(&cross, aws_sessions(), Some(aws_users())),
            ("stalled", reason::NAMESPACE_NOT_ALLOWED, true)),
        ("the cluster's spec is invalid", aws("app"), with(&aws("app"), bad_spec, None),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("the cluster has no endpoints yet", aws("app"), with(&aws("app"), no_endpoints, None),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("a token cluster, named with a group", aws("app"), with(&aws("app"), token_cluster.clone(), None),
            ("stalled", reason::INVALID_SPEC, false)),
        ("a token cluster whose token is not set yet", shop(binding::without_group("app", "sessions")),
            with(&shop(binding::without_group("app", "sessions")), token_cluster, None),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("an iam cluster needs a group", shop(binding::without_group("app", "sessions")),
            with(&shop(binding::without_group("app", "sessions")), aws_sessions(), None),
            ("stalled", reason::INVALID_SPEC, false)),
        ("the group is in another namespace than the cluster", other_group_ns.clone(),
            with(&other_group_ns, aws_sessions(), Some(aws_users())),
            ("stalled", reason::INVALID_SPEC, false)),
        ("the cluster does not list the group", aws("app"), with(&aws("app"), unlisted, Some(aws_users())),
            ("stalled", reason::NOT_AUTHORIZED, true)),
        ("the group does not exist", aws("app"), with(&aws("app"), aws_sessions(), None),
            ("waiting", reason::REFERENCE_NOT_FOUND, false)),
        ("the group is for another cloud", aws("app"), with(&aws("app"), aws_sessions(), Some(other_provider)),
            ("stalled", reason::INVALID_SPEC, false)),
        ("an aws cluster needs a user", shop(binding::new("app", "sessions", "users")),
            aws_world(&shop(binding::new("app", "sessions", "users"))),
            ("stalled", reason::INVALID_SPEC, false)),
        ("the user is not in the group", aws("stranger"), aws_world(&aws("stranger")),
            ("stalled", reason::NOT_AUTHORIZED, true)),
        ("the password is not set yet", aws("web"), aws_world(&aws("web")),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("a Secret of that name is someone else's", aws("app"), foreign,
            ("stalled", reason::ALREADY_EXISTS, false)),
        ("the service account is not a member", gcp(Some("other@p.iam.gserviceaccount.com")),
            with(&gcp(Some("other@p.iam.gserviceaccount.com")), gcp_orders("iam"), Some(gcp_readers(true))),
            ("stalled", reason::NOT_AUTHORIZED, true)),
        ("IAM refused the service account", gcp(Some(SA)),
            with(&gcp(Some(SA)), gcp_orders("iam"), Some(refused_member)),
            ("stalled", reason::MEMBER_NOT_FOUND, false)),
        ("the group has not granted the clusters listing it", gcp(Some(SA)),
            with(&gcp(Some(SA)), gcp_orders("iam"), Some(gcp_readers(false))),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
        ("the cluster is not Ready for a first Secret", aws("app"),
            with(&aws("app"), cluster_in_shop(cluster::aws("sessions").auth("iam").user_groups(&["users"]), false), Some(aws_users())),
            ("waiting", reason::REFERENCE_NOT_READY, false)),
    ];
    for (case, b, seen, want) in table {
        assert_eq!(stops(&plan_for(&b, &seen)), want, "{case}");
    }
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for AccessBinding {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

fn existing(fingerprint: &str, ours: bool, expires: i64, refresh: i64) -> Existing {
    Existing {
        secret: Arc::default(),
        ours,
        token: Token {
            password: "token".into(),
            expires_at: Some(at(expires)),
            refresh_at: Some(at(refresh)),
        },
        credential: Some(fingerprint.into()),
    }
}

/// Where each credential comes from, and what the Secret says of it.
#[test]
fn each_cluster_gets_the_credential_its_authentication_asks_for() {
    // aws IAM: minted for the user on the replication group.
    let b = shop(binding::new("app", "sessions", "users").binding_user("app"));
    let i = issue(plan_for(
        &b,
        &world(&b, Some(aws_sessions()), Some(aws_users())),
    ));
    assert_eq!(
        i.credential,
        Choice::Mint {
            from: Mint::AwsIam {
                region: "us-east-1".into(),
                cache: "sessions".into(),
                resource: TokenResource::ReplicationGroup,
                user_id: "app".into()
            },
            still_valid: None
        }
    );
    assert_eq!(
        (i.username.as_str(), i.secret_name.as_str()),
        ("app", "app-redis")
    );
    assert_eq!(
        i.annotations[CREDENTIAL_ANNOTATION],
        "aws-iam us-east-1/sessions/app"
    );

    // aws password: the group's current password, refreshed when the group rotates it.
    let b = shop(binding::new("app", "sessions", "users").binding_user("web"));
    let mut seen = world(&b, Some(aws_sessions()), Some(aws_users()));
    seen.password = Some(Issued {
        secret: "pw-1".into(),
        rotate_at: Some(at(5000)),
    });
    let i = issue(plan_for(&b, &seen));
    assert_eq!(
        i.credential,
        Choice::Known(Token {
            password: "pw-1".into(),
            expires_at: None,
            refresh_at: Some(at(5000))
        })
    );

    // aws AUTH token: the cluster's, with no user name.
    let b = shop(binding::without_group("app", "sessions"));
    let mut seen = world(
        &b,
        Some(cluster_in_shop(
            cluster::aws("sessions").auth("token"),
            true,
        )),
        None,
    );
    seen.auth_token = Some(Issued {
        secret: "token-1".into(),
        rotate_at: None,
    });
    let i = issue(plan_for(&b, &seen));
    assert_eq!(
        (i.username.as_str(), &i.source),
        (
            "",
            &Source::AwsAuthToken {
                namespace: "shop".into(),
                cluster: "sessions".into()
            }
        )
    );

    // No authentication: nothing to give.
    let b = shop(binding::without_group("app", "sessions"));
    let seen = world(
        &b,
        Some(cluster_in_shop(
            cluster::aws("sessions").auth("disabled"),
            true,
        )),
        None,
    );
    let i = issue(plan_for(&b, &seen));
    assert_eq!(i.credential, Choice::Known(Token::default()));
    assert_eq!(i.username, "default");

    // gcp: a token of the service account, or of the operator; none without IAM auth.
    let b = shop(binding::new("app", "orders", "readers").binding_user(SA));
    let i = issue(plan_for(
        &b,
        &world(&b, Some(gcp_orders("iam")), Some(gcp_readers(true))),
    ));
    assert!(matches!(
        i.credential,
        Choice::Mint { from: Mint::Gcp { service_account: Some(ref sa) }, .. } if sa == SA
    ));
    let b = shop(binding::new("app", "orders", "readers"));
    let i = issue(plan_for(
        &b,
        &world(&b, Some(gcp_orders("iam")), Some(gcp_readers(true))),
    ));
    assert_eq!(
        i.annotations[CREDENTIAL_ANNOTATION],
        format!("gcp-token operator {GCP_CLUSTER}")
    );
    let b = shop(binding::without_group("app", "orders"));
    let open = cluster_in_shop(cluster::gcp("orders").auth("disabled"), true);
    let i = issue(plan_for(&b, &world(&b, Some(open), None)));
    assert_eq!((i.source, i.username.as_str()), (Source::None, "default"));
}

/// A Secret already written keeps being refreshed while the references settle; its token is
/// reused until its refresh time, and only for the same identity.
#[test]
fn a_token_is_reused_until_its_refresh_time_and_only_for_the_same_identity() {
    let b = shop(binding::new("app", "sessions", "users").binding_user("app"));
    let fp = "aws-iam us-east-1/sessions/app";
    let not_ready = cluster_in_shop(
        cluster::aws("sessions").auth("iam").user_groups(&["users"]),
        false,
    );
    // (case, the Secret, now) → (reused, still valid)
    let table = [
        ("fresh", existing(fp, true, 3600, 2400), 100, true, true),
        (
            "due for refresh",
            existing(fp, true, 3600, 2400),
            2400,
            false,
            true,
        ),
        (
            "expired",
            existing(fp, true, 3600, 2400),
            3600,
            false,
            false,
        ),
        (
            "another identity",
            existing("gcp-token sa c", true, 3600, 2400),
            100,
            false,
            false,
        ),
    ];
    for (case, secret, now, reused, valid) in table {
        let mut seen = world(&b, Some(not_ready.clone()), Some(aws_users()));
        seen.secret = Some(secret);
        let i = issue(plan(b.desired(), &seen, at(now)));
        match i.credential {
            Choice::Known(t) => {
                assert!(reused, "{case}");
                assert_eq!(t.password, "token", "{case}");
            }
            Choice::Mint { still_valid, .. } => {
                assert!(!reused, "{case}");
                assert_eq!(still_valid.is_some(), valid, "{case}");
            }
        }
        assert!(i.current.is_some() && i.previous.is_some(), "{case}");
    }
}

#[test]
fn fingerprints_name_the_identity_and_never_carry_a_credential() {
    let sa = Source::GcpToken {
        service_account: Some(SA.into()),
    };
    assert_eq!(
        sa.fingerprint(GCP_CLUSTER),
        format!("gcp-token {SA} {GCP_CLUSTER}")
    );
    let own = Source::GcpToken {
        service_account: None,
    };
    assert_ne!(
        sa.fingerprint("c"),
        own.fingerprint("c"),
        "a change of identity re-mints"
    );
    assert!(sa.is_token() && !Source::None.is_token());
}

/// A serverless cache in `shop`, Ready, with an endpoint and a reader endpoint.
fn serverless_in_shop(group: Option<&str>) -> ServerlessCache {
    let m = cache_operator_testkit::serverless::new("web", "us-east-1");
    let m = match group {
        Some(g) => m.set("/spec/userGroupRef/name", g),
        None => m,
    };
    m.namespace("shop")
        .generation(1)
        .status(json!({
            "cloudResource": "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:web",
            "endpoint": {"host": "web.serverless.use1.cache.amazonaws.com", "port": 6379},
            "readerEndpoint": {"host": "web.serverless.use1.cache.amazonaws.com", "port": 6380},
            "conditions": [ready_status()],
        }))
        .parse()
}

fn serverless_world(
    b: &AccessBinding,
    cache: ServerlessCache,
    group: Option<UserGroup>,
) -> Observed {
    let mut seen = world(b, None, group);
    seen.kind = TargetKind::ServerlessCache;
    seen.serverless = Found::Here(cache);
    seen
}

/// A binding of a serverless cache: TLS and the cluster protocol always, the reader endpoint,
/// IAM tokens signed for a serverless cache, passwords from the group, or none without one.
#[test]
fn a_serverless_cache_gets_the_same_secret_with_what_its_clients_need() {
    let b = shop(
        cache_operator_testkit::serverless::binding("app", "web", "users").binding_user("app"),
    );
    let i = issue(plan_for(
        &b,
        &serverless_world(&b, serverless_in_shop(Some("users")), Some(aws_users())),
    ));
    assert_eq!(
        i.credential,
        Choice::Mint {
            from: Mint::AwsIam {
                region: "us-east-1".into(),
                cache: "web".into(),
                resource: TokenResource::ServerlessCache,
                user_id: "app".into()
            },
            still_valid: None
        }
    );
    assert_eq!(
        i.annotations[CREDENTIAL_ANNOTATION],
        "aws-iam us-east-1/serverless:web/app"
    );
    assert!(i.connection.tls && i.connection.cluster_mode);
    assert_eq!(i.connection.reader.as_ref().map(|r| r.port), Some(6380));
    assert_eq!(i.connection.endpoints[0].port, 6379);

    // A password user of the group: its current password.
    let b = shop(
        cache_operator_testkit::serverless::binding("app", "web", "users").binding_user("web"),
    );
    let mut seen = serverless_world(&b, serverless_in_shop(Some("users")), Some(aws_users()));
    seen.password = Some(Issued {
        secret: "pw-1".into(),
        rotate_at: Some(at(5000)),
    });
    assert_eq!(
        issue(plan_for(&b, &seen)).source,
        Source::AwsPassword {
            user_id: "web".into()
        }
    );

    // No user group: the default user, no credential.
    let b = shop(cache_operator_testkit::serverless::open_binding(
        "app", "web",
    ));
    let i = issue(plan_for(
        &b,
        &serverless_world(&b, serverless_in_shop(None), None),
    ));
    assert_eq!((i.source, i.username.as_str()), (Source::None, "default"));

    // The cache lists another group: the access is withdrawn.
    let b = shop(
        cache_operator_testkit::serverless::binding("app", "web", "users").binding_user("app"),
    );
    let seen = serverless_world(&b, serverless_in_shop(Some("others")), Some(aws_users()));
    assert_eq!(
        stops(&plan_for(&b, &seen)),
        ("stalled", reason::NOT_AUTHORIZED, true)
    );
    // A binding of a RedisCluster does not see a serverless cache of that name.
    let mut seen = serverless_world(&b, serverless_in_shop(Some("users")), Some(aws_users()));
    seen.kind = TargetKind::RedisCluster;
    assert_eq!(
        stops(&plan_for(&b, &seen)),
        ("waiting", reason::REFERENCE_NOT_FOUND, false)
    );
}
