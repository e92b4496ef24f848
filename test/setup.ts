// Loaded before every test file (npm test passes --import): property tests run from a fixed seed
// unless they choose their own, so a failure in CI replays exactly. FC_SEED=N explores others.
import fc from 'fast-check';

fc.configureGlobal({ seed: Number(process.env['FC_SEED'] ?? 20261123) });
