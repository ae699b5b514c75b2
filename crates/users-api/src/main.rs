//! The `users-api` binary.

fn main() -> std::process::ExitCode {
    users_api::cli::run()
}
