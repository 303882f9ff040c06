// Jest globalSetup: what every test file starts from, made once per run.
const pgliteTemplate = require('./pglite-template');
const { createWorkerDatabases } = require('./worker-database');

module.exports = async function globalSetup(globalConfig) {
  await pgliteTemplate();
  await createWorkerDatabases(globalConfig.maxWorkers);
};
