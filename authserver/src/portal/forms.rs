//! HTML form bodies (`application/x-www-form-urlencoded`) with repeated fields (a scope
//! picker sends `scope=a&scope=b`), which serde's flat forms cannot hold.

use axum::body::Bytes;

#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &Bytes) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; None when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name`, trimmed, blank included (a cleared field).
    pub fn raw(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    }

    /// Every non-blank value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_blank_fields() {
        let f = FormData::parse(&Bytes::from_static(
            b"scope=a%3Aread&scope=b&scope=+&name=+Orders+job+&empty=",
        ));
        assert_eq!(f.all("scope"), vec!["a:read", "b"]);
        assert_eq!(f.get("name"), Some("Orders job"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.get("missing"), None);
    }
}
