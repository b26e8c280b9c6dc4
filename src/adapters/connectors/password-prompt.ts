import { createRequire } from 'node:module';
import type * as Readline from 'node:readline';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';

/** True when a person can be asked: stdin and stderr are both a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/**
 * One prompt per endpoint key (`user@host:port`) for the whole process: a backup opens many
 * connections (leader, parallel workers, maintenance sessions), and each must not ask again, nor
 * race for stdin. The answer is registered as a secret, so it is redacted from every output.
 */
const prompted = new Map<string, Promise<string>>();

export function promptPasswordOnce(key: string, question: string): Promise<string> {
  let answer = prompted.get(key);
  if (!answer) {
    answer = promptPassword(question).then((pw) => {
      registerSecret(pw);
      return pw;
    });
    prompted.set(key, answer);
  }
  return answer;
}

/**
 * Asks on the terminal with echo off. The terminal is in raw mode meanwhile, so Ctrl-C arrives as a
 * key, not a signal: it (or Ctrl-D on an empty line) rejects instead of leaving the prompt hanging.
 */
function promptPassword(question: string): Promise<string> {
  // node:readline loads here, on the first prompt: connecting (every PostgreSQL or MySQL command) need not load it.
  const { createInterface } = createRequire(import.meta.url)('node:readline') as typeof Readline;
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput.bind(rl);
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) write(question);
    };
    let answered = false;
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => {
      process.stderr.write('\n');
      if (!answered) reject(new DbBackupError('E_INTERRUPTED', 'Cancelled at the password prompt; nothing was done.'));
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  });
}
