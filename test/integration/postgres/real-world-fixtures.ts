/**
 * Schemas modelled on public sample databases and on patterns common in production, for the
 * real-world round-trip test. Written from scratch (no sample data copied).
 */

/** A pagila-like DVD rental schema: enum, domain, fulltext, triggers, a partitioned payment table. */
export const PAGILA_SQL = String.raw`
CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN public.year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE FUNCTION public.last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_update = CURRENT_TIMESTAMP;
    RETURN NEW;
END $$;
CREATE SEQUENCE public.actor_actor_id_seq;
CREATE TABLE public.actor (
    actor_id integer DEFAULT nextval('public.actor_actor_id_seq'::regclass) NOT NULL PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
ALTER SEQUENCE public.actor_actor_id_seq OWNED BY public.actor.actor_id;
CREATE INDEX idx_actor_last_name ON public.actor USING btree (last_name);
CREATE TRIGGER last_updated BEFORE UPDATE ON public.actor FOR EACH ROW EXECUTE FUNCTION public.last_updated();
CREATE TABLE public.language (language_id serial PRIMARY KEY, name character(20) NOT NULL, last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE public.category (category_id serial PRIMARY KEY, name text NOT NULL, last_update timestamptz DEFAULT now() NOT NULL);
CREATE TABLE public.film (
    film_id serial PRIMARY KEY,
    title text NOT NULL,
    description text,
    release_year public.year,
    language_id integer NOT NULL REFERENCES public.language ON UPDATE CASCADE ON DELETE RESTRICT,
    original_language_id integer REFERENCES public.language ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_duration smallint DEFAULT 3 NOT NULL,
    rental_rate numeric(4,2) DEFAULT 4.99 NOT NULL,
    length smallint,
    replacement_cost numeric(5,2) DEFAULT 19.99 NOT NULL,
    rating public.mpaa_rating DEFAULT 'G'::public.mpaa_rating,
    last_update timestamptz DEFAULT now() NOT NULL,
    special_features text[],
    fulltext tsvector NOT NULL
);
CREATE INDEX film_fulltext_idx ON public.film USING gist (fulltext);
CREATE INDEX idx_title ON public.film USING btree (title);
CREATE INDEX idx_fk_language_id ON public.film (language_id);
CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON public.film FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger('fulltext', 'pg_catalog.english', 'title', 'description');
CREATE TRIGGER last_updated BEFORE UPDATE ON public.film FOR EACH ROW EXECUTE FUNCTION public.last_updated();
CREATE TABLE public.film_actor (
    actor_id integer NOT NULL REFERENCES public.actor ON UPDATE CASCADE ON DELETE RESTRICT,
    film_id integer NOT NULL REFERENCES public.film ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz DEFAULT now() NOT NULL,
    PRIMARY KEY (actor_id, film_id)
);
CREATE TABLE public.film_category (
    film_id integer NOT NULL REFERENCES public.film ON UPDATE CASCADE ON DELETE RESTRICT,
    category_id integer NOT NULL REFERENCES public.category ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz DEFAULT now() NOT NULL,
    PRIMARY KEY (film_id, category_id)
);
CREATE TABLE public.staff (
    staff_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    active boolean DEFAULT true NOT NULL,
    username text NOT NULL,
    password text,
    last_update timestamptz DEFAULT now() NOT NULL,
    picture bytea
);
CREATE TABLE public.customer (
    customer_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    activebool boolean DEFAULT true NOT NULL,
    create_date date DEFAULT CURRENT_DATE NOT NULL,
    last_update timestamptz DEFAULT now(),
    active integer
);
CREATE INDEX idx_last_name ON public.customer (last_name);
CREATE TABLE public.rental (
    rental_id serial PRIMARY KEY,
    rental_date timestamptz NOT NULL,
    film_id integer NOT NULL REFERENCES public.film,
    customer_id integer NOT NULL REFERENCES public.customer ON UPDATE CASCADE ON DELETE RESTRICT,
    return_date timestamptz,
    staff_id integer NOT NULL REFERENCES public.staff,
    last_update timestamptz DEFAULT now() NOT NULL
);
CREATE UNIQUE INDEX idx_unq_rental ON public.rental (rental_date, film_id, customer_id);
CREATE TABLE public.payment (
    payment_id serial NOT NULL,
    customer_id integer NOT NULL REFERENCES public.customer,
    staff_id integer NOT NULL REFERENCES public.staff,
    rental_id integer NOT NULL,
    amount numeric(5,2) NOT NULL,
    payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
CREATE TABLE public.payment_p2022_01 PARTITION OF public.payment FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00');
CREATE TABLE public.payment_p2022_02 PARTITION OF public.payment FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00');
CREATE TABLE public.payment_p2022_03 PARTITION OF public.payment FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');
CREATE TABLE public.payment_default PARTITION OF public.payment DEFAULT;
CREATE INDEX idx_fk_payment_customer ON public.payment (customer_id);
CREATE VIEW public.actor_info AS
 SELECT a.actor_id, a.first_name, a.last_name,
    string_agg(DISTINCT c.name || ': ' || f.title, '; ') AS film_info
   FROM public.actor a
     LEFT JOIN public.film_actor fa ON fa.actor_id = a.actor_id
     LEFT JOIN public.film_category fc ON fc.film_id = fa.film_id
     LEFT JOIN public.category c ON c.category_id = fc.category_id
     LEFT JOIN public.film f ON f.film_id = fa.film_id
  GROUP BY a.actor_id, a.first_name, a.last_name;
CREATE VIEW public.customer_list AS SELECT customer_id AS id, first_name || ' ' || last_name AS name, email FROM public.customer;
CREATE MATERIALIZED VIEW public.rental_by_category AS
 SELECT c.name AS category, sum(p.amount) AS total_sales
   FROM public.payment p JOIN public.rental r ON p.rental_id = r.rental_id
     JOIN public.film_category fc ON fc.film_id = r.film_id JOIN public.category c ON fc.category_id = c.category_id
  GROUP BY c.name ORDER BY (sum(p.amount)) DESC;
CREATE UNIQUE INDEX rental_category ON public.rental_by_category (category);
CREATE FUNCTION public._group_concat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $_$
SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2 ELSE $1 || ', ' || $2 END
$_$;
CREATE AGGREGATE public.group_concat(text) (SFUNC = public._group_concat, STYPE = text);
CREATE FUNCTION public.first_rating_sfunc(public.mpaa_rating, public.mpaa_rating) RETURNS public.mpaa_rating LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)';
CREATE FUNCTION public.film_in_stock(p_film_id integer, OUT p_film_count integer) RETURNS SETOF integer LANGUAGE sql AS $_$
     SELECT film_id FROM public.film WHERE film_id = $1;
$_$;
CREATE FUNCTION public.inventory_held_by_customer(p_film_id integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_customer_id integer;
BEGIN
  SELECT customer_id INTO v_customer_id FROM public.rental WHERE return_date IS NULL AND film_id = p_film_id;
  RETURN v_customer_id;
END $$;
CREATE FUNCTION public.rewards(min_amount numeric DEFAULT 10.00) RETURNS SETOF public.customer LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  RETURN QUERY SELECT c.* FROM public.customer c WHERE c.customer_id IN
    (SELECT p.customer_id FROM public.payment p GROUP BY 1 HAVING sum(p.amount) > min_amount);
END $$;
CREATE FUNCTION public.rewards(min_amount integer, extra text) RETURNS integer LANGUAGE sql AS 'SELECT min_amount';
CREATE AGGREGATE public.my_percentile(float8 ORDER BY anyelement) (SFUNC = ordered_set_transition, STYPE = internal, FINALFUNC = percentile_disc_final, FINALFUNC_EXTRA);
CREATE AGGREGATE public.msum(numeric) (SFUNC = numeric_add, STYPE = numeric, INITCOND = '0', MSFUNC = numeric_add, MINVFUNC = numeric_sub, MSTYPE = numeric, MINITCOND = '0', COMBINEFUNC = numeric_add, PARALLEL = SAFE);
CREATE AGGREGATE public.first_rating(public.mpaa_rating) (SFUNC = public.first_rating_sfunc, STYPE = public.mpaa_rating);
-- a column default calling a SQL-standard function that reads the same table: a dependency loop
CREATE TABLE public.ticket (id int PRIMARY KEY, n int NOT NULL);
CREATE FUNCTION public.next_ticket() RETURNS int LANGUAGE sql STABLE BEGIN ATOMIC SELECT coalesce(max(n), 0) + 1 FROM public.ticket; END;
ALTER TABLE public.ticket ALTER COLUMN n SET DEFAULT public.next_ticket();
INSERT INTO public.ticket (id) VALUES (1), (2);
INSERT INTO public.language (name) VALUES ('English'), ('Italian'), ('Japanese');
INSERT INTO public.category (name) VALUES ('Action'), ('Animation'), ('Comedy');
INSERT INTO public.actor (first_name, last_name) SELECT 'First' || i, 'Last' || (i % 17) FROM generate_series(1, 200) i;
INSERT INTO public.film (title, description, release_year, language_id, rating, special_features, fulltext)
  SELECT 'Film ' || i, 'A ' || (ARRAY['thrilling','boring','epic'])[1 + i % 3] || ' story of ' || i, 1990 + i % 30, 1 + i % 3,
    (enum_range(NULL::public.mpaa_rating))[1 + i % 5], (ARRAY['Trailers', 'Deleted Scenes'])[1:1 + i % 2], ''
  FROM generate_series(1, 300) i;
INSERT INTO public.film_actor (actor_id, film_id) SELECT 1 + i % 200, 1 + (i * 7) % 300 FROM generate_series(1, 600) i ON CONFLICT DO NOTHING;
INSERT INTO public.film_category (film_id, category_id) SELECT i, 1 + i % 3 FROM generate_series(1, 300) i;
INSERT INTO public.staff (first_name, last_name, username, picture) VALUES ('Mike', 'Hillyer', 'Mike', decode('89504e470d0a1a0a0000', 'hex')), ('Jon', 'Stephens', 'Jon', NULL);
INSERT INTO public.customer (first_name, last_name, email, active) SELECT 'C' || i, 'L' || i, 'c' || i || '@example.org', i % 2 FROM generate_series(1, 150) i;
INSERT INTO public.rental (rental_date, film_id, customer_id, staff_id, return_date)
  SELECT timestamptz '2022-01-01' + i * interval '7 hours', 1 + i % 300, 1 + i % 150, 1 + i % 2, CASE WHEN i % 5 > 0 THEN timestamptz '2022-01-05' + i * interval '7 hours' END
  FROM generate_series(1, 500) i;
INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
  SELECT 1 + i % 150, 1 + i % 2, i, (i % 10) + 0.99, timestamptz '2022-01-01' + i * interval '5 hours' FROM generate_series(1, 500) i;
REFRESH MATERIALIZED VIEW public.rental_by_category;
SELECT setval('public.actor_actor_id_seq', 1000);
`;

/** Contrib extensions as production databases use them. */
export const EXTENSIONS_SQL = String.raw`
CREATE EXTENSION pg_trgm;
CREATE EXTENSION ltree;
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE EXTENSION "uuid-ossp";
CREATE EXTENSION pgcrypto;
CREATE EXTENSION intarray;
CREATE EXTENSION cube;
CREATE EXTENSION earthdistance;
CREATE EXTENSION btree_gin;
CREATE EXTENSION unaccent;
CREATE EXTENSION lo;
REVOKE EXECUTE ON FUNCTION public.digest(text, text) FROM PUBLIC;
CREATE TABLE public.docs (
  id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
  legacy_id uuid DEFAULT uuid_generate_v4() NOT NULL,
  title text NOT NULL,
  path ltree,
  attrs hstore,
  email citext UNIQUE,
  tags int[] DEFAULT '{}',
  pos cube,
  lat float8, lon float8,
  digest bytea GENERATED ALWAYS AS (digest(title, 'sha256')) STORED
);
CREATE INDEX docs_title_trgm ON public.docs USING gin (title gin_trgm_ops);
CREATE INDEX docs_title_trgm_gist ON public.docs USING gist (title gist_trgm_ops(siglen = 32));
CREATE INDEX docs_path ON public.docs USING gist (path);
CREATE INDEX docs_attrs ON public.docs USING gin (attrs);
CREATE INDEX docs_tags ON public.docs USING gin (tags gin__int_ops);
CREATE INDEX docs_earth ON public.docs USING gist (ll_to_earth(lat, lon));
CREATE INDEX docs_gin_multi ON public.docs USING gin (legacy_id, title);
INSERT INTO public.docs (title, path, attrs, email, tags, pos, lat, lon)
  SELECT 'Doc ' || i || ' ' || md5(i::text), ('top.s' || (i % 5) || '.n' || i)::ltree, hstore('k', i::text), 'User' || i || '@Example.org',
    ARRAY[i % 7, i % 11], cube(i, i * 2), 40 + i / 100.0, -70 - i / 100.0
  FROM generate_series(1, 400) i;
CREATE TABLE public.images (id serial PRIMARY KEY, name text, raster lo);
CREATE TRIGGER t_raster BEFORE UPDATE OR DELETE ON public.images FOR EACH ROW EXECUTE FUNCTION lo_manage(raster);
INSERT INTO public.images (name, raster) VALUES ('small', lo_from_bytea(0, decode('deadbeef', 'hex'))),
  ('big', lo_from_bytea(0, convert_to(repeat('0123456789abcdef', 300000), 'UTF8'))),
  ('empty', lo_from_bytea(0, '')), ('none', NULL);
SELECT lo_from_bytea(424242, 'orphan blob with a fixed oid');
COMMENT ON LARGE OBJECT 424242 IS 'kept on purpose';
CREATE TABLE public.attachments (id int PRIMARY KEY, blob oid);
INSERT INTO public.attachments VALUES (1, 424242);
`;

/** Production patterns and odd names; several need a superuser (event trigger, publication). */
export const PATTERNS_SQL = String.raw`
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rw_app') THEN CREATE ROLE rw_app; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ro_app') THEN CREATE ROLE ro_app; END IF;
END $$;
CREATE EXTENSION btree_gist;
CREATE SCHEMA billing;
CREATE SCHEMA "Odd Schema.ü";
-- identity columns, restarted, and one sequence shared by two tables
CREATE TABLE billing.invoice (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000 INCREMENT BY 10) PRIMARY KEY, total numeric(12,2) NOT NULL DEFAULT 0);
CREATE TABLE billing.line (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, invoice_id bigint NOT NULL, qty int CHECK (qty > 0), price numeric);
ALTER TABLE billing.line ALTER COLUMN id RESTART WITH 500;
CREATE SEQUENCE billing.global_id;
CREATE TABLE billing.note_a (id bigint DEFAULT nextval('billing.global_id') PRIMARY KEY, body text);
CREATE TABLE billing.note_b (id bigint DEFAULT nextval('billing.global_id') PRIMARY KEY, body text);
-- self-referencing and circular foreign keys
CREATE TABLE billing.employee (id int PRIMARY KEY, manager_id int REFERENCES billing.employee(id), dept_id int);
CREATE TABLE billing.dept (id int PRIMARY KEY, head_id int);
ALTER TABLE billing.employee ADD CONSTRAINT employee_dept_fk FOREIGN KEY (dept_id) REFERENCES billing.dept(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE billing.dept ADD CONSTRAINT dept_head_fk FOREIGN KEY (head_id) REFERENCES billing.employee(id) DEFERRABLE INITIALLY DEFERRED;
-- exclusion constraint, partial / expression / INCLUDE / opclass / collation indexes
CREATE TABLE billing.booking (id int PRIMARY KEY, room int NOT NULL, during tsrange NOT NULL, guest text COLLATE "C",
  EXCLUDE USING gist (room WITH =, during WITH &&) WHERE (room > 0));
CREATE INDEX booking_open ON billing.booking (room) WHERE upper_inf(during);
CREATE INDEX booking_lower_guest ON billing.booking (lower(guest) text_pattern_ops);
CREATE INDEX booking_inc ON billing.booking (room) INCLUDE (guest) WITH (fillfactor = 80);
CREATE INDEX booking_guest_posix ON billing.booking (guest COLLATE "POSIX" DESC NULLS LAST);
COMMENT ON INDEX billing.booking_inc IS 'covering';
ALTER TABLE billing.booking CLUSTER ON booking_inc;
ALTER TABLE billing.booking ALTER COLUMN guest SET STATISTICS 1000;
ALTER TABLE billing.booking ALTER COLUMN guest SET STORAGE EXTERNAL;
ALTER TABLE billing.booking SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.01, autovacuum_enabled = false);
ALTER TABLE billing.booking REPLICA IDENTITY FULL;
ALTER TABLE billing.invoice ALTER COLUMN total SET COMPRESSION pglz;
CREATE FUNCTION billing.last_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
-- constraint trigger, INSTEAD OF trigger, rule
CREATE FUNCTION billing.check_total() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER invoice_total AFTER INSERT OR UPDATE ON billing.invoice DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing.check_total();
CREATE VIEW billing.invoice_v AS SELECT id, total FROM billing.invoice;
CREATE FUNCTION billing.invoice_v_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO billing.invoice (total) VALUES (NEW.total); RETURN NEW; END $$;
CREATE TRIGGER invoice_v_ins INSTEAD OF INSERT ON billing.invoice_v FOR EACH ROW EXECUTE FUNCTION billing.invoice_v_ins();
ALTER VIEW billing.invoice_v ALTER COLUMN total SET DEFAULT 0;
CREATE RULE note_a_no_delete AS ON DELETE TO billing.note_a DO INSTEAD NOTHING;
CREATE VIEW billing.big_invoices WITH (security_barrier = true, check_option = cascaded) AS SELECT * FROM billing.invoice WHERE total > 100;
CREATE VIEW billing.local_check WITH (check_option = local) AS SELECT * FROM billing.line WHERE qty < 100;
CREATE RECURSIVE VIEW billing.org_chart (id, manager_id, depth) AS
  SELECT id, manager_id, 0 FROM billing.employee WHERE manager_id IS NULL
  UNION ALL SELECT e.id, e.manager_id, o.depth + 1 FROM billing.employee e JOIN org_chart o ON e.manager_id = o.id;
-- row-level security with FORCE, column grants, default privileges
CREATE TABLE billing.tenant_data (tenant text NOT NULL, secret text, public_note text);
ALTER TABLE billing.tenant_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing.tenant_data FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_iso ON billing.tenant_data USING (tenant = current_user);
GRANT SELECT (tenant, public_note) ON billing.tenant_data TO ro_app;
GRANT USAGE ON SCHEMA billing TO ro_app, rw_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT SELECT ON TABLES TO ro_app;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO rw_app;
ALTER DEFAULT PRIVILEGES FOR ROLE rw_app IN SCHEMA billing GRANT USAGE ON SEQUENCES TO ro_app;
-- security definer with a pinned search_path; comments on functions
CREATE FUNCTION billing.total_of(inv bigint) RETURNS numeric LANGUAGE sql STABLE SECURITY DEFINER SET search_path = billing, pg_temp
  AS 'SELECT sum(qty * price) FROM line WHERE invoice_id = inv';
COMMENT ON FUNCTION billing.total_of(bigint) IS 'search_path-dependent body';
CREATE FUNCTION billing.f(a int) RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION billing.f(a text) RETURNS text LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION billing.f(a int, b int DEFAULT 2) RETURNS int LANGUAGE sql AS 'SELECT a + b';
CREATE PROCEDURE billing.bump(INOUT n int) LANGUAGE plpgsql AS $$ BEGIN n := n + 1; END $$;
-- multiple inheritance, generated columns, unlogged
CREATE TABLE billing.audited (created_at timestamptz DEFAULT now() NOT NULL, created_by text);
CREATE TABLE billing.named (name text NOT NULL CHECK (name <> ''), created_by text);
CREATE TABLE billing.product (sku text PRIMARY KEY, price numeric, price_with_tax numeric GENERATED ALWAYS AS (price * 1.2) STORED)
  INHERITS (billing.audited, billing.named);
ALTER TABLE billing.product ALTER COLUMN created_by SET NOT NULL;
CREATE UNLOGGED TABLE billing.cache (k text PRIMARY KEY, v jsonb) WITH (autovacuum_enabled = off);
-- reserved words, mixed case, spaces, quotes, dots, unicode; the same table name in two schemas
CREATE TABLE "Odd Schema.ü"."user" ("select" int PRIMARY KEY, "from" text, "Mixed Case" text, "with space" text, "quo""te" text, "dot.ted" text, "ünï" text);
CREATE TABLE "Odd Schema.ü"."Order Items" (id int PRIMARY KEY, "user" int REFERENCES "Odd Schema.ü"."user"("select"));
CREATE INDEX "Idx ""Q"" ü" ON "Odd Schema.ü"."Order Items" ("user");
CREATE TABLE public.invoice (id int PRIMARY KEY, note text);
CREATE TABLE billing."Invoice" (id int PRIMARY KEY);
COMMENT ON COLUMN "Odd Schema.ü"."user"."quo""te" IS 'a column with a "quote"';
-- 50 partitions, hash sub-partitions, partition-wise foreign key
CREATE TABLE billing.events (id bigint NOT NULL, at date NOT NULL, kind text, payload jsonb, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
DO $$ BEGIN FOR i IN 0..48 LOOP
  EXECUTE format('CREATE TABLE billing.events_%s PARTITION OF billing.events FOR VALUES FROM (%L) TO (%L)', i,
    date '2020-01-01' + i * 7, date '2020-01-01' + (i + 1) * 7);
END LOOP; END $$;
CREATE TABLE billing.events_rest PARTITION OF billing.events DEFAULT PARTITION BY HASH (id);
CREATE TABLE billing.events_rest_0 PARTITION OF billing.events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE billing.events_rest_1 PARTITION OF billing.events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE billing.events_old (kind text, dropme int, payload jsonb, at date NOT NULL, id bigint NOT NULL);
ALTER TABLE billing.events_old DROP COLUMN dropme;
INSERT INTO billing.events_old VALUES ('old', '{"o": 1}', date '2019-06-01', 1000001);
ALTER TABLE billing.events ATTACH PARTITION billing.events_old FOR VALUES FROM ('2019-01-01') TO ('2020-01-01');
ALTER TABLE billing.events ADD CONSTRAINT events_id_positive CHECK (id > 0);
CREATE INDEX events_kind ON billing.events (kind);
CREATE TABLE billing.event_ref (id int PRIMARY KEY, event_id bigint, event_at date, FOREIGN KEY (event_id, event_at) REFERENCES billing.events);
-- details that live outside CREATE TABLE
COMMENT ON INDEX billing.invoice_pkey IS 'primary key index';
ALTER TABLE billing.cache SET (toast.autovacuum_enabled = false, toast_tuple_target = 256);
CREATE STATISTICS billing.line_stats (ndistinct, dependencies) ON invoice_id, qty FROM billing.line;
ALTER STATISTICS billing.line_stats SET STATISTICS 500;
ALTER DEFAULT PRIVILEGES FOR ROLE ro_app REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
CREATE TABLE billing."new
line	tab" ("a""b" int);
INSERT INTO billing."new
line	tab" VALUES (1);
-- more shapes: domains over domains, arrays of domains and enums, composite defaults, trigger options
CREATE TYPE billing.status AS ENUM ('new', 'paid');
ALTER TYPE billing.status ADD VALUE 'draft' BEFORE 'new';
CREATE DOMAIN billing.money_amt AS numeric(12,2) CHECK (VALUE >= 0);
CREATE DOMAIN billing.small_amt AS billing.money_amt CHECK (VALUE < 1000);
CREATE TYPE billing.addr AS (street text, zip text);
CREATE TABLE billing.shapes (
  id int PRIMARY KEY,
  amounts billing.small_amt[] DEFAULT '{}',
  states billing.status[] DEFAULT ARRAY['new']::billing.status[],
  home billing.addr DEFAULT ROW('main st', '00000')::billing.addr,
  rel regclass, fn regprocedure, typ regtype,
  code text UNIQUE NULLS NOT DISTINCT,
  parent_id int,
  other_id int
);
CREATE UNIQUE INDEX shapes_other_uq ON billing.shapes (other_id);
ALTER TABLE billing.shapes ADD CONSTRAINT shapes_parent_fk FOREIGN KEY (parent_id) REFERENCES billing.shapes (id) MATCH FULL ON DELETE SET NULL (parent_id);
CREATE TABLE billing.shape_ref (id int PRIMARY KEY, other_id int REFERENCES billing.shapes (other_id));
CREATE FUNCTION billing.audit_stmt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER shapes_upd AFTER UPDATE OF code ON billing.shapes FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION billing.audit_stmt();
CREATE TRIGGER shapes_stmt AFTER INSERT ON billing.shapes REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION billing.audit_stmt();
CREATE TRIGGER events_row BEFORE INSERT ON billing.events FOR EACH ROW EXECUTE FUNCTION billing.last_touch();
INSERT INTO billing.shapes VALUES (1, '{1.50, 2}', '{new,paid}', ROW('x', '1'), 'billing.invoice', 'billing.f(integer)', 'billing.status', NULL, NULL, 5);
INSERT INTO billing.shapes (id, parent_id, code) VALUES (2, 1, 'b');
INSERT INTO billing.shape_ref VALUES (1, 5);
CREATE TABLE billing.by_name (name text COLLATE "C" NOT NULL, v int) PARTITION BY LIST (lower(name));
CREATE TABLE billing.by_name_a PARTITION OF billing.by_name FOR VALUES IN ('a');
CREATE TABLE billing.by_name_rest PARTITION OF billing.by_name DEFAULT;
INSERT INTO billing.by_name VALUES ('A', 1), ('b', 2);
-- data
INSERT INTO billing.invoice (total) SELECT i * 3.5 FROM generate_series(1, 50) i;
INSERT INTO billing.line (invoice_id, qty, price) SELECT 1000 + 10 * (i % 50), 1 + i % 4, i FROM generate_series(1, 200) i;
INSERT INTO billing.line (invoice_id, qty, price) VALUES (999999, 1, -1);
INSERT INTO billing.note_a (body) VALUES ('a1'), ('a2'); INSERT INTO billing.note_b (body) VALUES ('b1');
INSERT INTO billing.employee VALUES (1, NULL, NULL), (2, 1, NULL), (3, 2, NULL);
INSERT INTO billing.dept VALUES (10, 1); UPDATE billing.employee SET dept_id = 10;
INSERT INTO billing.booking VALUES (1, 1, '[2024-01-01,2024-01-05)', 'Zoë'), (2, 1, '[2024-01-05,)', 'al'), (3, 0, '[2024-01-01,2024-01-05)', NULL);
INSERT INTO billing.tenant_data VALUES ('postgres', 's1', 'n1'), ('other', 's2', 'n2');
INSERT INTO billing.product (sku, price, name, created_by) VALUES ('A-1', 10, 'Widget', 'me');
INSERT INTO billing.cache VALUES ('k', '{"v": 1}');
INSERT INTO "Odd Schema.ü"."user" VALUES (1, 'f', 'M', 's', 'q"', 'd.t', 'ü');
INSERT INTO "Odd Schema.ü"."Order Items" VALUES (1, 1), (2, NULL);
INSERT INTO public.invoice VALUES (1, 'public one'); INSERT INTO billing."Invoice" VALUES (7);
INSERT INTO billing.events SELECT i, date '2020-01-01' + (i % 400), 'k' || (i % 3), jsonb_build_object('i', i) FROM generate_series(1, 2000) i;
INSERT INTO billing.event_ref VALUES (1, 5, date '2020-01-06');
-- NOT VALID constraints that existing rows violate
ALTER TABLE billing.line ADD CONSTRAINT line_invoice_fk FOREIGN KEY (invoice_id) REFERENCES billing.invoice(id) NOT VALID;
ALTER TABLE billing.line ADD CONSTRAINT line_price_chk CHECK (price >= 0) NOT VALID;
COMMENT ON CONSTRAINT line_invoice_fk ON billing.line IS 'not validated yet';
`;

/** Catalog objects outside tables: collations, text search, operators, casts, event triggers, publications. */
export const CATALOG_SQL = String.raw`
CREATE SCHEMA ext;
CREATE COLLATION ext.c_coll (provider = libc, locale = 'C');
CREATE COLLATION ext.posix_coll FROM "POSIX";
CREATE COLLATION ext.und_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE COLLATION ext.de_icu (provider = icu, locale = 'de-DE');
COMMENT ON COLLATION ext.c_coll IS 'bytewise';
CREATE TABLE ext.words (w text COLLATE ext.c_coll, ci text COLLATE ext.und_ci, de text COLLATE ext.de_icu);
CREATE INDEX words_posix ON ext.words (w COLLATE ext.posix_coll);
INSERT INTO ext.words VALUES ('b', 'ABC', 'Äpfel'), ('a', 'abc', 'Zebra');
CREATE TEXT SEARCH DICTIONARY ext.english_stem_nostop (TEMPLATE = snowball, language = english);
CREATE TEXT SEARCH DICTIONARY ext.simple_dict (TEMPLATE = pg_catalog.simple, stopwords = english, accept = false);
CREATE TEXT SEARCH CONFIGURATION ext.my_english (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION ext.my_english ALTER MAPPING FOR asciiword, word WITH ext.simple_dict, ext.english_stem_nostop;
ALTER TEXT SEARCH CONFIGURATION ext.my_english DROP MAPPING FOR email;
COMMENT ON TEXT SEARCH CONFIGURATION ext.my_english IS 'custom fts';
CREATE TABLE ext.articles (id int PRIMARY KEY, body text, tsv tsvector GENERATED ALWAYS AS (to_tsvector('ext.my_english'::regconfig, body)) STORED);
CREATE INDEX articles_tsv ON ext.articles USING gin (tsv);
INSERT INTO ext.articles (id, body) VALUES (1, 'The quick brown foxes jumped'), (2, 'Lazy dogs');
-- a type with custom operators and a btree operator class
CREATE TYPE ext.complex AS (re float8, im float8);
CREATE FUNCTION ext.complex_abs(ext.complex) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS 'SELECT sqrt($1.re * $1.re + $1.im * $1.im)';
CREATE FUNCTION ext.complex_lt(ext.complex, ext.complex) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS 'SELECT ext.complex_abs($1) < ext.complex_abs($2)';
CREATE FUNCTION ext.complex_le(ext.complex, ext.complex) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS 'SELECT ext.complex_abs($1) <= ext.complex_abs($2)';
CREATE FUNCTION ext.complex_eq(ext.complex, ext.complex) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS 'SELECT ext.complex_abs($1) = ext.complex_abs($2)';
CREATE FUNCTION ext.complex_ge(ext.complex, ext.complex) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS 'SELECT ext.complex_abs($1) >= ext.complex_abs($2)';
CREATE FUNCTION ext.complex_gt(ext.complex, ext.complex) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS 'SELECT ext.complex_abs($1) > ext.complex_abs($2)';
CREATE FUNCTION ext.complex_cmp(ext.complex, ext.complex) RETURNS int LANGUAGE sql IMMUTABLE STRICT
  AS 'SELECT CASE WHEN ext.complex_abs($1) < ext.complex_abs($2) THEN -1 WHEN ext.complex_abs($1) > ext.complex_abs($2) THEN 1 ELSE 0 END';
CREATE OPERATOR ext.<# (LEFTARG = ext.complex, RIGHTARG = ext.complex, FUNCTION = ext.complex_lt, COMMUTATOR = OPERATOR(ext.>#), NEGATOR = OPERATOR(ext.>=#), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR ext.<=# (LEFTARG = ext.complex, RIGHTARG = ext.complex, FUNCTION = ext.complex_le);
CREATE OPERATOR ext.=# (LEFTARG = ext.complex, RIGHTARG = ext.complex, FUNCTION = ext.complex_eq, COMMUTATOR = OPERATOR(ext.=#), RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR ext.>=# (LEFTARG = ext.complex, RIGHTARG = ext.complex, FUNCTION = ext.complex_ge);
CREATE OPERATOR ext.># (LEFTARG = ext.complex, RIGHTARG = ext.complex, FUNCTION = ext.complex_gt);
CREATE OPERATOR ext.@@@ (RIGHTARG = ext.complex, FUNCTION = ext.complex_abs);
COMMENT ON OPERATOR ext.<#(ext.complex, ext.complex) IS 'less by magnitude';
CREATE OPERATOR CLASS ext.complex_abs_ops DEFAULT FOR TYPE ext.complex USING btree AS
  OPERATOR 1 ext.<#, OPERATOR 2 ext.<=#, OPERATOR 3 ext.=#, OPERATOR 4 ext.>=#, OPERATOR 5 ext.>#, FUNCTION 1 ext.complex_cmp(ext.complex, ext.complex);
CREATE OPERATOR FAMILY ext.extra_fam USING hash;
CREATE TABLE ext.points (id int PRIMARY KEY, c ext.complex);
CREATE INDEX points_c ON ext.points (c);
CREATE INDEX points_c_explicit ON ext.points (c ext.complex_abs_ops);
INSERT INTO ext.points VALUES (1, ROW(3, 4)), (2, ROW(1, 1));
-- casts
CREATE FUNCTION ext.complex_to_float(ext.complex) RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT ext.complex_abs($1)';
CREATE CAST (ext.complex AS float8) WITH FUNCTION ext.complex_to_float(ext.complex) AS ASSIGNMENT;
CREATE CAST (ext.complex AS text) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (ext.complex AS float8) IS 'magnitude';
-- text search parser and template (built-in C functions), typed table, attribute options
CREATE TEXT SEARCH PARSER ext.my_parser (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype, HEADLINE = prsd_headline);
CREATE TEXT SEARCH TEMPLATE ext.my_template (INIT = dsimple_init, LEXIZE = dsimple_lexize);
CREATE TEXT SEARCH DICTIONARY ext.tmpl_dict (TEMPLATE = ext.my_template, stopwords = english);
CREATE TEXT SEARCH CONFIGURATION ext.parsed (PARSER = ext.my_parser);
ALTER TEXT SEARCH CONFIGURATION ext.parsed ADD MAPPING FOR word, asciiword WITH ext.tmpl_dict;
CREATE TYPE ext.person AS (name text, age int);
COMMENT ON COLUMN ext.person.age IS 'in years';
CREATE TABLE ext.people OF ext.person (age WITH OPTIONS DEFAULT 0 NOT NULL, PRIMARY KEY (name));
INSERT INTO ext.people VALUES ('ann', 3);
ALTER TABLE ext.words ALTER COLUMN w SET (n_distinct = 100);
-- foreign data: an extension's wrapper, a wrapper of our own, servers, user mappings, foreign tables
CREATE EXTENSION postgres_fdw;
CREATE SERVER remote_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.example', dbname 'app', port '5432');
CREATE USER MAPPING FOR postgres SERVER remote_srv OPTIONS (user 'app', password 'not-a-real-one');
CREATE USER MAPPING FOR PUBLIC SERVER remote_srv;
CREATE FOREIGN TABLE ext.remote_users (id int NOT NULL, name text OPTIONS (column_name 'full_name'), CHECK (id > 0))
  SERVER remote_srv OPTIONS (schema_name 'public', table_name 'users');
COMMENT ON FOREIGN TABLE ext.remote_users IS 'lives elsewhere';
CREATE FOREIGN DATA WRAPPER dummy_fdw OPTIONS (debug 'true');
CREATE SERVER dummy_srv TYPE 'kv' VERSION '1.0' FOREIGN DATA WRAPPER dummy_fdw;
COMMENT ON SERVER dummy_srv IS 'nowhere';
CREATE TABLE ext.sharded (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
CREATE TABLE ext.sharded_local PARTITION OF ext.sharded FOR VALUES IN ('here');
CREATE FOREIGN TABLE ext.sharded_remote PARTITION OF ext.sharded FOR VALUES IN ('there') SERVER remote_srv OPTIONS (table_name 'sharded');
INSERT INTO ext.sharded VALUES (1, 'here');
-- database-level settings and comment (pg_dump keeps them only with --create)
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = ext, public', current_database());
  EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '8MB');
  EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'America/New_York');
  EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'the catalog''s database');
END $$;
-- event trigger and publications (superuser)
CREATE FUNCTION ext.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ddl %', tg_tag; END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION ext.log_ddl();
CREATE EVENT TRIGGER log_drop ON sql_drop EXECUTE FUNCTION ext.log_ddl();
ALTER EVENT TRIGGER log_drop DISABLE;
COMMENT ON EVENT TRIGGER log_ddl IS 'audit';
CREATE PUBLICATION pub_all_words FOR TABLE ext.words, ext.articles (id, body) WHERE (id > 0) WITH (publish = 'insert, update');
CREATE PUBLICATION pub_schema FOR TABLES IN SCHEMA ext;
CREATE PUBLICATION pub_everything FOR ALL TABLES WITH (publish_via_partition_root = true);
COMMENT ON PUBLICATION pub_schema IS 'whole schema';
`;

/** Kinds dbbackup deliberately does not reproduce: each must surface as a manifest warning. */
export const UNSUPPORTED_SQL = String.raw`
CREATE CONVERSION public.my_conv FOR 'UTF8' TO 'LATIN1' FROM pg_catalog.utf8_to_iso8859_1;
CREATE SUBSCRIPTION my_sub CONNECTION 'host=127.0.0.1 dbname=nowhere' PUBLICATION p WITH (connect = false, enabled = false, create_slot = false, slot_name = NONE);
CREATE TABLE public.kept (id int PRIMARY KEY);
INSERT INTO public.kept VALUES (1), (2);
DO $$ BEGIN
  EXECUTE format('ALTER ROLE postgres IN DATABASE %I SET work_mem = %L', current_database(), '16MB');
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC', current_database());
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
`;
