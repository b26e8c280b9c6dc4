import { PLUGIN_API_VERSION, type PluginHost } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';
import { sourceNameFrom } from '../../domain/repository-layout.js';

/** What every plugin's `load` receives: the host's own error class, so exit codes work across packages. */
export const pluginHost: PluginHost = { apiVersion: PLUGIN_API_VERSION, DbBackupError, sourceNameFrom };
