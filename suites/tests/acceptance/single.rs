//! Single services through testcontainers: one real server, a real client, no compose.

use harness::boot::single::{self, SingleConfig};

/// A Redis built from Debian's packages starts alone, passes its own healthcheck, and
/// stores and returns a value through the real `redis` client with its password.
#[tokio::test(flavor = "multi_thread")]
async fn redis_starts_alone_and_answers_a_real_client() {
    let password = "single-test-password";
    let container = single::start(
        SingleConfig::new("harness/redis:7.0-bookworm")
            .with_port(6379)
            .with_file("/run/secrets/redis_password", password.as_bytes())
            // Where the entrypoint writes the generated config (as in the reference stack).
            .with_tmpfs("/run/redis", "uid=998,gid=998,mode=0700,size=1m"),
    )
    .await
    .expect("redis starts and is healthy");
    let port = container.get_host_port_ipv4(6379).await.expect("published port");
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp("127.0.0.1".into(), port),
        redis: redis::RedisConnectionInfo { password: Some(password.into()), ..Default::default() },
    };
    let client = redis::Client::open(info).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connects with the password");
    let () = redis::cmd("SET").arg("greeting").arg("hello").query_async(&mut conn).await.expect("SET");
    let value: String = redis::cmd("GET").arg("greeting").query_async(&mut conn).await.expect("GET");
    assert_eq!(value, "hello");
}
