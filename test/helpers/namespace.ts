import { spawnSync } from 'node:child_process';

let cached: string[] | string | undefined;

/**
 * A command prefix that runs a program with its own, tiny /dev/shm (a tmpfs of `size` in a private
 * mount namespace), or the reason it is not possible here.
 */
export function tinyShm(size = '1m'): string[] | string {
  if (cached === undefined) {
    const attempts = [['unshare', '-m'], ['unshare', '-rm']];
    cached = 'unshare cannot make a mount namespace here (needs root or unprivileged user namespaces)';
    for (const prefix of attempts) {
      const r = spawnSync(prefix[0]!, [...prefix.slice(1), 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /dev/shm'], { encoding: 'utf8' });
      if (r.status === 0) {
        cached = prefix;
        break;
      }
    }
  }
  if (typeof cached === 'string') return cached;
  return [...cached, 'sh', '-c', `mount -t tmpfs -o size=${size} tmpfs /dev/shm && exec "$0" "$@"`];
}
