// Barrier-style scenarios: fresh member processes that each time their rounds, and, for the IPC
// baseline, this process as the barrier they meet at (each member sends {arrive}; {pass} goes to all
// once everyone has arrived). The member side of the protocol is bench/lib/parent.ts.

import { Forked, killAll } from './forked.js';

/**
 * Starts one `script` member per config, waits for each to say {ready}, says {go}, acts as the IPC
 * barrier for `ipcRounds` rounds (0: the members meet elsewhere), and returns the slowest member's
 * {us} per round.
 */
export async function slowestMemberUs(script: string, configs: readonly object[], ipcRounds: number): Promise<number> {
  const members = configs.map(() => new Forked(script));
  try {
    members.forEach((m, k) => m.send(configs[k]!));
    for (const m of members) await m.next(); // {ready}
    for (const m of members) m.send({ go: true });
    for (let r = 0; r < ipcRounds; r++) {
      for (const m of members) await m.next(); // {arrive}
      for (const m of members) m.send({ pass: true });
    }
    const results = await Promise.all(members.map((m) => m.next<{ us: number }>()));
    await Promise.all(members.map((m) => m.exited()));
    return Math.max(...results.map((x) => x.us));
  } finally {
    await killAll(members);
  }
}
