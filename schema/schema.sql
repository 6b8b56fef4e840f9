-- schema/schema.sql: the database schema after every migration (STYLE 2.14).
-- Generated, do not edit: pg_dump --schema-only --no-owner --no-privileges of a
-- database migrated from scratch by authd/migrate.c. Regenerate after adding a
-- migration with:
--   CB_UPDATE_SCHEMA=1 ctest --test-dir <build> -R integration.test_migrate
-- integration.test_migrate fails while this file and migrations/ disagree.
-- (pg_dump's \restrict lines, which carry a random key, are left out.)

--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: certbound_store_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.certbound_store_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO '$user', 'public'
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


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_definitions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_definitions (
    api_id text NOT NULL,
    org_id text DEFAULT ''::text NOT NULL,
    domain text DEFAULT ''::text NOT NULL,
    listen_path text NOT NULL,
    definition jsonb NOT NULL,
    revision bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE api_definitions; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.api_definitions IS 'Tyk Classic API definitions (DESIGN §6)';


--
-- Name: certificates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.certificates (
    seq bigint NOT NULL,
    id text NOT NULL,
    org_id text DEFAULT ''::text NOT NULL,
    kind text NOT NULL,
    pem text NOT NULL,
    fingerprint text DEFAULT ''::text NOT NULL,
    subject_cn text DEFAULT ''::text NOT NULL,
    issuer_cn text DEFAULT ''::text NOT NULL,
    dns_names text[] DEFAULT '{}'::text[] NOT NULL,
    meta jsonb NOT NULL,
    not_before timestamp with time zone,
    not_after timestamp with time zone,
    is_ca boolean DEFAULT false NOT NULL,
    key_envelope bytea,
    key_secret_id bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT certificates_kind_check CHECK ((kind = ANY (ARRAY['certificate'::text, 'public_key'::text]))),
    CONSTRAINT certificates_pem_no_private_key CHECK ((POSITION(('PRIVATE KEY'::text) IN (pem)) = 0))
);


--
-- Name: TABLE certificates; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.certificates IS 'Certificate store: id = org_id || sha256 hex of the leaf DER (or SPKI DER for a public key)';


--
-- Name: COLUMN certificates.seq; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.certificates.seq IS 'Insertion order, for listings';


--
-- Name: COLUMN certificates.pem; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.certificates.pem IS 'The PEM chain, or the PUBLIC KEY block; never a private key';


--
-- Name: COLUMN certificates.meta; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.certificates.meta IS 'certinfo_meta() JSON: subject/issuer objects and the other parsed fields';


--
-- Name: COLUMN certificates.key_envelope; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.certificates.key_envelope IS 'keycrypt envelope of the private key (AES-256-GCM), or NULL';


--
-- Name: COLUMN certificates.key_secret_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.certificates.key_secret_id IS 'Id of the secret that sealed key_envelope, for rekey';


--
-- Name: certificates_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.certificates_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: certificates_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.certificates_seq_seq OWNED BY public.certificates.seq;


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: store_revision; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.store_revision (
    id boolean DEFAULT true NOT NULL,
    revision bigint NOT NULL,
    CONSTRAINT store_revision_id_check CHECK (id)
);


--
-- Name: certificates seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates ALTER COLUMN seq SET DEFAULT nextval('public.certificates_seq_seq'::regclass);


--
-- Name: api_definitions api_definitions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_definitions
    ADD CONSTRAINT api_definitions_pkey PRIMARY KEY (api_id);


--
-- Name: certificates certificates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT certificates_pkey PRIMARY KEY (id);


--
-- Name: certificates certificates_seq_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT certificates_seq_key UNIQUE (seq);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: store_revision store_revision_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.store_revision
    ADD CONSTRAINT store_revision_pkey PRIMARY KEY (id);


--
-- Name: api_definitions_domain_listen_path_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX api_definitions_domain_listen_path_idx ON public.api_definitions USING btree (domain, listen_path);


--
-- Name: certificates_org_seq_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_org_seq_idx ON public.certificates USING btree (org_id, seq);


--
-- Name: api_definitions api_definitions_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_definitions_changed AFTER INSERT OR DELETE OR UPDATE ON public.api_definitions FOR EACH ROW EXECUTE FUNCTION public.certbound_store_changed('api_id');


--
-- Name: certificates certificates_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER certificates_changed AFTER INSERT OR DELETE OR UPDATE ON public.certificates FOR EACH ROW EXECUTE FUNCTION public.certbound_store_changed('id');


--
-- PostgreSQL database dump complete
--


