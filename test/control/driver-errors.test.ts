import { isDriverSocketError } from '../../src/service';

/** An error as the driver throws it from its own code (its stack names the driver's file). */
function fromDriver(err: Error, file: string): Error {
  err.stack = `${err.name}: ${err.message}\n    at Object.terminate (/app/node_modules/postgres/cjs/src/${file}:425:20)\n    at listOnTimeout (node:internal/timers:583:11)`;
  return err;
}

describe('errors the postgres driver throws outside a query, with connections dropping under it', () => {
  test('its end timeout destroying connections (write CONNECTION_DESTROYED) is a lost connection, not a crash', () => {
    const destroyed = fromDriver(
      Object.assign(new Error('write CONNECTION_DESTROYED 127.0.0.1:5432'), { code: 'CONNECTION_DESTROYED' }),
      'index.js',
    );
    expect(isDriverSocketError(destroyed)).toBe(true);
  });

  test('a write on a socket it let go (a TypeError from connection.js) is one too', () => {
    expect(
      isDriverSocketError(
        fromDriver(new TypeError("Cannot read properties of null (reading 'write')"), 'connection.js'),
      ),
    ).toBe(true);
  });

  test('anything else still crashes: another error of the driver, or a lost connection thrown elsewhere', () => {
    expect(isDriverSocketError(fromDriver(new Error('a bug'), 'index.js'))).toBe(false);
    const elsewhere = Object.assign(new Error('write CONNECTION_DESTROYED'), { code: 'CONNECTION_DESTROYED' });
    elsewhere.stack = 'Error: write CONNECTION_DESTROYED\n    at ours (/app/dist/src/service.js:1:1)';
    expect(isDriverSocketError(elsewhere)).toBe(false);
    expect(isDriverSocketError('CONNECTION_DESTROYED')).toBe(false);
  });
});
