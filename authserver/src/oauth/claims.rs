//! RFC 9068 access token claims.

use serde::{Deserialize, Serialize};

/// `aud`: one identifier is a string, several are an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_list(mut list: Vec<String>) -> Audience {
        if list.len() == 1 {
            Audience::One(list.remove(0))
        } else {
            Audience::Many(list)
        }
    }
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(all) => all.iter().any(|a| a == value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
}

impl AccessTokenClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_serialises_as_string_or_array() {
        let one = serde_json::to_value(Audience::from_list(vec!["a".into()])).unwrap();
        assert_eq!(one, serde_json::json!("a"));
        let many = serde_json::to_value(Audience::from_list(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!(many, serde_json::json!(["a", "b"]));
        let back: Audience = serde_json::from_value(many).unwrap();
        assert!(back.contains("b"));
    }
}
