//! A local HTTP sink standing in for the outside world (data platform,
//! chat webhook): it records what it receives and can be told to fail.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct HttpSink {
    pub received: Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>,
    pub failing: Arc<AtomicBool>,
    pub port: u16,
}

impl HttpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            port: listener.local_addr().unwrap().port(),
            ..Self::default()
        };
        let app = Router::new()
            .route("/{name}", post(receive))
            .with_state(sink.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sink
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    pub fn bodies(&self, name: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

async fn receive(
    State(sink): State<HttpSink>,
    Path(name): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> StatusCode {
    if sink.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    sink.received
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .push(body);
    StatusCode::OK
}
