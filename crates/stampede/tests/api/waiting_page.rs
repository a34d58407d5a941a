//! The waiting-room page in a real browser: 49 fans queue, a 50th opens
//! `/wait/{concert}` in headless chromium (driven by playwright-core through
//! `tests/browser/waiting_page.js`; `scripts/browser.sh` installs both), sees
//! their place fall and lands on seat selection. The screenshot is saved
//! under the test's output directory (`CARGO_TARGET_TMPDIR`).

use crate::box_office::*;
use crate::helpers::*;
use crate::waiting_room::pause;
use stampede_api::auth::Role;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn a_fan_watches_the_place_fall_and_the_page_moves_to_seat_selection() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 200;
    settings.concert.admit_per_interval = 4;
    let app = spawn_app_with(settings, vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    pause(&app, concert, true).await;
    for fan in 5_001..=5_049 {
        enter_queue(&app, fan, concert).await;
    }
    let output = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("waiting_page");
    std::fs::create_dir_all(&output).unwrap();
    let screenshot = output.join("seat-selection.png");
    let _ = std::fs::remove_file(&screenshot);
    let jwt = app.token(5_050, Role::User);
    let url = app.url(&format!("/wait/{concert}#token={jwt}"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/waiting_page.js");
    let mut browser = tokio::process::Command::new("node")
        .arg(script)
        .arg(&url)
        .arg(&screenshot)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/browser.sh installs chromium and playwright-core)");
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let queued = lines.next_line().await.unwrap().unwrap_or_default();
    assert_eq!(queued, "QUEUED 50", "the page did not show its place");
    pause(&app, concert, false).await;
    let mut result = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
    }
    let status = browser.wait().await.unwrap();
    assert!(status.success(), "the browser script failed: {status}");
    let result = result.expect("the browser script reported");
    let seen: Vec<u64> = serde_json::from_value(result["seen"].clone()).unwrap();
    assert!(seen.len() >= 3, "the place never visibly fell: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1] < w[0]), "{seen:?}");
    assert_eq!(result["seats"], 5, "{result}");
    assert_eq!(result["error"], "", "{result}");
    assert!(screenshot.exists());
    app.stop().await;
}
