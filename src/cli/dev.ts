// `ringstore dev`: starts a local cluster of node processes
// (node/dev-cluster.ts), prints where to reach it, and stops it on Ctrl-C.

import path from 'node:path';
import { startDevCluster, type DevCluster } from '../node/dev-cluster.js';

export interface DevFlags {
  readonly nodes?: number;
  readonly data: string;
  readonly basePort?: number;
  readonly logLevel: string;
  /** Fault injection on every node (POST /_faults with the admin token). */
  readonly faults?: boolean;
}

export async function runDev(flags: DevFlags): Promise<void> {
  let cluster: DevCluster | undefined;
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`ringstore dev: ${why}; stopping the nodes...`);
    void (cluster?.stop() ?? Promise.resolve()).then(
      () => {
        console.error('ringstore dev: stopped; data kept in ' + path.resolve(flags.data));
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`ringstore dev: stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    cluster = await startDevCluster({
      dir: flags.data,
      ...(flags.nodes !== undefined ? { nodes: flags.nodes } : {}),
      ...(flags.basePort !== undefined ? { basePort: flags.basePort } : {}),
      logLevel: flags.logLevel,
      ...(flags.faults === true ? { faults: true } : {}),
      onUnexpectedExit: (node, code, signal) => {
        console.error(
          `ringstore dev: node ${node.id} (pid ${node.pid}) exited unexpectedly (${signal ?? `code ${code}`}); the others keep running. Its log: ${node.log}`,
        );
      },
    });
  } catch (err) {
    console.error(`ringstore dev: ${(err as Error).message}`);
    process.exit(1);
  }
  if (stopping) return;
  const info = {
    nodes: cluster.nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, s3: n.s3, grpc: n.grpc, files_grpc: n.files, data: n.data, log: n.log })),
    user: cluster.user,
    access_key: cluster.accessKey,
    secret_key: cluster.secretKey,
    user_token: cluster.userToken,
    admin_token: cluster.adminToken,
    quorum: cluster.quorum,
  };
  const a = cluster.nodes[0]!.http;
  const b = cluster.nodes[1 % cluster.nodes.length]!.http;
  console.log(JSON.stringify(info, null, 2));
  console.log(`
ringstore dev: ${cluster.nodes.length} nodes up; cluster file ${cluster.clusterFile}; node logs in ${path.resolve(flags.data)}/<id>/node.log

Every port needs credentials (they are in ${cluster.clusterFile}, and only there). Next, type:
TOKEN=${cluster.userToken}
curl -H "Authorization: Bearer $TOKEN" -X POST ${a}/buckets/photos
curl -H "Authorization: Bearer $TOKEN" -X PUT --data-binary 'hello ringstore' -H 'content-type: text/plain' ${a}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" ${b}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" -H 'accept: application/json' ${b}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" -F file=@package.json ${a}/buckets/photos/files
curl -H "Authorization: Bearer $TOKEN" ${a}/buckets/photos
curl -H "Authorization: Bearer $TOKEN" -X DELETE ${a}/buckets/photos/notes/hello.txt

Admin routes (/cluster/*, /metrics, /_s3/*, /_auth/*${flags.faults === true ? ', /_faults (on)' : ''}) take the admin token:
curl -H "Authorization: Bearer ${cluster.adminToken}" ${a}/cluster/members

S3 on every node (first: ${cluster.nodes[0]!.s3}), access key ${cluster.accessKey}, secret key ${cluster.secretKey}:
AWS_ACCESS_KEY_ID=${cluster.accessKey} AWS_SECRET_ACCESS_KEY=${cluster.secretKey} aws --endpoint-url ${cluster.nodes[0]!.s3} s3 ls

The gRPC file API (proto/files/v1/files.proto, docs/grpc-files.md) on every node (first: ${cluster.nodes[0]!.files}); the shell:
  npx ringstore shell --cluster ${cluster.clusterFile}

Ctrl-C stops the cluster; run the same command again to restart it with its data.`);

}
