// Entry point of the sappers command (and of the dist/ bundle).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
