//! `docker-compose.yml`: services, the brokers' quorum and settings, the
//! app and the simulator wired to the services, every variable a setting.

use super::*;

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
