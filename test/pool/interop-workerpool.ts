// The worker of the interop tests for workerpool (process and thread workers).

import workerpool from 'workerpool';

import fillAndMake from './interop-worker.js';

workerpool.worker({ fillAndMake });
