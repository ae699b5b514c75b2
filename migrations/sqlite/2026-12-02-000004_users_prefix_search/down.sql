DROP INDEX users_email_lower_idx;
DROP INDEX users_username_lower_idx;
