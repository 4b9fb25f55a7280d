//! NATS nkeys, as far as a server needs them: decode a public key (base32, a prefix byte, 32 key
//! bytes, a CRC-16 checksum) and verify an ed25519 signature made with it.

use ring::signature::{UnparsedPublicKey, ED25519};

/// Prefix byte of user public keys ('U' in base32).
const PREFIX_USER: u8 = 20 << 3;

/// CRC-16/XMODEM, the checksum nkeys carry.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// RFC 4648 base32 without padding.
fn base32_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        } as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A last character that completes no byte (a length of 1, 3 or 6 past a multiple of 8)
    // is corrupt input, as Go's decoder says; found by the `nkey` fuzz target.
    if bits >= 5 {
        return None;
    }
    Some(out)
}

/// The 32-byte ed25519 key inside a user public nkey (`U...`), if it is one.
pub fn decode_user_key(key: &str) -> Option<[u8; 32]> {
    let raw = base32_decode(key.as_bytes())?;
    if raw.len() != 35 || raw[0] != PREFIX_USER {
        return None;
    }
    let (body, sum) = raw.split_at(33);
    if crc16(body) != u16::from_le_bytes([sum[0], sum[1]]) {
        return None;
    }
    let mut k = [0u8; 32];
    k.copy_from_slice(&body[1..]);
    Some(k)
}

pub fn is_valid_user_key(key: &str) -> bool {
    decode_user_key(key).is_some()
}

/// Encode a 32-byte ed25519 public key as a user nkey (`U...`).
pub fn encode_user_key(pk: &[u8]) -> String {
    let mut raw = vec![PREFIX_USER];
    raw.extend_from_slice(pk);
    let sum = crc16(&raw);
    raw.extend_from_slice(&sum.to_le_bytes());
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, String::new());
    for b in raw {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// base64 (URL-safe or standard alphabet, padding optional), as clients send signatures.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s.trim_end_matches('=').as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// URL-safe base64 without padding (the form nats-server uses for nonces).
pub fn base64_url_encode(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 2);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Did the holder of user key `key` sign `nonce`, giving `sig` (base64)?
pub fn verify(key: &str, nonce: &[u8], sig: &str) -> bool {
    let (Some(pk), Some(sig)) = (decode_user_key(key), base64_decode(sig)) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, pk)
        .verify(nonce, &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_key_with_a_character_too_many_is_refused() {
        let k = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";
        assert!(decode_user_key(k).is_some());
        assert!(decode_user_key(&format!("{k}G")).is_none());
        assert!(decode_user_key(&format!("{k}A")).is_none());
        assert!(decode_user_key(&k[..55]).is_none());
    }
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn known_key_decodes() {
        // A user public key from the nkeys documentation.
        assert!(is_valid_user_key(
            "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"
        ));
        assert!(!is_valid_user_key(
            "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF5"
        ));
        assert!(!is_valid_user_key(
            "NDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"
        ));
        assert!(!is_valid_user_key("not a key"));
    }

    #[test]
    fn signatures_verify() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = encode_user_key(kp.public_key().as_ref());
        assert!(is_valid_user_key(&key));
        let nonce = b"abcdefghijklmno";
        let sig = base64_url_encode(kp.sign(nonce).as_ref());
        assert!(verify(&key, nonce, &sig));
        assert!(!verify(&key, b"other nonce....", &sig));
        assert!(!verify(&key, nonce, "AAAA"));
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_url_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_url_encode(&[0xfb, 0xff]), "-_8");
    }
}
