//! IAM Credentials, Cloud Resource Manager IAM policies and the OAuth2 token endpoint.

use gcp_auth::TokenProvider;
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

const SA: &str = "app@proj.iam.gserviceaccount.com";

fn generate_url(email: &str) -> String {
    format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken")
}

fn expires_in(expire_time: &str) -> i64 {
    let t: Timestamp = expire_time.parse().expect("RFC 3339 expireTime");
    t.as_second() - Timestamp::now().as_second()
}

#[tokio::test]
async fn generate_access_token_honours_the_lifetime_and_its_cap() {
    let t = start(Opts::default()).await;
    let (s, v) = t.post(&generate_url(SA), json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "120s"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["accessToken"].as_str().unwrap().starts_with("ya29."));
    assert!(
        (118..=120).contains(&expires_in(v["expireTime"].as_str().unwrap())),
        "{v}"
    );

    let (s, _) = t
        .put(
            "/_cloudsim/config",
            json!({"gcpTokenMaxLifetimeSeconds": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = t
        .post(
            &generate_url(SA),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}),
        )
        .await;
    assert!(
        (28..=30).contains(&expires_in(v["expireTime"].as_str().unwrap())),
        "capped at 30 s: {v}"
    );

    // The minted token authenticates later calls.
    let token = v["accessToken"].as_str().unwrap();
    let (s, _) = t
        .call(
            Method::POST,
            &generate_url("other@proj.iam.gserviceaccount.com"),
            Some(json!({"scope": ["x"]})),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, e) = t.post(&generate_url(SA), json!({"lifetime": "60s"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    let (s, _) = t
        .post(
            &generate_url(SA),
            json!({"scope": ["x"], "lifetime": "an hour"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, e) = t
        .call(
            Method::POST,
            &generate_url(SA),
            Some(json!({"scope": ["x"]})),
            Some("ya29.forged"),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
}

#[tokio::test]
async fn set_iam_policy_is_guarded_by_the_etag() {
    let t = start(Opts::default()).await;
    let (s, p) = t
        .post(
            "/v1/projects/proj:getIamPolicy",
            json!({"options": {"requestedPolicyVersion": 3}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p, json!({"version": 1, "etag": "ACAB"}));

    let binding = json!({"role": "roles/redis.dbConnectionUser", "members": [format!("serviceAccount:{SA}")]});
    let (s, written) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            json!({"policy": {"etag": "ACAB", "bindings": [binding]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{written}");
    let etag = written["etag"].as_str().unwrap().to_owned();
    assert_ne!(etag, "ACAB");

    let (s, stale) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            json!({"policy": {"etag": "ACAB", "bindings": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(stale["error"]["status"], "ABORTED");
    assert_eq!(stale["error"]["code"], 409);

    let (_, read) = t.post("/v1/projects/proj:getIamPolicy", json!({})).await;
    assert_eq!(read["etag"], etag.as_str());
    assert_eq!(
        read["bindings"][0]["members"][0],
        format!("serviceAccount:{SA}")
    );
    let (_, other) = t
        .post("/v1/projects/elsewhere:getIamPolicy", json!({}))
        .await;
    assert_eq!(other["etag"], "ACAB", "projects have their own policies");
}

#[tokio::test]
async fn conditional_bindings_need_version_3() {
    let t = start(Opts::default()).await;
    let binding = json!({
        "role": "roles/redis.dbConnectionUser",
        "members": [format!("serviceAccount:{SA}")],
        "condition": {"title": "orders only",
                      "expression": "resource.name.startsWith(\"projects/proj/locations/us-central1/clusters/orders\")"}
    });
    let (s, e) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            json!({"policy": {"bindings": [binding.clone()]}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 3"),
        "{e}"
    );

    let (s, v) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            json!({"policy": {"version": 3, "bindings": [binding]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 3);
    let (_, v3) = t
        .post(
            "/v1/projects/proj:getIamPolicy",
            json!({"options": {"requestedPolicyVersion": 3}}),
        )
        .await;
    assert_eq!(v3["bindings"][0]["condition"]["title"], "orders only");
    let (_, v1) = t.post("/v1/projects/proj:getIamPolicy", json!({})).await;
    assert_eq!(v1["version"], 1);
    assert!(
        v1["bindings"][0]["role"]
            .as_str()
            .unwrap()
            .contains("_withcond_"),
        "{v1}"
    );
    let (s, _) = t
        .post(
            "/v1/projects/proj:getIamPolicy",
            json!({"options": {"requestedPolicyVersion": 2}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn injected_iam_conflicts_look_like_a_concurrent_writer() {
    let t = start(Opts::default()).await;
    let (_, p) = t.post("/v1/projects/proj:getIamPolicy", json!({})).await;
    let (s, _) = t.put("/_cloudsim/faults", json!({"iamConflicts": 1})).await;
    assert_eq!(s, StatusCode::OK);
    let write = |etag: String| json!({"policy": {"etag": etag, "bindings": [{"role": "roles/viewer", "members": ["user:a@example.com"]}]}});
    let (s, e) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            write(p["etag"].as_str().unwrap().to_owned()),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["status"], "ABORTED");
    let (_, reread) = t.post("/v1/projects/proj:getIamPolicy", json!({})).await;
    assert_ne!(
        reread["etag"], p["etag"],
        "the other writer changed the etag"
    );
    let (s, ok) = t
        .post(
            "/v1/projects/proj:setIamPolicy",
            write(reread["etag"].as_str().unwrap().to_owned()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the retry succeeds: {ok}");
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert_eq!(
        counters["cloudresourcemanager"]["projects.setIamPolicy"]["ABORTED"],
        1
    );
    assert_eq!(
        counters["cloudresourcemanager"]["projects.setIamPolicy"]["ok"],
        1
    );
}

#[tokio::test]
async fn gcp_auth_gets_tokens_with_a_simulator_issued_key() {
    let t = start(Opts::default()).await;
    let (s, key) = t
        .post("/_cloudsim/gcp/service-account-keys", json!({"email": SA}))
        .await;
    assert_eq!(s, StatusCode::OK, "{key}");
    assert_eq!(key["type"], "service_account");
    assert_eq!(key["client_email"], SA);
    assert_eq!(key["project_id"], "proj");
    assert_eq!(key["token_uri"], format!("{}/token", t.base));

    let provider =
        gcp_auth::CustomServiceAccount::from_json(&key.to_string()).expect("key file parses");
    let token = provider
        .token(&["https://www.googleapis.com/auth/cloud-platform"])
        .await
        .expect("token");
    let remaining = token.expires_at().timestamp() - Timestamp::now().as_second();
    assert!((3500..=3600).contains(&remaining), "{remaining}");
    let (s, _) = t
        .call(
            Method::GET,
            &format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters"),
            None,
            Some(token.as_str()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the OAuth token authenticates API calls");

    // A key the simulator did not issue is refused with the OAuth error shape.
    let other = start(Opts::default()).await;
    let (_, foreign) = other
        .post("/_cloudsim/gcp/service-account-keys", json!({"email": SA}))
        .await;
    let mut foreign = foreign;
    foreign["token_uri"] = json!(format!("{}/token", t.base));
    let provider = gcp_auth::CustomServiceAccount::from_json(&foreign.to_string()).unwrap();
    assert!(
        provider
            .token(&["https://www.googleapis.com/auth/cloud-platform"])
            .await
            .is_err()
    );
    let resp = t
        .http
        .post(format!("{}/token", t.base))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "a.b.c"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert_eq!(counters["oauth2"]["token"]["ok"], 1);
    // gcp_auth retries a refused grant a few times; every attempt is counted.
    assert!(
        counters["oauth2"]["token"]["invalid_grant"]
            .as_u64()
            .unwrap()
            >= 2,
        "{counters}"
    );
}

#[tokio::test]
async fn a_lifetime_over_one_hour_is_refused_not_capped() {
    let t = start(Opts::default()).await;
    let (s, e) = t
        .post(
            &generate_url(SA),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3601s"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        e["error"]["message"],
        format!(
            "Access tokens for service account {SA} can not have lifetimes of more than 1 hour. Use the Org \
             Policy Constraint constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours."
        )
    );
    let (s, v) = t
        .post(
            &generate_url(SA),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!((3598..=3600).contains(&expires_in(v["expireTime"].as_str().unwrap())));
}

fn members(n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!("serviceAccount:{prefix}-{i}@proj.iam.gserviceaccount.com"))
        .collect()
}

async fn set_policy(t: &TestSim, policy: serde_json::Value) -> (StatusCode, serde_json::Value) {
    t.post("/v1/projects/proj:setIamPolicy", json!({"policy": policy}))
        .await
}

/// At most 1,500 principal occurrences per policy, each occurrence counted: one conditional
/// binding per cluster that repeats a group's 1,000 members fails on the second cluster.
#[tokio::test]
async fn a_policy_holds_at_most_1500_principal_occurrences() {
    let t = start(Opts::default()).await;
    let role = "roles/redis.dbConnectionUser";
    let (s, v) = set_policy(
        &t,
        json!({"bindings": [{"role": role, "members": members(1500, "m")}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, e) = set_policy(
        &t,
        json!({"bindings": [{"role": role, "members": members(1501, "m")}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The number of members in the policy (1,501) is larger than the maximum allowed size 1,500."}})
    );
    let group = members(1000, "g");
    let per_cluster = |c: &str| {
        json!({"role": role, "members": group, "condition": {"title": c,
            "expression": format!("resource.name == \"projects/proj/locations/r/clusters/{c}\"")}})
    };
    let (s, e) = set_policy(
        &t,
        json!({"version": 3, "bindings": [per_cluster("a"), per_cluster("b")]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["error"]["message"],
        "The number of members in the policy (2,000) is larger than the maximum allowed size 1,500."
    );
    let groups: Vec<String> = (0..251)
        .map(|i| format!("group:g{i}@example.com"))
        .collect();
    let (s, e) = set_policy(&t, json!({"bindings": [{"role": role, "members": groups}]})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn conditions_are_limited_in_operators_and_in_number_per_principal() {
    let t = start(Opts::default()).await;
    let role = "roles/redis.dbConnectionUser";
    let m = [format!("serviceAccount:{SA}")];
    let expression = |n: usize| {
        (0..=n)
            .map(|i| format!("resource.name == \"projects/proj/locations/r/clusters/c{i}\""))
            .collect::<Vec<_>>()
            .join(" || ")
    };
    let (s, v) = set_policy(
        &t,
        json!({"version": 3, "bindings": [{"role": role, "members": m,
        "condition": {"title": "twelve", "expression": expression(12)}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "12 logical operators: {v}");
    let (s, e) = set_policy(
        &t,
        json!({"version": 3, "bindings": [{"role": role, "members": m,
        "condition": {"title": "thirteen", "expression": expression(13)}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");

    let bindings = |n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| json!({"role": role, "members": m, "condition": {"title": format!("c{i}"),
                "expression": format!("resource.name == \"projects/proj/locations/r/clusters/c{i}\"")}}))
            .collect()
    };
    let (s, v) = set_policy(&t, json!({"version": 3, "bindings": bindings(20)})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, e) = set_policy(&t, json!({"version": 3, "bindings": bindings(21)})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

/// A deleted service account: refused as a new member with Google's words, shown as
/// `deleted:…?uid=…` in the bindings that named it (which can be written back), and its tokens,
/// keys and impersonation stop working.
#[tokio::test]
async fn a_deleted_service_account_is_refused_as_a_member() {
    let t = start(Opts::default()).await;
    let role = "roles/redis.dbConnectionUser";
    let gone = "gone@proj.iam.gserviceaccount.com";
    let (_, key) = t
        .post(
            "/_cloudsim/gcp/service-account-keys",
            json!({"email": gone}),
        )
        .await;
    let (_, minted) = t
        .post(
            &generate_url(gone),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}),
        )
        .await;
    let token = minted["accessToken"].as_str().unwrap().to_owned();
    let (s, v) = set_policy(
        &t,
        json!({"bindings": [{"role": role,
        "members": [format!("serviceAccount:{gone}"), format!("serviceAccount:{SA}")]}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (s, deleted) = t
        .delete(&format!("/_cloudsim/gcp/service-accounts/{gone}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{deleted}");
    let uid = deleted["uniqueId"].as_str().unwrap();

    let (_, read) = t.post("/v1/projects/proj:getIamPolicy", json!({})).await;
    let tombstone = format!("deleted:serviceAccount:{gone}?uid={uid}");
    assert_eq!(
        read["bindings"][0]["members"],
        json!([tombstone, format!("serviceAccount:{SA}")])
    );
    let (s, v) = set_policy(
        &t,
        json!({"etag": read["etag"], "bindings": read["bindings"]}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a policy read back is accepted as it is: {v}"
    );

    let (s, e) = set_policy(
        &t,
        json!({"bindings": [{"role": role,
        "members": [format!("serviceAccount:{gone}"), format!("serviceAccount:{SA}")]}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": format!("Service account {gone} does not exist.")}})
    );

    let (s, _) = t
        .call(
            Method::GET,
            &format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "its tokens stop working");
    let (s, e) = t
        .post(
            &generate_url(gone),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let provider = gcp_auth::CustomServiceAccount::from_json(&key.to_string()).unwrap();
    assert!(
        provider
            .token(&["https://www.googleapis.com/auth/cloud-platform"])
            .await
            .is_err()
    );
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert!(
        counters["oauth2"]["token"]["invalid_grant"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // Created again, it is a new account: the old binding does not come back to it.
    let (s, _) = t
        .post("/_cloudsim/gcp/service-accounts", json!({"email": gone}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = set_policy(
        &t,
        json!({"bindings": [{"role": role,
        "members": [tombstone, format!("serviceAccount:{gone}")]}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
