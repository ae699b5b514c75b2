-- Nothing to create on SQLite: an instance learns of changes committed by any other
-- connection from `PRAGMA data_version` (see users-db's `listen`), which covers every
-- process and plain SQL. This migration exists so both backends share the numbering.
SELECT 1;
