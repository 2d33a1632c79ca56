// push, pull, agent, remote: the command line of ndshm/cluster (docs/cluster.md). ndshm/cluster and
// its optional NATS packages are loaded only when one of these commands runs, so the rest of the
// command works without them.

import { NdshmError, isNdshmError } from '../index.js';
import type { Cluster, ClusterOptions, RemoteStoreInfo, ReplicaState } from '../cluster/index.js';
import { bytes, count, shape, table } from './format.js';
import { progressReporter } from './progress.js';
import { UsageError, parse } from './usage.js';

const connectionHelp = `  -s, --server URL   the NATS server (nats://host:4222; user:password@ in the URL for auth);
                     default: the NDSHM_SERVER environment variable
      --bucket NAME  prefix of the JetStream buckets (default ndshm)
      --creds FILE   a NATS credentials file (JWT and NKey seed)
      --ca FILE      trust this CA for a tls:// server`;

const connectionOptions = {
  server: { type: 'string', short: 's' },
  bucket: { type: 'string' },
  creds: { type: 'string' },
  ca: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

export const pushHelp = `
usage: ndshm push <store> --server URL [options]

Publishes the local store <store> to the NATS server under the same name: each segment's bytes
become one object of its JetStream object store, then the store's manifest is set in one step, so
hosts see the previous version or this one. Every host then materialises it once (ndshm pull,
ndshm agent, or Cluster.open in a program).

${connectionHelp}
  -o, --overwrite    replace the remote store of that name (its old objects go after a grace period)
      --host-id ID   this host's name, recorded as the publisher (default: the host name)
      --no-progress  no progress bar
  -v, --verbose      stack traces on errors
  -h, --help         this text
`;

export const pullHelp = `
usage: ndshm pull <store> --server URL [options]

Materialises the remote store <store> on this host as a persistent local store of the same name
(as ndshm load does: it stays until ndshm unlink), fetching it once: when this host already has the
current version, nothing is transferred, and concurrent pulls and opens on this host share one fetch.

${connectionHelp}
      --host-id ID      this host's name in the host states (default: the host name)
      --replace-local   replace a local store of that name that is not a copy of the remote one
      --timeout SECONDS give up after this long (default 600)
      --no-progress     no progress bar
  -v, --verbose         stack traces on errors
  -h, --help            this text
`;

export const agentHelp = `
usage: ndshm agent --server URL [options]

Keeps this host's shared memory in step with the remote stores until it is stopped (SIGINT,
SIGTERM): each new version of a store is fetched into fresh segments, verified and swapped in
atomically (arrays processes already opened stay valid); a removed store is unlinked here. Prints one
line per change, and reports each store's state for "ndshm remote info" and waitReplicated.

${connectionHelp}
      --stores a,b      only these stores (default: all)
      --persistent      keep the copies after the agent ends (default: they go with it)
      --host-id ID      this host's name in the host states (default: the host name)
      --replace-local   replace local stores of those names that are not copies of the remote ones
  -v, --verbose         stack traces on errors
  -h, --help            this text
`;

export const remoteHelp = `
usage: ndshm remote list|info <store>|rm <store>|gc --server URL [options]

  list          the remote stores: version, arrays, size, when and by whom published
  info <store>  one remote store: its arrays and objects, and the state each host reported
  rm <store>    removes the remote store (its manifest, then its objects); agents unlink their copies
  gc            removes objects no manifest names (replaced versions, publications that died) once
                they are older than the grace period

${connectionHelp}
      --json            list, info: print JSON
      --grace SECONDS   gc: only what is older than this (default 60)
  -n, --dry-run         gc: only say what would be removed
  -v, --verbose         stack traces on errors
  -h, --help            this text
`;

type ClusterModule = typeof import('../cluster/index.js');

async function loadCluster(): Promise<ClusterModule> {
  try {
    return await import('../cluster/index.js');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && /@nats-io\//.test((err as Error).message)) {
      throw new NdshmError('ENOTSUP', 'this command needs the optional packages @nats-io/transport-node, @nats-io/jetstream, @nats-io/kv and @nats-io/obj (npm install them next to ndshm)', { cause: err });
    }
    throw err;
  }
}

async function connect(values: Record<string, unknown>, extra: Partial<ClusterOptions> = {}): Promise<Cluster> {
  const server = (values['server'] as string | undefined) ?? process.env['NDSHM_SERVER'];
  if (server === undefined || server === '') throw new UsageError('--server URL is needed (or the NDSHM_SERVER environment variable)');
  const { Cluster } = await loadCluster();
  const options: ClusterOptions = { servers: server.split(','), ...extra };
  if (values['bucket'] !== undefined) options.bucket = values['bucket'] as string;
  if (values['creds'] !== undefined) {
    const { readFileSync } = await import('node:fs');
    const { credsAuthenticator } = await import('@nats-io/transport-node');
    let creds: Uint8Array;
    try {
      creds = readFileSync(values['creds'] as string);
    } catch {
      throw new NdshmError('ENOENT', `cannot read the credentials file ${values['creds'] as string}`);
    }
    options.authenticator = credsAuthenticator(creds);
  }
  if (values['ca'] !== undefined) options.tls = { caFile: values['ca'] as string };
  if (values['host-id'] !== undefined) options.hostId = values['host-id'] as string;
  return Cluster.connect(options);
}

const short = (generation: string): string => generation.slice(0, 12);

export async function push(args: string[]): Promise<void> {
  const parsed = parse(args, { ...connectionOptions, overwrite: { type: 'boolean', short: 'o' }, 'host-id': { type: 'string' }, 'no-progress': { type: 'boolean' } }, [1, 1], pushHelp);
  if (parsed === undefined) return;
  const name = parsed.positionals[0]!;
  const cluster = await connect(parsed.values);
  const bar = parsed.values['no-progress'] ? undefined : progressReporter(`pushing ${name}`);
  try {
    const info = await cluster.publish(name, name, { overwrite: parsed.values['overwrite'] === true, ...(bar ? { progress: (d: number, t: number) => bar.update(d, t) } : {}) });
    bar?.finish();
    process.stdout.write(
      `pushed store "${name}" to ${cluster.server}: ${count(info.arrays.length, 'array')}, ${bytes(info.bytes)} in ${count(info.segments.length, 'object')}, version ${short(info.generation)} (revision ${info.revision})\n`,
    );
  } catch (err) {
    bar?.finish();
    if (isNdshmError(err, 'EEXIST')) throw new NdshmError('EEXIST', err.message.replace('use overwrite to replace it', '-o replaces it'), { segment: name });
    throw err;
  } finally {
    await cluster.close();
  }
}

export async function pull(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    { ...connectionOptions, 'host-id': { type: 'string' }, 'replace-local': { type: 'boolean' }, timeout: { type: 'string' }, 'no-progress': { type: 'boolean' } },
    [1, 1],
    pullHelp,
  );
  if (parsed === undefined) return;
  const name = parsed.positionals[0]!;
  const timeout = parsed.values['timeout'] === undefined ? 600 : Number(parsed.values['timeout']);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got ${JSON.stringify(parsed.values['timeout'])}`);
  const cluster = await connect(parsed.values);
  const bar = parsed.values['no-progress'] ? undefined : progressReporter(`pulling ${name}`);
  try {
    const r = await cluster.pull(name, {
      persistent: true,
      replaceLocal: parsed.values['replace-local'] === true,
      timeoutMs: Math.ceil(timeout * 1000),
      ...(bar ? { progress: (d: number, t: number) => bar.update(d, t) } : {}),
    });
    bar?.finish();
    const what = `store "${name}": ${count(r.arrays, 'array')}, ${bytes(r.bytes)}, version ${short(r.generation)}`;
    process.stdout.write(r.fetched ? `pulled ${what}, persistent (ndshm unlink ${name} removes it)\n` : `this host has the current ${what} (nothing fetched)\n`);
  } catch (err) {
    bar?.finish();
    if (isNdshmError(err, 'EEXIST')) throw new NdshmError('EEXIST', err.message.replace('pass replaceLocal to replace it', '--replace-local replaces it'), { segment: name });
    throw err;
  } finally {
    await cluster.close();
  }
}

function describeEvent(s: ReplicaState): string {
  const when = s.at.toISOString();
  switch (s.state) {
    case 'fetching':
      return `${when} ${s.name}: fetching version ${short(s.generation)} (${bytes(s.bytes)})`;
    case 'ready':
      return `${when} ${s.name}: ready, version ${short(s.generation)} (${bytes(s.bytes)})`;
    case 'removed':
      return `${when} ${s.name}: removed`;
    case 'failed':
      return `${when} ${s.name}: failed, version ${short(s.generation)}: ${s.error?.code ?? ''} ${s.error?.message ?? ''}`;
  }
}

export async function agent(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    { ...connectionOptions, stores: { type: 'string' }, persistent: { type: 'boolean' }, 'host-id': { type: 'string' }, 'replace-local': { type: 'boolean' } },
    [0, 0],
    agentHelp,
  );
  if (parsed === undefined) return;
  const list = parsed.values['stores'] as string | undefined;
  const stores = list === undefined || list === '*' ? '*' : list.split(',').filter((s) => s !== '');
  if (Array.isArray(stores) && stores.length === 0) throw new UsageError('--stores needs store names, separated by commas');
  const cluster = await connect(parsed.values);
  process.stdout.write(`agent for host ${cluster.hostId} watching ${stores === '*' ? 'all stores' : stores.join(', ')} on ${cluster.server}${parsed.values['persistent'] ? ' (persistent copies)' : ''}\n`);
  let agentStarted;
  try {
    agentStarted = await cluster.replicate({
      stores,
      persistent: parsed.values['persistent'] === true,
      replaceLocal: parsed.values['replace-local'] === true,
      onEvent: (s) => process.stdout.write(`${describeEvent(s)}\n`),
    });
  } catch (err) {
    await cluster.close();
    throw err;
  }
  const a = agentStarted;
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await a.stop();
  await cluster.close();
  process.stdout.write('agent stopped\n');
}

function describeRemote(info: RemoteStoreInfo): string {
  return `${info.name}  version ${short(info.generation)} (revision ${info.revision})  ${count(info.arrays.length, 'array')}, ${bytes(info.bytes)}, published ${info.created.toISOString()} by ${info.publisher.host} (pid ${info.publisher.pid})`;
}

export async function remote(args: string[]): Promise<void> {
  const parsed = parse(args, { ...connectionOptions, json: { type: 'boolean' }, grace: { type: 'string' }, 'dry-run': { type: 'boolean', short: 'n' } }, [1, 2], remoteHelp);
  if (parsed === undefined) return;
  const [sub, name] = parsed.positionals as [string, string | undefined];
  const needsName = sub === 'info' || sub === 'rm';
  if (!['list', 'info', 'rm', 'gc'].includes(sub)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: list, info, rm or gc (see --help)`);
  if (needsName && name === undefined) throw new UsageError(`remote ${sub} needs a store name (see --help)`);
  if (!needsName && name !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(name)} (see --help)`);
  let graceMs: number | undefined;
  if (parsed.values['grace'] !== undefined) {
    const g = Number(parsed.values['grace']);
    if (!Number.isFinite(g) || g < 0) throw new UsageError(`--grace needs a number of seconds, got ${JSON.stringify(parsed.values['grace'])}`);
    graceMs = Math.round(g * 1000);
  }
  const json = parsed.values['json'] === true;
  const cluster = await connect(parsed.values);
  try {
    if (sub === 'list') {
      const all = await cluster.listAll();
      if (json) {
        process.stdout.write(`${JSON.stringify(all.map((l) => (l.info ?? { name: l.name, error: { code: l.error.code, message: l.error.message } })), null, 2)}\n`);
      } else if (all.length === 0) {
        process.stdout.write(`no remote stores on ${cluster.server} (bucket ${cluster.bucket})\n`);
      } else {
        for (const l of all) process.stdout.write(l.info ? `${describeRemote(l.info)}\n` : `${l.name}  REFUSED: ${l.error.message}\n`);
      }
    } else if (sub === 'info') {
      const info = await cluster.info(name!);
      if (info === null) throw new NdshmError('ENOENT', `no remote store named "${name}" on ${cluster.server}`);
      const states = await cluster.hostStates(name!);
      if (json) {
        process.stdout.write(`${JSON.stringify({ ...info, hosts: states }, null, 2)}\n`);
        return;
      }
      const arrays = info.arrays.map((a) => [a.path.join('/'), shape(a.shape), a.dtype, bytes(a.bytes)]);
      const objects = info.segments.map((s) => [s.object, bytes(s.bytes), s.sha256.slice(0, 16)]);
      const hosts = states.map((s) => [s.host, s.state, s.generation === info.generation ? 'current' : s.generation === '' ? '-' : short(s.generation), s.at.toISOString(), s.error ? `${s.error.code}: ${s.error.message}` : '']);
      process.stdout.write(
        `${describeRemote(info)}\n\n${table(['key', 'shape', 'dtype', 'size'], arrays)}\n\n${table(['object', 'size', 'sha256'], objects)}\n\n` +
          (hosts.length === 0 ? 'no host reported it yet\n' : `${table(['host', 'state', 'version', 'at', 'error'], hosts)}\n`),
      );
    } else if (sub === 'rm') {
      if (!(await cluster.unpublish(name!))) throw new NdshmError('ENOENT', `no remote store named "${name}" on ${cluster.server}`);
      process.stdout.write(`removed remote store "${name}" (agents unlink their copies)\n`);
    } else {
      const dryRun = parsed.values['dry-run'] === true;
      const entries = await cluster.gc({ ...(graceMs === undefined ? {} : { graceMs }), dryRun });
      if (entries.length === 0) {
        process.stdout.write('nothing to remove\n');
        return;
      }
      const rows = entries.map((e) => [e.what, String(e.objects), bytes(e.bytes), dryRun ? 'would remove' : e.removed ? 'removed' : 'FAILED', e.reason]);
      process.stdout.write(`${table(['version', 'objects', 'size', 'action', 'why'], rows)}\n`);
    }
  } finally {
    await cluster.close();
  }
}
