// Imported last by index.ts: runs the segment attach path once more after every other module has
// loaded, so that a program's first attach finds it warm (measured: the first Segment.open after
// importing the whole library took a median ~52 us when primed only early in the import, ~42 us
// after this). The array open path is not primed twice: a second run over its stand-in segment made
// the first real SharedNDArray.open slower (median ~190 us against ~160 us).

import { primeAttachPath } from './segment/segment.js';

primeAttachPath();
