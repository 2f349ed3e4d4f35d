export type {
  AuthContext,
  AuthMode,
  KeyStore,
  PlayAuthorizer,
  PlayDecision,
  PlayDenyCode,
  PlayRequest,
  PublishAuthorizer,
  PublishDecision,
  PublishDenyCode,
  PublishRequest,
  StreamKeyEntry,
  StreamRecord,
} from './types.ts';
export { AuthError, KeyStoreError } from './errors.ts';
export type { AuthErrorCode, KeyStoreErrorCode } from './errors.ts';
export {
  STREAM_KEY_PREFIX,
  STREAM_ID_PREFIX,
  generateStreamKey,
  generateStreamId,
  hashStreamKey,
  safeEqual,
  keyLogId,
  isStreamId,
} from './keys.ts';
export { MAX_KEYS_PER_STREAM, MemoryKeyStore, validateStreamRecord, parseStreamRecord } from './key-store.ts';
export { KvKeyStore } from './kv-key-store.ts';
export type { KvKeyStoreOptions } from './kv-key-store.ts';
export { MAX_STREAM_NAME_LENGTH, MAX_QUERY_PARAMS, parseStreamName, parseTcUrlQuery, requestParams } from './stream-name.ts';
export type { ParsedStreamName, RequestParams } from './stream-name.ts';
export { TtlCache } from './ttl-cache.ts';
export {
  signPublishUrl,
  publishSignatureMessage,
  SignedAuthorizer,
  signPlaybackToken,
  verifyPlaybackToken,
  playbackSignatureMessage,
} from './signed.ts';
export type {
  SigningSecret,
  SignPublishUrlOptions,
  SignedAuthorizerOptions,
  SignPlaybackTokenOptions,
  VerifyPlaybackTokenOptions,
  PlaybackTokenResult,
} from './signed.ts';
export { NoneAuthorizer } from './none.ts';
export { WebhookAuthorizer } from './webhook.ts';
export type { WebhookAuthorizerOptions, WebhookRequestBody } from './webhook.ts';
export { JwtAuthorizer } from './jwt.ts';
export type { JwtAuthorizerOptions } from './jwt.ts';
export {
  AUTH_PUBLISH_SUBJECT,
  AUTH_STREAM_SUBJECT,
  AUTH_QUEUE_GROUP,
  MAX_KEYS_CACHE_TTL_MS,
  createKeyAuthResponder,
  publishKeysChanged,
  KeysAuthorizer,
  StreamPolicyClient,
} from './keys-auth.ts';
export type {
  KeyAuthRequest,
  KeyAuthReply,
  StreamAuthRequest,
  StreamAuthReply,
  KeyAuthResponderOptions,
  KeyAuthResponder,
  KeysAuthorizerOptions,
  StreamPolicyClientOptions,
  StreamPolicy,
  PlaybackPolicy,
} from './keys-auth.ts';
export { PlaybackAuthorizer } from './playback.ts';
export type { PlaybackAuthorizerOptions, PlaybackLookup } from './playback.ts';
export { FailureCounter, LockoutGuard, lockoutKey } from './lockout.ts';
export type { FailureCounterOptions, LockoutGuardOptions } from './lockout.ts';
export { createPublishAuthorizer, AppAuthorizers } from './factory.ts';
export type { PublishAuthConfig, PublishAuthDeps, ClosablePublishAuthorizer, AppAuthorizersOptions } from './factory.ts';
