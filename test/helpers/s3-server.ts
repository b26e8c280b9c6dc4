import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * The environment a dbbackup CLI run needs to use `server` as a user would configure it, with no
 * AWS profile or instance-metadata look-ups from this machine (`dir`: where the absent files "are").
 */
export function s3CliEnv(server: S3Server, dir: string): NodeJS.ProcessEnv {
  return {
    DBBACKUP_S3_ENDPOINT: server.endpoint,
    DBBACKUP_S3_CHECKSUM: 'WHEN_REQUIRED',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  };
}

export interface S3Server {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

// s3rver runs in its own process because its list continuation tokens use DES, which needs
// --openssl-legacy-provider: a flag OpenSSL reads only at process start.
const SCRIPT = `
const { createRequire } = require('node:module');
const S3rver = createRequire(process.cwd() + '/')('s3rver');
const [directory, buckets, certFile, keyFile] = [process.argv[1], process.argv[2].split(',').filter(Boolean), process.argv[3], process.argv[4]];
const tls = certFile ? { cert: require('node:fs').readFileSync(certFile), key: require('node:fs').readFileSync(keyFile) } : {};
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory,
  configureBuckets: buckets.map((name) => ({ name })), ...tls });
server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'),
  (err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
`;

/**
 * Starts s3rver on a free port with a temp directory and the given buckets; `stop()` removes both.
 * With `tls` (PEM file paths) it serves HTTPS.
 */
export async function startS3Server(buckets: string[] = ['test-bucket'], options: { tls?: { cert: string; key: string } } = {}): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const tlsArgs = options.tls ? [options.tls.cert, options.tls.key] : [];
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SCRIPT, dir, buckets.join(','), ...tlsArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await readyPort(child, (line) => (JSON.parse(line) as { port: number }).port);
  return {
    endpoint: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with what `parse` makes of the first stdout line that parses, or rejects if the child dies. */
export function readyPort(child: ChildProcess, parse: (line: string) => number | undefined, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`server did not start in ${timeoutMs} ms: ${err.slice(-2000)}`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        let port: number | undefined;
        try {
          port = parse(line);
        } catch {
          port = undefined;
        }
        if (port) {
          clearTimeout(timer);
          child.stdout?.removeAllListeners('data');
          child.stdout?.resume();
          resolve(port);
          return;
        }
      }
    });
    child.once('exit', (code) => fail(new Error(`server exited with ${code}: ${err.slice(-2000)}`)));
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
