//! The operator runs with the shipped RBAC (config/rbac, the same rules the chart renders), as a
//! ServiceAccount, never as admin: one verb less and it refuses to start, naming what is missing.

use e2e::{Env, KubeKind, Options};

#[tokio::test]
async fn without_one_verb_of_its_cluster_role_the_operator_names_it_and_does_not_start()
-> anyhow::Result<()> {
    if KubeKind::from_env() != KubeKind::Real {
        eprintln!("skipped: only the real apiserver authorizes (kubesim allows every request)");
        return Ok(());
    }
    let mut env = Env::start_with(
        "rbac-missing-verb",
        Options {
            operator: false,
            rbac_without: Some(("redisclusters/status", "patch")),
            ..Options::default()
        },
    )
    .await?;
    let started = env.start_operator("operator", &[]).await;
    assert!(
        started.is_err(),
        "the operator started without patch on redisclusters/status"
    );
    let log = std::fs::read_to_string(env.logs.join("operator.log"))?;
    assert!(
        log.contains(
            "patch redisclusters/status (cache-operator.io) cluster-wide: needed to write status"
        ),
        "the operator did not name the missing permission:\n{log}"
    );
    assert!(
        !log.contains("get redisclusters/status"),
        "only the removed verb is missing:\n{log}"
    );
    Ok(())
}

#[tokio::test]
async fn with_the_shipped_rbac_the_operator_starts_as_a_service_account() -> anyhow::Result<()> {
    if KubeKind::from_env() != KubeKind::Real {
        eprintln!("skipped: only the real apiserver authenticates and authorizes");
        return Ok(());
    }
    let env = Env::start("rbac-shipped").await?;
    let log = std::fs::read_to_string(env.logs.join("operator.log"))?;
    assert!(!log.contains("missing RBAC permission"), "{log}");
    // The operator's kubeconfig is a ServiceAccount token, not the admin certificate.
    let config = std::fs::read_to_string(&env.operator_kubeconfig)?;
    assert!(config.contains("\"token\""), "{config}");
    assert!(!config.contains("client-certificate-data"), "{config}");
    Ok(())
}
