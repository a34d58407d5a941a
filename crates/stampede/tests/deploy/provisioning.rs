//! Prometheus and Grafana provisioning.

use super::*;

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
