//! The app factory, shared by `main` and the tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpResponse, web};

use crate::config::CorsOrigins;
use crate::metrics;
use crate::routes::{auth, ops, users};
use crate::state::AppState;

/// The response header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the application: routes, JSON fallbacks, CORS and request logging.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let cors = cors(&state.config.cors);
    App::new()
        .app_data(state)
        .wrap(cors)
        .wrap(from_fn(json_errors))
        .wrap(from_fn(log_request))
        .configure(routes)
        .default_service(web::to(ops::not_found))
}

/// Every route of the contract, each answering other methods with a JSON 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource =
        |path: &str| web::resource(path).default_service(web::to(ops::method_not_allowed));
    cfg.service(resource("/ping").route(web::get().to(ops::ping)))
        .service(resource("/health").route(web::get().to(ops::health)))
        .service(resource("/ready").route(web::get().to(ops::ready)))
        .service(resource("/openapi.json").route(web::get().to(ops::openapi_json)))
        .service(resource("/docs").route(web::get().to(ops::docs)))
        .service(resource(ops::DOCS_ASSET_PATH).route(web::get().to(ops::docs_asset)))
        .service(
            resource("/users")
                .route(web::get().to(users::list))
                .route(web::post().to(users::create)),
        )
        .service(
            resource("/users/{id}")
                .route(web::get().to(users::get))
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(resource("/auth/register").route(web::post().to(auth::register)))
        .service(resource("/auth/login").route(web::post().to(auth::login)))
        .service(resource("/auth/logout").route(web::get().to(auth::logout)))
        .service(resource("/auth/logout/all").route(web::post().to(auth::logout_all)))
        .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
        .service(resource("/auth/password").route(web::put().to(auth::change_password)))
        .service(resource("/auth/status").route(web::get().to(auth::status)))
        .service(resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(resource("/.well-known/jwks.json").route(web::get().to(metrics::jwks)));
}

fn cors(origins: &CorsOrigins) -> Cors {
    let cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_any_header()
        .expose_headers([REQUEST_ID])
        .max_age(3600);
    match origins {
        CorsOrigins::Any => cors.allow_any_origin(),
        CorsOrigins::List(list) => list
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin)),
    }
}

/// The last line of defence for "every body is JSON": an error that a handler did not
/// render (a framework or CORS refusal) becomes the contract's envelope with its status.
async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Errors rendered as responses (actix-cors refusals, say) arrive as `Ok`.
    let res = next.call(req).await?;
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let status = res.status();
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (req, old) = res.into_parts();
        let mut new = envelope(status);
        for (name, value) in old.headers() {
            if name != CONTENT_TYPE && name != CONTENT_LENGTH {
                new.headers_mut().append(name.clone(), value.clone());
            }
        }
        return Ok(ServiceResponse::new(req, new));
    }
    Ok(res.map_into_boxed_body())
}

fn envelope(status: StatusCode) -> HttpResponse {
    let word = if status.is_server_error() {
        "error"
    } else {
        "fail"
    };
    let message = format!("{}.", status.canonical_reason().unwrap_or("Error"));
    HttpResponse::build(status).json(serde_json::json!({"status": word, "message": message}))
}

/// One log line per request, with an id also returned as `X-Request-Id`. Only the method,
/// the matched route pattern, the status and the latency are logged: never headers or
/// bodies, so no token or password can reach the log.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let _in_flight = state.as_ref().map(|s| InFlight::enter(&s.in_flight));
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let status = res.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(method.as_str(), &route, status, elapsed);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed * 1000.0,
        "request"
    );
    Ok(res)
}

/// Counts a request as in flight for as long as it lives, even if its future is dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
