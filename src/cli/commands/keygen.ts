import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { generateKey } from '../../wire/keyring.ts';
import { CliError } from '../errors.ts';

export function keygenCommand(): Command {
  return new Command('keygen')
    .summary('make a new cluster key')
    .description(
      'Make a new random cluster key: 32 bytes for AES-256, base64. With --out it is written to FILE with mode 0600 ' +
        '(never over an existing file unless --force); otherwise it is printed. Copy the same file to every node and start ' +
        'each agent with --cluster-key-file FILE: the key encrypts gossip and lets a node join and get its TLS certificate. ' +
        'To rotate it in a running cluster, see "sappers keyring --help".',
    )
    .option('--out <file>', 'write the key to FILE (mode 0600) instead of printing it')
    .option('--force', 'replace FILE if it exists')
    .action(async (options: { out?: string; force?: boolean }) => {
      if (options.out === undefined) {
        console.log(generateKey());
        return;
      }
      try {
        await createKeyFile(options.out, options.force === true);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new CliError(`${options.out} exists; pass --force to replace it (nodes using the old key would no longer be able to join)`);
        throw new CliError(`cannot write ${options.out}: ${code ?? (e as Error).message}`);
      }
      console.error(`wrote a new cluster key to ${options.out}; start every agent with --cluster-key-file ${options.out}`);
    });
}

/** Writes a new key to `path`, mode 0600; refuses an existing file unless `replace`. */
export async function createKeyFile(path: string, replace: boolean): Promise<void> {
  await writeFile(path, `${generateKey()}\n`, { mode: 0o600, flag: replace ? 'w' : 'wx' });
}
