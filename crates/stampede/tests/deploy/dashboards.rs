//! The Grafana dashboards: valid, and querying only exported metrics and labels.

use super::*;

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
