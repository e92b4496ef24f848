// sappers snapshot save FILE | restore FILE: backups of the replicated state (GET/PUT
// /v1/snapshot; file format in src/wire/snapshot-file.ts; docs/operator-guide.md, Backups).
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { describeSnapshotFileError, readSnapshotFile, type SnapshotFileHeader } from '../../wire/snapshot-file.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatBytes } from '../format.ts';
import { formatFields, printJson } from '../output.ts';

export function snapshotCommand(): Command {
  const snapshot = new Command('snapshot').summary('save and restore backups of the replicated state').description(
    'Save the replicated state (keys, sessions, nodes, events, security settings) to a file, or restore the keys and sessions of such a file into the running cluster.',
  );
  snapshot
    .command('save')
    .summary('write the replicated state to FILE')
    .description(
      'Write the replicated state, as of a linearizable point (or the local copy with --stale), to FILE: atomically (a temporary file, fsync, rename) and readable by the owner only (0600), since it holds the cluster CA key and token hash.',
    )
    .argument('<file>', 'where to write the snapshot')
    .option('--stale', 'read the local copy of the agent at --addr instead of a linearizable point')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { stale?: boolean }, command: Command) => {
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      const bytes = await clientFrom(command).snapshotSave({ stale: options.stale === true });
      // Checked before it is written: a backup that cannot be read back is worse than none.
      const read = readSnapshotFile(bytes);
      if (!read.ok) throw new CliError(`the agent sent a snapshot that does not check out (${describeSnapshotFileError(read.error)}); nothing was written`);
      await writeFileAtomic(file, bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const h = read.value.header;
      if (json) return printJson({ file, bytes: bytes.length, sha256, ...summary(h) });
      console.log(`saved ${file}: revision ${h.revision}, ${h.keys} keys, ${h.sessions} sessions, ${formatBytes(bytes.length)} (${bytes.length} bytes)`);
      console.log(`sha256 ${sha256}`);
    });
  snapshot
    .command('restore')
    .summary('replace the cluster\'s keys and sessions with those of FILE')
    .description(
      [
        'Restore a file written by "snapshot save" into the running cluster, through Raft: every node applies it at the same point.',
        'Every key and session is replaced by the file\'s; the KV revision moves forward past both (watchers are told to re-read);',
        'the node registry, the security settings and the event log stay, and the log records a restore event. A damaged file is',
        'refused and changes nothing. Requires --yes.',
      ].join(' '),
    )
    .argument('<file>', 'a snapshot file')
    .option('--yes', 'confirm: the cluster\'s keys and sessions are replaced')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { yes?: boolean }, command: Command) => {
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
      // The agent checks everything again; this catches a wrong or damaged file before uploading it.
      const read = readSnapshotFile(bytes);
      if (!read.ok) throw new CliError(`snapshot refused, nothing was changed: ${describeSnapshotFileError(read.error)}`);
      const h = read.value.header;
      if (options.yes !== true) {
        process.stderr.write(`${formatFields([['file', file], ...Object.entries(summary(h))])}\n`);
        throw new CliError(`restoring replaces every key and session of the cluster at ${clientFrom(command).addr} with the ${h.keys} keys and ${h.sessions} sessions of this snapshot (revision ${h.revision}, ${h.createdAt}): confirm with --yes`, 2);
      }
      if (!json && bytes.length > 1024 * 1024) process.stderr.write(`uploading ${formatBytes(bytes.length)}...\n`);
      const r = await clientFrom(command).snapshotRestore(bytes);
      if (json) return printJson(r);
      console.log(`restored ${file} (revision ${r.snapshotRevision}, taken ${r.snapshotCreatedAt}): ${r.keys} keys, ${r.sessions} sessions`);
      console.log(`the cluster is now at revision ${r.revision}; event ${r.event} records the restore`);
    });
  return snapshot;
}

function summary(h: SnapshotFileHeader): Record<string, string | number> {
  return { revision: h.revision, appliedIndex: h.appliedIndex, keys: h.keys, sessions: h.sessions, createdAt: h.createdAt, nodeId: h.nodeId, epoch: h.epoch, bodySha256: h.bodySha256 };
}

/** Temporary file (0600) beside the target, fsync, rename over it, fsync the directory. */
async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CliError(`cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  // The rename is durable once the directory is synced (it is atomic before that).
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
