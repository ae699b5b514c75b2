DROP INDEX mail_outbox_finished_idx;
DROP INDEX mail_outbox_user_purpose_idx;
DROP TABLE mail_tokens;
