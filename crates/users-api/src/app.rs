//! The app factory, shared by `main` and the tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpResponse, guard, web};

use crate::config::CorsOrigins;
use crate::error::{ApiError, ErrorChain};
use crate::metrics;
use crate::routes::{account, auth, email, mfa, ops, pages, revocations, users};
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
        .app_data(web::Data::new(ops::OpenApiDocument(
            crate::openapi::spec_json(),
        )))
        // `web::Query` parameters that do not parse are the contract's 400.
        .app_data(
            web::QueryConfig::default()
                .error_handler(|_, _| ApiError::invalid_payload(crate::error::Word::Fail).into()),
        )
        .wrap(cors)
        .wrap(from_fn(json_errors))
        .wrap(from_fn(refuse_ambiguous_framing))
        .wrap(from_fn(log_request))
        .configure(routes)
        .default_service(web::to(ops::not_found))
}

/// Every route of the contract, each answering other methods with a JSON 405. `GET`
/// routes answer `HEAD` too, as `GET` without the body (actix-http drops it on the wire).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource =
        |path: &str| web::resource(path).default_service(web::to(ops::method_not_allowed));
    // Static paths first: actix tries resources in this order, and a pattern with a `{...}`
    // segment is matched with a regular expression, which a request for a static path then
    // never pays for.
    cfg.service(resource("/ping").route(read().to(ops::ping)))
        .service(resource("/health").route(read().to(ops::health)))
        .service(resource("/ready").route(read().to(ops::ready)))
        .service(resource("/auth/status").route(read().to(auth::status)))
        .service(resource("/openapi.json").route(read().to(ops::openapi_json)))
        .service(resource("/docs").route(read().to(ops::docs)))
        .service(resource(ops::DOCS_ASSET_PATH).route(read().to(ops::docs_asset)))
        .service(
            resource("/users")
                .route(read().to(users::list))
                .route(web::post().to(users::create)),
        )
        .service(resource("/auth/register").route(web::post().to(auth::register)))
        .service(resource("/auth/login").route(web::post().to(auth::login)))
        .service(resource("/auth/login/mfa").route(web::post().to(mfa::login_second_step)))
        .service(
            resource("/auth/mfa/totp")
                .route(web::post().to(mfa::enrol))
                .route(web::delete().to(mfa::disable)),
        )
        .service(resource("/auth/mfa/totp/confirm").route(web::post().to(mfa::confirm)))
        .service(resource("/auth/logout").route(read().to(auth::logout)))
        .service(resource("/auth/logout/all").route(web::post().to(auth::logout_all)))
        .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
        .service(resource("/auth/password").route(web::put().to(auth::change_password)))
        .service(resource("/auth/password/forgot").route(web::post().to(email::forgot)))
        .service(resource("/auth/password/reset").route(web::post().to(email::reset)))
        .service(resource("/auth/email/verify").route(web::post().to(email::verify)))
        .service(resource("/auth/email/confirm").route(web::post().to(email::confirm)))
        .service(resource("/auth/email/change").route(web::post().to(email::change)))
        .service(
            resource("/verify-email")
                .route(read().to(pages::verify_page))
                .route(web::post().to(pages::verify_submit)),
        )
        .service(
            resource("/reset-password")
                .route(read().to(pages::reset_page))
                .route(web::post().to(pages::reset_submit)),
        )
        .service(resource("/auth/revocations").route(read().to(revocations::feed)))
        .service(resource("/auth/account").route(read().to(account::account)))
        .service(resource("/auth/sessions").route(read().to(account::sessions)))
        .service(resource("/metrics").route(read().to(ops::metrics)))
        .service(resource("/.well-known/jwks.json").route(read().to(ops::jwks)))
        .service(
            resource("/users/{id}")
                .route(read().to(users::get))
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(resource("/users/{id}/mfa").route(web::delete().to(mfa::admin_disable)))
        .service(resource("/auth/sessions/{id}").route(web::delete().to(account::revoke_session)));
}

/// A `GET` route that answers `HEAD` as well.
fn read() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
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

/// Per-connection state, installed by [`on_connect`]: set once a request on the connection
/// was framed ambiguously, so that nothing after it on that connection is served.
#[derive(Debug, Clone, Default)]
pub struct ConnectionGuard(Arc<std::sync::atomic::AtomicBool>);

/// `HttpServer::on_connect` callback: gives each connection its [`ConnectionGuard`].
pub fn on_connect(_: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    data.insert(ConnectionGuard::default());
}

/// A request with both `Content-Length` and `Transfer-Encoding` could be framed two ways,
/// and a proxy in front of us may have picked the other one: what we would read as the
/// next request on the connection is the classic smuggled request. RFC 9112 section 6.1:
/// refuse it with 400 and close the connection. actix-http has already read (and queued)
/// whatever followed it in the same packets, so the connection's guard also refuses every
/// later request on it.
async fn refuse_ambiguous_framing(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let headers = req.headers();
    let ambiguous = headers.contains_key(CONTENT_LENGTH) && headers.contains_key(TRANSFER_ENCODING);
    let guard = req.conn_data::<ConnectionGuard>().cloned();
    let poisoned = guard.as_ref().is_some_and(|g| g.0.load(Ordering::SeqCst));
    if ambiguous || poisoned {
        if let Some(guard) = guard {
            guard.0.store(true, Ordering::SeqCst);
        }
        let res = HttpResponse::BadRequest()
            .force_close()
            .json(serde_json::json!({"status": "fail", "message": "Bad request."}));
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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

/// A request id: 32 hex digits, a random prefix drawn once per process and a counter, so
/// that ids are unique across instances and restarts without a system call per request
/// (a UUID v4 per request drew from the kernel each time: 1% of `/auth/status`'s CPU).
fn request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU64;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // No randomness: the process id and the start time still tell instances apart.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            return t ^ (u64::from(std::process::id()) << 32);
        }
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}")
}

/// One log line per request, with an id also returned as `X-Request-Id`. Only the method,
/// the matched route pattern, the status and the latency are logged: never headers or
/// bodies, so no token or password can reach the log.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id();
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let _in_flight = state.as_ref().map(|s| InFlight::enter(&s.in_flight));
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unknown>".to_owned());
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
    // The error of this response, with its cause chain: logged here, once, on the request's
    // own line (handlers and extractors only attach it).
    let cause = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .and_then(ApiError::cause)
        .map(|c| ErrorChain(c).to_string());
    let method = metrics::method_label(method.as_str());
    match cause {
        Some(error) if status >= 500 => tracing::error!(
            request_id = %id, method, route = %route, status,
            latency_ms = elapsed * 1000.0, error = %error, "request"
        ),
        Some(error) => tracing::warn!(
            request_id = %id, method, route = %route, status,
            latency_ms = elapsed * 1000.0, error = %error, "request"
        ),
        None => tracing::info!(
            request_id = %id, method, route = %route, status,
            latency_ms = elapsed * 1000.0, "request"
        ),
    }
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
