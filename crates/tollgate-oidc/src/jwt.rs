//! Compact JWS parsing, before any trust: header, claims, signing input.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Error;

/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token split and decoded, not yet verified.
///
/// ```
/// use tollgate_oidc::UnverifiedJwt;
/// // {"alg":"RS256","kid":"k1"} . {"iss":"https://issuer.example","sub":"ci"} . sig
/// let t = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoiY2kifQ.c2ln";
/// let jwt = UnverifiedJwt::parse(t)?;
/// assert_eq!(jwt.alg, "RS256");
/// assert_eq!(jwt.kid.as_deref(), Some("k1"));
/// assert_eq!(jwt.claims["sub"], "ci");
/// # Ok::<_, tollgate_oidc::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnverifiedJwt<'a> {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The decoded claims.
    pub claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    /// The base64url signature.
    pub signature: &'a str,
}

impl<'a> UnverifiedJwt<'a> {
    /// Splits and decodes a compact JWS (exactly three base64url parts,
    /// JSON objects in the first two, a non-empty signature, no `crit`).
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the part.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Malformed("not a compact JWS of three parts".to_owned()));
        };
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(Error::Malformed("an empty part".to_owned()));
        }
        let header = object(h, "header")?;
        let claims = object(p, "payload")?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.clone(),
            _ => return Err(Error::Malformed("header has no string alg".to_owned())),
        };
        if header.contains_key("crit") {
            return Err(Error::Malformed(
                "critical header parameters are not supported".to_owned(),
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(Error::Malformed("header kid is not a string".to_owned())),
        };
        let signing_input = &token[..h.len() + 1 + p.len()];
        Ok(UnverifiedJwt {
            alg,
            kid,
            claims,
            signing_input,
            signature: s,
        })
    }

    /// The `iss` claim, if a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }
}

fn object(part: &str, what: &str) -> Result<Map<String, Value>, Error> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| Error::Malformed(format!("{what} is not base64url: {e}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Malformed(format!("{what} is not a JSON object"))),
        Err(e) => Err(Error::Malformed(format!("{what} is not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn shapes() {
        let good = format!("{}.{}.c2ln", b64(r#"{"alg":"ES256"}"#), b64(r#"{"iss":"x"}"#));
        assert!(UnverifiedJwt::parse(&good).is_ok());
        for bad in [
            format!("{}.{}", b64(r#"{"alg":"ES256"}"#), b64("{}")),
            format!("{}.{}.c2ln.x", b64(r#"{"alg":"ES256"}"#), b64("{}")),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}")),
            format!("{}.{}.c2ln", b64(r#"{"alg":1}"#), b64("{}")),
            format!("{}.{}.c2ln", b64(r#"{"alg":"RS256","crit":["exp"]}"#), b64("{}")),
            format!("{}.{}.c2ln", b64(r#"["alg"]"#), b64("{}")),
            format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), "***"),
            format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64("not json")),
            format!("{}=.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64("{}")),
            r#"{"payload":"x","signatures":[]}"#.to_owned(),
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(
                matches!(UnverifiedJwt::parse(&bad), Err(Error::Malformed(_))),
                "{bad:.60}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = UnverifiedJwt::parse(&s);
        }

        #[test]
        fn dotted_base64_never_panics(a in "[A-Za-z0-9_-]{0,40}", b in "[A-Za-z0-9_-]{0,40}", c in "[A-Za-z0-9_-]{0,10}") {
            let _ = UnverifiedJwt::parse(&format!("{a}.{b}.{c}"));
        }
    }
}
