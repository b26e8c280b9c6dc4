import type { PluginOption } from '../../application/ports/connector-plugin.js';

/** TLS certificate files, spelled as the mysql client and (aliases) as libpq do; shared by the server engines. */
export const TLS_FILE_OPTIONS = [
  { name: 'ssl-ca', aliases: ['sslrootcert'], type: 'string', description: 'TLS: CA certificate file (PEM) that signed the server certificate' },
  { name: 'ssl-cert', aliases: ['sslcert'], type: 'string', description: 'TLS: client certificate file (PEM)' },
  { name: 'ssl-key', aliases: ['sslkey'], type: 'string', description: 'TLS: client key file (PEM)' },
] as const satisfies readonly PluginOption[];

/** `--ssl-mode` as the mysql client spells it, then the certificate files: what the PostgreSQL and MySQL engines both take. */
export const TLS_MODE_AND_FILE_OPTIONS = [
  { name: 'ssl-mode', type: 'string', description: 'TLS as the mysql client spells it: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY' },
  ...TLS_FILE_OPTIONS,
] as const satisfies readonly PluginOption[];
