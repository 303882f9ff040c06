import fs from 'node:fs';
import TransportStream from 'winston-transport';

const MESSAGE = Symbol.for('message');

export interface LogFileTransportOptions extends TransportStream.TransportStreamOptions {
  filename: string;
  /** Called with every failed write (counted for the health check). */
  onFailure: (err: unknown) => void;
}

/**
 * Appends one line per entry to the log file. winston's own File transport drops the file
 * stream's errors (a full disk stopped the file silently while the service ran on); here every
 * failed write is reported, and the file is opened again for the next line, so logging resumes
 * once there is room.
 */
export class LogFileTransport extends TransportStream {
  private stream: fs.WriteStream | null = null;
  private readonly filename: string;
  private readonly onFailure: (err: unknown) => void;

  constructor(opts: LogFileTransportOptions) {
    const { filename, onFailure, ...rest } = opts;
    super(rest);
    this.filename = filename;
    this.onFailure = onFailure;
  }

  private open(): fs.WriteStream {
    const stream = fs.createWriteStream(this.filename, { flags: 'a' });
    stream.on('error', () => {
      // each failed write is reported through its callback; a broken stream is opened afresh
      if (this.stream === stream) this.stream = null;
      stream.destroy();
    });
    this.stream = stream;
    return stream;
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    setImmediate(() => this.emit('logged', info));
    try {
      (this.stream ?? this.open()).write(`${String(info[MESSAGE])}\n`, (err) => {
        if (err) this.onFailure(err);
      });
    } catch (err) {
      this.onFailure(err);
    }
    callback();
  }

  /** Ends the file: resolves once what was written has reached it (or failed). */
  override _final(callback: (err?: Error | null) => void): void {
    const stream = this.stream;
    this.stream = null;
    if (!stream || stream.destroyed) {
      callback();
      return;
    }
    stream.once('close', () => callback());
    stream.end();
  }
}
