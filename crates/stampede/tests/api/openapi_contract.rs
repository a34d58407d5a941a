//! The OpenAPI document against the running app: what `/openapi.json`
//! promises is checked on the document, and the statuses every JSON-body
//! operation answers to a malformed body and to a non-JSON one are asked of
//! the real routes and must be among the ones it documents.

use crate::helpers::spawn_api_only;
use serde_json::Value;
use stampede_api::auth::Role;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (method, path, operation) of the document.
fn operations(api: &Value) -> Vec<(String, String, Value)> {
    let paths = api["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| (method.to_string(), path.clone(), operation.clone()))
            })
        })
        .collect()
}

fn documents(operation: &Value, status: u16) -> bool {
    operation["responses"].get(status.to_string()).is_some()
}

/// Where `schema` (and every schema inside it) is an object that says
/// nothing about its fields: the type a client cannot read.
fn free_objects(at: &str, schema: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            let typed_as_object = map.get("type").is_some_and(|t| t == "object")
                || map
                    .get("type")
                    .is_some_and(|t| t.as_array().is_some_and(|a| a.contains(&"object".into())));
            let says_what = [
                "properties",
                "additionalProperties",
                "allOf",
                "oneOf",
                "anyOf",
                "$ref",
            ]
            .iter()
            .any(|key| map.contains_key(*key));
            if typed_as_object && !says_what {
                found.push(at.to_owned());
            }
            for (key, inner) in map {
                free_objects(&format!("{at}/{key}"), inner, found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                free_objects(&format!("{at}/{i}"), inner, found);
            }
        }
        _ => {}
    }
}

/// The path with each `{param}` filled with a value of its schema's kind.
fn concrete(path: &str, operation: &Value) -> String {
    let mut concrete = path.to_owned();
    for param in operation["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "path" {
            continue;
        }
        let name = param["name"].as_str().expect("a parameter has a name");
        let value = if param["schema"]["format"] == "uuid" {
            "0190d9c2-0000-7000-8000-000000000000"
        } else {
            "1"
        };
        concrete = concrete.replace(&format!("{{{name}}}"), value);
    }
    concrete
}

#[tokio::test]
async fn the_document_lists_every_status_and_type_and_the_routes_keep_to_it() {
    let app = spawn_api_only().await;
    let api: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let operations = operations(&api);
    assert!(operations.len() > 40, "every route is documented");

    let mut missing = Vec::new();
    for (method, path, operation) in &operations {
        let mut need = |status: u16, why: &str| {
            if !documents(operation, status) {
                missing.push(format!("{method} {path}: {status} ({why})"));
            }
        };
        if operation.get("requestBody").is_some() {
            need(400, "MALFORMED_JSON");
            need(415, "UNSUPPORTED_MEDIA_TYPE");
            need(422, "INVALID_BODY");
        }
        if operation.get("security").is_some() {
            need(401, "bearer token");
        }
        if path.starts_with("/admin/") {
            need(403, "admin role");
        }
        if path.contains('{') {
            need(400, "INVALID_PATH");
        }
        let takes_idempotency_key = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "Idempotency-Key");
        if takes_idempotency_key {
            need(409, "IDEMPOTENCY_KEY_IN_PROGRESS");
            need(422, "IDEMPOTENCY_KEY_REUSED");
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented statuses:\n{}",
        missing.join("\n")
    );

    // A path parameter is one of the path's `{…}`: a query struct documented
    // without `parameter_in = Query` would show up here as `in: path`.
    let misplaced: Vec<String> = operations
        .iter()
        .flat_map(|(method, path, operation)| {
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            params.into_iter().filter_map(move |p| {
                let name = p["name"].as_str().unwrap_or_default().to_owned();
                (p["in"] == "path" && !path.contains(&format!("{{{name}}}")))
                    .then(|| format!("{method} {path}: {name}"))
            })
        })
        .collect();
    assert!(
        misplaced.is_empty(),
        "path parameters not in the path:\n{}",
        misplaced.join("\n")
    );

    let mut free = Vec::new();
    free_objects("#/paths", &api["paths"], &mut free);
    free_objects(
        "#/components/schemas",
        &api["components"]["schemas"],
        &mut free,
    );
    assert!(
        free.is_empty(),
        "free objects where a type exists:\n{}",
        free.join("\n")
    );

    // The real routes, asked with a body that is not JSON and with one not
    // sent as JSON, answer statuses their operation documents.
    let admin = app.token(1, Role::Admin);
    let mut answered = Vec::new();
    for (method, path, operation) in operations
        .iter()
        .filter(|(.., op)| op.get("requestBody").is_some())
    {
        let url = app.url(&concrete(path, operation));
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        for (content_type, body, expected) in [
            ("application/json", "{not json", 400),
            ("text/plain", "{}", 415),
        ] {
            let response = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&admin)
                // Read before the body on the box office's routes.
                .header("x-queue-token", uuid::Uuid::new_v4().to_string())
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let error: Value = response.json().await.unwrap_or(Value::Null);
            // The PG's callback checks its signature before it reads the body.
            let expected = if path == "/pg/callbacks" && expected == 400 {
                401
            } else {
                expected
            };
            if status != expected || !documents(operation, status) || !error["code"].is_string() {
                answered.push(format!(
                    "{method} {path} with {content_type} {body:?}: {status} {error}"
                ));
            }
        }
    }
    assert!(
        answered.is_empty(),
        "answers outside the document:\n{}",
        answered.join("\n")
    );
    app.stop().await;
}
