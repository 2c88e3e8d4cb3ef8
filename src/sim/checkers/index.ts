// Every checker, in the order a failure is reported: the most specific
// diagnosis first (a lost acknowledged write says more than "siblings differ").

import { convergence } from './convergence.js';
import { deleteAfterWrite } from './delete-after-write.js';
import { integrity } from './integrity.js';
import { layoutPlacement } from './layout.js';
import { lostWrites } from './lost-writes.js';
import type { Checker } from './model.js';
import { readYourWrites } from './read-your-writes.js';
import { noResurrection } from './resurrection.js';
import { siblingsExact } from './siblings.js';

export const CHECKERS: readonly Checker[] = [integrity, lostWrites, noResurrection, deleteAfterWrite, readYourWrites, siblingsExact, layoutPlacement, convergence];

export type { Checker, CheckInput, FinalState, Violation } from './model.js';
