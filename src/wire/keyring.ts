// Gossip encryption (AES-256-GCM) under a cluster keyring: the primary key encrypts, every
// installed key decrypts, so keys rotate without downtime: install the new key everywhere,
// make it primary everywhere, then remove the old one. GCM authenticates as it decrypts, so a
// packet that fails is dropped before any parser sees a byte of it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { err, ok, type Result } from '../core/result.ts';

/** Leading byte of an encrypted packet. A plaintext msgpack envelope starts with 0x93. */
const SEALED_V1 = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** Bytes that encryption adds to a message. */
export const SEAL_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

export type OpenError =
  | { readonly code: 'plaintext-refused' } // a key is configured, the packet is not encrypted
  | { readonly code: 'encrypted-without-key' } // the packet is encrypted, we have no keyring
  | { readonly code: 'auth-failed' } // no installed key authenticates it (wrong key or tampered)
  | { readonly code: 'malformed' }; // too short or unknown format

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** Parses a base64 key (as printed by `sappers keygen`), naming what is wrong with it. */
export function parseKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new KeyringError(`${where}: a gossip key is base64 text (generate one with "sappers keygen")`);
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new KeyringError(`${where}: a gossip key is ${KEY_BYTES} bytes (AES-256), this one is ${key.length}`);
  return key;
}

export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

export class Keyring {
  #primary: Buffer;
  #keys: Buffer[];

  /** keys[0] is the primary unless primary is given. */
  constructor(keys: readonly Buffer[], primary?: Buffer) {
    if (keys.length === 0) throw new KeyringError('a keyring needs at least one key');
    for (const k of keys) if (k.length !== KEY_BYTES) throw new KeyringError(`gossip keys are ${KEY_BYTES} bytes`);
    this.#keys = [...keys];
    this.#primary = primary ?? keys[0]!;
    if (!this.#keys.some((k) => k.equals(this.#primary))) this.#keys.unshift(this.#primary);
  }

  get size(): number {
    return this.#keys.length;
  }

  install(key: Buffer): void {
    if (key.length !== KEY_BYTES) throw new KeyringError(`gossip keys are ${KEY_BYTES} bytes`);
    if (!this.#keys.some((k) => k.equals(key))) this.#keys.push(key);
  }

  use(key: Buffer): void {
    if (!this.#keys.some((k) => k.equals(key))) throw new KeyringError('cannot make a key primary before it is installed');
    this.#primary = key;
  }

  remove(key: Buffer): void {
    if (key.equals(this.#primary)) throw new KeyringError('cannot remove the primary key; make another key primary first');
    this.#keys = this.#keys.filter((k) => !k.equals(key));
  }

  /** The installed keys, primary first, as base64 text (for the keyring file). */
  get keys(): { readonly primary: string; readonly all: readonly string[] } {
    return { primary: this.#primary.toString('base64'), all: this.#keys.map((k) => k.toString('base64')) };
  }

  /** Replaces every key at once (the cluster's replicated keyring changed). */
  replace(keys: readonly Buffer[], primary: Buffer): void {
    const next = new Keyring(keys, primary);
    this.#keys = next.#keys;
    this.#primary = next.#primary;
  }

  seal(plaintext: Uint8Array, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Uint8Array {
    const cipher = createCipheriv('aes-256-gcm', this.#primary, nonce);
    cipher.setAAD(HEADER);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([HEADER, nonce, body, cipher.getAuthTag()]);
  }

  open(packet: Uint8Array): Result<Uint8Array, OpenError> {
    if (packet.length === 0 || packet[0] !== SEALED_V1) return err({ code: 'plaintext-refused' });
    if (packet.length < SEAL_OVERHEAD_BYTES) return err({ code: 'malformed' });
    const nonce = packet.subarray(1, 1 + NONCE_BYTES);
    const body = packet.subarray(1 + NONCE_BYTES, packet.length - TAG_BYTES);
    const tag = packet.subarray(packet.length - TAG_BYTES);
    // Primary first: during a rotation most traffic already uses it.
    for (const key of [this.#primary, ...this.#keys.filter((k) => k !== this.#primary)]) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        decipher.setAAD(HEADER);
        decipher.setAuthTag(tag);
        return ok(Buffer.concat([decipher.update(body), decipher.final()]));
      } catch {
        // wrong key or tampered: try the next one
      }
    }
    return err({ code: 'auth-failed' });
  }
}

const HEADER = Buffer.from([SEALED_V1]);

/**
 * The gossip layer's view: with a keyring every packet must be sealed; without one, sealed
 * packets are refused (they come from a cluster we have no key for).
 */
export function openPacket(keyring: Keyring | undefined, packet: Uint8Array): Result<Uint8Array, OpenError> {
  if (keyring) return keyring.open(packet);
  if (packet.length > 0 && packet[0] === SEALED_V1) return err({ code: 'encrypted-without-key' });
  return ok(packet);
}

export function sealPacket(keyring: Keyring | undefined, packet: Uint8Array): Uint8Array {
  return keyring ? keyring.seal(packet) : packet;
}
