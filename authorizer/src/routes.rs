//! Routes to scopes (pure): patterns like API Gateway's route keys (`GET /orders`,
//! `POST /orders/{id}`, `ANY /admin/{proxy+}`), matched against a request's method and
//! path. The most specific pattern wins, as in API Gateway: an exact method over `ANY`,
//! then, segment by segment, a literal over `{param}` over `{proxy+}`; `$default` matches
//! what nothing else does. No pattern matching is a deny.

use std::collections::BTreeMap;

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param,
    /// `{name+}`: one or more segments, last only.
    Greedy,
}

/// A route pattern and the scopes it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// As written in the configuration (`GET /orders/{id}`).
    pub key: String,
    /// `None` for `ANY`.
    method: Option<String>,
    segments: Vec<Segment>,
    /// `$default`: every request no other route matches.
    fallback: bool,
    pub scopes: Vec<String>,
}

/// Why a route key is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route `{key}`: {why}")]
pub struct RouteError {
    pub key: String,
    pub why: String,
}

const METHODS: [&str; 8] = [
    "ANY", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
];

impl Route {
    pub fn parse(key: &str, scopes: Vec<String>) -> Result<Route, RouteError> {
        let err = |why: &str| RouteError {
            key: key.to_owned(),
            why: why.to_owned(),
        };
        if key == "$default" {
            return Ok(Route {
                key: key.to_owned(),
                method: None,
                segments: Vec::new(),
                fallback: true,
                scopes,
            });
        }
        let (method, path) = key
            .split_once(' ')
            .ok_or_else(|| err("expected `METHOD /path`, such as `GET /orders`"))?;
        if !METHODS.contains(&method) {
            return Err(err(&format!(
                "method `{method}` is not one of {}",
                METHODS.join(", ")
            )));
        }
        if !path.starts_with('/') {
            return Err(err("the path must start with `/`"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = path[1..].split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.ends_with('+') => {
                    if i + 1 != parts.len() {
                        return Err(err("a greedy `{name+}` segment must be the last"));
                    }
                    Segment::Greedy
                }
                Some(name) if !name.is_empty() && !name.contains(['{', '}', '/']) => Segment::Param,
                Some(_) => return Err(err(&format!("`{part}` is not a `{{name}}` segment"))),
                None if part.contains(['{', '}']) => {
                    return Err(err(&format!("`{part}` mixes a literal and a `{{param}}`")));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        Ok(Route {
            key: key.to_owned(),
            method: (method != "ANY").then(|| method.to_owned()),
            segments,
            fallback: false,
            scopes,
        })
    }

    /// How specifically this route matches `method path`, or None when it does not.
    /// Greater is more specific.
    fn specificity(&self, method: &str, path: &[&str]) -> Option<(u8, Vec<u8>)> {
        if self.fallback {
            return Some((0, Vec::new()));
        }
        let method_rank = match &self.method {
            Some(m) if m.eq_ignore_ascii_case(method) => 2,
            Some(_) => return None,
            None => 1,
        };
        let mut ranks = Vec::with_capacity(self.segments.len());
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    if path.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                    ranks.push(2);
                }
                Segment::Param => {
                    if path.get(i).is_none_or(|p| p.is_empty()) {
                        return None;
                    }
                    ranks.push(1);
                }
                Segment::Greedy => {
                    if path.len() <= i {
                        return None;
                    }
                    ranks.push(0);
                    return Some((method_rank, ranks));
                }
            }
        }
        (path.len() == self.segments.len()).then_some((method_rank, ranks))
    }
}

/// Every route of one API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// From `route key → scopes`; two keys that are the same pattern are an error.
    pub fn new(map: &BTreeMap<String, Vec<String>>) -> Result<RouteTable, RouteError> {
        let mut routes: Vec<Route> = Vec::with_capacity(map.len());
        for (key, scopes) in map {
            let r = Route::parse(key, scopes.clone())?;
            if let Some(same) = routes
                .iter()
                .find(|o| o.method == r.method && o.segments == r.segments)
            {
                return Err(RouteError {
                    key: key.clone(),
                    why: format!("the same route as `{}`", same.key),
                });
            }
            routes.push(r);
        }
        Ok(RouteTable { routes })
    }

    /// The route a route key names exactly (HTTP API events carry the matched route key;
    /// REST REQUEST events carry the resource template).
    pub fn by_key(&self, method: &str, template: &str) -> Option<&Route> {
        let key = format!("{method} {template}");
        self.routes.iter().find(|r| r.key == key).or_else(|| {
            let any = format!("ANY {template}");
            self.routes.iter().find(|r| r.key == any)
        })
    }

    /// The most specific route matching `method` and the concrete `path`.
    pub fn find(&self, method: &str, path: &str) -> Option<&Route> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes
            .iter()
            .filter_map(|r| r.specificity(method, &segments).map(|s| (s, r)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, r)| r)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &[&str])]) -> RouteTable {
        RouteTable::new(
            &routes
                .iter()
                .map(|(k, s)| (k.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn the_most_specific_route_wins() {
        let t = table(&[
            ("GET /orders", &["orders/read"]),
            ("GET /orders/{id}", &["orders/read"]),
            ("POST /orders", &["orders/write"]),
            ("GET /orders/export", &["orders/export"]),
            ("ANY /orders/{id}", &["orders/admin"]),
            ("ANY /admin/{proxy+}", &["admin"]),
        ]);
        let key = |m, p| t.find(m, p).map(|r| r.key.as_str());
        assert_eq!(key("GET", "/orders"), Some("GET /orders"));
        assert_eq!(key("GET", "/orders/"), Some("GET /orders"));
        assert_eq!(key("POST", "/orders"), Some("POST /orders"));
        assert_eq!(key("GET", "/orders/42"), Some("GET /orders/{id}"));
        assert_eq!(key("GET", "/orders/export"), Some("GET /orders/export"));
        assert_eq!(key("DELETE", "/orders/42"), Some("ANY /orders/{id}"));
        assert_eq!(
            key("get", "/orders"),
            Some("GET /orders"),
            "methods in any case"
        );
        assert_eq!(
            key("PUT", "/admin/users/7/roles"),
            Some("ANY /admin/{proxy+}")
        );
        assert_eq!(key("PUT", "/admin"), None, "{{proxy+}} needs a segment");
        assert_eq!(key("DELETE", "/orders"), None, "no route: deny");
        assert_eq!(key("GET", "/orders/42/items"), None);
        assert_eq!(key("GET", "/Orders"), None, "paths are case-sensitive");
        assert_eq!(
            t.by_key("DELETE", "/orders/{id}").map(|r| r.key.as_str()),
            Some("ANY /orders/{id}")
        );
    }

    #[test]
    fn default_matches_only_what_no_other_route_does() {
        let t = table(&[
            ("$default", &["orders/read"]),
            ("ANY /{proxy+}", &["admin"]),
            ("GET /orders", &["orders/write"]),
        ]);
        let key = |m, p| t.find(m, p).map(|r| r.key.as_str());
        assert_eq!(key("GET", "/orders"), Some("GET /orders"));
        assert_eq!(key("POST", "/x/y"), Some("ANY /{proxy+}"));
        assert_eq!(
            key("GET", "/"),
            Some("$default"),
            "nothing else matches the root"
        );
    }

    #[test]
    fn bad_patterns_are_refused_naming_the_route() {
        let bad = |k: &str| {
            RouteTable::new(&[(k.to_string(), vec![])].into_iter().collect())
                .unwrap_err()
                .to_string()
        };
        assert!(bad("/orders").contains("expected `METHOD /path`"));
        assert!(bad("FETCH /orders").contains("method `FETCH`"));
        assert!(bad("GET orders").contains("must start with `/`"));
        assert!(bad("GET /a/{proxy+}/b").contains("must be the last"));
        assert!(bad("GET /a/x{id}").contains("mixes"));
        assert!(bad("GET /a/{}").contains("is not a `{name}` segment"));
        let dup = RouteTable::new(
            &[
                ("GET /a/{id}".to_string(), vec![]),
                ("GET /a/{key}".to_string(), vec![]),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap_err();
        assert_eq!(dup.key, "GET /a/{key}");
    }
}
