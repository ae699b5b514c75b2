//! A small resource server: `GET /hello` for callers with a valid, unrevoked access
//! token of the users service at `USERS_URL` (default `http://127.0.0.1:5000`).

use actix_web::{App, HttpServer, web};
use users_verifier::actix::Authenticated;
use users_verifier::{Settings, Verifier};

async fn hello(Authenticated(claims): Authenticated) -> String {
    format!("hello, user {}", claims.sub)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let verifier = Verifier::start(
        Settings::new(
            std::env::var("USERS_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned()),
        )
        .feed_token(std::env::var("REVOCATION_FEED_TOKEN").unwrap_or_default()),
    )
    .map_err(std::io::Error::other)?;
    let verifier = web::Data::new(verifier);
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/hello", web::get().to(hello))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
