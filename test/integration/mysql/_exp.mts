import { startMariaDb } from '../../helpers/mariadb-server.ts';
import mysql from 'mysql2/promise';
import { Readable } from 'node:stream';
const s = await startMariaDb();
const c = await s.connect();
await c.query(`CREATE DATABASE d; USE d;
CREATE TABLE b (id int primary key, b1 bit(1), b9 bit(9), b64 bit(64), g geometry, p point not null, f float, dd double, j json, z date, dt datetime(6), nz double);
INSERT INTO b VALUES (1, b'1', b'101010101', b'1111111111111111111111111111111111111111111111111111111111111111', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), POINT(1.5, -2.25), 3.14159274, 0.1+0.2, '{"a": [1, "x\\\\ty"]}', '0000-00-00', '2020-01-01 01:02:03.123456', -0e0);
INSERT INTO b VALUES (2, NULL, 0, 0, NULL, POINT(0,0), -1.17549435e-38, 1.7976931348623157e308, NULL, '2020-00-05', '0000-00-00 00:00:00', 1e-320);
INSERT INTO b VALUES (3, NULL, 0, 0, NULL, POINT(0,0), 123456789, 2.2250738585072014e-308, NULL, '2020-00-05', '0000-00-00 00:00:00', 4.9406564584124654e-324);
`);
await c.query(`SET character_set_results = binary`);
const rows: any[] = [];
await new Promise<void>((res, rej) => {
  const q = (c as any).connection.query({ sql: 'SELECT id,b1,b9,b64,g,p,f*1e0,dd,j,z,dt,nz FROM b', rowsAsArray: true, typeCast: (f: any) => f.buffer() });
  q.on('result', (r: any) => rows.push(r)).on('end', res).on('error', rej);
});
console.log(rows.map(r => r.map((b: any) => b === null ? null : b.toString('latin1'))));
const esc = (b: Buffer | null) => b === null ? '\\N' : b.toString('latin1').replace(/[\\\t\n\0]/g, (m) => m === '\0' ? '\\0' : m === '\n' ? '\\n' : m === '\t' ? '\\t' : '\\\\');
const text = rows.map((r) => r.map(esc).join('\t') + '\n').join('');
await c.query('CREATE TABLE b2 LIKE b');
const c2 = await mysql.createConnection({ socketPath: s.socket, user: 'root', database: 'd', infileStreamFactory: () => Readable.from([Buffer.from(text, 'latin1')]) } as any);
await c2.query("SET sql_mode='NO_AUTO_VALUE_ON_ZERO'");
const [r] = await c2.query("LOAD DATA LOCAL INFILE 'x' INTO TABLE b2 CHARACTER SET binary");
console.log(r);
console.log(await c2.query('CHECKSUM TABLE b, b2'));
for (const col of ['b1','b9','b64','g','p','f','dd','j','z','dt','nz']) {
  const [x] = await c2.query(`SELECT count(*) n FROM b JOIN b2 USING (id) WHERE NOT (b.${col} <=> b2.${col}) OR HEX(b.${col}) <> HEX(b2.${col})`);
  console.log(col, x);
}
await c.end(); await c2.end();
await s.stop();
