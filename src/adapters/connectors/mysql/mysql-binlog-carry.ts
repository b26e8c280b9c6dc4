import { parseGtids, type TargetGtids, targetHolds } from './mysql-binlog-gtids.js';
import { parseMysqlGtid } from './mysql-gtid-set.js';

/**
 * The statements that make a replayed source transaction carry its GTID (`--replay-gtids keep`,
 * `restore --changes-only`), by the target's kind:
 * - MariaDB: `SET SESSION gtid_domain_id = D, server_id = S, gtid_seq_no = N` before it, as
 *   mariadb-binlog writes; the server clears gtid_seq_no once a transaction used it, the domain
 *   and server id go back to DEFAULT before a transaction that does not carry.
 * - MySQL: `SET SESSION GTID_NEXT = 'uuid:n'` before it and `'AUTOMATIC'` after its commit (MySQL
 *   refuses any other transaction while GTID_NEXT names a used GTID). A carried transaction that
 *   ran nothing on the target (all of it another database's) commits empty, as a MySQL replica
 *   skips one, so the target records the GTID.
 * A transaction whose GTID the target holds, or whose GTID is of the other server kind, gets the
 * target's own. Only the statement text is decided here; BinlogApplier sends them in order.
 */
export class GtidCarry {
  /** The open (or last) source transaction carries its GTID: it commits alone. */
  carrying = false;
  /** The session's GTID variables are a source transaction's, not the target's own. */
  private sessionGtid = false;

  constructor(private readonly target: TargetGtids) {}

  /** Before a source transaction whose GTID event says `gtid`. */
  before(gtid: string): string[] {
    const mysql = this.target.flavor === 'mysql';
    const maria = mysql ? undefined : /^\d+-\d+-\d+$/.test(gtid) ? parseGtids(gtid)[0] : undefined;
    const ours = mysql ? parseMysqlGtid(gtid) !== undefined : maria !== undefined;
    this.carrying = ours && !targetHolds(this.target, gtid);
    if (this.carrying) {
      this.sessionGtid = true;
      if (mysql) return [`SET SESSION GTID_NEXT = '${gtid.trim().toLowerCase()}'`];
      return [`SET SESSION gtid_domain_id = ${maria!.domain}, SESSION server_id = ${maria!.server}, SESSION gtid_seq_no = ${maria!.seq.toString()}`];
    }
    return this.reset();
  }

  /**
   * After the carried transaction ended on the target: `ran` false when nothing of it reached the
   * target (its statement was another database's, or it was rolled back). Empty when not carrying.
   */
  after(ran: boolean): string[] {
    if (!this.carrying) return [];
    this.carrying = false;
    if (this.target.flavor !== 'mysql') return [];
    return [...(ran ? [] : ['BEGIN', 'COMMIT']), ...this.reset()];
  }

  /** The target's own GTIDs again, when the session's are a source's. */
  private reset(): string[] {
    if (!this.sessionGtid) return [];
    this.sessionGtid = false;
    // MariaDB: gtid_seq_no too: the server clears it only once a transaction used it, and one of another database's rows logs nothing.
    return [this.target.flavor === 'mysql' ? "SET SESSION GTID_NEXT = 'AUTOMATIC'" : 'SET SESSION gtid_domain_id = DEFAULT, SESSION server_id = DEFAULT, SESSION gtid_seq_no = 0'];
  }
}
