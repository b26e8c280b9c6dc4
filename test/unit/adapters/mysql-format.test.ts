import { describe, expect, it } from 'vitest';
import { orderViews, splitCreateTable, stripDefiner, unqualifyTrigger } from '../../../src/adapters/connectors/mysql/mysql-ddl.js';
import { parseScript, renderScript } from '../../../src/adapters/connectors/mysql/mysql-script.js';
import { TsvDecoder, TsvEncoder } from '../../../src/adapters/connectors/mysql/mysql-tsv.js';

// The pure pieces of the MySQL format (no server): what the round-trip tests rely on.
describe('MySQL part formats', () => {
  const rows: (Buffer | null)[][] = [
    [Buffer.from('1'), null, Buffer.from('')],
    [Buffer.from('a\tb\nc\\d\0e'), Buffer.from('\\N'), Buffer.from([0xff, 0x00, 0x0a])],
    [Buffer.from('x'.repeat(300_000)), Buffer.from('N'), null],
  ];

  /** A text-protocol row packet body: per value a length-encoded string, or 0xFB for NULL. */
  const packet = (row: (Buffer | null)[]) =>
    Buffer.concat(
      row.map((v) => {
        if (v === null) return Buffer.from([0xfb]);
        if (v.length < 251) return Buffer.concat([Buffer.from([v.length]), v]);
        const len = Buffer.alloc(4);
        len.writeUIntLE(v.length, 1, 3);
        len[0] = 0xfd;
        return Buffer.concat([len, v]);
      }),
    );

  it('TSV: values (from arrays or raw row packets) come back byte for byte, NULL apart from "" and "\\N"', () => {
    for (const mode of ['arrays', 'packets'] as const) {
      const chunks: Buffer[] = [];
      const enc = new TsvEncoder((c) => chunks.push(Buffer.from(c)));
      for (const r of rows) {
        if (mode === 'arrays') enc.row(r);
        else {
          const p = packet(r);
          expect(enc.packetRow(p, 0, p.length)).toBe(true);
        }
      }
      enc.flush();
      const text = Buffer.concat(chunks);
      expect(text.toString('latin1').startsWith('1\t\\N\t\na\\tb\\nc\\\\d\\0e\t\\\\N\t\xff\\0\\n\nxxx')).toBe(true);
      const back: (Buffer | null)[][] = [];
      const dec = new TsvDecoder();
      for (let i = 0; i < text.length; i += 7777) dec.push(text.subarray(i, i + 7777), (r) => back.push(r));
      dec.end((r) => back.push(r));
      expect(back).toEqual(rows);
    }
  });

  it('TSV from packets: long values copied in runs between escapes match the byte-by-byte encoding, many rows per buffer', () => {
    // Values biased to the escaped bytes (and to lengths 0, 9, 10 and 92, whose length byte is one of them).
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const pick = [0x00, 0x09, 0x0a, 0x5c, 0x4e, 0x61, 0xfe, 0xff];
    const value = (): Buffer | null => {
      if (rand(10) === 0) return null;
      const len = [0, 9, 10, 31, 32, 33, 92, 200, 300, 70_000][rand(10)]!;
      const b = Buffer.alloc(len);
      const dense = rand(3);
      for (let i = 0; i < len; i++) b[i] = dense === 0 ? pick[rand(pick.length)]! : rand(40) === 0 ? pick[rand(4)]! : 0x61 + rand(26);
      return b;
    };
    const table = Array.from({ length: 400 }, () => Array.from({ length: 1 + rand(5) }, value));
    const viaArrays: Buffer[] = [];
    const viaPackets: Buffer[] = [];
    const a = new TsvEncoder((c) => viaArrays.push(Buffer.from(c)));
    const p = new TsvEncoder((c) => viaPackets.push(Buffer.from(c)));
    for (const r of table) a.row(r);
    // Several rows in one buffer (as in one socket chunk), read one after another.
    for (let i = 0; i < table.length; i += 50) {
      const packets = table.slice(i, i + 50).map(packet);
      const buf = Buffer.concat(packets);
      let at = 0;
      for (const pk of packets) {
        expect(p.packetRow(buf, at, at + pk.length)).toBe(true);
        at += pk.length;
      }
    }
    a.flush();
    p.flush();
    expect(Buffer.concat(viaPackets).equals(Buffer.concat(viaArrays))).toBe(true);
    expect(p.bytes).toBe(a.bytes);
  });

  it('schema scripts: blocks and statements survive render → parse; a ";;" line is refused', () => {
    const blocks = [
      { meta: { kind: 'session' as const }, statements: ['SET NAMES utf8mb4'] },
      { meta: { kind: 'procedure' as const, db: 'a', name: 'p' }, statements: ["CREATE PROCEDURE p() BEGIN SELECT ';;'; SELECT 2; END", 'SET NAMES utf8mb4'] },
    ];
    const text = renderScript('t', blocks);
    expect(text).toContain('DELIMITER ;;');
    expect(parseScript(text)).toEqual(blocks);
    expect(() => renderScript('t', [{ meta: { kind: 'view', db: 'a', name: 'v' }, statements: ['SELECT 1\n;;\n'] }])).toThrow(/cannot frame/);
  });

  it('DDL: secondary keys split off in order, keys used by foreign keys kept; definers and trigger qualifiers dropped', () => {
    const create = [
      'CREATE TABLE `c` (',
      '  `id` int(11) NOT NULL,',
      '  `p` int(11) DEFAULT NULL,',
      '  `n` varchar(9) DEFAULT NULL,',
      '  PRIMARY KEY (`id`),',
      '  KEY `kp` (`p`),',
      '  UNIQUE KEY `un` (`n`),',
      '  KEY `kn` (`n`(3),`p`),',
      '  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `x` (`id`)',
      ') ENGINE=InnoDB DEFAULT CHARSET=latin1',
    ].join('\n');
    const split = splitCreateTable(create);
    expect(split.deferred).toEqual(['ADD UNIQUE KEY `un` (`n`)', 'ADD KEY `kn` (`n`(3),`p`)']);
    expect(split.create).toContain('KEY `kp` (`p`),\n  CONSTRAINT `fk`');
    expect(splitCreateTable(create.replace('ENGINE=InnoDB', 'ENGINE=MyISAM')).deferred).toEqual([]);
    expect(stripDefiner('CREATE ALGORITHM=UNDEFINED DEFINER=`a``b`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1')).toEqual({
      sql: 'CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1',
      definer: '`a``b`@`%`',
    });
    expect(unqualifyTrigger('CREATE TRIGGER `db`.`t1` BEFORE INSERT ON db.`x y` FOR EACH ROW SET @a = `db`.`f`()')).toBe(
      'CREATE TRIGGER `t1` BEFORE INSERT ON `x y` FOR EACH ROW SET @a = `db`.`f`()',
    );
    const views = [
      { db: 'd', name: 'a_top', sql: 'VIEW `a_top` AS select * from `m_mid`' },
      { db: 'd', name: 'm_mid', sql: 'VIEW `m_mid` AS select * from `z_base`' },
      { db: 'd', name: 'z_base', sql: 'VIEW `z_base` AS select 1' },
    ];
    expect(orderViews(views).map((v) => v.name)).toEqual(['z_base', 'm_mid', 'a_top']);
  });
});
