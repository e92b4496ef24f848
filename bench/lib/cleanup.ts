// Undo actions for a benchmark run: child processes, temp dirs, firewall tables. Every action is
// synchronous on purpose, so the same list can run from `finally`, from a SIGINT/SIGTERM handler
// and from process 'exit' (where no promise would ever settle). Actions run newest first, each
// at most once; a failing action is reported and the rest still run.

export class CleanupStack {
  readonly #actions: Array<{ readonly label: string; readonly run: () => void; done: boolean }> = [];
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: cleaning up benchmark processes and files\n`);
    this.runAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  readonly #onExit = (): void => this.runAll();
  #installed = false;

  /** Registers an undo action; returns a function that runs (and retires) just this one. */
  add(label: string, run: () => void): () => void {
    const entry = { label, run, done: false };
    this.#actions.push(entry);
    return () => this.#runOne(entry);
  }

  /** Runs the actions on Ctrl-C, SIGTERM and exit too, until uninstall(). */
  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
    process.on('exit', this.#onExit);
  }

  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
    process.off('exit', this.#onExit);
  }

  runAll(): void {
    for (let i = this.#actions.length - 1; i >= 0; i--) this.#runOne(this.#actions[i]!);
    this.#actions.length = 0;
  }

  #runOne(entry: { readonly label: string; readonly run: () => void; done: boolean }): void {
    if (entry.done) return;
    entry.done = true;
    try {
      entry.run();
    } catch (e) {
      process.stderr.write(`cleanup of ${entry.label} failed: ${(e as Error).message}\n`);
    }
  }
}
