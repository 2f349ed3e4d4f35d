import { MemoryKeyStore } from '../src/index.ts';
import { keyStoreContract } from './key-store-contract.ts';

keyStoreContract('MemoryKeyStore', async () => {
  const store = new MemoryKeyStore();
  return { store, close: () => store.close() };
});
