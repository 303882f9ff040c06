// Jest setupFiles: this test file's TEST_DATABASE_URL names its worker's database (see worker-database.js).
require('./worker-database').useWorkerDatabase();
