//! The `users-api` command line.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{HttpServer, web};
use clap::{Parser, Subcommand};
use users_db::{DbPool, PoolOptions};
use users_domain::{PasswordHasher, Signup};

use crate::config::{Config, LogFormat, Profile};
use crate::error::ErrorChain;
use crate::{AppState, build_app};

/// The users service.
#[derive(Debug, Parser)]
#[command(name = "users-api", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run pending migrations, then serve HTTP (the default).
    Serve,
    /// Run pending migrations and exit.
    Migrate,
    /// Revert every migration and apply them again: an empty database.
    RecreateDb {
        /// Required in production.
        #[arg(long)]
        force: bool,
    },
    /// Insert two sample users into the existing database (refused in production).
    SeedDb,
    /// Create a user in the existing database; the password is read from stdin, or prompted
    /// for on a terminal.
    CreateUser {
        /// Username.
        #[arg(long)]
        username: String,
        /// Email.
        #[arg(long)]
        email: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Copy users (ids, hashes, flags, dates) from the Flask service's database; idempotent.
    ImportFlask {
        /// The Flask service's database URL (postgres://... or an existing SQLite file).
        #[arg(long)]
        from: String,
    },
    /// Write a new PEM private key for JWT_PRIVATE_KEY_FILE (stdout, or --out with mode 0600).
    Keygen {
        /// eddsa (Ed25519), es256 (P-256) or rs256 (RSA).
        #[arg(long)]
        algorithm: auth_token::SigningAlgorithm,
        /// Write to this file (created, never overwritten) instead of stdout.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// A failure of a command: its message, and the exit code (2 for bad configuration or usage).
struct Failure(u8, String);

/// Exit codes, as the README documents them.
pub mod exit {
    /// Bad configuration, arguments or input.
    pub const USAGE: u8 = 2;
    /// The database could not be reached (try again later).
    pub const UNAVAILABLE: u8 = 3;
    /// The user (username or email) already exists.
    pub const CONFLICT: u8 = 4;
    /// Anything else.
    pub const FAILURE: u8 = 1;
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    /// The exit code comes from the kind of the error or of a cause in its chain: a
    /// database that cannot be reached is [`exit::UNAVAILABLE`], else [`exit::FAILURE`].
    fn from(e: E) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut code = exit::FAILURE;
        while let Some(c) = cause {
            if c.downcast_ref::<users_db::DbError>()
                .is_some_and(users_db::DbError::is_unavailable)
            {
                code = exit::UNAVAILABLE;
                break;
            }
            cause = c.source();
        }
        Self(code, ErrorChain(&e).to_string())
    }
}

/// Runs the command line; the process exits with the returned code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Keygen { algorithm, out }) = &cli.command {
        // Needs no configuration, so it works before one exists.
        return match keygen(*algorithm, out.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure(code, message)) => {
                eprintln!("users-api: {message}");
                ExitCode::from(code)
            }
        };
    }
    // `.env` first; variables already in the environment win.
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("users-api: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => open_db(&config).map(|_| ()),
        Command::RecreateDb { force } => recreate_db(&config, force),
        Command::SeedDb => seed_db(&config),
        Command::CreateUser {
            username,
            email,
            admin,
        } => create_user(&config, &username, &email, admin),
        Command::Config => {
            print!("{}", config.render());
            Ok(())
        }
        Command::Keygen { .. } => Ok(()),
        Command::ImportFlask { from } => import_flask(&config, &from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("users-api: {message}");
            ExitCode::from(code)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: a file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The variable that names the database in this profile.
fn database_variable(config: &Config) -> &'static str {
    match config.profile {
        Profile::Testing => "DATABASE_TEST_URL",
        _ => "DATABASE_URL",
    }
}

/// Refuses a SQLite file that does not exist: only `serve`, `migrate` and `recreate-db`
/// create one, so that a command run from another directory (or with a typo) does not
/// silently work on a new, empty database.
fn require_existing(what: &str, url: &str) -> Result<(), Failure> {
    match crate::config::sqlite_file(url) {
        Some(file) if !file.exists() => Err(Failure(
            2,
            format!(
                "{what}: no SQLite database at {} (only serve, migrate and recreate-db create \
                 one; run this command where the database is, or set {what})",
                file.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// [`open_db`] for the commands that work on an existing database.
fn open_existing_db(config: &Config) -> Result<DbPool, Failure> {
    require_existing(database_variable(config), &config.database_url)?;
    open_db(config)
}

/// Connects and runs pending migrations.
fn open_db(config: &Config) -> Result<DbPool, Failure> {
    let pool = users_db::build_pool(
        &config.database_url,
        PoolOptions {
            max_size: config.db_pool_size,
            connection_timeout: Duration::from_secs(config.db_pool_timeout_secs),
            ..PoolOptions::default()
        },
    )?;
    let mut conn = users_db::get_conn(&pool)?;
    let applied = users_db::run_migrations(&mut conn)?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    Ok(pool)
}

/// Binds every address `HOST` resolves to on `PORT`, as actix-web's `bind` does, but before
/// anything else runs: a name that does not resolve, an address not on this machine or a
/// port in use is one line naming its variable, exit 2.
fn bind_listeners(host: &str, port: u16) -> Result<Vec<std::net::TcpListener>, Failure> {
    use std::io::ErrorKind;
    use std::net::ToSocketAddrs as _;
    let addrs: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Failure(
                2,
                format!("invalid configuration: HOST: cannot resolve {host:?}: {e}"),
            )
        })?
        .collect();
    let mut listeners = Vec::new();
    let mut last_error = None;
    for addr in &addrs {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => listeners.push(l),
            Err(e) => last_error = Some((*addr, e)),
        }
    }
    match (listeners.is_empty(), last_error) {
        (false, _) => Ok(listeners),
        (true, None) => Err(Failure(
            2,
            format!("invalid configuration: HOST: {host:?} resolves to no address"),
        )),
        (true, Some((addr, e))) => {
            let variable = match e.kind() {
                ErrorKind::AddrNotAvailable => "HOST",
                _ => "PORT",
            };
            Err(Failure(
                2,
                format!("invalid configuration: {variable}: cannot listen on {addr}: {e}"),
            ))
        }
    }
}

fn serve(config: Config) -> Result<(), Failure> {
    let listeners = bind_listeners(&config.host, config.port)?;
    if config.secret_generated {
        tracing::warn!(
            "SECRET_KEY is not set: using a key generated for this process; tokens will not \
             survive a restart (set SECRET_KEY)"
        );
    }
    let pool = open_db(&config)?;
    let workers = config.workers;
    let request_timeout = Duration::from_secs(config.request_timeout_secs);
    let state = web::Data::new(AppState::new(config, pool)?);
    // Purges ended sessions and old failed logins for as long as the server runs.
    let _maintenance = crate::maintenance::spawn(&state);
    // Delivers the outbox's mail (and that of instances that stopped with mail pending).
    let _delivery = crate::mail::spawn(&state);
    // Hears every change to users and sessions, so the auth cache can serve.
    let _listener = state.listen();
    let stopping = state.clone();
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let mut server = HttpServer::new(move || build_app(state.clone()))
            .on_connect(crate::app::on_connect)
            .workers(workers)
            .shutdown_timeout(30)
            .client_request_timeout(request_timeout)
            .disable_signals();
        for listener in listeners {
            server = server.listen(listener)?;
        }
        for addr in server.addrs() {
            tracing::info!(%addr, workers, "listening");
        }
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            stop_signal().await;
            drain_and_stop(&handle, &stopping).await;
        });
        server.await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn recreate_db(config: &Config, force: bool) -> Result<(), Failure> {
    if config.profile == Profile::Production && !force {
        return Err(Failure(
            2,
            "recreate-db deletes every user: pass --force to do it in production".into(),
        ));
    }
    let pool = open_db(config)?;
    let mut conn = users_db::get_conn(&pool)?;
    users_db::revert_all_migrations(&mut conn)?;
    users_db::run_migrations(&mut conn)?;
    tracing::info!("database recreated");
    Ok(())
}

fn seed_db(config: &Config) -> Result<(), Failure> {
    if config.profile == Profile::Production {
        return Err(Failure(2, "seed-db is refused in production".into()));
    }
    let pool = open_existing_db(config)?;
    let hasher = PasswordHasher::new(config.hash_cost)?;
    let mut conn = users_db::get_conn(&pool)?;
    for (username, email) in [
        ("michael", "michael@reallynotreal.com"),
        ("michaelherman", "michael@mherman.org"),
    ] {
        let user = Signup::parse(username, email, "greaterthaneight", config.password_policy)?
            .hash(&hasher)?;
        match users_db::users::insert(&mut conn, &user) {
            Ok(u) => tracing::info!(user_id = %u.id, username, "seeded"),
            Err(users_db::DbError::Duplicate { .. }) => {
                tracing::info!(username, "already present");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn keygen(
    algorithm: auth_token::SigningAlgorithm,
    out: Option<&std::path::Path>,
) -> Result<(), Failure> {
    use std::io::Write as _;
    let pem = auth_token::generate_private_key_pem(algorithm)
        .map_err(|e| Failure(2, format!("keygen: {e}")))?;
    match out {
        None => {
            print!("{pem}");
            Ok(())
        }
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| Failure(1, format!("cannot create {}: {e}", path.display())))?;
            file.write_all(pem.as_bytes())?;
            eprintln!(
                "wrote a {} private key to {}",
                algorithm.as_str(),
                path.display()
            );
            Ok(())
        }
    }
}

fn import_flask(config: &Config, from: &str) -> Result<(), Failure> {
    require_existing("--from", from)?;
    require_existing(database_variable(config), &config.database_url)?;
    let mut source = users_db::DbConnection::open(from)
        .map_err(|e| Failure(2, format!("invalid --from: {}", ErrorChain(&e))))?;
    let pool = open_db(config)?;
    let mut target = users_db::get_conn(&pool)?;
    let report = crate::import::import_users(&mut source, &mut target)?;
    println!("import-flask: {report}");
    Ok(())
}

fn read_password() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line
    };
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn create_user(config: &Config, username: &str, email: &str, admin: bool) -> Result<(), Failure> {
    require_existing(database_variable(config), &config.database_url)?;
    let signup = Signup::parse(username, email, &read_password()?, config.password_policy)
        .map_err(|e| {
            let flag = if e.field == "password" {
                "password"
            } else {
                &format!("--{}", e.field)
            };
            Failure(2, format!("invalid {flag}: {}", e.reason))
        })?;
    let pool = open_existing_db(config)?;
    let hasher = PasswordHasher::new(config.hash_cost)?;
    let mut user = signup.hash(&hasher)?;
    user.admin = admin;
    let mut conn = users_db::get_conn(&pool)?;
    match users_db::users::insert(&mut conn, &user) {
        Ok(u) => {
            println!(
                "created user {} ({}){}",
                u.id,
                u.email,
                if admin { ", admin" } else { "" }
            );
            Ok(())
        }
        Err(users_db::DbError::Duplicate { field }) => Err(Failure(
            exit::CONFLICT,
            format!("that {field} is already taken"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// How long a stop waits for the requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Stops the server gracefully, in our order rather than actix-server's alone: stop
/// accepting, wait until no request is in flight (at most [`DRAIN_TIMEOUT`]), then stop
/// the workers. actix-server's own graceful stop races: the accept thread exits first and
/// a worker that sees its connection channel closed before its stop message ends at once,
/// dropping the requests it was serving (seen in `scripts/shutdown.sh`). With nothing in
/// flight, that race can only close idle connections. Long polls of the revocation feed are
/// told to answer at once.
async fn drain_and_stop(handle: &actix_web::dev::ServerHandle, state: &AppState) {
    tracing::info!("stop signal: no new connections, finishing requests in flight");
    handle.pause().await;
    // Long polls of the revocation feed answer now rather than at the end of their wait.
    state.begin_stop();
    let in_flight = &state.in_flight;
    let started = std::time::Instant::now();
    while in_flight.load(Ordering::SeqCst) > 0 && started.elapsed() < DRAIN_TIMEOUT {
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    // The last responses leave the socket buffers.
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    handle.stop(true).await;
}

/// Waits for SIGTERM or SIGINT (Ctrl-C): both stop gracefully. If the handlers cannot be
/// installed, waits for ever (the signals then act as the system's default).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT");
            std::future::pending::<()>().await;
        }
    }
}
