/**
 * The frames of the guest agent's execCommand stream (rootfs/guest/oneoff.py
 * says why the exec channel is an HTTP Upgrade to frames on the agent's own
 * connection): 1 byte type, 4 bytes big-endian payload length, the payload.
 */
export const FRAME = {
  // guest → host
  stdout: 0x01,
  stderr: 0x02,
  exit: 0x03,
  // host → guest
  stdin: 0x10,
  stdinEof: 0x11,
  signal: 0x12,
} as const;

export const EXEC_PROTOCOL = 'fcm-exec.v1';
const HEADER = 5;
/** What the agent itself sends at most per frame is 64 KiB of output; this bounds an untrusted one. */
export const MAX_FRAME_BYTES = 1024 * 1024;

export function encodeFrame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${payload.length} bytes (at most ${MAX_FRAME_BYTES})`);
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Stdin in frames of at most `chunk` bytes (a paste of megabytes stays within MAX_FRAME_BYTES). */
export function stdinFrames(data: Buffer, chunk = 64 * 1024): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) out.push(encodeFrame(FRAME.stdin, data.subarray(i, i + chunk)));
  return Buffer.concat(out);
}

export interface Frame {
  type: number;
  payload: Buffer;
}

/**
 * Frames from a byte stream cut anywhere. push() returns the frames that are
 * complete; it throws on a frame longer than `maxBytes` (before buffering it).
 * `pending` is how many bytes of an incomplete frame are held.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    let at = 0;
    while (this.buf.length - at >= HEADER) {
      const size = this.buf.readUInt32BE(at + 1);
      if (size > this.maxBytes) throw new RangeError(`a frame of ${size} bytes (at most ${this.maxBytes})`);
      if (this.buf.length - at < HEADER + size) break;
      frames.push({ type: this.buf[at]!, payload: Buffer.from(this.buf.subarray(at + HEADER, at + HEADER + size)) });
      at += HEADER + size;
    }
    this.buf = at ? Buffer.from(this.buf.subarray(at)) : this.buf;
    return frames;
  }

  get pending(): number {
    return this.buf.length;
  }
}
