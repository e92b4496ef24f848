import { Command } from 'commander';
import { generateKey } from '../../wire/keyring.ts';

export function keygenCommand(): Command {
  return new Command('keygen')
    .summary('print a new gossip encryption key')
    .description(
      'Print a new random 32-byte gossip key (base64) for gossip.keys / SAPPERS_GOSSIP_KEYS / --gossip-key. ' +
        'Every node of a cluster needs the same key; to rotate, add the new key after the old one everywhere, ' +
        'then move it first everywhere, then remove the old one.',
    )
    .action(() => {
      console.log(generateKey());
    });
}
