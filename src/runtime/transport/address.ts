// "host:port" addresses (types.ts): IPv6 hosts are bracketed so the last colon always separates
// the port. Addresses arrive from gossip, i.e. from other machines, so parsing returns a result.
import { isIP } from 'node:net';
import { err, ok, type Result } from '../../core/result.ts';
import type { Address } from './types.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function formatAddress(host: string, port: number): Address {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a destination address; port 0 is not a destination. */
export function parseAddress(address: Address): Result<HostPort, string> {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return err(`address ${JSON.stringify(address)} is not host:port`);
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return err(`address ${JSON.stringify(address)} has no valid port`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return err(`address ${JSON.stringify(address)} has port out of range`);
  if (host.startsWith('[')) {
    if (!host.endsWith(']') || isIP(host.slice(1, -1)) !== 6) return err(`address ${JSON.stringify(address)} has a bad IPv6 host`);
    host = host.slice(1, -1);
  } else if (host.includes(':')) {
    return err(`address ${JSON.stringify(address)}: IPv6 hosts must be bracketed`);
  } else if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) {
    return err(`address ${JSON.stringify(address)} has an invalid host name`);
  }
  return ok({ host, port });
}
