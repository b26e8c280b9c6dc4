/** SQLite has no roles: the file system's permissions are the privileges. */
export function sqliteGrants(path = '/var/lib/app/app.db'): string {
  return `# SQLite: run dbbackup as a user in the database file's group.
# A backup reads the file; in WAL mode it also writes the -shm file, so the folder must let the group create it.
chgrp dbbackup ${path} && chmod g+r ${path}
# A restore writes a new file beside the target and renames it: run restores as the file's owner.
`;
}
