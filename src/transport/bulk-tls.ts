// The bulk lane's sockets under TLS (node-tls.ts). The plain lane read
// straight into its frame buffers (bulk.ts, net.Socket `onread`); a TLS
// client socket can do the same, but a socket accepted by a TLS server
// cannot, so the server end copies each decrypted chunk into the buffer the
// frame reader names (about 0.1 ms per MB, beside the decryption itself).

import tls from 'node:tls';

import type { FrameReader } from './bulk.js';

/** Connects to a peer's bulk lane over TLS (`opts` from node-tls.ts clientTlsOptions), reads going through `reader`. */
export function connectBulkTls(host: string, port: number, reader: FrameReader, opts: tls.ConnectionOptions): tls.TLSSocket {
  const sock: tls.TLSSocket = tls.connect({
    ...opts,
    host,
    port,
    onread: {
      buffer: () => reader.buffer(),
      callback: (n: number): boolean => {
        try {
          reader.read(n);
          return true;
        } catch (err) {
          sock.destroy(err as Error);
          return false;
        }
      },
    },
  } as tls.ConnectionOptions);
  sock.setNoDelay(true);
  return sock;
}

/** Feeds what an accepted TLS socket reads to `reader`; a malformed stream calls onError (which must close the socket). */
export function feedFrames(sock: tls.TLSSocket, reader: FrameReader, onError: (err: Error) => void): void {
  sock.on('data', (d: Buffer) => {
    let i = 0;
    while (i < d.length) {
      const dst = reader.buffer();
      const take = Math.min(dst.length, d.length - i);
      d.copy(dst, 0, i, i + take);
      i += take;
      try {
        reader.read(take);
      } catch (err) {
        onError(err as Error);
        return;
      }
    }
  });
  sock.resume();
}
