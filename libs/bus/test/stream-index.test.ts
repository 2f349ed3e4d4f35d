import { MemoryStreamIndex } from '../src/index.ts';
import { streamIndexContract } from './stream-index-contract.ts';

streamIndexContract('MemoryStreamIndex', async (ttlMs) => {
  const index = new MemoryStreamIndex({ ttlMs });
  return { index, close: () => index.close() };
});
