import { connect } from '@nats-io/transport-node';
import { KvStreamIndex } from '@firstmile/bus';
import { streamIndexContract } from '../../libs/bus/test/stream-index-contract.ts';
import { startNats } from '../harness/nats.ts';

let n = 0;
streamIndexContract('KvStreamIndex on a real JetStream', async (ttlMs) => {
  const server = await startNats({ jetstream: true });
  const nc = await connect({ servers: server.url });
  const index = await KvStreamIndex.open(nc, { bucket: `fm_live_${++n}`, replicas: 1, ttlMs, retryForMs: 5000 });
  return {
    index,
    close: async () => {
      await nc.close();
      await server.stop();
    },
  };
});
