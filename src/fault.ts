// Fault injection for the test suite: NDSHM_FAULT=<point> makes the process kill itself with SIGKILL
// when it reaches that point, so that a test can kill a writer at exactly the step that matters
// (docs/testing.md lists the points). Read once; a no-op otherwise.

const armed = process.env['NDSHM_FAULT'];

/** Ends the process by SIGKILL here if NDSHM_FAULT names this point. */
export function faultPoint(point: string): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}
