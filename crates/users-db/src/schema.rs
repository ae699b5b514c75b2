//! The database schema, portable across SQLite and PostgreSQL.
//!
//! Hand-kept to the types both backends share (Integer, Varchar, Bool, Timestamp); the
//! migrations in `migrations/{sqlite,postgres}` create exactly this.

diesel::table! {
    /// The contract's users table (CONTRACT.md, "Users table").
    users (id) {
        /// Primary key, auto-increment.
        id -> Integer,
        /// Unique username.
        #[max_length = 128]
        username -> Varchar,
        /// Unique email.
        #[max_length = 128]
        email -> Varchar,
        /// The password hash (PHC string), never the password.
        #[max_length = 255]
        password -> Varchar,
        /// Whether the user may use protected routes.
        active -> Bool,
        /// Whether the user is an administrator.
        admin -> Bool,
        /// Creation time, UTC without zone.
        created_at -> Timestamp,
    }
}
