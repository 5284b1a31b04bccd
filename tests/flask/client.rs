//! A small test client with a cookie jar, as Flask's `app.test_client()`: the app of
//! `test_cookies.py` and `test_multiple_token_locations.py`, routes guarded by this crate's
//! layers, cookies set by [`JwtManager::cookies`].

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::{
    JwtManager, JwtOptionalLayer, JwtRequiredLayer, RefreshRequiredLayer, VerifiedToken,
};

use crate::common::Reply;

/// `{"foo": "bar", "location": <where the token was>}` (`"location": null` without one).
async fn located(
    req: Request<RequestBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let location = req
        .extensions()
        .get::<VerifiedToken>()
        .and_then(|t| t.location())
        .map(|l| l.as_str());
    let body = json!({"foo": "bar", "location": location});
    Ok(Response::new(Full::from(body.to_string())))
}

pub struct Client {
    pub m: JwtManager,
    /// Per-route token locations (`@jwt_required(locations=...)`), if any.
    pub route_locations: Option<Vec<TokenLocation>>,
    pub jar: BTreeMap<String, String>,
}

impl Client {
    pub fn new(m: JwtManager) -> Self {
        Self {
            m,
            route_locations: None,
            jar: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Request::get(uri)).await
    }

    pub async fn post(&mut self, uri: &str) -> Reply {
        self.send(Request::post(uri)).await
    }

    /// Sends a request without a body, with the jar's cookies.
    pub async fn send(&mut self, req: http::request::Builder) -> Reply {
        self.send_body(req, Bytes::new()).await
    }

    /// Sends a request with the jar's cookies; stores the cookies of the response.
    pub async fn send_body(&mut self, mut req: http::request::Builder, body: Bytes) -> Reply {
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            req = req.header(COOKIE, cookies.join("; "));
        }
        let req = req.body(Full::new(body)).unwrap();
        let (status, headers, bytes) = self.route(req).await;
        for value in headers.get_all(SET_COOKIE) {
            let cookie = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
            let expired =
                cookie.max_age().is_some_and(|age| age.is_zero()) || cookie.value().is_empty();
            if expired {
                self.jar.remove(cookie.name());
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn route(&self, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
        let m = &self.m;
        let path = req.uri().path().to_owned();
        let domain = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("domain="))
            .map(str::to_owned);
        let cookies = match &domain {
            Some(domain) => m.cookies().domain(domain).unwrap(),
            None => m.cookies(),
        };
        let mut headers = HeaderMap::new();
        let set = |body: Value, headers: HeaderMap| {
            (StatusCode::OK, headers, Bytes::from(body.to_string()))
        };
        let method_is = |method: Method| req.method() == method;
        let locations = |layer: JwtRequiredLayer| match &self.route_locations {
            Some(l) => layer.token_locations(l.clone()),
            None => layer,
        };
        let res = match path.as_str() {
            "/access_token" | "/cookie_login" => {
                let token = m.create_access_token("username").unwrap();
                cookies.set_access(&mut headers, &token).unwrap();
                return set(json!({"login": true}), headers);
            }
            "/refresh_token" => {
                let token = m.create_refresh_token("username").unwrap();
                cookies.set_refresh(&mut headers, &token).unwrap();
                return set(json!({"login": true}), headers);
            }
            "/delete_tokens" => {
                cookies.unset_all(&mut headers);
                return set(json!({"logout": true}), headers);
            }
            "/delete_access_tokens" => {
                cookies.unset_access(&mut headers);
                return set(json!({"access_revoked": true}), headers);
            }
            "/delete_refresh_tokens" => {
                cookies.unset_refresh(&mut headers);
                return set(json!({"refresh_revoked": true}), headers);
            }
            "/protected" if method_is(Method::GET) || method_is(Method::POST) => {
                locations(JwtRequiredLayer::new(m))
                    .layer(service_fn(located))
                    .oneshot(req)
                    .await
            }
            "/post_protected" if method_is(Method::POST) => {
                JwtRequiredLayer::new(m)
                    .layer(service_fn(located))
                    .oneshot(req)
                    .await
            }
            "/refresh_protected" if method_is(Method::GET) => {
                RefreshRequiredLayer::new(m)
                    .layer(service_fn(located))
                    .oneshot(req)
                    .await
            }
            "/post_refresh_protected" if method_is(Method::POST) => {
                RefreshRequiredLayer::new(m)
                    .layer(service_fn(located))
                    .oneshot(req)
                    .await
            }
            "/optional_post_protected" if method_is(Method::POST) => {
                JwtOptionalLayer::new(m)
                    .layer(service_fn(located))
                    .oneshot(req)
                    .await
            }
            _ => return (StatusCode::METHOD_NOT_ALLOWED, headers, Bytes::new()),
        };
        let (parts, body) = res.unwrap().into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, bytes)
    }
}

/// The attributes of the cookie `name` set by a response, lower-cased names, as the tests'
/// `_get_cookie_from_response`: `{"access_token_cookie": <value>, "path": "/", "httponly":
/// "", ...}`.
pub fn cookie_from_response(reply: &Reply, name: &str) -> Option<BTreeMap<String, String>> {
    reply.headers.get_all(SET_COOKIE).iter().find_map(|value| {
        let value = value.to_str().unwrap();
        let mut parts = value.split(';');
        let first = parts.next()?;
        if first.split('=').next()?.trim() != name {
            return None;
        }
        Some(
            std::iter::once(first)
                .chain(parts)
                .map(|attr| {
                    let (n, v) = attr.split_once('=').unwrap_or((attr, ""));
                    (n.trim().to_lowercase(), v.to_owned())
                })
                .collect(),
        )
    })
}
