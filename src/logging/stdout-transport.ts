import winston from 'winston';
import { ignoreStreamErrors } from './stderr-mirror';

const MESSAGE = Symbol.for('message');

export interface StdoutTransportOptions extends winston.transports.ConsoleTransportOptions {
  /** Where lines go (default process.stdout); tests pass a capture stream. */
  stream?: NodeJS.WritableStream;
  /** Called with every failed write (counted for the health check). */
  onFailure?: (err: unknown) => void;
}

/**
 * winston's Console transport, writing every level to one stream (the stock one sends some levels
 * to stderr and only writes to the process's own console). A failing write is ignored.
 */
export class StdoutTransport extends winston.transports.Console {
  private readonly stream: NodeJS.WritableStream;
  private readonly onFailure: (err: unknown) => void;

  constructor(opts: StdoutTransportOptions = {}) {
    const { stream, onFailure, ...rest } = opts;
    super(rest);
    this.name = 'stdout';
    this.stream = stream ?? process.stdout;
    this.onFailure = onFailure ?? (() => {});
    ignoreStreamErrors(this.stream);
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    setImmediate(() => this.emit('logged', info));
    try {
      this.stream.write(`${String(info[MESSAGE])}\n`, (err) => {
        if (err) this.onFailure(err);
      });
    } catch (err) {
      // stdout going away must not stop the controller
      this.onFailure(err);
    }
    callback();
  }
}
