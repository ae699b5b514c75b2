//! Operations routes: `/health`, `/ready` (also across a database outage), the OpenAPI
//! document (every route of `app.rs`, with its methods, bodies, errors and security) and
//! the offline docs page.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actix_web::test::{self, TestRequest};
use actix_web::web;
use serde_json::Value;
use users_api::{AppState, Config};
use users_db::PoolOptions;

use crate::helpers::{SECRET, TestApp, get, send};
use crate::init;

/// Every route that `app::routes` registers, with its methods and whether it takes a token.
/// Keep in step with `src/app.rs`: `every_route_in_app_rs_is_documented` checks the paths.
const ROUTES: &[(&str, &[(&str, bool)])] = &[
    ("/ping", &[("get", false)]),
    ("/health", &[("get", false)]),
    ("/ready", &[("get", false)]),
    ("/metrics", &[("get", false)]),
    ("/.well-known/jwks.json", &[("get", false)]),
    ("/openapi.json", &[("get", false)]),
    ("/docs", &[("get", false)]),
    (users_api::routes::ops::DOCS_ASSET_PATH, &[("get", false)]),
    ("/users", &[("get", false), ("post", true)]),
    (
        "/users/{id}",
        &[("get", false), ("patch", true), ("delete", true)],
    ),
    ("/auth/register", &[("post", false)]),
    ("/auth/login", &[("post", false)]),
    ("/auth/logout", &[("get", true)]),
    ("/auth/logout/all", &[("post", true)]),
    ("/auth/refresh", &[("post", false)]),
    ("/auth/password", &[("put", true)]),
    ("/auth/status", &[("get", true)]),
    ("/auth/login/mfa", &[("post", false)]),
    ("/auth/mfa/totp", &[("post", true), ("delete", true)]),
    ("/auth/mfa/totp/confirm", &[("post", true)]),
    ("/users/{id}/mfa", &[("delete", true)]),
    // Secured by the feed token (`feedToken`), not an access token.
    ("/auth/revocations", &[("get", false)]),
    ("/auth/account", &[("get", true)]),
    ("/auth/sessions", &[("get", true)]),
    ("/auth/sessions/{id}", &[("delete", true)]),
    ("/auth/email/verify", &[("post", true)]),
    ("/auth/email/confirm", &[("post", false)]),
    ("/auth/email/change", &[("post", true)]),
    ("/auth/password/forgot", &[("post", false)]),
    ("/auth/password/reset", &[("post", false)]),
    ("/verify-email", &[("get", false), ("post", false)]),
    ("/reset-password", &[("get", false), ("post", false)]),
];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    serde_json::from_str(users_api::openapi::spec_json()).expect("the document is JSON")
}

#[actix_web::test]
async fn health_and_ready_answer_ok() {
    for t in TestApp::all() {
        let app = init!(t);
        for path in ["/health", "/ready"] {
            let r = send(&app, get(path)).await;
            r.assert(200, "success", "ok");
            assert_eq!(
                r.body.as_object().map(|o| o.len()),
                Some(2),
                "{} {path}: {}",
                t.backend(),
                r.body
            );
        }
        let r = send(&app, TestRequest::post().uri("/ready")).await;
        r.assert(405, "fail", "Method not allowed.");
    }
}

/// `/ready` is 503 while the database cannot be opened and 200 as soon as it can, with the
/// same app (no restart): here a SQLite file whose directory does not exist yet. The same
/// code path serves PostgreSQL, whose outage is covered by the outage test.
#[actix_web::test]
async fn ready_is_503_until_the_database_answers() {
    let dir =
        std::env::temp_dir().join(format!("users-api-ready-{}", uuid::Uuid::new_v4().simple()));
    let url = dir.join("db.sqlite").to_string_lossy().into_owned();
    let pool = users_db::build_pool(
        &url,
        PoolOptions {
            max_size: 2,
            connection_timeout: Duration::from_millis(300),
            min_idle: Some(0),
        },
    )
    .unwrap();
    // The pool above is the database under test; the configuration's URL is not opened
    // here, and a SQLite file whose directory does not exist is refused by the config.
    let vars = [
        ("APP_ENV", "testing"),
        ("DATABASE_TEST_URL", ":memory:"),
        ("SECRET_KEY", SECRET),
    ];
    let config = Config::from_vars(|k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let state = web::Data::new(AppState::new(config, pool).unwrap());
    let app = test::init_service(users_api::build_app(state)).await;

    for _ in 0..2 {
        let r = send(&app, get("/ready")).await;
        r.assert(503, "error", "Service unavailable. Try again later.");
        send(&app, get("/health"))
            .await
            .assert(200, "success", "ok");
    }
    std::fs::create_dir_all(&dir).unwrap();
    send(&app, get("/ready")).await.assert(200, "success", "ok");
    // And back: the database goes away again.
    std::fs::remove_dir_all(&dir).unwrap();
    let r = send(&app, get("/ready")).await;
    // An open SQLite connection keeps its unlinked file; only new connections fail. Either
    // way the answer is one of the two documented ones.
    assert!(
        matches!(r.status.as_u16(), 200 | 503),
        "{} {}",
        r.status,
        r.body
    );
}

#[actix_web::test]
async fn openapi_document_is_served_as_3_1() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, get("/openapi.json")).await;
        assert_eq!(r.status.as_u16(), 200);
        assert!(r.is_json(), "{:?}", r.headers);
        assert_eq!(r.body, spec(), "served document == generated document");
        let version = r.body["openapi"].as_str().unwrap();
        assert!(version.starts_with("3.1."), "openapi {version}");
        assert!(r.body["info"]["title"].is_string());
    }
}

#[test]
fn every_route_has_a_path_item_with_its_methods() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let want: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    let have: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(have, want, "documented paths");
    for (path, methods) in ROUTES {
        let item = paths[*path].as_object().unwrap();
        let documented: BTreeSet<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|k| HTTP_METHODS.contains(k))
            .collect();
        let expected: BTreeSet<&str> = methods.iter().map(|(m, _)| *m).collect();
        assert_eq!(documented, expected, "methods of {path}");
        for (method, secured) in *methods {
            let op = &item[*method];
            let security = op.get("security").and_then(Value::as_array);
            let bearer = security.is_some_and(|s| {
                s.iter()
                    .any(|req| req.get(users_api::openapi::BEARER).is_some())
            });
            assert_eq!(bearer, *secured, "{method} {path}: bearer security");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: a success response"
            );
            if *secured {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            if let Some(body) = op.get("requestBody") {
                // A JSON body can be invalid (400); an HTML form is answered with a page.
                let json = body["content"].get("application/json").is_some();
                let statuses: &[&str] = if json {
                    &["400", "408", "413"]
                } else {
                    &["408", "413"]
                };
                for status in statuses {
                    assert!(responses.contains_key(*status), "{method} {path}: {status}");
                }
            }
            // Every error is the envelope.
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorResponse",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

/// The paths in `app.rs` (each `resource("...")`) are exactly the documented ones.
#[test]
fn every_route_in_app_rs_is_documented() {
    let source = include_str!("../../src/app.rs");
    let mut in_app: BTreeSet<String> = source
        .split("resource(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(path, _)| path.to_owned()))
        .collect();
    if source.contains("resource(ops::DOCS_ASSET_PATH)") {
        in_app.insert(users_api::routes::ops::DOCS_ASSET_PATH.to_owned());
    }
    let spec = spec();
    let documented: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(in_app, documented);
}

#[test]
fn bodies_errors_params_and_headers_are_described() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let op = |path: &str, method: &str| spec["paths"][path][method].clone();
    let body_ref = |path: &str, method: &str| {
        op(path, method)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(|r| r.rsplit('/').next().unwrap().to_owned())
    };
    for (path, method, schema, fields) in [
        (
            "/auth/register",
            "post",
            "RegisterRequest",
            &["username", "email", "password"][..],
        ),
        (
            "/users",
            "post",
            "RegisterRequest",
            &["username", "email", "password"],
        ),
        (
            "/auth/login",
            "post",
            "LoginRequest",
            &["email", "password"],
        ),
        (
            "/auth/refresh",
            "post",
            "RefreshRequest",
            &["refresh_token"],
        ),
        (
            "/auth/password",
            "put",
            "PasswordChangeRequest",
            &["old_password", "new_password"],
        ),
    ] {
        assert_eq!(
            body_ref(path, method).as_deref(),
            Some(schema),
            "{method} {path}"
        );
        let required: BTreeSet<&str> = schemas[schema]["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, fields.iter().copied().collect(), "{schema}");
    }
    assert_eq!(
        body_ref("/users/{id}", "patch").as_deref(),
        Some("UserUpdateRequest")
    );
    assert_eq!(schemas["UserUpdateRequest"]["minProperties"], 1);
    assert!(schemas["UserUpdateRequest"].get("maxProperties").is_none());

    // The error envelope.
    let error = &schemas["ErrorResponse"];
    let required: BTreeSet<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["status", "message"]));
    assert_eq!(
        schemas["ErrorWord"]["enum"],
        serde_json::json!(["fail", "error"])
    );

    // 429 with Retry-After; 503 wherever the database is used.
    let login = op("/auth/login", "post");
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    let change = op("/auth/password", "put");
    assert!(change["responses"]["429"]["headers"]["Retry-After"].is_object());
    for (path, method) in [
        ("/ready", "get"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/status", "get"),
    ] {
        assert!(
            op(path, method)["responses"]["503"].is_object(),
            "{method} {path}: 503"
        );
    }

    // GET /users: limit 1..=1000, after, q; /users/{id}: id in the path.
    let params: BTreeMap<String, Value> = op("/users", "get")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p.clone()))
        .collect();
    assert_eq!(
        params.keys().map(String::as_str).collect::<Vec<_>>(),
        ["after", "limit", "q"]
    );
    for p in params.values() {
        assert_eq!(p["in"], "query");
        assert_eq!(p["required"], false);
    }
    assert_eq!(params["limit"]["schema"]["minimum"], 1);
    assert_eq!(params["limit"]["schema"]["maximum"], 1000);
    for method in ["get", "patch", "delete"] {
        let p = &op("/users/{id}", method)["parameters"][0];
        assert_eq!(
            (&p["name"], &p["in"]),
            (&"id".into(), &"path".into()),
            "{method}"
        );
    }

    // The bearer scheme.
    let scheme = &spec["components"]["securitySchemes"][users_api::openapi::BEARER];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
}

/// Each documented operation exists in the app: its method on its path (with a sample id)
/// is neither the unknown-route 404 nor a 405.
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let feed = [(
        "REVOCATION_FEED_TOKEN",
        "feed-token-0123456789abcdef0123456789",
    )];
    for t in users_db::testing::TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, &feed))
    {
        let app = init!(t);
        for (path, methods) in ROUTES {
            let uri = path.replace("{id}", "1");
            for (method, _) in *methods {
                let req = TestRequest::default()
                    .method(method.to_uppercase().parse().unwrap())
                    .uri(&uri);
                let r = send(&app, req).await;
                assert_ne!(r.status.as_u16(), 405, "{method} {uri}: {}", r.body);
                assert!(
                    !(r.status.as_u16() == 404 && r.message() == "Not found."),
                    "{method} {uri} is not routed"
                );
            }
        }
    }
}

#[actix_web::test]
async fn docs_page_works_offline() {
    for t in TestApp::all() {
        let app = init!(t);
        let page = send(&app, get("/docs")).await;
        assert_eq!(page.status.as_u16(), 200);
        assert!(
            page.header("content-type")
                .is_some_and(|v| v.starts_with("text/html")),
            "{:?}",
            page.headers
        );
        let html = std::str::from_utf8(&page.raw).unwrap();
        assert!(html.contains("<redoc"), "{html}");
        assert!(html.contains("openapi.json"), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
            "no external URL: {html}"
        );
        // The page allows nothing from elsewhere.
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("http"), "{csp}");

        // Every script and stylesheet it loads is served here.
        let srcs: Vec<&str> = html
            .split("src=\"")
            .skip(1)
            .chain(html.split("href=\"").skip(1))
            .filter_map(|rest| rest.split_once('"').map(|(v, _)| v))
            .collect();
        assert!(!srcs.is_empty(), "{html}");
        for src in srcs {
            assert!(
                !src.starts_with('/') && !src.contains(':'),
                "relative: {src}"
            );
            let uri = format!("/{src}");
            assert_eq!(uri, users_api::routes::ops::DOCS_ASSET_PATH);
            let asset = send(&app, get(&uri)).await;
            let js = &asset.raw;
            assert_eq!(asset.status.as_u16(), 200, "{uri}");
            assert!(
                asset
                    .header("content-type")
                    .is_some_and(|v| v.contains("javascript")),
                "{:?}",
                asset.headers
            );
            assert!(
                asset
                    .header("cache-control")
                    .is_some_and(|v| v.contains("max-age=31536000")),
                "{:?}",
                asset.headers
            );
            assert!(js.len() > 100_000, "{uri}: {} bytes", js.len());
            assert!(js.len() < 3 * 1024 * 1024, "{uri}: {} bytes", js.len());
            assert!(std::str::from_utf8(js).unwrap().contains("Redoc"));
        }
    }
}

/// Reads `value` as the body type the document names, as the handlers write it (every
/// response type refuses unknown fields).
fn reads_as(name: &str, value: &Value) -> bool {
    use users_api::bodies::*;
    let v = value.clone();
    match name {
        "ErrorResponse" => serde_json::from_value::<ErrorResponse>(v).is_ok(),
        "MessageResponse" => serde_json::from_value::<MessageResponse>(v).is_ok(),
        "TokenResponse" => serde_json::from_value::<TokenResponse>(v).is_ok(),
        "RevocationFeedResponse" => serde_json::from_value::<RevocationFeedResponse>(v).is_ok(),
        "AccountResponse" => serde_json::from_value::<AccountResponse>(v).is_ok(),
        "SessionListResponse" => serde_json::from_value::<SessionListResponse>(v).is_ok(),
        "LoginResponse" => serde_json::from_value::<LoginResponse>(v).is_ok(),
        "RegisterResponse" => serde_json::from_value::<RegisterResponse>(v).is_ok(),
        "TotpEnrolmentResponse" => serde_json::from_value::<TotpEnrolmentResponse>(v).is_ok(),
        "TotpEnabledResponse" => serde_json::from_value::<TotpEnabledResponse>(v).is_ok(),
        "UserListResponse" => serde_json::from_value::<UserListResponse>(v).is_ok(),
        "UserResponse" => serde_json::from_value::<UserResponse>(v).is_ok(),
        "StatusResponse" => serde_json::from_value::<StatusResponse>(v).is_ok(),
        "AdminUserResponse" => serde_json::from_value::<AdminUserResponse>(v).is_ok(),
        "Jwks" => serde_json::from_value::<Jwks>(v).is_ok(),
        other => panic!("no body type for schema {other}"),
    }
}

#[test]
fn every_documented_example_reads_as_its_type() {
    let spec = spec();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                let content = &response["content"]["application/json"];
                let Some(schema) = content["schema"]["$ref"].as_str() else {
                    continue;
                };
                let name = schema.rsplit('/').next().unwrap();
                let mut examples: Vec<Value> =
                    content.get("example").cloned().into_iter().collect();
                if let Some(named) = content["examples"].as_object() {
                    examples.extend(named.values().map(|e| e["value"].clone()));
                }
                for example in examples {
                    assert!(
                        reads_as(name, &example),
                        "{method} {path} {status}: {example} does not read as {name}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} examples found");
}
