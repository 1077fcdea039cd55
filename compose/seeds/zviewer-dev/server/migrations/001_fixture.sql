-- Fixture for the document's `./server/migrations:/docker-entrypoint-initdb.d` mount: the
-- document does not show ZViewer's SQL migrations. The postgres image runs *.sql files here in
-- POSTGRES_DB on the first start only, as the upstream image does. Deliberately not the app's
-- own schema: the reference app that plays the Go services runs its own (embedded) migrations,
-- and a table created here first would make them fail.
CREATE TABLE IF NOT EXISTS zviewer_fixture_init (
    id         SERIAL PRIMARY KEY,
    note       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO zviewer_fixture_init (note) VALUES ('created by /docker-entrypoint-initdb.d/001_fixture.sql');
