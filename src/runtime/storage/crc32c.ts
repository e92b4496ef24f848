// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, slicing-by-8.
//
// Why CRC-32C and not zlib.crc32 (CRC-32/IEEE, native since Node 22.2): the Castagnoli
// polynomial keeps a larger Hamming distance than IEEE over the record lengths a log writes
// (Castagnoli, Braeuer, Herrmann, "Optimization of cyclic redundancy-check codes with 24 and 32
// parity bits", IEEE Trans. Commun. 1993; Koopman, "32-bit cyclic redundancy codes for internet
// applications", DSN 2002), it is the checksum of iSCSI, ext4/btrfs metadata and the etcd WAL, and
// CPUs compute it in hardware (SSE4.2 crc32, ARMv8 CRC32C), so a later native implementation
// keeps the on-disk format. Pure TypeScript keeps the module free of native addons; slicing-by-8
// (Kounavis and Berry, Intel, 2005) makes it fast enough that fsync, not the checksum, bounds the
// WAL (see bench/). Check value: crc32c("123456789") = 0xE3069283 (RFC 3720, B.4).

const POLY = 0x82f63b78;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes. */
const TABLES: readonly Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0]!;
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[b] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1]!;
    const cur = tables[k]!;
    for (let b = 0; b < 256; b++) cur[b] = ((prev[b]! >>> 8) ^ t0[prev[b]! & 0xff]!) >>> 0;
  }
  return tables;
}

/**
 * CRC-32C of data, continuing from `previous` (the result of an earlier call over the bytes
 * before data), so a record can be checksummed in pieces: crc32c(b, crc32c(a)) = crc32c(a ++ b).
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = ~previous >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const lo = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) {
    crc = (crc >>> 8) ^ t0[(crc ^ data[i]!) & 0xff]!;
    i++;
  }
  return ~crc >>> 0;
}
