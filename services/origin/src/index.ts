export { Origin } from './origin.ts';
export type { OriginOptions } from './origin.ts';
export { OutMessage } from './out-message.ts';
