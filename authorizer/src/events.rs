//! API Gateway authorizer events and answers (pure). Three shapes arrive: HTTP API
//! payload 2.0 (`"version": "2.0"`, answered with a simple response), and REST API
//! `TOKEN` and `REQUEST` events (answered with an IAM policy for the method ARN). The
//! structs are ours rather than `aws_lambda_events`' because these few fields are all we
//! read, and every one of them is optional here: a field API Gateway leaves out is a deny,
//! never a parse failure.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

/// Which kind of authorizer the event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// HTTP API, payload format 2.0, simple responses.
    HttpApi,
    /// REST API TOKEN authorizer: only the token and the method ARN.
    RestToken,
    /// REST API REQUEST authorizer: headers, method, resource and path.
    RestRequest,
}

/// What an event asks, whatever its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub kind: EventKind,
    pub api_id: String,
    pub method: String,
    /// The concrete path, without the stage.
    pub path: String,
    /// The route template when the event names it (`GET /orders/{id}`).
    pub route_key: Option<String>,
    /// The bearer token, if the request has one.
    pub token: Option<String>,
    /// The route or method ARN the policy is for.
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an API Gateway authorizer event: {0}")]
pub struct EventError(pub &'static str);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Event {
    version: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    route_arn: Option<String>,
    route_key: Option<String>,
    raw_path: Option<String>,
    method_arn: Option<String>,
    authorization_token: Option<String>,
    identity_source: Option<Value>,
    headers: BTreeMap<String, Value>,
    http_method: Option<String>,
    resource: Option<String>,
    path: Option<String>,
    request_context: Context,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Context {
    api_id: Option<String>,
    stage: Option<String>,
    http: Http,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Http {
    method: Option<String>,
    path: Option<String>,
}

/// The token of an `Authorization` value (`Bearer <token>`, the scheme in any case).
fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH…` → (api, stage, method, /path).
pub fn split_method_arn(arn: &str) -> Option<(&str, &str, &str, String)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.splitn(4, '/');
    let (api, stage, method) = (parts.next()?, parts.next()?, parts.next()?);
    let path = format!("/{}", parts.next().unwrap_or_default());
    Some((api, stage, method, path))
}

fn strip_stage(path: &str, stage: Option<&str>) -> String {
    match stage {
        Some(s) if s != "$default" => path
            .strip_prefix(&format!("/{s}"))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map(|rest| {
                if rest.is_empty() {
                    "/".to_owned()
                } else {
                    rest.to_owned()
                }
            })
            .unwrap_or_else(|| path.to_owned()),
        _ => path.to_owned(),
    }
}

pub fn parse(event: &Value) -> Result<AuthRequest, EventError> {
    let e: Event =
        serde_json::from_value(event.clone()).map_err(|_| EventError("not a JSON object"))?;
    let header = |name: &str| {
        e.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    if e.version.as_deref() == Some("2.0") {
        let arn = e
            .route_arn
            .clone()
            .ok_or(EventError("a 2.0 event without routeArn"))?;
        let api_id = e
            .request_context
            .api_id
            .clone()
            .or_else(|| split_method_arn(&arn).map(|(a, ..)| a.to_owned()))
            .unwrap_or_default();
        let method = e.request_context.http.method.clone().unwrap_or_default();
        let raw = e
            .raw_path
            .clone()
            .or(e.request_context.http.path.clone())
            .unwrap_or_default();
        let path = strip_stage(&raw, e.request_context.stage.as_deref());
        let token = header("authorization").and_then(bearer).or_else(|| {
            e.identity_source
                .as_ref()
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .and_then(bearer)
        });
        return Ok(AuthRequest {
            kind: EventKind::HttpApi,
            api_id,
            method,
            path,
            route_key: e.route_key.filter(|k| k != "$default"),
            token,
            arn,
        });
    }
    let arn = e
        .method_arn
        .clone()
        .ok_or(EventError("no methodArn and not a 2.0 event"))?;
    let (api, stage, method, path) =
        split_method_arn(&arn).ok_or(EventError("methodArn is not an execute-api ARN"))?;
    let (api, stage, arn_method, arn_path) =
        (api.to_owned(), stage.to_owned(), method.to_owned(), path);
    match e.kind.as_deref() {
        Some("TOKEN") => Ok(AuthRequest {
            kind: EventKind::RestToken,
            api_id: api,
            method: arn_method,
            path: arn_path,
            route_key: None,
            token: e.authorization_token.as_deref().and_then(bearer),
            arn,
        }),
        Some("REQUEST") => {
            let method = e.http_method.clone().unwrap_or(arn_method);
            Ok(AuthRequest {
                kind: EventKind::RestRequest,
                api_id: e.request_context.api_id.clone().unwrap_or(api),
                route_key: e.resource.as_ref().map(|r| format!("{method} {r}")),
                method,
                path: e
                    .path
                    .as_deref()
                    .map(|p| strip_stage(p, Some(&stage)))
                    .unwrap_or(arn_path),
                token: header("authorization").and_then(bearer),
                arn,
            })
        }
        _ => Err(EventError("`type` is neither TOKEN nor REQUEST")),
    }
}

/// The authorizer's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        client_id: String,
        scope: String,
    },
    /// Authenticated (or not) but not allowed this route: 403.
    Deny {
        principal: Option<String>,
    },
    /// No valid token: 401 where the API type can say it (REST), else 403.
    Unauthorized,
    /// Cannot decide (the issuer's keys unavailable): the function fails, API Gateway
    /// answers 500. Never an allow.
    Unavailable(String),
}

/// The answer API Gateway expects, or the error the function returns instead.
pub fn respond(request: &AuthRequest, decision: &Decision) -> Result<Value, String> {
    match (request.kind, decision) {
        (_, Decision::Unavailable(why)) => Err(format!("cannot verify tokens now: {why}")),
        (EventKind::HttpApi, Decision::Allow { client_id, scope }) => Ok(json!({
            "isAuthorized": true,
            "context": { "client_id": client_id, "scope": scope },
        })),
        (EventKind::HttpApi, _) => Ok(json!({ "isAuthorized": false, "context": {} })),
        // REST: the exact error message `Unauthorized` is what makes API Gateway answer 401.
        (_, Decision::Unauthorized) => Err("Unauthorized".to_owned()),
        (_, Decision::Allow { client_id, scope }) => Ok(policy(
            client_id,
            "Allow",
            &request.arn,
            json!({ "client_id": client_id, "scope": scope }),
        )),
        (_, Decision::Deny { principal }) => Ok(policy(
            principal.as_deref().unwrap_or("anonymous"),
            "Deny",
            &request.arn,
            json!({}),
        )),
    }
}

fn policy(principal: &str, effect: &str, arn: &str, context: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": arn }],
        },
        "context": context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_arns_split_into_api_stage_method_and_path() {
        assert_eq!(
            split_method_arn(
                "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42"
            ),
            Some(("abc123", "prod", "GET", "/orders/42".to_owned()))
        );
        assert_eq!(
            split_method_arn("arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/POST/"),
            Some(("abc123", "$default", "POST", "/".to_owned()))
        );
        assert_eq!(split_method_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn http_api_event_as_api_gateway_sends_it() {
        let e = json!({
            "version": "2.0", "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42",
            "identitySource": ["Bearer tok"],
            "routeKey": "GET /orders/{id}",
            "rawPath": "/prod/orders/42",
            "headers": {"authorization": "Bearer tok", "host": "abc123.execute-api.eu-west-1.amazonaws.com"},
            "requestContext": {"apiId": "abc123", "stage": "prod", "http": {"method": "GET", "path": "/prod/orders/42"}},
        });
        let r = parse(&e).unwrap();
        assert_eq!(r.kind, EventKind::HttpApi);
        assert_eq!(r.api_id, "abc123");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/orders/42"));
        assert_eq!(r.route_key.as_deref(), Some("GET /orders/{id}"));
        assert_eq!(r.token.as_deref(), Some("tok"));
        let allow = respond(
            &r,
            &Decision::Allow {
                client_id: "c".into(),
                scope: "s".into(),
            },
        )
        .unwrap();
        assert_eq!(
            allow,
            json!({"isAuthorized": true, "context": {"client_id": "c", "scope": "s"}})
        );
        assert_eq!(
            respond(&r, &Decision::Unauthorized).unwrap()["isAuthorized"],
            false
        );
        assert!(respond(&r, &Decision::Unavailable("down".into())).is_err());
    }

    #[test]
    fn rest_token_and_request_events() {
        let token = json!({
            "type": "TOKEN", "authorizationToken": "bearer tok",
            "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/orders",
        });
        let r = parse(&token).unwrap();
        assert_eq!(
            (r.kind, r.method.as_str(), r.path.as_str()),
            (EventKind::RestToken, "POST", "/orders")
        );
        assert_eq!(r.token.as_deref(), Some("tok"));
        assert_eq!(
            respond(&r, &Decision::Unauthorized).unwrap_err(),
            "Unauthorized"
        );
        let allow = respond(
            &r,
            &Decision::Allow {
                client_id: "c".into(),
                scope: "s".into(),
            },
        )
        .unwrap();
        assert_eq!(allow["principalId"], "c");
        assert_eq!(allow["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            allow["policyDocument"]["Statement"][0]["Resource"],
            token["methodArn"]
        );
        let deny = respond(&r, &Decision::Deny { principal: None }).unwrap();
        assert_eq!(deny["policyDocument"]["Statement"][0]["Effect"], "Deny");

        let request = json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42",
            "resource": "/orders/{id}", "path": "/orders/42", "httpMethod": "GET",
            "headers": {"Authorization": "Bearer tok"},
            "requestContext": {"apiId": "abc123", "stage": "prod", "resourcePath": "/orders/{id}"},
        });
        let r = parse(&request).unwrap();
        assert_eq!(r.kind, EventKind::RestRequest);
        assert_eq!(r.route_key.as_deref(), Some("GET /orders/{id}"));
        assert_eq!(r.token.as_deref(), Some("tok"));
        assert!(parse(&json!({"hello": 1})).is_err());
        assert!(parse(&json!({"type": "TOKEN", "methodArn": "arn:aws:s3:::x"})).is_err());
    }
}
