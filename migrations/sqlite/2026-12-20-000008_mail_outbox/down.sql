DROP TRIGGER users_delete_clears_mail_user;
DROP TABLE mail_outbox;
ALTER TABLE users DROP COLUMN email_verified_at;
