import type { PluginOption } from '../../application/ports/connector-plugin.js';

/** TLS certificate files, spelled as the mysql client and (aliases) as libpq do; shared by the server engines. */
export const TLS_FILE_OPTIONS = [
  { name: 'ssl-ca', aliases: ['sslrootcert'], type: 'string', description: 'TLS: CA certificate file (PEM) that signed the server certificate' },
  { name: 'ssl-cert', aliases: ['sslcert'], type: 'string', description: 'TLS: client certificate file (PEM)' },
  { name: 'ssl-key', aliases: ['sslkey'], type: 'string', description: 'TLS: client key file (PEM)' },
] as const satisfies readonly PluginOption[];
