// The repository's Python reader (python/ndshm.py), for Python alternatives that open ndshm arrays.

import { fileURLToPath } from 'node:url';

/** The directory holding ndshm.py: pass it to Python, which puts it first on sys.path. */
export const pythonDir = fileURLToPath(new URL('../../../python/', import.meta.url));
