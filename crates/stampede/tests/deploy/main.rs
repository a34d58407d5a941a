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

mod compose;
mod dashboards;
mod dockerfile;
mod promql;
mod provisioning;

// Reading the files

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
