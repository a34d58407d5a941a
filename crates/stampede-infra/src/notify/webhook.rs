//! POSTing JSON to a webhook, with a timeout; any non-2xx is an error.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("POST {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("POST {url} answered {status}")]
    Status { url: String, status: u16 },
}

pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<(), WebhookError> {
    let mut request = http.post(url).timeout(timeout).json(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|source| WebhookError::Transport {
            url: url.to_owned(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(WebhookError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    Ok(())
}
