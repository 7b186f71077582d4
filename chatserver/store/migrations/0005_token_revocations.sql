-- 0005_token_revocations: each hub process asks at every tick for the tokens revoked lately,
-- so that ending a session (sign-out, password or role change, disable — from any process or
-- the command line) closes its sockets everywhere (chatserver/web/sessions.py).
-- Applied inside the migration runner's transaction; this file must not BEGIN or COMMIT itself.
CREATE INDEX tokens_revoked ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
