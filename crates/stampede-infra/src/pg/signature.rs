//! Callback signatures: `X-PG-Signature` = hex(HMAC-SHA256(secret,
//! timestamp + "." + body)), with the timestamp (unix seconds) in
//! `X-PG-Timestamp`. The timestamp is inside the MAC, so an old callback
//! cannot be replayed with a fresh timestamp.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-pg-timestamp";
pub const SIGNATURE_HEADER: &str = "x-pg-signature";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// Constant-time check of `signature` (hex).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_timestamp_and_the_body() {
        let signature = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(verify("s3cret", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_700_000_001, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"a\":2}", &signature));
        assert!(!verify("other", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"a\":1}", "not-hex"));
    }
}
