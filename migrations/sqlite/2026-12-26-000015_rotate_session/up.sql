-- PostgreSQL only: rotate_session, a function whose plan the server keeps. SQLite has no
-- stored functions; it runs the rotation's UPDATE as before (an in-process parse, cheap).
-- This keeps the two migration histories in step.
SELECT 1;
