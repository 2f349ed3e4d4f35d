import { AmfError, decodeAmf0, encodeAmf0, type AmfLimits, type AmfValue } from '@firstmile/amf';
import { RtmpError } from '../errors.ts';
import { ChunkStreamId, MessageType, type RtmpMessage } from './types.ts';

/** A NetConnection/NetStream command (RTMP spec 7.2): name, transaction id, command object, arguments. */
export interface Command {
  name: string;
  transactionId: number;
  commandObject: AmfValue;
  args: AmfValue[];
}

/** AMF limits for commands: far below the AMF defaults, since a command is a few small values. */
export const COMMAND_AMF_LIMITS: Partial<AmfLimits> = Object.freeze({
  maxDepth: 16,
  maxItems: 1024,
  maxTotalItems: 8192,
  maxStringBytes: 64 * 1024,
});

/**
 * The AMF0 body of a command or data message. Type 17/15 (the "AMF3" variants) start with one
 * format-selector byte, 0, followed by AMF0 values that may switch to AMF3 per value (AVM+ marker),
 * which is how Flash Player with objectEncoding 3 sends them.
 */
export function amf0Body(message: RtmpMessage): Buffer {
  if (message.type === MessageType.CommandAmf3 || message.type === MessageType.DataAmf3) {
    if (message.payload.length === 0) return message.payload;
    return message.payload.subarray(1);
  }
  return message.payload;
}

export function decodeCommand(message: RtmpMessage, limits: Partial<AmfLimits> = COMMAND_AMF_LIMITS): Command {
  let values: AmfValue[];
  try {
    values = decodeAmf0(amf0Body(message), limits);
  } catch (error) {
    if (error instanceof AmfError) {
      throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `malformed AMF in command: ${error.message}`, { cause: error });
    }
    throw error;
  }
  const [name, transactionId, commandObject, ...args] = values;
  if (typeof name !== 'string') throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', 'command name is not a string');
  return {
    name,
    transactionId: typeof transactionId === 'number' ? transactionId : 0,
    commandObject: commandObject ?? null,
    args,
  };
}

/** Commands from the server go on chunk stream 3 as AMF0 (type 20); every RTMP client reads those. */
export function encodeCommand(
  messageStreamId: number,
  name: string,
  transactionId: number,
  commandObject: AmfValue,
  ...args: AmfValue[]
): RtmpMessage {
  return {
    chunkStreamId: ChunkStreamId.Command,
    messageStreamId,
    type: MessageType.CommandAmf0,
    timestamp: 0,
    payload: encodeAmf0([name, transactionId, commandObject, ...args]),
  };
}

/** The NetStream status object sent with onStatus. */
export interface StatusInfo {
  level: 'status' | 'error' | 'warning';
  code: string;
  description: string;
  [key: string]: AmfValue;
}

export function onStatus(messageStreamId: number, info: StatusInfo): RtmpMessage {
  return encodeCommand(messageStreamId, 'onStatus', 0, null, info);
}
