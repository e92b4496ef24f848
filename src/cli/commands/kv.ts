import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { KvEntryView } from '../../api/kv.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatFields, formatTable, printJson } from '../output.ts';

export function kvCommand(): Command {
  const kv = new Command('kv').summary('read and write the replicated key-value store').description(
    'Read and write the cluster\'s replicated key-value store. Writes go to the leader from any agent; reads are linearizable unless --stale.',
  );

  kv.command('get')
    .argument('<key>', 'the key')
    .summary('show a key and its revisions')
    .option('--json', 'print JSON instead of a table')
    .option('--raw', 'print only the value, as stored')
    .option('--stale', "read this agent's copy without confirming with the leader (faster, may lag)")
    .action(async (key: string, options: { json?: boolean; raw?: boolean; stale?: boolean }, command: Command) => {
      const entry = await clientFrom(command).kvGet(key, { stale: options.stale === true });
      if (entry === undefined) throw new CliError(`no key ${JSON.stringify(key)}`);
      if (options.raw) return void process.stdout.write(entry.valueEncoding === 'base64' ? Buffer.from(entry.value, 'base64') : entry.value);
      if (options.json) return printJson(entry);
      console.log(formatFields(entryFields(entry)));
    });

  kv.command('put')
    .argument('<key>', 'the key')
    .argument('[value]', 'the value (or --file, or standard input when neither is given)')
    .summary('write a key')
    .option('--file <path>', 'read the value from a file')
    .option('--cas <modRevision>', 'write only if the key is at this modRevision (0: only if it does not exist)', parseRevision)
    .option('--json', 'print JSON')
    .action(async (key: string, value: string | undefined, options: { file?: string; cas?: number; json?: boolean }, command: Command) => {
      if (value !== undefined && options.file !== undefined) throw new CliError('give the value as an argument or with --file, not both', 2);
      const bytes = value !== undefined ? new TextEncoder().encode(value) : options.file !== undefined ? await readFile(options.file) : await readStdin();
      const r = await clientFrom(command).kvPut(key, bytes, options.cas === undefined ? {} : { cas: options.cas });
      if (options.json) return printJson(r);
      console.log(`revision ${r.revision}`);
    });

  kv.command('del')
    .alias('delete')
    .argument('<key>', 'the key')
    .summary('delete a key')
    .option('--cas <modRevision>', 'delete only if the key is at this modRevision', parseRevision)
    .option('--json', 'print JSON')
    .action(async (key: string, options: { cas?: number; json?: boolean }, command: Command) => {
      const r = await clientFrom(command).kvDelete(key, options.cas === undefined ? {} : { cas: options.cas });
      if (options.json) return printJson(r);
      console.log(`revision ${r.revision}`);
    });

  kv.command('list')
    .alias('ls')
    .argument('[prefix]', 'only keys starting with this', '')
    .summary('list keys under a prefix')
    .option('--limit <n>', 'at most this many keys', (v) => parsePositive(v, '--limit'))
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON instead of a table')
    .action(async (prefix: string, options: { limit?: number; stale?: boolean; json?: boolean }, command: Command) => {
      const listed = await clientFrom(command).kvList(prefix, { ...(options.limit === undefined ? {} : { limit: options.limit }), stale: options.stale === true });
      if (options.json) return printJson(listed);
      if (listed.entries.length === 0) return console.log(prefix === '' ? 'no keys' : `no keys under ${JSON.stringify(prefix)}`);
      console.log(formatTable(['KEY', 'MOD REV', 'VERSION', 'BYTES', 'VALUE'], listed.entries.map((e) => [e.key, e.modRevision, e.version, byteLength(e), preview(e)])));
      if (listed.more) console.log(`(more keys: raise --limit)`);
    });
  kv.command('watch')
    .argument('[prefix]', 'only keys starting with this', '')
    .summary('print changes under a prefix as they happen')
    .option('--from <revision>', 'replay changes from this revision first (default: from now)', parseRevision)
    .option('--json', 'print one JSON object per change')
    .action(async (prefix: string, options: { from?: number; json?: boolean }, command: Command) => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      for await (const m of clientFrom(command).watch(prefix, options.from, controller.signal)) {
        const data = JSON.parse(m.data) as { key?: string; value?: string; revision?: number; code?: string; message?: string };
        if (m.event === 'error') throw new CliError(`the watch ended: ${data.message ?? m.data}`);
        if (options.json) console.log(JSON.stringify({ type: m.event, ...data }));
        else console.log(m.event === 'delete' ? `${data.revision}  delete  ${data.key}` : `${data.revision}  put     ${data.key} = ${data.value}`);
      }
    });
  return kv;
}

function entryFields(e: KvEntryView): Array<[string, unknown]> {
  return [
    ['Key', e.key],
    ['Value', e.valueEncoding === 'base64' ? `(binary, base64) ${e.value}` : e.value],
    ['Create revision', e.createRevision],
    ['Mod revision', e.modRevision],
    ['Version', e.version],
    ['Session', e.session],
  ];
}

function byteLength(e: KvEntryView): number {
  return e.valueEncoding === 'base64' ? Buffer.from(e.value, 'base64').length : Buffer.byteLength(e.value);
}

function preview(e: KvEntryView): string {
  if (e.valueEncoding === 'base64') return '(binary)';
  const oneLine = e.value.replace(/\s+/g, ' ');
  return oneLine.length > 40 ? `${oneLine.slice(0, 39)}…` : oneLine;
}

function parseRevision(value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--cas must be a non-negative integer, got ${JSON.stringify(value)}`, 2);
  return Number(value);
}

function parsePositive(value: string, flag: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new CliError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`, 2);
  return Number(value);
}

async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new CliError('no value given: pass it as an argument, with --file, or on standard input', 2);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
