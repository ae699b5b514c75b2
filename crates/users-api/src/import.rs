//! `users-api import-flask --from <database url>`: copies users (ids, password hashes,
//! flags, dates) from the Flask service's database, idempotently.

use users_db::users::{ImportOutcome, PageCursor};
use users_db::{DbConnection, DbError};

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Users read from the source.
    pub read: usize,
    /// Users inserted.
    pub imported: usize,
    /// Users whose id was already here (an earlier run).
    pub already_present: usize,
    /// Users not imported because another user here has their id, username or email.
    pub conflicts: usize,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read {}, imported {}, already present {}, conflicts {}",
            self.read, self.imported, self.already_present, self.conflicts
        )
    }
}

/// Copies every user of `source` (a database with the Flask service's `users` table) into
/// `target`, keeping ids. bcrypt hashes are kept as they are and upgraded to argon2id at each
/// user's next login.
pub fn import_users(
    source: &mut DbConnection,
    target: &mut DbConnection,
) -> Result<ImportReport, DbError> {
    let mut report = ImportReport::default();
    let mut after: Option<PageCursor> = None;
    loop {
        let page =
            users_db::users::list_contract_columns(source, after, users_db::users::MAX_LIST_LIMIT)?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(PageCursor::from(last));
        for user in &page {
            report.read += 1;
            match users_db::users::import(target, user)? {
                ImportOutcome::Imported => report.imported += 1,
                ImportOutcome::AlreadyPresent => report.already_present += 1,
                ImportOutcome::IdTaken => {
                    report.conflicts += 1;
                    tracing::warn!(user_id = %user.id, "not imported: the id is another user's here");
                }
                ImportOutcome::Conflict(field) => {
                    report.conflicts += 1;
                    tracing::warn!(user_id = %user.id, %field, "not imported: taken here");
                }
            }
        }
    }
    users_db::users::sync_id_sequence(target)?;
    Ok(report)
}
