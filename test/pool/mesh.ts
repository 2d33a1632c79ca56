// Classes with glob-stored attributes, imported by the pool tests and by their task module (so that
// workers revive instances as instances of these classes).

import { type SharedNDArray, globStoreAttributes, globStored } from '../../src/index.js';

@globStoreAttributes('grid', 'meta')
export class Mesh {
  grid: SharedNDArray | undefined;
  meta: { unit: string; n: number } | undefined;
  label: string;
  declare [Symbol.dispose]: () => void; // added by the decorator

  constructor(grid: SharedNDArray, meta: { unit: string; n: number }, label: string) {
    this.grid = grid;
    this.meta = meta;
    this.label = label;
  }

  total(): number {
    let s = 0;
    for (const v of this.grid!.data as Float64Array) s += v;
    return s;
  }
}

@globStoreAttributes()
export class Splines {
  @globStored accessor knots: number[] | undefined;
  order = 3;
  declare [Symbol.dispose]: () => void;

  constructor(knots: number[]) {
    this.knots = knots;
  }
}

/** Not decorated as a class: workers revive its instances as plain objects with the same attributes. */
export class Loose {
  @globStored accessor values: number[] | undefined;
  name = 'loose';
}
