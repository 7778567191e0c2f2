//! ECDSA P-256 / SHA-256 signatures of leak reports, verified by the platform's Web Crypto
//! (`crypto.subtle`), not by a second copy of the curve in the wasm. What is left here is
//! the encoding: PEM to SPKI, and DER signatures to the fixed-size form Web Crypto takes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use worker::js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{self, JsCast as _, JsValue, prelude::wasm_bindgen};
use worker::wasm_bindgen_futures::JsFuture;

/// The DER prefix of every P-256 public key in SubjectPublicKeyInfo form (algorithm
/// id-ecPublicKey, curve prime256v1, then a 65-byte uncompressed point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The SPKI bytes of a `-----BEGIN PUBLIC KEY-----` PEM holding a P-256 key, or `None`.
pub fn p256_spki_from_pem(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(b64).ok()?;
    (der.len() == P256_SPKI_PREFIX.len() + 65
        && der.starts_with(&P256_SPKI_PREFIX)
        && der[P256_SPKI_PREFIX.len()] == 0x04)
        .then_some(der)
}

/// A DER `SEQUENCE { INTEGER r, INTEGER s }` ECDSA P-256 signature as the 64 bytes
/// `r || s` (IEEE P1363) that Web Crypto verifies, or `None` if it is not one.
pub fn p1363_from_der(der: &[u8]) -> Option<[u8; 64]> {
    fn integer(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        // DER: minimal and positive. A leading 0 only before a byte with its top bit set.
        if value[0] & 0x80 != 0 || (len > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
            return None;
        }
        let value = if value[0] == 0 { &value[1..] } else { value };
        (value.len() <= 32).then_some((value, rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != rest.len() {
        return None;
    }
    let (r, rest) = integer(rest)?;
    let (s, rest) = integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &Uint8Array,
        algorithm: &JsValue,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = sign, catch)]
    fn subtle_sign(
        algorithm: &JsValue,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

fn object(pairs: &[(&str, &str)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    o.into()
}

/// Whether `signature` (IEEE P1363, `r || s`) signs `data` under the P-256 key `spki`,
/// with SHA-256, by Web Crypto.
///
/// # Errors
/// A platform fault (the key could not be imported): a configuration problem, not a
/// verdict about the signature.
pub async fn verify_p256(spki: &[u8], signature: &[u8; 64], data: &[u8]) -> Result<bool, String> {
    let fault = |what: &str, e: JsValue| format!("{what}: {e:?}");
    let algorithm = object(&[("name", "ECDSA"), ("namedCurve", "P-256")]);
    let usages = Array::of1(&"verify".into());
    let key = import_key("spki", &Uint8Array::from(spki), &algorithm, false, &usages)
        .map_err(|e| fault("importKey", e))?;
    let key = JsFuture::from(key)
        .await
        .map_err(|e| fault("importKey", e))?;
    let params = object(&[("name", "ECDSA"), ("hash", "SHA-256")]);
    let verified = subtle_verify(
        &params,
        &key,
        &Uint8Array::from(&signature[..]),
        &Uint8Array::from(data),
    )
    .map_err(|e| fault("verify", e))?;
    let verified = JsFuture::from(verified)
        .await
        .map_err(|e| fault("verify", e))?;
    Ok(verified
        .dyn_into::<worker::js_sys::Boolean>()
        .is_ok_and(|b| b.value_of()))
}

/// The HMAC-SHA256 of `data` under `secret`, by Web Crypto.
///
/// # Errors
/// A platform fault (the key could not be imported or used).
pub async fn hmac_sha256(secret: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let fault = |what: &str, e: JsValue| format!("{what}: {e:?}");
    let algorithm = object(&[("name", "HMAC"), ("hash", "SHA-256")]);
    let usages = Array::of1(&"sign".into());
    let key = import_key("raw", &Uint8Array::from(secret), &algorithm, false, &usages)
        .map_err(|e| fault("importKey", e))?;
    let key = JsFuture::from(key)
        .await
        .map_err(|e| fault("importKey", e))?;
    let signed = subtle_sign(&object(&[("name", "HMAC")]), &key, &Uint8Array::from(data))
        .map_err(|e| fault("sign", e))?;
    let signed = JsFuture::from(signed).await.map_err(|e| fault("sign", e))?;
    Ok(Uint8Array::new(&signed).to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn der_signatures_become_r_then_s() {
        // r with a leading zero (top bit set), s short (leading zero bytes dropped).
        let mut der = vec![0x30, 0x00, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x02, 0x01, 0x02]);
        der[1] = (der.len() - 2) as u8;
        let p = p1363_from_der(&der).unwrap();
        assert_eq!(&p[..32], &[0x80; 32]);
        assert_eq!(&p[32..62], &[0; 30]);
        assert_eq!(&p[62..], &[0x01, 0x02]);
    }

    #[test]
    fn malformed_der_is_refused() {
        let good = {
            let mut d = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
            d[1] = 6;
            d
        };
        assert!(p1363_from_der(&good).is_some());
        for bad in [
            vec![],
            vec![0x30],
            vec![0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02],
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02],
            vec![0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00],
        ] {
            assert!(p1363_from_der(&bad).is_none(), "{bad:02x?}");
        }
        let mut long = vec![0x30, 0x00, 0x02, 0x22, 0x00, 0x80];
        long.extend([1; 32]);
        long.extend([0x02, 0x01, 0x01]);
        long[1] = (long.len() - 2) as u8;
        assert!(p1363_from_der(&long).is_none(), "r longer than 32 bytes");
    }

    #[test]
    fn only_p256_public_key_pems_are_read() {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.push(0x04);
        der.extend([7; 64]);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&der)
        );
        assert_eq!(p256_spki_from_pem(&pem), Some(der.clone()));
        assert_eq!(p256_spki_from_pem("not a pem"), None);
        let mut p384 = der.clone();
        p384[20] = 0x22;
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            STANDARD.encode(&p384)
        );
        assert_eq!(p256_spki_from_pem(&pem), None);
    }
}
