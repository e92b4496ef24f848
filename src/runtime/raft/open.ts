// Opening a Raft node's durable state, the one start-up sequence every host uses (agent,
// simulator, benchmark, tests): recover the directory; a brand-new founding voter bootstraps the
// shared first configuration and makes it durable before anything can be sent; a brand-new
// non-founder starts empty and waits for a leader to add it; and the newest snapshot's data is
// read for the state machine.

import { bootstrapState, EMPTY_STATE, type RestoredState } from '../../core/raft/raft.ts';
import type { ClusterConfig } from '../../core/raft/types.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { FileSystem } from '../storage/fs.ts';
import { RaftStorage, RaftStorageError, type RaftStorageOptions } from '../storage/raft-storage.ts';

export interface OpenedRaftState {
  readonly storage: RaftStorage;
  /** Pass as RaftNodeOptions.restored. */
  readonly restored: RestoredState;
  /** Pass as RaftNodeOptions.snapshotData. */
  readonly snapshotData: Uint8Array | undefined;
  /** True when this call bootstrapped a new cluster. */
  readonly bootstrapped: boolean;
  /** What recovery repaired (torn tail cut, leftovers removed), for the log. */
  readonly notes: readonly string[];
}

export interface OpenRaftStateOptions {
  /**
   * The founding configuration, when this node is one of its voters: used only when the
   * directory is fresh (a restart keeps what is on disk). Every founder must pass the same one.
   */
  readonly bootstrap?: ClusterConfig | undefined;
  readonly storage?: RaftStorageOptions;
}

export async function openRaftState(fs: FileSystem, dir: string, options: OpenRaftStateOptions = {}): Promise<Result<OpenedRaftState, RaftStorageError>> {
  const opened = await RaftStorage.open(fs, dir, options.storage);
  if (!opened.ok) return opened;
  const { storage, state } = opened.value;
  const fresh = state.entries.length === 0 && state.snapshot === undefined && state.hardState.term === 0;
  let restored: RestoredState = state;
  let bootstrapped = false;
  try {
    if (fresh && options.bootstrap !== undefined) {
      restored = bootstrapState(options.bootstrap);
      await storage.append(restored.entries);
      await storage.saveHardState(restored.hardState);
      bootstrapped = true;
    } else if (fresh) {
      restored = EMPTY_STATE;
    }
    let snapshotData: Uint8Array | undefined;
    if (restored.snapshot !== undefined) {
      const snap = await storage.readSnapshot();
      if (snap === undefined || snap.meta.index !== restored.snapshot.index) {
        await storage.close();
        return err(new RaftStorageError('bad-snapshot', `snapshot ${restored.snapshot.index} was recovered but its data cannot be read back from ${dir}`));
      }
      snapshotData = snap.data;
    }
    return ok({ storage, restored, snapshotData, bootstrapped, notes: state.notes });
  } catch (e) {
    await storage.close().catch(() => undefined);
    throw e;
  }
}
