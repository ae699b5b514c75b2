//! Rebuilds the crate when a migration changes: `embed_migrations!` reads the SQL at compile
//! time, and cargo would not otherwise notice edits to files outside the crate.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
