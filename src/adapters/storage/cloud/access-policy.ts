import { resolve } from 'node:path';
import { parseCloudUrl } from './open-cloud-store.js';

/**
 * The least access a repository's credentials need, scoped to its bucket (container) and prefix,
 * as text a user pastes into their cloud: an IAM policy (AWS), a custom role and a conditional
 * binding (GCS), a custom RBAC role with an ABAC condition (Azure), or folder permissions.
 * Backups, restores, verify and list need read and write; prune needs delete.
 */
export function accessPolicy(url: string): string {
  if (!/^[a-z0-9]+:\/\//i.test(url)) {
    const dir = resolve(url);
    return [
      `# folder ${dir}: owned by the user dbbackup runs as, no one else may read it`,
      `install -d -m 700 -o dbbackup ${dir}`,
    ].join('\n');
  }
  const u = parseCloudUrl(url);
  const prefix = u.prefix ? `${u.prefix}/` : '';
  if (u.scheme === 's3') {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ListRepository', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: `arn:aws:s3:::${u.bucket}`, Condition: { StringLike: { 's3:prefix': [`${prefix}*`] } } },
        {
          Sid: 'ReadWriteRepository',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          Resource: `arn:aws:s3:::${u.bucket}/${prefix}*`,
        },
        { Sid: 'PruneRepository', Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: `arn:aws:s3:::${u.bucket}/${prefix}*` },
      ],
    };
    return [
      `# AWS IAM policy for ${url} (leave out PruneRepository for credentials that never prune: they then cannot delete backups)`,
      JSON.stringify(policy, null, 2),
    ].join('\n');
  }
  if (u.scheme === 'gs') {
    const condition = `resource.name.startsWith("projects/_/buckets/${u.bucket}/objects/${prefix}")`;
    return [
      `# Google Cloud Storage: a custom role and a binding on the bucket, limited to ${prefix || 'the whole bucket'} (PROJECT, SA: yours)`,
      'gcloud iam roles create dbbackupRepository --project=PROJECT --title="dbbackup repository" \\',
      '  --permissions=storage.objects.create,storage.objects.get,storage.objects.list,storage.objects.delete,storage.buckets.get',
      `gcloud storage buckets add-iam-policy-binding gs://${u.bucket} --member=serviceAccount:SA \\`,
      `  --role=projects/PROJECT/roles/dbbackupRepository${prefix ? ` \\\n  --condition='expression=${condition} || resource.type == "storage.googleapis.com/Bucket",title=dbbackup-prefix'` : ''}`,
    ].join('\n');
  }
  const scope = `/subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/Microsoft.Storage/storageAccounts/${u.account}/blobServices/default/containers/${u.bucket}`;
  const blobs = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs';
  const role = {
    Name: 'dbbackup repository',
    IsCustom: true,
    Description: 'Read, write and delete dbbackup repository blobs',
    Actions: [],
    DataActions: [`${blobs}/read`, `${blobs}/write`, `${blobs}/add/action`, `${blobs}/delete`],
    AssignableScopes: [scope],
  };
  const condition = `((!(ActionMatches{'${blobs}/read'}) AND !(ActionMatches{'${blobs}/write'}) AND !(ActionMatches{'${blobs}/add/action'}) AND !(ActionMatches{'${blobs}/delete'})) OR @Resource[${blobs}:path] StringStartsWith '${prefix}')`;
  return [
    `# Azure RBAC: a custom role (role.json below) assigned on the container${prefix ? `, limited to ${prefix} by a condition` : ''} (SUBSCRIPTION, GROUP, PRINCIPAL: yours)`,
    JSON.stringify(role, null, 2),
    `az role definition create --role-definition role.json`,
    `az role assignment create --role "dbbackup repository" --assignee PRINCIPAL --scope ${scope}${prefix ? ` \\\n  --condition "${condition}" --condition-version 2.0` : ''}`,
  ].join('\n');
}
