//! The AccessBinding plan, decision by decision.

use cache_operator_testkit::at;

use super::*;

#[test]
fn fingerprints_name_the_identity_and_never_carry_a_credential() {
    let sa = Source::GcpToken {
        service_account: Some("app@p.iam.gserviceaccount.com".into()),
    };
    assert_eq!(
        sa.fingerprint("projects/p/locations/r/clusters/c"),
        "gcp-token app@p.iam.gserviceaccount.com projects/p/locations/r/clusters/c"
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

#[test]
fn a_failing_refresh_keeps_ready_while_the_token_is_valid() {
    let mut conds = Vec::new();
    let c = Conditions::RefreshFailing {
        ready_message: "valid until then".into(),
        error: "could not mint".into(),
    };
    let note = c.apply(&mut conds, Some(2), Timestamp::now());
    let (t, reason_) = (note.type_, note.reason);
    assert_eq!(t, EventType::Warning);
    assert_eq!(reason_, reason::REFRESH_FAILED);
    assert!(condition::is_true(&conds, condition::READY));
    assert!(condition::is_true(&conds, condition::RECONCILING));
    assert!(!condition::is_true(&conds, condition::STALLED));
}

fn existing(fingerprint: &str, expires: i64, refresh: i64) -> Existing {
    Existing {
        token: Token {
            password: "token".into(),
            expires_at: Some(at(expires)),
            refresh_at: Some(at(refresh)),
        },
        credential: Some(fingerprint.into()),
    }
}

#[test]
fn a_token_is_reused_until_its_refresh_time_and_only_for_the_same_identity() {
    let fp = "gcp-token operator c";
    // (case, existing Secret, now) → (still valid, reused)
    let table = [
        ("fresh", Some(existing(fp, 3600, 2400)), 100, true, true),
        (
            "due for refresh",
            Some(existing(fp, 3600, 2400)),
            2400,
            true,
            false,
        ),
        (
            "expired",
            Some(existing(fp, 3600, 2400)),
            3600,
            false,
            false,
        ),
        (
            "another identity",
            Some(existing("gcp-token sa c", 3600, 2400)),
            100,
            false,
            false,
        ),
        ("no Secret yet", None, 100, false, false),
    ];
    for (case, prev, now, valid, reused) in table {
        let v = still_valid(prev.as_ref(), fp, at(now));
        assert_eq!(v.is_some(), valid, "{case}");
        let r = reusable(v.as_ref(), "default", at(now));
        assert_eq!(r.is_some(), reused, "{case}");
        if let Some(c) = r {
            assert_eq!(
                (c.username.as_str(), c.token.password.as_str()),
                ("default", "token")
            );
        }
    }
}

#[test]
fn failed_mints_by_class_and_by_what_the_secret_still_holds() {
    let denied = CloudError::new(ErrorClass::PermissionDenied, "403", "no", "iam");
    let down = CloudError::new(ErrorClass::Unavailable, "503", "down", "iam");
    let valid = existing("x", 3600, 2400).token;
    assert!(matches!(
        refresh_failed(&down, Some(&valid), "s"),
        Conditions::RefreshFailing { .. }
    ));
    let Conditions::Summary(s) = refresh_failed(&denied, None, "s") else {
        panic!()
    };
    assert_eq!(s.reason(), reason::PERMISSION_DENIED);
    let Conditions::Summary(s) = refresh_failed(&down, None, "s") else {
        panic!()
    };
    assert_eq!(s.reason(), reason::REFRESH_FAILED);
}

#[test]
fn tokens_are_looked_at_again_when_due_and_the_rest_at_resync() {
    let resync = Duration::from_secs(300);
    let token = Source::AwsIam {
        region: "us-east-1".into(),
        replication_group: "rg".into(),
        user_id: "u".into(),
    };
    assert_eq!(
        next_look(&token, Some(at(60)), at(0), resync),
        Duration::from_secs(60)
    );
    assert_eq!(
        next_look(&token, Some(at(0)), at(10), resync),
        Duration::from_millis(200)
    );
    assert_eq!(next_look(&token, Some(at(9999)), at(0), resync), resync);
    let pw = Source::AwsPassword {
        user_id: "u".into(),
    };
    assert_eq!(next_look(&pw, Some(at(60)), at(0), resync), resync);
    let cred = Credential {
        username: "app".into(),
        token: Token {
            password: "p".into(),
            ..Token::default()
        },
    };
    assert_eq!(
        issued_message(&pw, "s", "app", &cred),
        "Secret s holds the password of user app"
    );
    assert!(issued_message(&Source::None, "s", "default", &cred).contains("no credentials"));
}
