DROP INDEX login_failures_subject_idx;
DROP TABLE login_failures;
