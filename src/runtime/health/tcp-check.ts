// TCP check (Consul's "tcp"): passing when a connection to the port is accepted within the
// timeout, critical otherwise. Nothing is sent; the connection is closed right away.

import { connect } from 'node:net';
import type { CheckResult } from './check-result.ts';
import { abortMessage } from './check-result.ts';

export interface TcpCheckTarget {
  readonly host: string;
  readonly port: number;
}

export function tcpCheck(target: TcpCheckTarget, signal: AbortSignal): Promise<CheckResult> {
  const where = `TCP connect ${hostPort(target.host, target.port)}`;
  if (signal.aborted) return Promise.resolve({ status: 'critical', output: `${where}: ${abortMessage(signal)}` });
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const finish = (result: CheckResult): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ status: 'critical', output: `${where}: ${abortMessage(signal)}` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ status: 'passing', output: `${where}: success` }));
    socket.once('error', (e: Error) => finish({ status: 'critical', output: `${where}: ${e.message}` }));
  });
}

/** host:port, with brackets around an IPv6 address. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
