//! Fuzz the decoders of untrusted CONNECT fields: user nkeys (base32 with a CRC) and base64
//! signatures. Any text gives a value or `None`, never a panic, and what decodes re-encodes:
//!
//! * a user key that decodes encodes back to the same string (the decoder takes no slack);
//! * `base64_url_encode` output decodes back to its input;
//! * `verify` takes any key, nonce and signature without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::nkey::{base64_decode, base64_url_encode, decode_user_key, encode_user_key, verify};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(pk) = decode_user_key(&text) {
        assert_eq!(encode_user_key(&pk), text, "user key decoded but encodes differently");
    }
    let _ = base64_decode(&text);
    let enc = base64_url_encode(data);
    assert_eq!(base64_decode(&enc).as_deref(), Some(data), "{enc:?}");
    // Split the input three ways: key, nonce, signature.
    let a = data.len() / 3;
    let b = 2 * data.len() / 3;
    let key = String::from_utf8_lossy(&data[..a]);
    let sig = String::from_utf8_lossy(&data[b..]);
    let _ = verify(&key, &data[a..b], &sig);
});
