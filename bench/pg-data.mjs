// Data sets for bench/postgres.mjs. `scale` 1 ≈ 1 GB of database (tables + indexes).
//
// realistic (default): values with the entropy of application data — names, e-mail addresses, prices,
//   timestamps, IP addresses, event payloads with random tokens, and prose drawn from a skewed vocabulary.
//   Its plain dump compresses about 3:1 with gzip-6, as the 338 MB reference dump in ../shared/TESTING.md
//   did (2.89:1); the speed targets of the PostgreSQL issue were derived from that reference.
// compressible: the data set of earlier sessions (a blank char(84) filler as in pgbench, repeated text);
//   it compresses about 9:1, which makes gzip (and so pg_dump -Fc) unusually fast.
// sysbench: the two tables `sysbench oltp_common prepare` makes (random digit strings), for when the
//   sysbench binary is not installed (bench/postgres.mjs runs the real one when it is).
// wide: wide rows with jsonb, json, bytea (pseudo-random bytes, incompressible), arrays, uuid, numeric,
//   and a table of ~10 kB TOASTed attachments (half random, half zeros).
// tables10k: 10,000 small tables (a primary key each), `scale` sets their rows (1 GB ≈ 1,250 rows each).
// Every profile but pgbench's is seeded (setseed): the same sizeMB gives the same data.

const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Karim', 'Aiko', 'Olga', 'Mateo', 'Chloé', 'Søren', 'Zoë', 'Ngozi', 'Wei', 'Priya', 'José', 'Fatima', 'Lukas', 'Emma', 'Noah', 'Amara', 'Ivan', 'Yuki', 'Hiroshi', 'Ana', 'Björn', 'Leila'];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Müller', 'Schmidt', 'Nakamura', 'Kowalski', 'Novak', 'Okafor', 'Haddad', 'Chen', 'Wang', 'Singh'];
const DOMAINS = ['example.com', 'mail.test', 'corp.example', 'uni.example.edu', 'shop.test', 'post.example.org'];
const KINDS = ['view', 'click', 'add_to_cart', 'purchase', 'refund', 'login', 'logout', 'search', 'share', 'review'];
const AGENTS = ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148', 'okhttp/4.12.0', 'curl/8.8.0'];
const PATHS = ['/', '/search', '/cart', '/checkout', '/account', '/products/', '/blog/', '/help/', '/api/v2/items/', '/category/'];
const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'to', 'sa', 'vel', 'in', 'or', 'an', 'pre', 'di', 'cu', 'mar', 'est', 'po', 'li', 'ne', 'ter', 'qua', 'ble', 'ri', 'son', 'al', 'u', 'e', 'con', 'ti', 'ga', 'ho', 'ment', 'ly', 'ing', 'er', 'ab', 'str', 'ou', 'ch', 'ph', 'th'];

const arr = (values) => `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
const pick = (values) => `(${arr(values)})[1 + floor(random() * ${values.length})::int]`;

export function buildSql(profile, scale) {
  const n = (x) => Math.max(1, Math.round(x * scale));
  if (profile === 'compressible') {
    return `
    CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE, created timestamptz);
    INSERT INTO users SELECT i, 'user ' || i, 'user' || i || '@example.test', '2024-01-01'::timestamptz + i * interval '1 minute'
      FROM generate_series(1, ${n(500_000)}) i;
    CREATE TABLE accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84));
    INSERT INTO accounts SELECT i, i / 100000, (i::bigint * 7919) % 100000 - 50000, '' FROM generate_series(1, ${n(2_000_000)}) i;
    CREATE TABLE events (id bigint PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), at timestamptz NOT NULL, kind text,
      amount numeric(12,2), payload jsonb);
    INSERT INTO events SELECT i, 1 + (i::bigint * 7919) % ${n(500_000)}, '2024-01-01'::timestamptz + i * interval '1 second',
      (ARRAY['view','click','buy','refund','login'])[1 + i % 5], (i % 100000) / 100.0,
      jsonb_build_object('session', md5(i::text), 'n', i % 977, 'tags', jsonb_build_array('a', i % 13, 'c'))
      FROM generate_series(1, ${n(2_600_000)}) i;
    CREATE INDEX events_user ON events (user_id);
    CREATE INDEX events_at ON events (at);
    CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
    INSERT INTO docs SELECT i, 'doc ' || i, repeat(md5(i::text) || ' lorem ipsum dolor sit amet ', 12) FROM generate_series(1, ${n(150_000)}) i;`;
  }
  if (profile === 'sysbench') {
    // As `sysbench oltp_common prepare` makes them: 2 tables of 2 M × scale rows (scale 0.25 = the
    // 2 × 500 k of issue 23), c and pad made of random 11-digit groups joined by '-', an index on k.
    const rows = n(2_000_000);
    const digits = (groups) => `array_to_string(ARRAY(SELECT lpad(floor(random() * 1e11)::bigint::text, 11, '0') FROM generate_series(1, ${groups}) WHERE i > 0), '-')`;
    return `SELECT setseed(0.17);` + [1, 2]
      .map((t) => `
    CREATE TABLE sbtest${t} (id serial PRIMARY KEY, k integer NOT NULL DEFAULT 0, c char(120) NOT NULL DEFAULT '', pad char(60) NOT NULL DEFAULT '');
    INSERT INTO sbtest${t} (k, c, pad) SELECT floor(random() * ${rows})::int, ${digits(10)}, ${digits(5)} FROM generate_series(1, ${rows}) i;
    CREATE INDEX k_${t} ON sbtest${t} (k);`)
      .join('');
  }
  if (profile === 'wide') return wideSql(n);
  if (profile === 'tables10k') return tables10kSql(scale);
  if (profile !== 'realistic') throw new Error(`unknown data profile ${profile}: realistic, compressible, sysbench, pgbench, wide or tables10k`);
  const users = n(400_000);
  return `
    SELECT setseed(0.42);
    CREATE TABLE vocab (id int PRIMARY KEY, word text NOT NULL);
    INSERT INTO vocab SELECT i, w FROM (
      SELECT i, ${pick(SYLLABLES)} || ${pick(SYLLABLES)} || CASE WHEN random() < 0.6 THEN ${pick(SYLLABLES)} ELSE '' END
        || CASE WHEN random() < 0.3 THEN ${pick(SYLLABLES)} ELSE '' END AS w
      FROM generate_series(1, 6000) i) s;
    CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE, country char(2), created timestamptz NOT NULL,
      active boolean NOT NULL, balance numeric(12,2));
    INSERT INTO users SELECT i, f || ' ' || l, lower(f) || '.' || lower(l) || i || '@' || ${pick(DOMAINS)},
      ${pick(['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'NG', 'CA', 'ES', 'IT', 'PL', 'SE', 'MX', 'KR'])},
      '2019-01-01'::timestamptz + random() * interval '2000 days', random() < 0.87, round((random() * 5000 - 500)::numeric, 2)
      FROM (SELECT i, ${pick(FIRST)} f, ${pick(LAST)} l FROM generate_series(1, ${users}) i) s;
    CREATE TABLE events (id bigint PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), at timestamptz NOT NULL, kind text NOT NULL,
      ip inet, amount numeric(12,2), payload jsonb);
    INSERT INTO events SELECT i, 1 + floor(random() * ${users})::int,
      '2024-01-01'::timestamptz + i * interval '1 second' + random() * interval '1 second', ${pick(KINDS)},
      ('10.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int)::inet,
      CASE WHEN random() < 0.3 THEN round((random() * 400)::numeric, 2) END,
      jsonb_build_object('session', substr(md5(random()::text), 1, 20), 'path', ${pick(PATHS)} || floor(random() * 5000)::int,
        'agent', ${pick(AGENTS)}, 'ms', floor(random() * random() * 3000)::int)
      FROM generate_series(1, ${n(2_200_000)}) i;
    CREATE INDEX events_user ON events (user_id);
    CREATE INDEX events_at ON events (at);
    CREATE TABLE order_lines (order_id bigint NOT NULL, line smallint NOT NULL, sku text NOT NULL, qty int NOT NULL,
      unit_price numeric(10,2) NOT NULL, discount numeric(4,2), shipped date, PRIMARY KEY (order_id, line));
    INSERT INTO order_lines SELECT 1 + i / 3, i % 3, 'SKU-' || lpad(floor(random() * 90000)::int::text, 6, '0'),
      1 + floor(random() * random() * 12)::int, round((1 + random() * 250)::numeric, 2),
      CASE WHEN random() < 0.2 THEN round((random() * 30)::numeric, 2) END,
      CASE WHEN random() < 0.9 THEN '2023-01-01'::date + floor(random() * 700)::int END
      FROM generate_series(0, ${n(2_400_000)}) i;
    CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body text NOT NULL);
    INSERT INTO docs SELECT d.i, v.a[1 + (d.i * 37) % 6000] || ' ' || v.a[1 + (d.i * 101) % 6000] || ' ' || v.a[1 + (d.i * 7) % 6000],
      (SELECT string_agg(w, CASE WHEN random() < 0.08 THEN '. ' ELSE ' ' END)
         FROM (SELECT v.a[1 + floor(5999 * power(random(), 3))::int] w FROM generate_series(1, 120 + d.i % 200) g) x)
      FROM (SELECT array_agg(word ORDER BY id) a FROM vocab) v, generate_series(1, ${n(110_000)}) d(i);`;
}

/** Wide rows (~1.2 kB: jsonb, json, bytea, arrays) and TOASTed attachments; ~1 GB at scale 1. */
function wideSql(n) {
  // 16 pseudo-random bytes per md5 of random(); correlated to the row (`WHERE i > 0`) so that each row gets its own.
  const bytes = (count) => `(SELECT string_agg(decode(md5(random()::text), 'hex'), ''::bytea) FROM generate_series(1, ${count}) g WHERE i > 0)`;
  const rows = n(600_000);
  return `
    SELECT setseed(0.61);
    CREATE TABLE wide (id bigint PRIMARY KEY, created timestamptz NOT NULL, updated timestamptz, owner_id int NOT NULL,
      status smallint NOT NULL, title text NOT NULL, price numeric(12,2), ratio double precision, tags text[], scores int[],
      attrs jsonb NOT NULL, meta json, digest bytea NOT NULL, blob bytea, ref uuid NOT NULL);
    INSERT INTO wide SELECT i, '2022-01-01'::timestamptz + i * interval '7 seconds',
      CASE WHEN random() < 0.4 THEN '2024-01-01'::timestamptz + random() * interval '300 days' END,
      1 + floor(random() * ${Math.max(1, Math.round(rows / 20))})::int, floor(random() * 5)::smallint,
      ${pick(FIRST)} || ' ' || ${pick(LAST)} || ' order ' || i, round((random() * 10000)::numeric, 2), random(),
      ARRAY[${pick(KINDS)}, ${pick(KINDS)}], ARRAY[floor(random() * 1000)::int, floor(random() * 1000)::int, i % 97],
      jsonb_build_object('sku', 'SKU-' || lpad(floor(random() * 90000)::int::text, 6, '0'), 'qty', 1 + floor(random() * 9)::int,
        'dims', jsonb_build_array(round((random() * 100)::numeric, 1), round((random() * 100)::numeric, 1), round((random() * 100)::numeric, 1)),
        'path', ${pick(PATHS)} || floor(random() * 5000)::int, 'token', md5(random()::text), 'gift', random() < 0.1,
        'notes', jsonb_build_array(${pick(SYLLABLES)} || ${pick(SYLLABLES)}, ${pick(SYLLABLES)} || ${pick(SYLLABLES)})),
      json_build_object('agent', ${pick(AGENTS)}, 'ip', '10.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.1', 'ms', floor(random() * 900)::int),
      sha256(i::text::bytea), CASE WHEN random() < 0.8 THEN ${bytes('16 + i % 48')} END, md5(random()::text)::uuid
      FROM generate_series(1, ${rows}) i;
    CREATE INDEX wide_owner ON wide (owner_id);
    CREATE INDEX wide_created ON wide (created);
    CREATE TABLE attachments (id int PRIMARY KEY, wide_id bigint NOT NULL REFERENCES wide(id), name text NOT NULL, mime text, content bytea NOT NULL);
    INSERT INTO attachments SELECT i, 1 + (i * 7919) % ${rows}, 'file-' || i || '.bin', 'application/octet-stream',
      ${bytes(320)} || decode(repeat('00', 5120), 'hex')
      FROM generate_series(1, ${n(30_000)}) i;`;
}

/** 10,000 tables of a few rows each (a DO block committing every 250 tables: one transaction would need 30,000 locks). */
function tables10kSql(scale) {
  const rows = Math.max(1, Math.round(1250 * scale));
  return `
    DO $$ BEGIN
      PERFORM setseed(0.29);
      FOR t IN 1..10000 LOOP
        EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, kind smallint NOT NULL, at timestamptz NOT NULL, label text, amount numeric(10,2))', 'small_' || lpad(t::text, 5, '0'));
        EXECUTE format('INSERT INTO %I SELECT i, i %% 7, ''2024-01-01''::timestamptz + i * interval ''1 minute'', md5(random()::text), round((random() * 1000)::numeric, 2) FROM generate_series(1, ${rows}) i', 'small_' || lpad(t::text, 5, '0'));
        IF t % 250 = 0 THEN COMMIT; END IF;
      END LOOP;
    END $$;`;
}
