// sappers keyring list|install|use|remove: the cluster's gossip keyring, kept in the replicated
// state (src/core/fsm/security.ts) and followed by every node (src/agent/security.ts).
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { KeyringChangeResult, KeyringOp, KeyringView } from '../../api/keyring.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatTable, printJson } from '../output.ts';

const ROTATION = `
Rotating the cluster key (no downtime, one command at a time, at any node):
  1. sappers keygen --out new.key
  2. sappers keyring install --key-file new.key
       Every node adds the key: it accepts gossip sealed with it, and still seals with the old one.
       Wait until each node lists it ("sappers keyring list --addr <node>", THIS NODE column).
  3. sappers keyring use <new fingerprint>
       Every node seals gossip with the new key and still accepts the old one. Wait as above.
  4. sappers keyring remove <old fingerprint>
       Gossip sealed with the old key is refused from now on.
  5. Put new.key in place of the cluster key file (--cluster-key-file) on every machine, so a
     node started from scratch, and any new node, uses the new key.

Every node follows the keyring in the replicated state (Raft) within a few seconds, so no command
runs on each node, and a node that is down meanwhile gets the changes from the log when it is
back. A node that was down during "install" rejoins by itself (its old key still seals the
cluster's gossip). A node that missed "use" or "remove" holds only the old key and cannot read
the others' gossip, but Raft needs no gossip key: the leader reaches it at the address in the
replicated node registry, and it reaches the leader the same way, so it gets the new keyring from
the log and rejoins gossip by itself, as long as its RPC address is unchanged. Otherwise give it
the new key as its --cluster-key-file and start it again: a key file that changed since the node
last started is taken as the operator's word, and its first key seals gossip from then on.

Keys are shown by fingerprint only. Give keys with --key-file rather than on the command line,
where the process list and the shell history would show them.`;

interface KeyOptions {
  keyFile?: string;
  json?: boolean;
}

export function keyringCommand(): Command {
  const keyring = new Command('keyring')
    .summary('list and rotate the cluster key (gossip keyring)')
    .description(
      'The cluster key seals all gossip (AES-256-GCM). The keyring holds the installed keys: the primary one seals, every ' +
        'installed one opens. It lives in the replicated state, so a change made at any node reaches every node.',
    )
    .addHelpText('after', ROTATION);

  keyring
    .command('list')
    .summary("show the cluster's keys and the ones this node uses")
    .description(
      'List the cluster keyring by fingerprint: which key is primary (seals gossip), and which keys the node at --addr ' +
        'uses right now. A node follows the cluster within a few seconds of a change; until then the columns differ. ' +
        'Linearizable unless --stale.',
    )
    .option('--json', 'print JSON instead of a table')
    .option('--stale', "read this node's copy of the cluster keyring without asking the leader")
    .action(async (options: { json?: boolean; stale?: boolean }, command: Command) => {
      const view = await clientFrom(command).keyring({ stale: options.stale === true });
      if (options.json) return printJson(view);
      console.log(formatTable(['FINGERPRINT', 'CLUSTER', `THIS NODE (${view.nodeId})`], listRows(view)));
      console.log(inSync(view) ? `${view.nodeId} uses the cluster keyring` : `${view.nodeId} has not caught up with the cluster keyring yet (it follows within a few seconds)`);
    });

  const change = (op: KeyringOp, summary: string, description: string, argument: string): void => {
    keyring
      .command(op)
      .summary(summary)
      .description(description)
      .argument(argument)
      .option('--key-file <file>', 'read the key from FILE (one base64 key, as written by "sappers keygen --out")')
      .option('--json', 'print JSON')
      .addHelpText('after', `\nSee "sappers keyring --help" for the rotation procedure.`)
      .action(async (arg: string | undefined, options: KeyOptions, command: Command) => {
        const key = await keyFrom(arg, options.keyFile);
        const result = await clientFrom(command).keyringChange(op, key);
        if (options.json) return printJson(result);
        console.log(changeMessage(result));
      });
  };
  change(
    'install',
    'add a key to the keyring (every node then accepts gossip sealed with it)',
    'Install KEY (base64, from "sappers keygen") in the cluster keyring. Gossip is still sealed with the primary key; ' +
      'once every node lists the new key, make it primary with "keyring use". Installing an installed key changes nothing.',
    '[key]',
  );
  change(
    'use',
    'make an installed key the primary (the one that seals gossip)',
    'Make an installed key the primary: every node seals gossip with it from then on and still accepts the other installed keys. ' +
      'Give the key, or its fingerprint as "keyring list" shows it.',
    '[key-or-fingerprint]',
  );
  change(
    'remove',
    'remove a key from the keyring (gossip sealed with it is refused)',
    'Remove an installed key that is not the primary (refused with HTTP 409 for the primary: "keyring use" another key first). ' +
      'Give the key, or its fingerprint as "keyring list" shows it.',
    '[key-or-fingerprint]',
  );
  return keyring;
}

/** The key (or fingerprint) from the argument or --key-file: exactly one of them. */
async function keyFrom(arg: string | undefined, keyFile: string | undefined): Promise<string> {
  if (arg !== undefined && keyFile !== undefined) throw new CliError('give the key either as an argument or with --key-file, not both', 2);
  if (keyFile === undefined) {
    if (arg === undefined || arg.trim() === '') throw new CliError('give the key (or for use and remove, its fingerprint) as an argument, or --key-file FILE', 2);
    return arg;
  }
  let text: string;
  try {
    text = await readFile(keyFile, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
  return keyInFile(text, keyFile);
}

/** The one key in a key file (blank lines and # comments skipped, as in cluster key files). */
export function keyInFile(text: string, path: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new CliError(`${path} holds no key`, 2);
  if (lines.length > 1) throw new CliError(`${path} holds ${lines.length} keys; give a file with just the key to install, use or remove (as "sappers keygen --out" writes)`, 2);
  return lines[0]!;
}

/** One row per key in the cluster keyring or in this node's, cluster order first. */
export function listRows(view: KeyringView): string[][] {
  const fingerprints = [...view.keys.map((k) => k.fingerprint), ...view.local.keys.filter((fp) => !view.keys.some((k) => k.fingerprint === fp))];
  const role = (fp: string, primary: string, installed: boolean): string => (fp === primary ? 'primary' : installed ? 'installed' : '-');
  return fingerprints.map((fp) => [fp, role(fp, view.primary, view.keys.some((k) => k.fingerprint === fp)), role(fp, view.local.primary, view.local.keys.includes(fp))]);
}

/** This node's keyring equals the cluster's. */
export function inSync(view: KeyringView): boolean {
  return view.local.primary === view.primary && view.local.keys.length === view.keys.length && view.keys.every((k) => view.local.keys.includes(k.fingerprint));
}

function changeMessage(r: KeyringChangeResult): string {
  const summary = `the cluster keyring holds ${r.keys.length} key${r.keys.length === 1 ? '' : 's'}, primary ${r.primary}`;
  switch (r.op) {
    case 'install':
      return `installed key ${r.fingerprint}; ${summary}.\nEvery node adds it within a few seconds ("sappers keyring list" on each node); then make it primary: sappers keyring use ${r.fingerprint}`;
    case 'use': {
      const old = r.keys.filter((k) => !k.primary).map((k) => k.fingerprint);
      const next = old.length === 0 ? '' : `\nOnce every node uses it ("sappers keyring list" on each node), remove the old key${old.length === 1 ? '' : 's'}: ${old.map((fp) => `sappers keyring remove ${fp}`).join('; ')}`;
      return `key ${r.fingerprint} is the primary; ${summary}.${next}`;
    }
    case 'remove':
      return `removed key ${r.fingerprint}; ${summary}. Gossip sealed with it is refused once each node follows (a few seconds).`;
  }
}
