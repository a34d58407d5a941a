//! `stampede token --user 42 [--admin]`: mint a bearer token for local use.

use crate::configuration::Settings;
use stampede_api::auth::{JwtKeys, Role};

pub fn run(settings: &Settings, user_id: u64, admin: bool) -> anyhow::Result<()> {
    anyhow::ensure!(user_id > 0, "--user must be a positive user id");
    anyhow::ensure!(
        settings.auth.has_shared_secret(),
        "auth.jwt_secret is empty: HS256 tokens are off, ask the identity provider for one"
    );
    let role = if admin { Role::Admin } else { Role::User };
    println!("{}", JwtKeys::new(&settings.auth).issue(user_id, role));
    Ok(())
}
