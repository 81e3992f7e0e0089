//! STS `GetCallerIdentity` on the simulator's endpoint (what ACK's controller asks at start for its
//! account), told from ElastiCache by the service its signature is scoped to, and the answer to
//! actions neither API has.

use reqwest::StatusCode;

use crate::common::*;

const KEY: (&str, &str) = (
    cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
    cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
);

async fn sts(t: &TestSim, key: (&str, &str), form: &[(&str, &str)]) -> (StatusCode, String) {
    let resp = signed_for(t, "sts", "us-east-1", key, None, form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn get_caller_identity_names_the_signing_key() {
    let t = start(Opts::default()).await;
    let form = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let (s, xml) = sts(&t, KEY, &form).await;
    assert_eq!(s, StatusCode::OK, "{xml}");
    assert!(
        xml.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"
        ),
        "{xml}"
    );
    assert!(xml.contains("<Account>123456789012</Account>"), "{xml}");
    assert!(
        xml.contains("<Arn>arn:aws:iam::123456789012:user/AKIDCLOUDSIM</Arn>"),
        "{xml}"
    );
    assert!(xml.contains("<UserId>AIDA"), "{xml}");

    // Temporary credentials from AssumeRoleWithWebIdentity act as the role's session.
    let resp = t
        .http
        .post(format!("{}/", t.base))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/cache-operator"),
            ("RoleSessionName", "operator"),
            (
                "WebIdentityToken",
                "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcCJ9.c2ln",
            ),
        ])
        .send()
        .await
        .unwrap();
    let xml = resp.text().await.unwrap();
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open).unwrap() + open.len();
        xml[start..start + xml[start..].find('<').unwrap()].to_owned()
    };
    let (akid, secret, token) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    );
    let resp = signed_for(
        &t,
        "sts",
        "us-east-1",
        (&akid, &secret),
        Some(&token),
        &form,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<Arn>arn:aws:sts::123456789012:assumed-role/cache-operator/operator</Arn>"),
        "{xml}"
    );
    assert!(
        xml.contains("<UserId>AROA") && xml.contains(":operator</UserId>"),
        "{xml}"
    );
    let (s, xml) = sts(&t, (&akid, &secret), &form).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a session key without its token: {xml}"
    );
    assert!(xml.contains("<Code>InvalidClientTokenId</Code>"), "{xml}");

    // A wrong secret and an unknown key are refused as AWS refuses them.
    let (s, xml) = sts(&t, (KEY.0, "not-the-secret"), &form).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(xml.contains("<Code>SignatureDoesNotMatch</Code>"), "{xml}");
    let (s, xml) = sts(&t, ("AKIDUNKNOWN", "x"), &form).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(xml.contains("<Code>InvalidClientTokenId</Code>"), "{xml}");
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert_eq!(counters["sts"]["GetCallerIdentity"]["ok"], 2, "{counters}");
}

#[tokio::test]
async fn unknown_actions_answer_as_the_service_does_and_are_counted_by_name() {
    let t = start(Opts::default()).await;
    let (s, xml) = sts(
        &t,
        KEY,
        &[("Action", "GetSessionToken"), ("Version", "2011-06-15")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(xml.contains("<Code>InvalidAction</Code>"), "{xml}");
    assert!(
        xml.contains("Could not find operation GetSessionToken for version 2011-06-15"),
        "{xml}"
    );
    // ElastiCache's own wording for an action it lacks, also counted under the action's name.
    let resp = signed_for(
        &t,
        "elasticache",
        "us-east-1",
        KEY,
        None,
        &[
            ("Action", "DescribeReservedCacheNodes"),
            ("Version", "2015-02-02"),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("The action DescribeReservedCacheNodes is not valid for this web service."),
        "{xml}"
    );
    // GetCallerIdentity signed for ElastiCache is an ElastiCache action that does not exist.
    let resp = signed_for(
        &t,
        "elasticache",
        "us-east-1",
        KEY,
        None,
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert_eq!(
        counters["sts"]["GetSessionToken"]["InvalidAction"], 1,
        "{counters}"
    );
    assert_eq!(
        counters["elasticache"]["DescribeReservedCacheNodes"]["InvalidAction"], 1,
        "{counters}"
    );
    assert_eq!(
        counters["elasticache"]["GetCallerIdentity"]["InvalidAction"], 1,
        "{counters}"
    );
}
