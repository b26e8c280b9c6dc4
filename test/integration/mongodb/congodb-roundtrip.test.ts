import { startCongo } from '../../helpers/congodb.js';
import { mongoRoundTripSuite } from './roundtrip-suite.js';

// Always runs: CongoDB is fetched into .test-servers/ on first use (see test/helpers/congodb.ts).
mongoRoundTripSuite('MongoDB backup and restore (CongoDB wire-protocol server)', async () => {
  const congo = await startCongo();
  return { url: congo.url(), client: congo.client, congodb: true, stop: () => congo.stop() };
});
