/**
 * `dbbackup/plugin`: what a connector plugin package needs, as types (a plugin gets dbbackup's
 * error class and helpers from `load(host)`, so it imports nothing from dbbackup at run time).
 * See README "Plugins" and plugins/dbbackup-connector-duckdb for an example.
 */
export { PLUGIN_API_VERSION, optionKey } from './application/ports/connector-plugin.js';
export type { CommonFlag, ConnectorPlugin, PluginHost, PluginOption, PluginOptionType } from './application/ports/connector-plugin.js';
export type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition } from './application/ports/change-capture.js';
export type { ConnectionTarget } from './application/ports/connection-target.js';
export type { ConnectorCapabilities } from './application/ports/connector-capabilities.js';
export type { DatabaseConnector } from './application/ports/database-connector.js';
export type { DatabaseSession } from './application/ports/database-session.js';
export type { DumpRequest, DumpResult } from './application/ports/dump.js';
export type { PartSink, PartSource, PartSpec } from './application/ports/parts.js';
export type { RestoreOutcome, RestorePlan, RestorePlanItem, RestoreRequest } from './application/ports/restore-plan.js';
export type { DbBackupError, ErrorCode } from './domain/errors.js';
export type { Manifest, ObjectEntry, PartEntry, PartRole } from './domain/manifest.js';
