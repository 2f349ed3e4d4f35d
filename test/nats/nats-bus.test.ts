import { connect } from '@nats-io/transport-node';
import { NatsBus } from '@firstmile/bus';
import { busContract } from '../../libs/bus/test/contract.ts';
import { startNats } from '../harness/nats.ts';

// The same contract MemoryBus passes, against a real nats-server: services written against the
// Bus interface behave the same on one box and in a cluster.
busContract('NatsBus on a real nats-server', async () => {
  const server = await startNats({ jetstream: false });
  const a = new NatsBus(await connect({ servers: server.url }));
  const b = new NatsBus(await connect({ servers: server.url }));
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      await server.stop();
    },
  };
});
