/**
 * Tables holding every MySQL/MariaDB value type and the edge cases of each (NULL beside '', escapes,
 * zero dates, BIT, JSON, spatial, generated and invisible columns, a non-transactional table), for
 * the nasty-data round trip and the connector contract. `size` sets how long the long values are.
 */
export function valueTypesSql(size: { textRepeat: number; blobRepeat: number }): string {
  return String.raw`
SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
CREATE TABLE ints (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, yr YEAR
) AUTO_INCREMENT = 1;
INSERT INTO ints VALUES (0, -128, 255, -32768, 16777215, -9223372036854775808, 18446744073709551615, 2155),
  (1, 127, 0, 32767, 0, 9223372036854775807, 0, 1901), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO ints (ti) VALUES (1), (2), (3);
DELETE FROM ints WHERE id >= 4;
CREATE TABLE nums (id INT PRIMARY KEY, d DECIMAL(65,30), dn DECIMAL(10,2), f FLOAT, fu FLOAT(7,3), db DOUBLE, z DECIMAL(5,0) ZEROFILL);
INSERT INTO nums VALUES
  (1, 12345678901234567890123456789012345.123456789012345678901234567891, -99999999.99, 3.14159274, 1234.567, 2.2250738585072014e-308, 42),
  (2, -0.000000000000000000000000000001, 0, -1.17549435e-38, -0.001, 1.7976931348623157e308, 0),
  (3, 0, NULL, 16777217, NULL, 0.1, NULL), (4, NULL, 1.5, 1e-45, 0, -4.9406564584124654e-324, 99999);
CREATE TABLE strs (id INT PRIMARY KEY, v VARCHAR(200), c CHAR(10), t MEDIUMTEXT, e ENUM('a','b','ä c'), s SET('x','y','z')) CHARACTER SET utf8mb4;
INSERT INTO strs VALUES
  (1, '', '', '', 'a', ''), (2, NULL, NULL, NULL, NULL, NULL),
  (3, 'tab\there\nnew line\r\nCRLF back\\slash', 'x\\', 'NUL:\0:end', 'ä c', 'x,z'),
  (4, '\\N', 'N', '\\\\N\\', 'b', 'y'), (5, '😀 emoji ✓ ünïcödé 中文', 'ÿ', REPEAT('long line ✓\t', ${size.textRepeat}), NULL, 'x,y,z'),
  (6, 'trailing space   ', 'pad  ', '\n', 'a', NULL), (7, '"quotes" and ''single''', ' lead', '\t', 'b', 'z');
CREATE TABLE latin (id INT PRIMARY KEY, v VARCHAR(50), t TEXT) CHARACTER SET latin1 COLLATE latin1_swedish_ci;
INSERT INTO latin VALUES (1, 'café crème', 'Ærø ÿ ñ'), (2, '', NULL), (3, CONVERT(0xE9FF80 USING latin1), 'x');
CREATE TABLE bins (id INT PRIMARY KEY, b BINARY(16), vb VARBINARY(300), bl BLOB, lb LONGBLOB);
INSERT INTO bins VALUES (1, 0x00, '', 0x00010203090A0D5C4E, NULL), (2, NULL, NULL, NULL, RANDOM_BYTES(1024)),
  (3, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF, 0x5C5C4E09, '', REPEAT(0x000A095C, ${size.blobRepeat}));
CREATE TABLE bits (id INT PRIMARY KEY, b1 BIT(1), b7 BIT(7), b64 BIT(64));
INSERT INTO bits VALUES (1, b'0', b'1010101', b'1111111111111111111111111111111111111111111111111111111111111111'),
  (2, b'1', b'0001010', b'0'), (3, NULL, NULL, NULL), (4, b'1', b'0001001', b'1011100');
CREATE TABLE docs (id INT PRIMARY KEY, j JSON);
INSERT INTO docs VALUES (1, '{"a": [1, 2.5, "x\\ty\\nz"], "ü": {"deep": null}, "e": "😀"}'), (2, 'null'), (3, NULL), (4, '"\\\\"'), (5, '[]');
CREATE TABLE times (id INT PRIMARY KEY, d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), d0 DATETIME);
SET SESSION time_zone = '+05:30';
INSERT INTO times VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '1970-01-01 05:30:01.000001', '-838:59:59.000000', '2020-00-00 00:00:00'),
  (2, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 08:44:07.999999', '838:59:59', '2020-02-29 12:00:00'),
  (3, '2020-00-15', '1000-01-01 00:00:00.5', '2021-03-28 02:30:00', '00:00:00.000001', NULL), (4, NULL, NULL, NULL, NULL, NULL);
SET SESSION time_zone = SYSTEM;
CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, p POINT NOT NULL, poly POLYGON, SPATIAL KEY sp (p));
INSERT INTO geo VALUES (1, ST_GeomFromText('LINESTRING(0 0, 1 1, 2 5)'), POINT(1.5, -2.25), ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 0))')),
  (2, NULL, ST_GeomFromText('POINT(0 0)', 4326), NULL), (3, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1))'), POINT(-180, 90), NULL);
CREATE TABLE single (v VARCHAR(10));
INSERT INTO single VALUES (''), (NULL), (''), ('a');
CREATE TABLE gen (id INT PRIMARY KEY, a INT, b INT AS (a * 2) VIRTUAL, c VARCHAR(20) AS (CONCAT('x', a)) PERSISTENT, h INT INVISIBLE DEFAULT 7, KEY kb (b));
INSERT INTO gen (id, a, h) VALUES (1, 1, 1), (2, NULL, NULL), (3, 3, 3);
CREATE TABLE keyed (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, u VARCHAR(40) NOT NULL, n INT, PRIMARY KEY (id), UNIQUE KEY uu (u), KEY kn (n, u)) AUTO_INCREMENT = 1000;
INSERT INTO keyed (u, n) SELECT CONCAT('u', seq), seq % 7 FROM seq_1_to_5000;
CREATE TABLE aria_t (id INT PRIMARY KEY, v TEXT) ENGINE = Aria;
INSERT INTO aria_t VALUES (1, 'not transactional');
`;
}
