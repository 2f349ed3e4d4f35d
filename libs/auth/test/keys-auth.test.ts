import { MemoryBus } from '@firstmile/bus';
import { MemoryKeyStore } from '../src/index.ts';
import { keysAuthScenarios } from './keys-auth-scenarios.ts';

keysAuthScenarios('keys mode over MemoryBus', async () => {
  const bus = new MemoryBus();
  const store = new MemoryKeyStore();
  return {
    edgeBus: bus,
    controlBus: bus,
    store,
    close: async () => {
      await store.close();
      await bus.close();
    },
  };
});
