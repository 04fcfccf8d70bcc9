import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** A frame the server sent. */
export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** What a client frame is made of; anything may be wrong on purpose. */
export interface ClientFrame {
  readonly opcode: number;
  readonly payload: Buffer;
  readonly fin?: boolean;
  /** RSV1–3 bits (must be 0 without an extension). */
  readonly rsv?: number;
  /** Clients must mask; `false` sends an unmasked frame. */
  readonly masked?: boolean;
}

/** Encodes a client frame (RFC 6455 §5.2). */
export function encodeFrame(frame: ClientFrame): Buffer {
  const { payload } = frame;
  const masked = frame.masked ?? true;
  const head: number[] = [
    ((frame.fin ?? true) ? 0x80 : 0) | (((frame.rsv ?? 0) & 7) << 4) | (frame.opcode & 0x0f),
  ];
  const maskBit = masked ? 0x80 : 0;
  if (payload.length < 126) head.push(maskBit | payload.length);
  else if (payload.length < 65536)
    head.push(maskBit | 126, payload.length >> 8, payload.length & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    const n = payload.length;
    head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = randomBytes(4);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/**
 * A WebSocket client written on a bare TCP socket, so that it can send what `ws` never
 * would: binary and fragmented frames, bad opcodes, reserved bits, unmasked frames, text
 * that is not UTF-8, frames over the limit. It reads the server's frames and its close.
 */
export class RawWebSocket {
  readonly frames: ServerFrame[] = [];
  closeCode: number | undefined;
  ended = false;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    const end = (): void => {
      this.ended = true;
      this.#wake();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Opens `path` with the upgrade handshake; `protocols` as `Sec-WebSocket-Protocol`. */
  static open(url: string, path: string, protocols: readonly string[]): Promise<RawWebSocket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(
          [
            `GET ${path} HTTP/1.1`,
            `Host: ${hostname}:${port}`,
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
            'Sec-WebSocket-Version: 13',
            `Sec-WebSocket-Protocol: ${protocols.join(', ')}`,
            '',
            '',
          ].join('\r\n'),
        );
      });
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('error', reject);
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!status.includes(' 101 ')) {
          socket.destroy();
          reject(new Error(`no upgrade: ${status}`));
          return;
        }
        const ws = new RawWebSocket(socket);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) socket.emit('data', rest);
        resolve(ws);
      };
      socket.on('data', onData);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this.#buffer = b.subarray(offset + length);
      if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.frames.push({ opcode, payload: Buffer.from(payload) });
      this.#wake();
    }
  }

  send(frame: ClientFrame): void {
    if (!this.ended) this.socket.write(encodeFrame(frame));
  }

  /** Waits for a frame after index `from` that `match`es, the connection's end, or `timeoutMs`. */
  async next(
    from: number,
    match: (frame: ServerFrame) => boolean,
    timeoutMs: number,
  ): Promise<ServerFrame | 'closed' | 'timeout'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found !== undefined) return found;
      if (this.ended) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
