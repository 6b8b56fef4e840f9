-- 0001_init: the certificate store, API definitions and the change feed (DESIGN §5,
-- STYLE 2.14). Applied by authd/migrate.c inside one transaction; forward-only: once
-- released, never edit this file, add 0002_*.sql instead. No BEGIN/COMMIT here.

-- migrate.c creates this table itself before reading it (IF NOT EXISTS keeps both in step).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
    seq bigserial NOT NULL UNIQUE,
    id text PRIMARY KEY,
    org_id text NOT NULL DEFAULT '',
    kind text NOT NULL CHECK (kind IN ('certificate', 'public_key')),
    pem text NOT NULL,
    fingerprint text NOT NULL DEFAULT '',
    subject_cn text NOT NULL DEFAULT '',
    issuer_cn text NOT NULL DEFAULT '',
    dns_names text[] NOT NULL DEFAULT '{}',
    meta jsonb NOT NULL,
    not_before timestamptz,
    not_after timestamptz,
    is_ca boolean NOT NULL DEFAULT false,
    key_envelope bytea,
    key_secret_id bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Private keys live only in key_envelope, encrypted (DESIGN §5).
    CONSTRAINT certificates_pem_no_private_key CHECK (position('PRIVATE KEY' IN pem) = 0)
);

COMMENT ON TABLE certificates IS 'Certificate store: id = org_id || sha256 hex of the leaf DER (or SPKI DER for a public key)';
COMMENT ON COLUMN certificates.seq IS 'Insertion order, for listings';
COMMENT ON COLUMN certificates.pem IS 'The PEM chain, or the PUBLIC KEY block; never a private key';
COMMENT ON COLUMN certificates.meta IS 'certinfo_meta() JSON: subject/issuer objects and the other parsed fields';
COMMENT ON COLUMN certificates.key_envelope IS 'keycrypt envelope of the private key (AES-256-GCM), or NULL';
COMMENT ON COLUMN certificates.key_secret_id IS 'Id of the secret that sealed key_envelope, for rekey';

CREATE INDEX certificates_org_seq_idx ON certificates (org_id, seq);

CREATE TABLE api_definitions (
    api_id text PRIMARY KEY,
    org_id text NOT NULL DEFAULT '',
    domain text NOT NULL DEFAULT '',
    listen_path text NOT NULL,
    definition jsonb NOT NULL,
    revision bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE api_definitions IS 'Tyk Classic API definitions (DESIGN §6)';

CREATE UNIQUE INDEX api_definitions_domain_listen_path_idx ON api_definitions (domain, listen_path);

-- One row: a counter bumped by every change to the tables above, so a reader can tell
-- whether its cached copy is current.
CREATE TABLE store_revision (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision bigint NOT NULL
);

INSERT INTO store_revision (id, revision) VALUES (true, 0);

-- Row trigger: bump store_revision and announce the change on channel certbound_changes as
-- {"table":…,"op":"insert|update|delete","id":…,"revision":…}; the notification is
-- delivered at commit. TG_ARGV[0] names the table's id column.
-- SET search_path FROM CURRENT: the unqualified store_revision below always means the
-- schema this migration ran in, whatever search_path the writing session has.
CREATE FUNCTION certbound_store_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    rec record;
    rev bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        rec := OLD;
    ELSE
        rec := NEW;
    END IF;
    UPDATE store_revision SET revision = revision + 1 WHERE id RETURNING revision INTO rev;
    PERFORM pg_notify('certbound_changes', json_build_object(
        'table', TG_TABLE_NAME,
        'op', lower(TG_OP),
        'id', to_jsonb(rec) ->> TG_ARGV[0],
        'revision', rev)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER certificates_changed
    AFTER INSERT OR UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certbound_store_changed('id');

CREATE TRIGGER api_definitions_changed
    AFTER INSERT OR UPDATE OR DELETE ON api_definitions
    FOR EACH ROW EXECUTE FUNCTION certbound_store_changed('api_id');
