const { spawnSync } = require('node:child_process');

// PGlite loads its WebAssembly build with a dynamic import(), which jest only supports with node's
// --experimental-vm-modules. So that `npx jest FILE` works as well as `npm test`, a jest started
// without the flag runs itself again with it (in NODE_OPTIONS, so jest's workers get it too) and
// exits with that run's status. The check is on this process's own flags and NODE_OPTIONS; the
// marker variable stops a loop should node ignore the flag.
const VM_FLAG = '--experimental-vm-modules';
const hasVmFlag = process.execArgv.includes(VM_FLAG) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(VM_FLAG);
if (!hasVmFlag && !process.env.GPU_SCALER_JEST_REEXEC) {
  const r = spawnSync(process.execPath, [VM_FLAG, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${VM_FLAG}`.trim(),
      GPU_SCALER_JEST_REEXEC: '1',
    },
  });
  process.exit(r.status ?? 1);
}

const setupFiles = ['<rootDir>/test/helpers/setup-worker-database.js'];
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] };
/**
 * Tests are compiled without type-checking each file and its imports again (the larger part of a
 * clean run's CPU): `npx tsc --noEmit -p .` checks all of test/ (CI runs it first, and so does every
 * commit). test/events-typing.test.ts alone keeps ts-jest's type check: it asserts with
 * @ts-expect-error through it, so `npx jest` on it fails when events stop being one typed union.
 */
const transpileOnly = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: { ...require('./tsconfig.json').compilerOptions, isolatedModules: true } }],
};

/**
 * Pure tests: no store, no server, no child process, no network. `npm run test:unit` runs only
 * these (seconds); `npm test` runs them and the rest.
 */
const UNIT = [
  'test/config.test.ts',
  'test/errors.test.ts',
  'test/events-typing.test.ts',
  'test/readme.test.ts',
  'test/cli/flags.test.ts',
  'test/cli/node-flags.test.ts',
  'test/cli/time.test.ts',
  'test/control/anomalies.test.ts',
  'test/control/circuit-breaker.test.ts',
  'test/control/policy.test.ts',
  'test/policies/policies.test.ts',
  'test/logging/health.test.ts',
  'test/logging/redact.test.ts',
  'test/logging/system-log-row.test.ts',
  'test/observe/alert-rules.test.ts',
  'test/projections/event-types.test.ts',
  'test/providers/http-retry.test.ts',
  'test/providers/kubernetes-pod.test.ts',
  'test/deploy/dockerfile.test.ts',
  'test/sim/queue.test.ts',
].map((f) => `<rootDir>/${f}`);

/** @type {import('jest').Config} */
module.exports = {
  // A suite that fails mid-way can leave a server connection or a child process behind; never let
  // that hang CI after the results are in.
  forceExit: true,
  // Every new PGlite starts from one initialised cluster instead of running initdb (seconds each),
  // and with TEST_DATABASE_URL each jest worker gets a database of its own on that server
  // (test/helpers/worker-database.js).
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  testTimeout: 60000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      setupFiles,
      // The first pattern a file matches is used: events-typing is type-checked, the rest transpiled.
      transform: { 'test/events-typing\\.test\\.ts$': transform['^.+\\.ts$'], ...transpileOnly },
      testTimeout: 60000,
      testMatch: UNIT,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      setupFiles,
      transform: transpileOnly,
      testTimeout: 60000,
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: [
        '/node_modules/',
        ...UNIT.map((f) => `^${f.replace('<rootDir>', __dirname).replace(/[.]/g, '\\.')}$`),
      ],
    },
  ],
};
