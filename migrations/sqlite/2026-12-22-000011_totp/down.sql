DROP TRIGGER users_delete_removes_mfa;
DROP TABLE mfa_login_tokens;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
