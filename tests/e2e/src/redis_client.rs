//! A real Redis client, as an application would connect with what it was given.

use redis::{AsyncCommands, ConnectionAddr, RedisConnectionInfo};

/// Where and how to connect.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// PEM of the CA to trust; `None` for plain TCP.
    pub tls_ca: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A connection as an application opens it: TLS with the given CA, AUTH with the user and password.
pub async fn connect(t: &Target) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let addr = match &t.tls_ca {
        None => ConnectionAddr::Tcp(t.host.clone(), t.port),
        Some(_) => ConnectionAddr::TcpTls {
            host: t.host.clone(),
            port: t.port,
            insecure: false,
            tls_params: None,
        },
    };
    let mut redis = RedisConnectionInfo::default();
    if let Some(u) = &t.username {
        redis = redis.set_username(u);
    }
    if let Some(p) = &t.password {
        redis = redis.set_password(p);
    }
    let info = redis::IntoConnectionInfo::into_connection_info(addr)?.set_redis_settings(redis);
    let client = match &t.tls_ca {
        None => redis::Client::open(info)?,
        Some(ca) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.as_bytes().to_vec()),
            },
        )?,
    };
    // The client library's defaults (1 s to connect, 0.5 s per answer) suit a quiet LAN; with the
    // whole stack on two busy cores a TLS handshake can take longer, which is not what the tests
    // judge. Credentials are judged by what the server answers.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(10)))
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// `PING`, answered `PONG`.
pub async fn ping(t: &Target) -> redis::RedisResult<String> {
    let mut c = connect(t).await?;
    redis::cmd("PING").query_async(&mut c).await
}

/// `SET key value` then `GET key`.
pub async fn set_get(t: &Target, key: &str, value: &str) -> redis::RedisResult<String> {
    let mut c = connect(t).await?;
    let () = c.set(key, value).await?;
    c.get(key).await
}
