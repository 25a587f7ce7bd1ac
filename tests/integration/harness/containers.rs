//! The Docker path: Apache Kafka and Apicurio Registry started by testcontainers.
//!
//! What the containers are configured with is a pure [`Plan`], unit-tested below, so that this
//! path cannot rot unseen on machines without a Docker engine (where it never runs).

use std::path::Path;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use testcontainers_modules::kafka::apache::{Kafka, KAFKA_PORT};

/// Images and settings for the two containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kafka_tag: &'static str,
    pub kafka_env: Vec<(&'static str, &'static str)>,
    pub registry_image: &'static str,
    pub registry_tag: &'static str,
    pub registry_port: u16,
    pub registry_ready_log: &'static str,
    pub ccompat_path: &'static str,
}

/// The containers this harness starts (Kafka version kept in step with `scripts/stack`).
pub fn plan() -> Plan {
    Plan {
        kafka_tag: "4.1.1",
        // On one broker the transaction state log must be satisfiable, or
        // `init_transactions` hangs; no initial rebalance delay keeps tests fast.
        kafka_env: vec![
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
            ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
            ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
        ],
        registry_image: "apicurio/apicurio-registry",
        registry_tag: "3.0.9",
        registry_port: 8080,
        registry_ready_log: "Installed features",
        ccompat_path: "/apis/ccompat/v7",
    }
}

/// Containers kept alive for the lifetime of the test binary.
pub struct Running {
    pub bootstrap: String,
    pub registry_url: String,
    _kafka: ContainerAsync<Kafka>,
    _registry: ContainerAsync<GenericImage>,
}

/// True when a Docker engine answers on `DOCKER_HOST` or the default socket.
pub fn docker_reachable() -> bool {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => docker_host_reachable(&host),
        _ => unix_socket_reachable(Path::new("/var/run/docker.sock")),
    }
}

fn docker_host_reachable(host: &str) -> bool {
    if let Some(path) = host.strip_prefix("unix://") {
        return unix_socket_reachable(Path::new(path));
    }
    let addr = host.strip_prefix("tcp://").unwrap_or(host);
    std::net::TcpStream::connect(addr).is_ok()
}

fn unix_socket_reachable(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Starts Kafka and the registry; fails with the container error.
pub async fn start() -> Result<Running, testcontainers::TestcontainersError> {
    let plan = plan();
    let mut kafka = Kafka::default().with_jvm_image().with_tag(plan.kafka_tag);
    for (k, v) in &plan.kafka_env {
        kafka = kafka.with_env_var(*k, *v);
    }
    let kafka = kafka.start().await?;
    let kafka_port = kafka.get_host_port_ipv4(KAFKA_PORT).await?;

    let registry = GenericImage::new(plan.registry_image, plan.registry_tag)
        .with_exposed_port(ContainerPort::Tcp(plan.registry_port))
        .with_wait_for(WaitFor::message_on_stdout(plan.registry_ready_log))
        .start()
        .await?;
    let registry_port = registry
        .get_host_port_ipv4(ContainerPort::Tcp(plan.registry_port))
        .await?;

    Ok(Running {
        bootstrap: format!("127.0.0.1:{kafka_port}"),
        registry_url: format!("http://127.0.0.1:{registry_port}{}", plan.ccompat_path),
        _kafka: kafka,
        _registry: registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(plan: &Plan, key: &str) -> Option<&'static str> {
        plan.kafka_env
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    #[test]
    fn single_broker_can_run_transactions() {
        let plan = plan();
        assert_eq!(
            env(&plan, "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"),
            Some("1")
        );
        assert_eq!(env(&plan, "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"), Some("1"));
        assert_eq!(
            env(&plan, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"),
            Some("1")
        );
    }

    #[test]
    fn kafka_version_matches_the_local_stack() {
        let stack = include_str!("../../../scripts/stack");
        let pinned = format!("KAFKA_VERSION=\"${{KAFKA_VERSION:-{}}}\"", plan().kafka_tag);
        assert!(
            stack.contains(&pinned),
            "scripts/stack must pin Kafka {}",
            plan().kafka_tag
        );
    }

    #[test]
    fn registry_version_matches_the_local_stack() {
        let stack = include_str!("../../../scripts/stack");
        let pinned = format!(
            "APICURIO_VERSION=\"${{APICURIO_VERSION:-{}}}\"",
            plan().registry_tag
        );
        assert!(
            stack.contains(&pinned),
            "scripts/stack must pin Apicurio {}",
            plan().registry_tag
        );
    }

    #[test]
    fn registry_exposes_the_confluent_compatible_api() {
        let plan = plan();
        assert_eq!(plan.registry_image, "apicurio/apicurio-registry");
        assert_eq!(plan.registry_port, 8080);
        assert_eq!(plan.ccompat_path, "/apis/ccompat/v7");
    }

    #[test]
    fn docker_host_parsing() {
        assert!(!docker_host_reachable("unix:///nonexistent/docker.sock"));
        assert!(!docker_host_reachable("tcp://127.0.0.1:1"));
    }
}
