/**
 * What the viewer accepts from the server (src/viewer/app/conn.ts
 * checkServer): the five message shapes, and null — the banner and a
 * reconnect — for anything else.
 */
import { expect, it } from 'vitest';
import { checkServer } from '../../../src/viewer/app/conn.js';

it('accepts the server messages', () => {
  expect(checkServer({ t: 'reply', id: 3, body: [] })).not.toBeNull();
  expect(checkServer({ t: 'error', id: null, code: 'X', message: 'm', where: {} })).not.toBeNull();
  expect(checkServer({ t: 'record', summary: { packet: 1 }, record: { trace: 1 } })).not.toBeNull();
  expect(checkServer({ t: 'state', state: { now: 0 } })).not.toBeNull();
  expect(checkServer({ t: 'lagging', skipped: 2 })).not.toBeNull();
});

it('refuses what has no known shape', () => {
  for (const v of [null, 7, 'reply', [], {}, { t: 'nope' }, { t: 'reply' }, { t: 'error', id: 1 }, { t: 'record', summary: {} }, { t: 'record', summary: {}, record: {} }, { t: 'state' }]) {
    expect(checkServer(v), JSON.stringify(v)).toBeNull();
  }
});
