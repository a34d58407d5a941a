//! Checks `deploy/` without a Docker engine: the compose file, the Dockerfile,
//! the Prometheus and Grafana configuration and the dashboards are parsed and
//! cross-checked against each other and against the code (the settings in
//! `config/default.toml`, the metrics in `stampede_api::metric_catalog`).
//!
//! Failures name the file and, for dashboards, the panel and the expression.

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use stampede_api::metric_catalog::{self, Kind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const BROKERS: [&str; 3] = ["kafka-1", "kafka-2", "kafka-3"];
/// Host ports of the brokers' external listeners, in broker order.
const EXTERNAL_PORTS: [u16; 3] = [19092, 29092, 39092];
const SERVICES: [&str; 11] = [
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "mariadb",
    "redis",
    "kafka-exporter",
    "redis-exporter",
    "prometheus",
    "grafana",
    "stampede",
    "pg-sim",
];
const DASHBOARDS: [&str; 4] = [
    "http.json",
    "kafka-consumers.json",
    "outbox-dlt.json",
    "business.json",
];

// ---------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML file of `deploy/`, with `<<: *anchor` merge keys applied.
fn yaml(relative: &str) -> Yaml {
    let path = deploy_dir().join(relative);
    let mut value: Yaml = serde_yaml_ng::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("{}: bad merge key: {e}", path.display()));
    value
}

/// A scalar as the string a container sees (compose turns numbers and
/// booleans in `environment` into their text).
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(value: &Yaml) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// `docker-compose.yml`, parsed once per test.
struct Compose(Yaml);

impl Compose {
    fn load() -> Self {
        Self(yaml("docker-compose.yml"))
    }

    fn service_names(&self) -> BTreeSet<String> {
        self.0["services"]
            .as_mapping()
            .expect("docker-compose.yml: `services` is a mapping")
            .keys()
            .filter_map(scalar)
            .collect()
    }

    fn service(&self, name: &str) -> &Yaml {
        let service = &self.0["services"][name];
        assert!(
            service.is_mapping(),
            "docker-compose.yml: service `{name}` is missing"
        );
        service
    }

    /// A service's environment, from the mapping or the `KEY=VALUE` list form.
    fn env(&self, name: &str) -> BTreeMap<String, String> {
        let environment = &self.service(name)["environment"];
        if let Some(map) = environment.as_mapping() {
            map.iter()
                .map(|(k, v)| {
                    let key = scalar(k).expect("environment keys are strings");
                    let value = scalar(v).unwrap_or_else(|| {
                        panic!("docker-compose.yml: {name}: {key} has no scalar value")
                    });
                    (key, value)
                })
                .collect()
        } else {
            strings(environment)
                .into_iter()
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (item, String::new()),
                })
                .collect()
        }
    }

    fn env_var(&self, name: &str, key: &str) -> String {
        self.env(name)
            .remove(key)
            .unwrap_or_else(|| panic!("docker-compose.yml: {name} does not set {key}"))
    }

    /// Published ports as (host, container) pairs; accepts `"H:C"`,
    /// `"IP:H:C"` and the long syntax.
    fn published(&self, name: &str) -> Vec<(u16, u16)> {
        let ports = &self.service(name)["ports"];
        let Some(items) = ports.as_sequence() else {
            return Vec::new();
        };
        items
            .iter()
            .map(|item| {
                if item.is_mapping() {
                    let port = |key: &str| {
                        scalar(&item[key])
                            .and_then(|p| p.parse().ok())
                            .unwrap_or_else(|| panic!("{name}: bad port {key} in {item:?}"))
                    };
                    return (port("published"), port("target"));
                }
                let text = scalar(item).expect("a port is a scalar");
                let parts: Vec<&str> = text.split(':').collect();
                let parse = |p: &str| -> u16 {
                    p.split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or_else(|| panic!("{name}: bad port `{text}`"))
                };
                match parts.as_slice() {
                    [host, container] | [_, host, container] => (parse(host), parse(container)),
                    _ => panic!("docker-compose.yml: {name}: unsupported port `{text}`"),
                }
            })
            .collect()
    }

    /// Ports other containers can reach: published container ports and `expose`.
    fn container_ports(&self, name: &str) -> BTreeSet<u16> {
        let mut ports: BTreeSet<u16> = self.published(name).into_iter().map(|(_, c)| c).collect();
        for port in strings(&self.service(name)["expose"]) {
            ports.insert(port.parse().expect("expose lists ports"));
        }
        ports
    }

    fn command(&self, name: &str) -> Vec<String> {
        let command = &self.service(name)["command"];
        match scalar(command) {
            Some(line) => line.split_whitespace().map(str::to_owned).collect(),
            None => strings(command),
        }
    }

    fn depends_on(&self, name: &str) -> BTreeSet<String> {
        let depends_on = &self.service(name)["depends_on"];
        match depends_on.as_mapping() {
            Some(map) => map.keys().filter_map(scalar).collect(),
            None => strings(depends_on).into_iter().collect(),
        }
    }

    /// Volume mounts as (source, target) pairs (short syntax, `:ro` dropped).
    fn volumes(&self, name: &str) -> Vec<(String, String)> {
        strings(&self.service(name)["volumes"])
            .into_iter()
            .map(|volume| {
                let mut parts = volume.split(':');
                let source = parts.next().unwrap_or_default().to_owned();
                let target = parts.next().unwrap_or_default().to_owned();
                (source, target)
            })
            .collect()
    }

    /// Where a file or folder of `deploy/` is mounted in a service.
    fn mount_target(&self, name: &str, source: &str) -> String {
        self.volumes(name)
            .into_iter()
            .find(|(s, _)| s.trim_end_matches('/') == source)
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("docker-compose.yml: {name} does not mount {source}"))
    }
}

/// `host:port` split, with the port parsed.
fn host_port(address: &str) -> (String, u16) {
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("`{address}` is not host:port"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("`{address}`: bad port"));
    (host.to_owned(), port)
}

/// `scheme://[user[:pw]@]host:port[/path]` → (host, port).
fn url_host_port(url: &str) -> (String, u16) {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("`{url}` has no scheme"));
    let authority = rest.split('/').next().unwrap_or_default();
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port(host_and_port)
}

/// Kafka listener lists (`NAME://host:port,...`) as name → (host, port).
fn listeners(value: &str) -> BTreeMap<String, (String, u16)> {
    value
        .split(',')
        .map(|listener| {
            let (name, address) = listener
                .split_once("://")
                .unwrap_or_else(|| panic!("listener `{listener}` has no NAME://"));
            (name.to_owned(), host_port(address))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------

#[test]
fn compose_has_every_service() {
    let compose = Compose::load();
    let names = compose.service_names();
    for service in SERVICES {
        assert!(
            names.contains(service),
            "docker-compose.yml: service `{service}` is missing (has {names:?})"
        );
        let service_yaml = compose.service(service);
        assert!(
            service_yaml["image"].is_string() || service_yaml["build"].is_mapping(),
            "docker-compose.yml: {service} has neither an image nor a build"
        );
    }
    for service in ["mariadb", "redis"] {
        assert!(
            compose.service(service)["healthcheck"].is_mapping(),
            "docker-compose.yml: {service} needs a healthcheck (the app waits for it)"
        );
    }
}

#[test]
fn brokers_form_a_kraft_quorum_with_replication_3_and_min_isr_2() {
    let compose = Compose::load();
    let mut node_ids = BTreeSet::new();
    let mut cluster_ids = BTreeSet::new();
    for (index, broker) in BROKERS.iter().enumerate() {
        let context = format!("docker-compose.yml: {broker}");
        let image = scalar(&compose.service(broker)["image"]).unwrap_or_default();
        let version = image
            .strip_prefix("apache/kafka:")
            .unwrap_or_else(|| panic!("{context}: image `{image}` is not apache/kafka"));
        assert_eq!(
            version,
            local_kafka_version(),
            "{context}: the same Apache Kafka as scripts/kafka/pom.xml runs locally"
        );
        let env = compose.env(broker);
        let get = |key: &str| -> &str {
            env.get(key)
                .unwrap_or_else(|| panic!("{context}: {key} is not set"))
        };
        assert_eq!(get("KAFKA_PROCESS_ROLES"), "broker,controller", "{context}");
        let node_id: u32 = get("KAFKA_NODE_ID").parse().expect("numeric node id");
        assert!(
            node_ids.insert(node_id),
            "{context}: node id {node_id} is used twice"
        );
        cluster_ids.insert(get("CLUSTER_ID").to_owned());

        // The voters name all three brokers, each by its own node id, on the
        // controller listener's port.
        let voters: BTreeMap<u32, (String, u16)> = get("KAFKA_CONTROLLER_QUORUM_VOTERS")
            .split(',')
            .map(|voter| {
                let (id, address) = voter
                    .split_once('@')
                    .unwrap_or_else(|| panic!("{context}: voter `{voter}` is not id@host:port"));
                (id.parse().expect("numeric voter id"), host_port(address))
            })
            .collect();
        let voter_hosts: BTreeSet<&str> = voters.values().map(|(h, _)| h.as_str()).collect();
        assert_eq!(
            voter_hosts,
            BROKERS.into_iter().collect(),
            "{context}: the voters must be the three brokers"
        );
        let (own_host, controller_port) = voters
            .get(&node_id)
            .unwrap_or_else(|| panic!("{context}: node {node_id} is not a voter"));
        assert_eq!(
            own_host, broker,
            "{context}: voter {node_id} is another host"
        );

        // Listeners: controller, internal (inter-broker, kafka-N:9092) and
        // external (localhost:<published port>).
        let bound = listeners(get("KAFKA_LISTENERS"));
        let advertised = listeners(get("KAFKA_ADVERTISED_LISTENERS"));
        let protocols = get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP");
        for name in bound.keys() {
            assert!(
                protocols.contains(&format!("{name}:")),
                "{context}: listener {name} has no security protocol"
            );
        }
        let controller = get("KAFKA_CONTROLLER_LISTENER_NAMES");
        assert_eq!(
            bound.get(controller).map(|(_, p)| *p),
            Some(*controller_port),
            "{context}: the controller listener must bind the voters' port"
        );
        assert_eq!(*controller_port, 9093, "{context}: controller port");
        assert!(
            !advertised.contains_key(controller),
            "{context}: the controller listener is not advertised"
        );
        for (name, (_, port)) in &advertised {
            assert_eq!(
                bound.get(name).map(|(_, p)| p),
                Some(port),
                "{context}: advertised listener {name} must be bound on the same port"
            );
        }
        let internal = get("KAFKA_INTER_BROKER_LISTENER_NAME");
        assert_eq!(
            advertised.get(internal),
            Some(&(broker.to_string(), 9092)),
            "{context}: the internal listener is advertised as {broker}:9092"
        );
        let external_port = EXTERNAL_PORTS[index];
        let external = advertised
            .values()
            .find(|(host, _)| host == "localhost")
            .unwrap_or_else(|| panic!("{context}: no listener advertised on localhost"));
        assert_eq!(
            external.1, external_port,
            "{context}: external listener port"
        );
        assert!(
            compose
                .published(broker)
                .contains(&(external_port, external.1)),
            "{context}: host port {external_port} must be published to the external listener"
        );

        // Durability: three replicas, two in sync for acks=all.
        for (key, value) in [
            ("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"),
            ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
        ] {
            assert_eq!(get(key), value, "{context}: {key}");
        }
        assert!(
            compose.service(broker)["healthcheck"].is_mapping(),
            "{context}: needs a healthcheck (the app waits for it)"
        );
    }
    assert_eq!(node_ids, BTreeSet::from([1, 2, 3]), "node ids");
    assert_eq!(cluster_ids.len(), 1, "one CLUSTER_ID for all brokers");
    let cluster_id = cluster_ids.first().expect("one id");
    assert!(
        cluster_id.len() == 22
            && cluster_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "CLUSTER_ID `{cluster_id}` is not a base64url UUID (22 characters)"
    );
}

/// The Apache Kafka version the local brokers run (scripts/kafka/pom.xml).
fn local_kafka_version() -> String {
    let pom = read(&deploy_dir().join("../scripts/kafka/pom.xml"));
    let start = pom
        .find("<kafka.version>")
        .expect("pom names kafka.version")
        + 15;
    let end = pom[start..].find('<').expect("closed") + start;
    pom[start..end].to_owned()
}

/// `key=value` lines of a Java properties file (comments and blanks skipped).
fn properties(path: &Path) -> BTreeMap<String, String> {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: `{line}` is not key=value", path.display()));
            (key.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

/// Settings that name listeners, which differ between the compose network
/// (INTERNAL and EXTERNAL listeners) and one machine (PLAINTEXT on 127.0.0.1).
const TOPOLOGY_SETTINGS: [&str; 2] = [
    "inter.broker.listener.name",
    "listener.security.protocol.map",
];

/// Compose variables that are not broker settings of both, or differ per node.
const COMPOSE_ONLY: [&str; 8] = [
    "CLUSTER_ID",
    "KAFKA_HEAP_OPTS",
    "KAFKA_NODE_ID",
    "KAFKA_LISTENERS",
    "KAFKA_ADVERTISED_LISTENERS",
    "KAFKA_CONTROLLER_QUORUM_VOTERS",
    "KAFKA_LOG_DIRS",
    "KAFKA_INTER_BROKER_LISTENER_NAME",
];

#[test]
fn the_compose_brokers_run_the_settings_of_the_local_cluster() {
    let scripts = deploy_dir().join("../scripts/kafka");
    let mut local = properties(&scripts.join("broker.properties"));
    local.extend(properties(&scripts.join("cluster.properties")));
    let expected: BTreeMap<String, String> = local
        .into_iter()
        .filter(|(key, _)| !TOPOLOGY_SETTINGS.contains(&key.as_str()))
        .map(|(key, value)| {
            (
                format!("KAFKA_{}", key.replace('.', "_").to_uppercase()),
                value,
            )
        })
        .collect();
    let compose = Compose::load();
    for broker in BROKERS {
        let env: BTreeMap<String, String> = compose
            .env(broker)
            .into_iter()
            .filter(|(key, _)| !COMPOSE_ONLY.contains(&key.as_str()))
            .filter(|(key, _)| key != "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP")
            .collect();
        assert_eq!(
            env, expected,
            "docker-compose.yml: {broker} and scripts/kafka/{{broker,cluster}}.properties must set the same broker settings"
        );
    }
}

#[test]
fn app_and_simulator_are_wired_to_the_services() {
    let compose = Compose::load();
    let app = compose.service("stampede");
    assert_eq!(
        scalar(&app["build"]["context"]).as_deref(),
        Some(".."),
        "the build context is the repository root"
    );
    assert_eq!(
        scalar(&app["build"]["dockerfile"]).as_deref(),
        Some("deploy/Dockerfile")
    );
    assert_eq!(compose.command("stampede"), ["serve"]);
    let env = compose.env("stampede");
    let port: u16 = env
        .get("STAMPEDE__HTTP__PORT")
        .map_or(8080, |p| p.parse().expect("numeric port"));
    assert!(
        compose.published("stampede").contains(&(8080, port)),
        "the app is published on host port 8080"
    );
    assert_eq!(
        compose.env_var("stampede", "STAMPEDE__HTTP__HOST"),
        "0.0.0.0"
    );

    // Kafka: all three brokers, by their internal listener; replication 3.
    let bootstrap: BTreeSet<String> = compose
        .env_var("stampede", "STAMPEDE__KAFKA__BOOTSTRAP_SERVERS")
        .split(',')
        .map(str::to_owned)
        .collect();
    let internal: BTreeSet<String> = BROKERS
        .iter()
        .map(|broker| {
            let env = compose.env(broker);
            let advertised = listeners(&env["KAFKA_ADVERTISED_LISTENERS"]);
            let (host, port) = &advertised[&env["KAFKA_INTER_BROKER_LISTENER_NAME"]];
            format!("{host}:{port}")
        })
        .collect();
    assert_eq!(
        bootstrap, internal,
        "the app bootstraps from all three brokers"
    );
    assert_eq!(
        compose.env_var("stampede", "STAMPEDE__KAFKA__REPLICATION_FACTOR"),
        "3"
    );

    // MariaDB and Redis by service name; the password is MariaDB's.
    let database_url = compose.env_var("stampede", "STAMPEDE__DATABASE__URL");
    assert_eq!(url_host_port(&database_url), ("mariadb".to_owned(), 3306));
    let password = compose.env_var("mariadb", "MARIADB_ROOT_PASSWORD");
    assert!(
        database_url.contains(&format!("root:{password}@")),
        "STAMPEDE__DATABASE__URL must use MARIADB_ROOT_PASSWORD"
    );
    assert_eq!(
        compose.env_var("mariadb", "MARIADB_DATABASE"),
        env.get("STAMPEDE__DATABASE__NAME")
            .map_or("stampede", String::as_str)
    );
    assert_eq!(
        url_host_port(&compose.env_var("stampede", "STAMPEDE__REDIS__URL")),
        ("redis".to_owned(), 6379)
    );

    // The PG simulator: reachable by the app, and calling the app back,
    // signing with the secret the app verifies.
    let sim = compose.command("pg-sim");
    assert_eq!(sim.first().map(String::as_str), Some("pg-sim"), "{sim:?}");
    let flag = |name: &str| -> String {
        let at = sim
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("pg-sim: {name} is not given ({sim:?})"));
        sim[at + 1].clone()
    };
    assert_eq!(
        flag("--host"),
        "0.0.0.0",
        "pg-sim must listen beyond loopback"
    );
    let sim_port: u16 = flag("--port").parse().expect("numeric port");
    assert_eq!(
        url_host_port(&compose.env_var("stampede", "STAMPEDE__PG__BASE_URL")),
        ("pg-sim".to_owned(), sim_port)
    );
    let callback = compose.env_var("stampede", "STAMPEDE__PG__CALLBACK_URL");
    assert_eq!(url_host_port(&callback), ("stampede".to_owned(), port));
    assert!(callback.ends_with("/pg/callbacks"), "{callback}");
    assert_eq!(
        compose.env_var("pg-sim", "STAMPEDE_PG_SIM_SECRET"),
        compose.env_var("stampede", "STAMPEDE__PG__CALLBACK_SECRET"),
        "pg-sim signs callbacks with the secret the app verifies"
    );

    let depends_on = compose.depends_on("stampede");
    for dependency in ["kafka-1", "kafka-2", "kafka-3", "mariadb", "redis"] {
        assert!(
            depends_on.contains(dependency),
            "stampede must depend on {dependency}"
        );
    }
}

/// `STAMPEDE__A__B_C` → `a.b_c`, the key `config` derives from the name.
fn settings_key(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix("STAMPEDE__")?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// The problem with an environment variable, if its key is not a setting
/// (a leaf, not a section) of `config/default.toml`.
fn unknown_setting(defaults: &config::Config, variable: &str) -> Option<String> {
    let key = settings_key(variable)?;
    match defaults.get::<config::Value>(&key) {
        Ok(value) if matches!(value.kind, config::ValueKind::Table(_)) => Some(format!(
            "{variable} names the section `{key}`, not a setting"
        )),
        Ok(_) => None,
        Err(_) => Some(format!(
            "{variable}: `{key}` is not a key of config/default.toml"
        )),
    }
}

fn defaults() -> config::Config {
    config::Config::builder()
        .add_source(config::File::from_str(
            stampede::configuration::DEFAULTS,
            config::FileFormat::Toml,
        ))
        .build()
        .expect("config/default.toml parses")
}

#[test]
fn the_setting_check_tells_keys_from_sections_and_typos() {
    let defaults = defaults();
    assert_eq!(
        unknown_setting(&defaults, "STAMPEDE__KAFKA__CONSUMER__SESSION_TIMEOUT_MS"),
        None
    );
    assert!(unknown_setting(&defaults, "STAMPEDE__KAFKA__REPLICATION").is_some());
    assert!(unknown_setting(&defaults, "STAMPEDE__KAFKA__CONSUMER").is_some());
    assert_eq!(unknown_setting(&defaults, "STAMPEDE_PG_SIM_SECRET"), None);
}

#[test]
fn every_stampede_variable_is_a_setting_and_the_app_settings_load() {
    let compose = Compose::load();
    let defaults = defaults();
    for service in compose.service_names() {
        let problems: Vec<String> = compose
            .env(&service)
            .keys()
            .filter_map(|variable| unknown_setting(&defaults, variable))
            .collect();
        assert!(
            problems.is_empty(),
            "docker-compose.yml: {service}: {problems:#?}"
        );
    }
    // The app's environment loads and validates like `stampede serve` would.
    let variables: std::collections::HashMap<String, String> = compose
        .env("stampede")
        .into_iter()
        .filter(|(k, _)| k.starts_with("STAMPEDE__"))
        .collect();
    let settings = stampede::configuration::Settings::load_from(
        None,
        config::Environment::with_prefix("STAMPEDE").source(Some(variables)),
    )
    .unwrap_or_else(|e| panic!("docker-compose.yml: stampede: {e}"));
    assert_eq!(settings.http.host, "0.0.0.0");
    assert_eq!(settings.kafka.replication_factor, 3);
    assert_eq!(settings.kafka.bootstrap_servers.split(',').count(), 3);
    assert!(
        settings.kafka.consumer.session_timeout_ms >= 10_000,
        "production-like session timeout"
    );
    assert!(
        settings.kafka.consumer.heartbeat_interval_ms * 3
            <= settings.kafka.consumer.session_timeout_ms
    );
}

#[test]
fn monitoring_services_are_published_and_wired() {
    let compose = Compose::load();
    assert!(
        compose.published("prometheus").contains(&(9090, 9090)),
        "Prometheus on host port 9090"
    );
    assert!(
        compose.published("grafana").contains(&(3000, 3000)),
        "Grafana on host port 3000"
    );
    // Prometheus reads the file of this directory.
    let config_file = compose
        .command("prometheus")
        .iter()
        .find_map(|arg| arg.strip_prefix("--config.file=").map(str::to_owned))
        .unwrap_or_else(|| "/etc/prometheus/prometheus.yml".to_owned());
    assert_eq!(
        compose.mount_target("prometheus", "./prometheus/prometheus.yml"),
        config_file
    );
    // The exporters point at the brokers and at Redis.
    let servers: BTreeSet<String> = compose
        .command("kafka-exporter")
        .iter()
        .filter_map(|arg| arg.strip_prefix("--kafka.server=").map(str::to_owned))
        .collect();
    assert_eq!(
        servers,
        BROKERS.iter().map(|b| format!("{b}:9092")).collect(),
        "kafka-exporter --kafka.server for each broker"
    );
    assert_eq!(
        url_host_port(&compose.env_var("redis-exporter", "REDIS_ADDR")),
        ("redis".to_owned(), 6379)
    );
    // Grafana: provisioning and dashboards mounted where the provider looks.
    assert_eq!(
        compose.mount_target("grafana", "./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let provider = yaml("grafana/provisioning/dashboards/stampede.yml");
    let providers = provider["providers"]
        .as_sequence()
        .expect("dashboards/stampede.yml: providers");
    assert_eq!(providers.len(), 1, "one dashboard provider");
    assert_eq!(scalar(&providers[0]["type"]).as_deref(), Some("file"));
    let path = scalar(&providers[0]["options"]["path"]).expect("provider options.path");
    assert_eq!(
        compose.mount_target("grafana", "./grafana/dashboards"),
        path,
        "grafana/dashboards must be mounted at the provider's path"
    );
    assert_eq!(
        compose.env_var("grafana", "GF_SECURITY_ADMIN_PASSWORD"),
        "admin"
    );
}

// ---------------------------------------------------------------------------
// Prometheus and Grafana provisioning
// ---------------------------------------------------------------------------

#[test]
fn prometheus_scrapes_the_app_and_the_exporters() {
    let compose = Compose::load();
    let services = compose.service_names();
    let prometheus = yaml("prometheus/prometheus.yml");
    let jobs = prometheus["scrape_configs"]
        .as_sequence()
        .expect("prometheus.yml: scrape_configs");
    let mut names = BTreeMap::new();
    for job in jobs {
        let name = scalar(&job["job_name"]).expect("prometheus.yml: job_name");
        let mut targets = Vec::new();
        for config in job["static_configs"].as_sequence().into_iter().flatten() {
            targets.extend(strings(&config["targets"]));
        }
        assert!(
            !targets.is_empty(),
            "prometheus.yml: job {name} has no target"
        );
        for target in &targets {
            let (host, port) = host_port(target);
            assert!(
                services.contains(&host),
                "prometheus.yml: job {name}: `{host}` is not a compose service"
            );
            assert!(
                compose.container_ports(&host).contains(&port),
                "prometheus.yml: job {name}: {host} neither publishes nor exposes {port}"
            );
        }
        names.insert(name, targets);
    }
    for (job, target) in [
        ("stampede", "stampede:8080"),
        ("kafka", "kafka-exporter:9308"),
        ("redis", "redis-exporter:9121"),
    ] {
        assert_eq!(
            names.get(job).map(Vec::as_slice),
            Some([target.to_owned()].as_slice()),
            "prometheus.yml: job {job}"
        );
    }
    let app = jobs
        .iter()
        .find(|job| scalar(&job["job_name"]).as_deref() == Some("stampede"))
        .expect("job stampede");
    assert!(
        matches!(
            scalar(&app["metrics_path"]).as_deref(),
            None | Some("/metrics")
        ),
        "the app serves /metrics"
    );
}

#[test]
fn grafana_datasource_is_the_prometheus_service() {
    let compose = Compose::load();
    let provisioning = yaml("grafana/provisioning/datasources/prometheus.yml");
    let sources = provisioning["datasources"]
        .as_sequence()
        .expect("datasources/prometheus.yml: datasources");
    assert_eq!(sources.len(), 1);
    let source = &sources[0];
    assert_eq!(scalar(&source["type"]).as_deref(), Some("prometheus"));
    assert_eq!(scalar(&source["uid"]).as_deref(), Some("prometheus"));
    let (host, port) = url_host_port(&scalar(&source["url"]).expect("datasource url"));
    assert_eq!(host, "prometheus");
    assert!(compose.container_ports(&host).contains(&port));
}

// ---------------------------------------------------------------------------
// Dashboards
// ---------------------------------------------------------------------------

/// A small PromQL reader: enough to find the metric names and label names
/// an expression uses, not to evaluate it.
mod promql {
    /// Aggregation operators: `op [by|without (labels)] (args) [by|without (labels)]`.
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];

    /// Prometheus functions (an identifier followed by `(` must be one).
    const FUNCTIONS: &[&str] = &[
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "double_exponential_smoothing",
        "end",
        "exp",
        "floor",
        "histogram_avg",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_stddev",
        "histogram_stdvar",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "mad_over_time",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_by_label",
        "sort_by_label_desc",
        "sort_desc",
        "sqrt",
        "start",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    ];

    /// Keywords that stand between operands (`a and b`, `a > bool 1`,
    /// `x offset 5m`) and literals spelled as identifiers.
    const KEYWORDS: &[&str] = &[
        "and", "or", "unless", "bool", "atan2", "offset", "inf", "nan",
    ];

    /// Vector-matching modifiers; a label list may follow (`on (a, b)`).
    const MATCHING: &[&str] = &["on", "ignoring", "group_left", "group_right"];

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        /// Metric, label, function or keyword name.
        Ident(String),
        /// Number, duration (`5m`), string or Grafana variable (`$__interval`):
        /// an operand this reader never looks into.
        Literal,
        /// Operators and matcher operators (`=`, `=~`, `!=`, `!~`, `+`, `>` ...).
        Op(String),
        Comma,
        Open(char),
        Close(char),
    }

    fn is_ident_start(c: char) -> bool {
        c.is_ascii_alphabetic() || c == '_' || c == ':'
    }

    fn is_ident_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == ':'
    }

    fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
        let chars: Vec<char> = expr.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let start = i;
            i += 1;
            match c {
                c if c.is_whitespace() => {}
                // A comment runs to the end of the line.
                '#' => {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                }
                c if is_ident_start(c) => {
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                    tokens.push(Token::Ident(chars[start..i].iter().collect()));
                }
                // Numbers and durations: 0.99, 5m, 1h30m, 1e3, .5
                c if c.is_ascii_digit()
                    || (c == '.' && chars.get(i).is_some_and(char::is_ascii_digit)) =>
                {
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                        i += 1;
                    }
                    tokens.push(Token::Literal);
                }
                // Grafana variables: `$__rate_interval`, `${consumer}`.
                '$' => {
                    if chars.get(i) == Some(&'{') {
                        while i < chars.len() && chars[i] != '}' {
                            i += 1;
                        }
                        i += 1;
                    } else {
                        while i < chars.len() && is_ident_char(chars[i]) {
                            i += 1;
                        }
                    }
                    tokens.push(Token::Literal);
                }
                '"' | '\'' | '`' => {
                    let quote = c;
                    loop {
                        match chars.get(i) {
                            None => return Err(format!("unterminated string at {start}")),
                            Some('\\') if quote != '`' => i += 2,
                            Some(&q) if q == quote => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                        }
                    }
                    tokens.push(Token::Literal);
                }
                '(' | '{' | '[' => tokens.push(Token::Open(c)),
                ')' | '}' | ']' => tokens.push(Token::Close(c)),
                ',' => tokens.push(Token::Comma),
                '=' | '!' | '~' | '<' | '>' | '+' | '-' | '*' | '/' | '^' | '%' | '@' => {
                    while i < chars.len() && "=~".contains(chars[i]) {
                        i += 1;
                    }
                    tokens.push(Token::Op(chars[start..i].iter().collect()));
                }
                other => return Err(format!("unexpected `{other}` at {start}")),
            }
        }
        Ok(tokens)
    }

    /// Tokens with their brackets matched: `(…)`, `{…}` and `[…]` become groups.
    #[derive(Debug)]
    enum Node {
        Token(Token),
        Group(char, Vec<Node>),
    }

    fn nest(tokens: Vec<Token>) -> Result<Vec<Node>, String> {
        let mut stack: Vec<(char, Vec<Node>)> = vec![(' ', Vec::new())];
        for token in tokens {
            match token {
                Token::Open(c) => stack.push((c, Vec::new())),
                Token::Close(c) => {
                    let (open, nodes) = stack.pop().expect("the root is never popped");
                    let expected = match open {
                        '(' => ')',
                        '{' => '}',
                        '[' => ']',
                        _ => return Err(format!("`{c}` closes nothing")),
                    };
                    if c != expected {
                        return Err(format!("`{open}` closed by `{c}`"));
                    }
                    stack
                        .last_mut()
                        .expect("the root stays")
                        .1
                        .push(Node::Group(open, nodes));
                }
                other => stack
                    .last_mut()
                    .expect("the root stays")
                    .1
                    .push(Node::Token(other)),
            }
        }
        match stack.pop() {
            Some((' ', nodes)) if stack.is_empty() => Ok(nodes),
            Some((open, _)) => Err(format!("`{open}` is never closed")),
            None => unreachable!(),
        }
    }

    /// A metric selector: `name{label op "value", ...}`.
    #[derive(Debug, PartialEq)]
    pub struct Selector {
        pub name: String,
        pub matcher_labels: Vec<String>,
    }

    /// `by`/`without (labels)` and the metrics of the aggregated expression.
    #[derive(Debug, PartialEq)]
    pub struct Grouping {
        pub labels: Vec<String>,
        pub metrics: Vec<String>,
    }

    #[derive(Debug, Default, PartialEq)]
    pub struct Analysis {
        pub selectors: Vec<Selector>,
        pub groupings: Vec<Grouping>,
    }

    impl Analysis {
        pub fn metric_names(&self) -> Vec<&str> {
            self.selectors.iter().map(|s| s.name.as_str()).collect()
        }
    }

    pub fn analyse(expr: &str) -> Result<Analysis, String> {
        let nodes = nest(tokenize(expr)?)?;
        let mut analysis = Analysis::default();
        walk(&nodes, &mut analysis)?;
        if analysis.selectors.is_empty() {
            return Err("no metric selector".to_owned());
        }
        Ok(analysis)
    }

    /// `(a, b, c)`: a list of label names.
    fn label_list(node: Option<&Node>) -> Result<Vec<String>, String> {
        let Some(Node::Group('(', items)) = node else {
            return Err("`by`/`without`/`on` needs a (label, ...) list".to_owned());
        };
        let mut labels = Vec::new();
        for item in items {
            match item {
                Node::Token(Token::Ident(label)) => labels.push(label.clone()),
                Node::Token(Token::Comma) => {}
                other => return Err(format!("unexpected {other:?} in a label list")),
            }
        }
        Ok(labels)
    }

    /// `{label op "value", ...}`: the label names.
    fn matcher_labels(items: &[Node]) -> Result<Vec<String>, String> {
        let mut labels = Vec::new();
        for matcher in items.split(|n| matches!(n, Node::Token(Token::Comma))) {
            match matcher {
                [] => {} // a trailing comma
                [Node::Token(Token::Ident(label)), Node::Token(Token::Op(op)), Node::Token(Token::Literal)]
                    if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
                {
                    labels.push(label.clone())
                }
                other => return Err(format!("bad label matcher {other:?}")),
            }
        }
        Ok(labels)
    }

    fn is_grouping_keyword(node: Option<&Node>) -> bool {
        matches!(node, Some(Node::Token(Token::Ident(w))) if w == "by" || w == "without")
    }

    /// Records the selectors and groupings of `nodes`; returns the metric
    /// names found, so an enclosing aggregation can check its labels.
    fn walk(nodes: &[Node], out: &mut Analysis) -> Result<Vec<String>, String> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            match &nodes[i] {
                Node::Group('(', inner) => {
                    found.extend(walk(inner, out)?);
                    i += 1;
                }
                // A range or subquery duration: `[5m]`, `[1h:1m]`.
                Node::Group('[', _) => i += 1,
                Node::Group(_, _) => {
                    return Err("a selector without a metric name".to_owned());
                }
                Node::Token(Token::Ident(word)) => {
                    let lower = word.to_ascii_lowercase();
                    let next = nodes.get(i + 1);
                    if AGGREGATIONS.contains(&word.as_str())
                        && (matches!(next, Some(Node::Group('(', _))) || is_grouping_keyword(next))
                    {
                        let mut j = i + 1;
                        let mut labels = None;
                        if is_grouping_keyword(nodes.get(j)) {
                            labels = Some(label_list(nodes.get(j + 1))?);
                            j += 2;
                        }
                        let Some(Node::Group('(', args)) = nodes.get(j) else {
                            return Err(format!("`{word}` without (arguments)"));
                        };
                        let metrics = walk(args, out)?;
                        j += 1;
                        if labels.is_none() && is_grouping_keyword(nodes.get(j)) {
                            labels = Some(label_list(nodes.get(j + 1))?);
                            j += 2;
                        }
                        if let Some(labels) = labels {
                            out.groupings.push(Grouping {
                                labels,
                                metrics: metrics.clone(),
                            });
                        }
                        found.extend(metrics);
                        i = j;
                    } else if let Some(Node::Group('(', args)) = next.filter(|_| {
                        !MATCHING.contains(&word.as_str()) && !KEYWORDS.contains(&lower.as_str())
                    }) {
                        if !FUNCTIONS.contains(&word.as_str()) {
                            return Err(format!("unknown function `{word}`"));
                        }
                        found.extend(walk(args, out)?);
                        i += 2;
                    } else if MATCHING.contains(&word.as_str()) {
                        // `on (a, b)`: labels of the binary operation, not checked.
                        i += if matches!(next, Some(Node::Group('(', _))) {
                            2
                        } else {
                            1
                        };
                    } else if KEYWORDS.contains(&lower.as_str()) {
                        i += 1;
                    } else if word == "by" || word == "without" {
                        return Err(format!("`{word}` outside an aggregation"));
                    } else {
                        // A metric name, perhaps with matchers.
                        let mut selector = Selector {
                            name: word.clone(),
                            matcher_labels: Vec::new(),
                        };
                        i += 1;
                        if let Some(Node::Group('{', matchers)) = nodes.get(i) {
                            selector.matcher_labels = matcher_labels(matchers)?;
                            i += 1;
                        }
                        found.push(selector.name.clone());
                        out.selectors.push(selector);
                    }
                }
                Node::Token(_) => i += 1,
            }
        }
        Ok(found)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn names(expr: &str) -> Vec<String> {
            analyse(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
                .metric_names()
                .into_iter()
                .map(str::to_owned)
                .collect()
        }

        #[test]
        fn finds_metric_names_not_functions_labels_or_durations() {
            assert_eq!(
                names("sum by (route) (rate(stampede_http_requests_total[1m]))"),
                ["stampede_http_requests_total"]
            );
            assert_eq!(
                names(
                    "histogram_quantile(0.99, sum by (le, route) \
                     (rate(stampede_http_request_duration_seconds_bucket[5m])))"
                ),
                ["stampede_http_request_duration_seconds_bucket"]
            );
            assert_eq!(
                names(
                    "sum(rate(a_total{status=~\"5..\"}[5m])) / sum(rate(a_total[5m])) \
                     > bool 0.01 or vector(0)"
                ),
                ["a_total", "a_total"]
            );
            assert_eq!(
                names("redis_memory_used_bytes / 1048576 + on (instance) group_left up"),
                ["redis_memory_used_bytes", "up"]
            );
            assert_eq!(names("x offset 5m"), ["x"]);
            assert_eq!(names("rate(x[$__rate_interval])"), ["x"]);
            assert_eq!(
                names("sum(kafka_topic_partition_current_offset{topic!~\".*[.]DLT\"}) by (topic)"),
                ["kafka_topic_partition_current_offset"]
            );
        }

        #[test]
        fn records_matchers_and_groupings() {
            let analysis = analyse(
                "sum by (consumer, group) (stampede_consumer_lag{topic=\"t\", partition!=\"0\",}) \
                 / sum(rate(b[1m])) without (instance)",
            )
            .unwrap();
            assert_eq!(
                analysis.selectors[0],
                Selector {
                    name: "stampede_consumer_lag".into(),
                    matcher_labels: vec!["topic".into(), "partition".into()],
                }
            );
            assert_eq!(
                analysis.groupings,
                [
                    Grouping {
                        labels: vec!["consumer".into(), "group".into()],
                        metrics: vec!["stampede_consumer_lag".into()],
                    },
                    Grouping {
                        labels: vec!["instance".into()],
                        metrics: vec!["b".into()],
                    },
                ]
            );
            // A string with an escaped quote and a brace stays one literal.
            let analysis = analyse(r#"x{a="say \"}\""}"#).unwrap();
            assert_eq!(analysis.selectors[0].matcher_labels, ["a"]);
        }

        #[test]
        fn rejects_what_it_cannot_read() {
            assert!(analyse("rat(x[1m])")
                .unwrap_err()
                .contains("unknown function"));
            assert!(analyse("sum(rate(x[1m])").is_err());
            assert!(analyse("{__name__=\"x\"}").is_err());
            assert!(analyse("x{a}").is_err());
            assert!(analyse("vector(1)").is_err());
            assert!(analyse("by (a) x").is_err());
        }
    }
}

/// What is wrong with the metric and label names of one expression.
fn expression_problems(expr: &str) -> Vec<String> {
    let analysis = match promql::analyse(expr) {
        Ok(analysis) => analysis,
        Err(e) => return vec![format!("cannot read the expression: {e}")],
    };
    let mut problems = Vec::new();
    // Labels every series has (target labels), or that the series name implies.
    let allowed = |series: &str, metric: &metric_catalog::Metric, label: &str| {
        metric.labels.contains(&label)
            || ["job", "instance", "__name__"].contains(&label)
            || (label == "le" && series.ends_with("_bucket"))
    };
    for selector in &analysis.selectors {
        let name = selector.name.as_str();
        if !name.starts_with("stampede_") {
            if !(name.starts_with("kafka_") || name.starts_with("redis_") || name == "up") {
                problems.push(format!(
                    "`{name}` is neither a Stampede metric nor an exporter's (kafka_*, redis_*, up)"
                ));
            }
            continue;
        }
        let Some(metric) = metric_catalog::find(name) else {
            problems.push(format!(
                "`{name}` is not in stampede_api::metric_catalog::METRICS"
            ));
            continue;
        };
        if metric.kind == Kind::Histogram && metric.name == name {
            problems.push(format!(
                "`{name}` is a histogram: query `{name}_bucket`, `_sum` or `_count`"
            ));
        }
        for label in &selector.matcher_labels {
            if !allowed(name, metric, label) {
                problems.push(format!(
                    "`{name}` has no label `{label}` (it has {:?})",
                    metric.labels
                ));
            }
        }
    }
    for grouping in &analysis.groupings {
        for name in &grouping.metrics {
            let Some(metric) = metric_catalog::find(name) else {
                continue; // exporter metrics, or already reported
            };
            for label in &grouping.labels {
                if !allowed(name, metric, label) {
                    problems.push(format!(
                        "grouping by `{label}`, which `{name}` does not have (it has {:?})",
                        metric.labels
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn the_expression_check_reports_unknown_metrics_and_labels() {
    assert!(expression_problems(
        "histogram_quantile(0.99, sum by (le, route) (rate(stampede_http_request_duration_seconds_bucket[5m])))"
    )
    .is_empty());
    assert!(
        expression_problems("sum by (consumer) (stampede_consumer_lag{group=\"g\"})").is_empty()
    );
    let problems = expression_problems("rate(stampede_no_such_total[1m])");
    assert!(problems[0].contains("not in"), "{problems:?}");
    let problems =
        expression_problems("sum by (route) (rate(stampede_consumer_handled_total[1m]))");
    assert!(problems[0].contains("`route`"), "{problems:?}");
    let problems = expression_problems("stampede_payments_total{status=\"x\"}");
    assert!(problems[0].contains("`status`"), "{problems:?}");
    let problems = expression_problems("rate(stampede_http_request_duration_seconds[1m])");
    assert!(problems[0].contains("histogram"), "{problems:?}");
    let problems = expression_problems("node_load1");
    assert!(problems[0].contains("exporter"), "{problems:?}");
    let problems = expression_problems("sum by (le) (rate(stampede_http_requests_total[1m]))");
    assert!(problems[0].contains("`le`"), "{problems:?}");
}

#[test]
fn dashboards_are_valid_and_query_only_exported_metrics() {
    let datasource = serde_json::json!({"type": "prometheus", "uid": "prometheus"});
    let directory = deploy_dir().join("grafana/dashboards");
    let mut on_disk: Vec<String> = std::fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("{}: {e}", directory.display()))
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = DASHBOARDS.iter().map(|d| d.to_string()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "{}", directory.display());

    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for file in DASHBOARDS {
        let path = directory.join(file);
        let dashboard: Json = serde_json::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
        let mut problem = |what: String| problems.push(format!("{file}: {what}"));
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        if uid.is_empty() || uid.len() > 40 || !uids.insert(uid.to_owned()) {
            problem(format!("uid `{uid}` is missing, too long or used twice"));
        }
        if dashboard["title"].as_str().unwrap_or_default().is_empty() {
            problem("no title".into());
        }
        if !dashboard["schemaVersion"]
            .as_u64()
            .is_some_and(|v| (36..=41).contains(&v))
        {
            problem(format!(
                "schemaVersion {} (36-41 expected)",
                dashboard["schemaVersion"]
            ));
        }
        let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
        if panels.is_empty() {
            problem("no panels".into());
        }
        let mut ids = BTreeSet::new();
        for panel in &panels {
            let title = panel["title"].as_str().unwrap_or("<untitled>");
            let mut problem = |what: String| problem(format!("panel `{title}`: {what}"));
            if !ids.insert(panel["id"].as_u64().unwrap_or(0)) || panel["id"].as_u64().is_none() {
                problem("missing or repeated id".into());
            }
            let kind = panel["type"].as_str().unwrap_or_default();
            if !["timeseries", "stat"].contains(&kind) {
                problem(format!("type `{kind}` (timeseries or stat expected)"));
            }
            if panel["datasource"] != datasource {
                problem(format!("datasource {}", panel["datasource"]));
            }
            let grid = &panel["gridPos"];
            if !["h", "w", "x", "y"].iter().all(|k| grid[k].is_u64())
                || grid["x"].as_u64().unwrap_or(0) + grid["w"].as_u64().unwrap_or(0) > 24
            {
                problem(format!("bad gridPos {grid}"));
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problem("no targets".into());
            }
            let mut ref_ids = BTreeSet::new();
            for target in &targets {
                let expr = target["expr"].as_str().unwrap_or_default();
                let ref_id = target["refId"].as_str().unwrap_or_default();
                if ref_id.is_empty() || !ref_ids.insert(ref_id.to_owned()) {
                    problem(format!("refId `{ref_id}` missing or repeated"));
                }
                if target["datasource"] != datasource {
                    problem(format!(
                        "target {ref_id}: datasource {}",
                        target["datasource"]
                    ));
                }
                if expr.trim().is_empty() {
                    problem(format!("target {ref_id}: no expr"));
                    continue;
                }
                for what in expression_problems(expr) {
                    problem(format!("`{expr}`: {what}"));
                }
                if let Ok(analysis) = promql::analyse(expr) {
                    for name in analysis.metric_names() {
                        if let Some(metric) = metric_catalog::find(name) {
                            used.insert(metric.name);
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );

    // Every metric the app exports is on some dashboard.
    let unused: Vec<&str> = metric_catalog::METRICS
        .iter()
        .map(|m| m.name)
        .filter(|name| !used.contains(name))
        .collect();
    assert!(
        unused.is_empty(),
        "metrics on no dashboard in deploy/grafana/dashboards: {unused:?}"
    );
}

// ---------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------

#[test]
fn dockerfile_builds_in_one_stage_and_runs_in_another() {
    let path = deploy_dir().join("Dockerfile");
    let text = read(&path);
    // Instructions, with `\` continuations joined and comments dropped.
    let joined = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let stages: Vec<(usize, &str)> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.to_ascii_uppercase().starts_with("FROM "))
        .map(|(i, l)| (i, *l))
        .collect();
    assert!(
        stages.len() >= 2,
        "{}: one build and one runtime stage",
        path.display()
    );
    let (builder_at, builder) = stages[0];
    assert!(
        builder.to_ascii_lowercase().ends_with(" as builder") && builder.contains("rust:"),
        "{}: the first stage is `FROM rust:... AS builder`: {builder}",
        path.display()
    );
    let (runtime_at, runtime) = *stages.last().expect("stages");
    assert!(
        runtime.contains("debian:bookworm-slim"),
        "{}: runtime stage {runtime}",
        path.display()
    );
    let builder_steps = &instructions[builder_at..runtime_at];
    assert!(
        builder_steps
            .iter()
            .any(|l| l.contains("cargo build --release -p stampede --locked")),
        "{}: the builder runs cargo build --release -p stampede --locked",
        path.display()
    );
    let runtime_steps = &instructions[runtime_at..];
    let has = |prefix: &str, needle: &str| {
        runtime_steps
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(
        has("COPY --from=builder", "/usr/local/bin/stampede"),
        "{}: the runtime copies the binary from the builder",
        path.display()
    );
    assert!(has("EXPOSE", "8080"), "{}: EXPOSE 8080", path.display());
    assert!(
        has("ENTRYPOINT", "\"stampede\""),
        "{}: ENTRYPOINT [\"stampede\"]",
        path.display()
    );
    let user = runtime_steps
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap_or("root");
    assert!(
        !["root", "0"].contains(&user.trim()),
        "{}: the runtime runs as a non-root user",
        path.display()
    );

    let ignore = read(&deploy_dir().join("../.dockerignore"));
    for excluded in ["target", ".stampede", ".git"] {
        assert!(
            ignore
                .lines()
                .any(|l| l.trim().trim_matches('/') == excluded),
            ".dockerignore: {excluded}/ is not excluded"
        );
    }
}
