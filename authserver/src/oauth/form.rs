//! Strict `application/x-www-form-urlencoded` parsing for OAuth endpoints.
//!
//! `form_urlencoded` (and so serde_urlencoded) decodes leniently: a stray `%` passes through
//! and invalid UTF-8 becomes U+FFFD. An authorization server must not guess what a client
//! meant, and RFC 6749 §3.2 forbids repeated parameters, so this parser is written out:
//! every malformed input becomes an error that names the parameter and what was expected.

use std::borrow::Cow;

use super::error::OAuthError;

/// Parameters may appear at most this many times in one body (in total).
pub const MAX_PARAMETERS: usize = 64;

/// A decoded form: parameters in order, empty values already dropped (RFC 6749 §3.1:
/// "parameters sent without a value MUST be treated as if they were omitted").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// The single value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (for parameters that may repeat, such as RFC 8707 `resource`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// Parse `body`. Parameters named in `repeatable` may occur more than once; any other
/// parameter occurring twice is an `invalid_request` error.
pub fn parse_form(body: &[u8], repeatable: &[&str]) -> Result<Form, OAuthError> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (index, segment) in body.split(|b| *b == b'&').enumerate() {
        if segment.is_empty() {
            continue;
        }
        if params.len() >= MAX_PARAMETERS {
            return Err(OAuthError::invalid_request(format!(
                "the request body has more than {MAX_PARAMETERS} parameters"
            )));
        }
        let (raw_name, raw_value) = match segment.iter().position(|b| *b == b'=') {
            Some(eq) => (&segment[..eq], &segment[eq + 1..]),
            None => (segment, &b""[..]),
        };
        let name = decode_component(raw_name).map_err(|why| {
            OAuthError::invalid_request(format!(
                "parameter #{} of the form body has a malformed name: {why}",
                index + 1
            ))
        })?;
        let value = decode_component(raw_value).map_err(|why| {
            OAuthError::invalid_request(format!(
                "parameter `{}` is malformed: {why}",
                printable(&name)
            ))
        })?;
        if name.is_empty() {
            return Err(OAuthError::invalid_request(format!(
                "parameter #{} of the form body has an empty name",
                index + 1
            )));
        }
        if value.is_empty() {
            continue;
        }
        if !repeatable.contains(&name.as_ref()) && params.iter().any(|(k, _)| *k == name) {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` is included more than once (RFC 6749 §3.2)",
                printable(&name)
            )));
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(Form { params })
}

/// Decode one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode_component(raw: &[u8]) -> Result<Cow<'_, str>, String> {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to()));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).and_then(|b| hex_value(*b));
                let lo = raw.get(i + 2).and_then(|b| hex_value(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(format!(
                            "`%` at byte {i} is not followed by two hexadecimal digits (percent-encoding)"
                        ));
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|e| {
        format!(
            "decodes to bytes that are not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A parameter name as it may appear in an error message: bounded and without control
/// characters (a name is never a credential, but it is attacker-controlled).
fn printable(name: &str) -> String {
    let mut s: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
    if name.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_plus_and_percent() {
        let f = parse_form(b"grant_type=client_credentials&scope=a+b%20c&x=%C3%A9", &[]).unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("a b c"));
        assert_eq!(f.get("x"), Some("é"));
    }

    #[test]
    fn empty_values_are_omitted() {
        let f = parse_form(b"scope=&grant_type=client_credentials&&flag", &[]).unwrap();
        assert_eq!(f.get("scope"), None);
        assert_eq!(f.get("flag"), None);
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn duplicates_are_rejected_unless_repeatable() {
        let err = parse_form(b"scope=a&scope=b", &[]).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::InvalidRequest);
        assert!(
            err.description
                .contains("`scope` is included more than once"),
            "{}",
            err.description
        );
        let f = parse_form(b"resource=https://a&resource=https://b", &["resource"]).unwrap();
        assert_eq!(
            f.get_all("resource").collect::<Vec<_>>(),
            ["https://a", "https://b"]
        );
    }

    #[test]
    fn malformed_percent_encoding_names_the_parameter() {
        let err = parse_form(b"grant_type=client%2", &[]).unwrap_err();
        assert!(
            err.description.contains("`grant_type`"),
            "{}",
            err.description
        );
        assert!(
            err.description.contains("two hexadecimal digits"),
            "{}",
            err.description
        );
        let err = parse_form(b"scope=%FF%FE", &[]).unwrap_err();
        assert!(
            err.description.contains("not valid UTF-8"),
            "{}",
            err.description
        );
    }

    #[test]
    fn too_many_parameters() {
        let body: String = (0..100).map(|i| format!("p{i}=v&")).collect();
        let err = parse_form(body.as_bytes(), &[]).unwrap_err();
        assert!(err.description.contains("more than 64 parameters"));
    }

    fn encode(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    proptest! {
        /// Whatever the bytes, parsing returns (never panics) and errors are invalid_request.
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(e) = parse_form(&body, &["resource"]) {
                prop_assert_eq!(e.code, super::super::error::ErrorCode::InvalidRequest);
            }
        }

        /// Encoding distinct parameters and parsing them back gives the same values.
        #[test]
        fn round_trips(map in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{1,24}", 0..10)) {
            let body = map.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
            let form = parse_form(body.as_bytes(), &[]).unwrap();
            for (k, v) in &map {
                prop_assert_eq!(form.get(k), Some(v.as_str()));
            }
            prop_assert_eq!(form.len(), map.len());
        }
    }
}
