import { connect } from '@nats-io/transport-node';
import { NatsBus } from '@firstmile/bus';
import { KvKeyStore } from '@firstmile/auth';
import { keysAuthScenarios } from '../../libs/auth/test/keys-auth-scenarios.ts';
import { startNats } from '../harness/nats.ts';

// Keys mode as deployed: control (responder + KvKeyStore on JetStream) and an edge on separate
// NATS connections to a real nats-server.
let n = 0;
keysAuthScenarios('keys mode over a real nats-server (NatsBus, KvKeyStore)', async () => {
  const server = await startNats({ jetstream: true });
  const controlNc = await connect({ servers: server.url });
  const controlBus = new NatsBus(controlNc);
  const edgeBus = new NatsBus(await connect({ servers: server.url }));
  const store = await KvKeyStore.open(controlNc, { bucket: `fm_keys_auth_${++n}`, replicas: 1, retryForMs: 5000 });
  return {
    edgeBus,
    controlBus,
    store,
    close: async () => {
      await store.close();
      await edgeBus.close();
      await controlBus.close();
      await server.stop();
    },
  };
});
