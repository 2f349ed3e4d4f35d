export type {
  AuthMode,
  KeyStore,
  PlayAuthorizer,
  PlayDecision,
  PlayRequest,
  PublishAuthorizer,
  PublishDecision,
  PublishDenyCode,
  PublishRequest,
  StreamKeyEntry,
  StreamRecord,
} from './types.ts';
