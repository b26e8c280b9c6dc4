import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { readyPort, stopChild } from './s3-server.js';

const MAIN = fileURLToPath(new URL('../../node_modules/azurite/dist/src/blob/main.js', import.meta.url));

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Serve HTTPS with this certificate and key (PEM file paths) instead of plain HTTP. */
  tls?: { cert: string; key: string };
}

export interface Azurite {
  /** Blob service URL: http://127.0.0.1:PORT/devstoreaccount1 (https:// with `tls`) */
  endpoint: string;
  port: number;
  connectionString: string;
  stop(): Promise<void>;
}

/** Starts azurite's blob service in a temp folder on a free port (retrying if the port is taken). */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const tlsArgs = options.tls ? ['--cert', options.tls.cert, '--key', options.tls.key] : [];
  const protocol = options.tls ? 'https' : 'http';
  const dir = await mkdtemp(join(tmpdir(), 'azurite-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [MAIN, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose', ...tlsArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      await readyPort(child, (line) => (/successfully listens on/.test(line) ? port : undefined));
    } catch (err) {
      if (attempt < 3) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const endpoint = `${protocol}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    return {
      endpoint,
      port,
      connectionString: `DefaultEndpointsProtocol=${protocol};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
      stop: async () => {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
