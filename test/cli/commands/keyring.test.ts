// `sappers keyring` output and key-file reading, without an agent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyringView } from '../../../src/api/keyring.ts';
import { inSync, keyInFile, listRows } from '../../../src/cli/commands/keyring.ts';
import { CliError } from '../../../src/cli/errors.ts';

describe('keyring command helpers', () => {
  it('lists cluster keys first, then keys only this node still holds, with each side\'s role', () => {
    const midRotation: KeyringView = {
      nodeId: 'n1',
      primary: 'new',
      keys: [{ fingerprint: 'new', primary: true }],
      local: { primary: 'old', keys: ['old', 'new'] },
    };
    assert.deepEqual(listRows(midRotation), [
      ['new', 'primary', 'installed'],
      ['old', '-', 'primary'],
    ]);
    assert.equal(inSync(midRotation), false);
    assert.equal(inSync({ ...midRotation, local: { primary: 'new', keys: ['new'] } }), true);
    assert.equal(inSync({ ...midRotation, local: { primary: 'new', keys: ['new', 'old'] } }), false);
  });

  it('reads the one key of a key file, skipping comments and blank lines', () => {
    assert.equal(keyInFile('# made by sappers keygen\n\n  abc=  \n', 'f'), 'abc=');
    assert.throws(() => keyInFile('# nothing\n', 'f'), (e: unknown) => e instanceof CliError && /holds no key/.test(e.message));
    assert.throws(() => keyInFile('a\nb\n', 'f'), (e: unknown) => e instanceof CliError && /holds 2 keys/.test(e.message));
  });
});
