export { Edge } from './edge.ts';
export type { EdgeOptions, EndReason } from './edge.ts';
