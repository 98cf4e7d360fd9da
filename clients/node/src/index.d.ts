// Types of @meshq/client (hand-written; the JavaScript in src/ is the implementation).

/// <reference types="node" />

export interface ClientOptions {
  /** host:port; default $MESHQ_SERVER, else 127.0.0.1:50051. */
  server?: string;
  /** Bearer token; default $MESHQ_TOKEN, else the local admin token ($MESHQ_DATA_DIR/admin.token). */
  token?: string;
  /** A PEM CA file path or its bytes: TLS to the server (default $MESHQ_TLS_CA). */
  tlsCa?: string | Buffer;
  /** Allow plaintext to a non-loopback server. */
  insecure?: boolean;
  /** The deadline of every unary call, in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Where the local admin token is looked for (default $MESHQ_DATA_DIR, else ~/.local/share/meshq). */
  dataDir?: string;
}

/** Per-call deadline override, in milliseconds. */
export interface CallOptions {
  timeoutMs?: number;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// Errors -------------------------------------------------------------------------------------

/** Every error this client throws extends MeshqError. */
export class MeshqError extends Error {}

export type StatusName =
  | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND' | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'ABORTED' | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS' | 'UNAUTHENTICATED';

/** The server refused the call, or it failed in transit: the base of every status class. */
export class MeshqRpcError extends MeshqError {
  constructor(code: number, details?: string, metadata?: Record<string, string | Buffer>, cause?: unknown);
  /** The numeric gRPC status code (exact, also within a family). */
  readonly code: number;
  /** The status's name, e.g. 'NOT_FOUND'. */
  readonly codeName: StatusName | string;
  /** The server's one-line reason, saying what to fix. */
  readonly details: string;
  /** The trailing metadata. */
  readonly metadata: Record<string, string | Buffer>;
}

/** INVALID_ARGUMENT, OUT_OF_RANGE */
export class InvalidArgumentError extends MeshqRpcError {}
export class NotFoundError extends MeshqRpcError {}
export class AlreadyExistsError extends MeshqRpcError {}
export class FailedPreconditionError extends MeshqRpcError {}
export class ResourceExhaustedError extends MeshqRpcError {}
export class AbortedError extends MeshqRpcError {}
/** UNAUTHENTICATED, PERMISSION_DENIED */
export class DeniedError extends MeshqRpcError {}
export class UnauthenticatedError extends DeniedError {}
export class PermissionDeniedError extends DeniedError {}
/** UNAVAILABLE, DEADLINE_EXCEEDED: retrying later may succeed. */
export class UnreachableError extends MeshqRpcError {}
export class UnavailableError extends UnreachableError {}
export class DeadlineExceededError extends UnreachableError {}
export class CancelledError extends MeshqRpcError {}
export class UnimplementedError extends MeshqRpcError {}
/** INTERNAL, DATA_LOSS, UNKNOWN */
export class InternalError extends MeshqRpcError {}

/** The status of a failed call -> the class thrown. */
export const STATUS_ERRORS: ReadonlyMap<number, typeof MeshqRpcError>;
/** The typed error for a status code. */
export function makeError(code: number, details: string): MeshqRpcError;

/** A settle was refused: the lease is unknown or expired; the server changed nothing. */
export class StaleLeaseError extends MeshqError {
  readonly leaseToken: string;
  readonly action: 'ack' | 'nack' | 'extend';
}
/** The message carries no lease (peeked, or auto-acked). */
export class NoLeaseError extends MeshqError {}
/** The subscription is closed: its unsettled deliveries went back to the queue. */
export class SubscriptionClosedError extends MeshqError {}
/** Plaintext to a non-loopback server is refused: pass tlsCa, or insecure: true. */
export class InsecureChannelRefusedError extends MeshqError {}

/** The typed error of a grpc-js ServiceError (anything else is returned as it is). */
export function fromGrpc(err: unknown): unknown;

// Client -------------------------------------------------------------------------------------

/** A settler of leases: how a ReceivedMessage's ack / nack / extend reach the server. */
export interface Settler {
  settleAck(leaseToken: string): Promise<void>;
  settleNack(leaseToken: string, delaySeconds: number, error: string): Promise<void>;
  settleExtend(leaseToken: string, seconds: number): Promise<void>;
}

/** One gRPC channel with the token and deadline every call carries (shared by all clients). */
export class Connection {
  constructor(options?: ClientOptions);
  readonly server: string;
  readonly token: string;
  readonly timeoutMs: number;
  /** The raw client of one service (e.g. 'QueueService') on the shared channel. */
  stub(service: 'RoomService' | 'QueueService' | 'SchedulerService' | 'StorageService'): any;
  /** The call metadata: the bearer token, when there is one. */
  metadata(): import('@grpc/grpc-js').Metadata;
  /** A deadline timeoutMs from now (the connection's default when not given). */
  deadline(timeoutMs?: number): Date;
  /** One unary call with a raw request (proto field names); rejects with the typed error. */
  unary(service: string, method: string, request: object, timeoutMs?: number): Promise<any>;
  close(): void;
}

export class MeshqClient {
  constructor(options?: ClientOptions);
  readonly connection: Connection;
  readonly server: string;
  readonly rooms: RoomsClient;
  readonly scheduler: SchedulerClient;
  /** A client for one room on this connection. */
  room(name: string): RoomClient;
  close(): void;
}

export class RoomClient {
  readonly name: string;
  readonly queues: QueuesClient;
  readonly storage: StorageClient;
}

// Rooms --------------------------------------------------------------------------------------

export interface Room {
  name: string;
  createdAt: Date | null;
  queueCount: number;
}

export class RoomsClient {
  /** ALREADY_EXISTS for an existing room unless ifNotExists. */
  create(name: string, options?: { ifNotExists?: boolean }): Promise<Room>;
  /** NOT_FOUND for an unknown room. */
  get(name: string): Promise<Room>;
  list(): Promise<Room[]>;
  /** FAILED_PRECONDITION for a room with queues unless force. */
  delete(name: string, options?: { force?: boolean }): Promise<void>;
}

// Queues -------------------------------------------------------------------------------------

export interface SendOptions {
  /** Create a missing queue (and room); default true. */
  create?: boolean;
  headers?: Record<string, string>;
  delaySeconds?: number;
  dedupId?: string;
  dedupWindowSeconds?: number;
}

/** A prepared message for sendBatch: the JSON text is sent as given. */
export interface OutgoingMessage {
  json: string;
  headers?: Record<string, string>;
  delaySeconds?: number;
  dedupId?: string;
  dedupWindowSeconds?: number;
}

export interface ReceiveOptions {
  create?: boolean;
  /** Wait up to timeoutSeconds for a message (default true). */
  wait?: boolean;
  timeoutSeconds?: number;
}

export interface ReceiveMessagesOptions extends ReceiveOptions {
  maxMessages?: number;
  leaseSeconds?: number;
  autoAck?: boolean;
}

export interface SubscribeOptions {
  /** The credit window: deliveries unsettled at once (at least 1; default 1). */
  maxInFlight?: number;
  leaseSeconds?: number;
  create?: boolean;
}

export interface NackOptions {
  delaySeconds?: number;
  /** Kept in the message's "x-meshq-last-error" header. */
  error?: string;
}

export class ReceivedMessage<T = any> {
  readonly messageId: string;
  /** The body as JSON text. */
  readonly json: string;
  /** The body, parsed once. */
  readonly body: T;
  readonly headers: Record<string, string>;
  /** 1 for the first delivery. */
  readonly attempt: number;
  readonly enqueuedAt: Date | null;
  /** Empty for peeked and auto-acked messages. */
  readonly leaseToken: string;
  readonly leaseExpiresAt: Date | null;
  readonly queue: string;
  ack(): Promise<void>;
  nack(options?: NackOptions): Promise<void>;
  extend(seconds: number): Promise<void>;
}

export interface QueueInfo {
  name: string;
  depth: number;
  inFlight: number;
  delayed: number;
  deadLettered: number;
  oldestAgeSeconds: number;
  closed: boolean;
  maxDeliveries: number;
  dedupWindowSeconds: number;
}

export interface MessageStatus {
  state: 'ready' | 'delayed' | 'in_flight' | 'gone' | 'unknown';
  attempt: number;
}

export class QueuesClient {
  readonly room: string;
  send(queue: string, message: unknown, options?: SendOptions): Promise<string>;
  sendMany(queue: string, messages: Iterable<unknown>,
    options?: { create?: boolean; headers?: Record<string, string>; delaySeconds?: number; batchSize?: number }): Promise<string[]>;
  sendBatch(queue: string, messages: OutgoingMessage[], options?: { create?: boolean }): Promise<string[]>;
  /** One auto-acked message's body, or null when the wait ended with nothing. */
  receive<T = any>(queue: string, options?: ReceiveOptions): Promise<T | null>;
  receiveMessages<T = any>(queue: string, options?: ReceiveMessagesOptions): Promise<ReceivedMessage<T>[]>;
  /** Resolves once the server confirmed the open (NOT_FOUND for a missing queue with create: false). */
  subscribe<T = any>(queue: string, options?: SubscribeOptions): Promise<Subscription<T>>;
  ack(queue: string, leaseTokens: string[]): Promise<boolean[]>;
  nack(queue: string, leaseToken: string, options?: NackOptions): Promise<boolean>;
  extend(queue: string, leaseToken: string, seconds: number): Promise<boolean>;
  open(queue: string, options?: { maxDeliveries?: number; dedupWindowSeconds?: number }): Promise<QueueInfo>;
  close(queue: string): Promise<void>;
  drain(queue: string): Promise<number>;
  delete(queue: string): Promise<void>;
  peek<T = any>(queue: string, options?: { maxMessages?: number }): Promise<ReceivedMessage<T>[]>;
  redrive(queue: string, options?: { maxMessages?: number }): Promise<number>;
  messageState(queue: string, messageId: string): Promise<MessageStatus>;
  list(): Promise<QueueInfo[]>;
}

export class Subscription<T = any> implements AsyncIterableIterator<ReceivedMessage<T>>, Settler {
  /** Opens the stream and waits for the server's confirmation (queues.subscribe does this). */
  open(): Promise<this>;
  settleAck(leaseToken: string): Promise<void>;
  settleNack(leaseToken: string, delaySeconds: number, error: string): Promise<void>;
  settleExtend(leaseToken: string, seconds: number): Promise<void>;
  readonly room: string;
  readonly queue: string;
  /** The credit window. */
  readonly maxInFlight: number;
  next(): Promise<IteratorResult<ReceivedMessage<T>, undefined>>;
  [Symbol.asyncIterator](): AsyncIterableIterator<ReceivedMessage<T>>;
  /** 0 pauses deliveries; in-flight ones stay leased. */
  setMaxInFlight(n: number): void;
  pause(): void;
  resume(): void;
  /** Flushes pending settles and ends the stream; unsettled deliveries go back at once. */
  close(): Promise<void>;
  /** close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

// Storage ------------------------------------------------------------------------------------

export interface FileInfo {
  path: string;
  size: number;
  modifiedAt: Date | null;
  isDir: boolean;
}

export type FileData = string | Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

export class StorageClient {
  readonly room: string;
  write(path: string, data: FileData, options?: { overwrite?: boolean } & CallOptions): Promise<FileInfo>;
  read(path: string, options?: { offset?: number; length?: number } & CallOptions): Promise<Buffer>;
  readStream(path: string, options?: { offset?: number; length?: number } & CallOptions): AsyncGenerator<Buffer, void, undefined>;
  list(path?: string, options?: { recursive?: boolean }): Promise<FileInfo[]>;
  stat(path: string): Promise<FileInfo>;
  exists(path: string): Promise<boolean>;
  delete(path: string, options?: { recursive?: boolean }): Promise<void>;
  move(source: string, destination: string, options?: { overwrite?: boolean }): Promise<FileInfo>;
}

// Scheduled tasks ----------------------------------------------------------------------------

export type MisfirePolicy = 'skip' | 'latest' | 'all';
export type RunOutcome = 'enqueued' | 'skipped_inactive' | 'skipped_misfire' | 'skipped_pending' | 'failed';

export interface TaskSettings {
  queue?: string;
  /** A cron expression: 5 fields, or 6 with seconds first. */
  schedule?: string;
  /** An IANA timezone (default UTC). */
  timezone?: string;
  /** Any JSON value. */
  payload?: unknown;
  /** Or the payload as JSON text, sent as given. */
  payloadJson?: string;
  active?: boolean;
  once?: boolean;
  name?: string;
  catchupWindowSeconds?: number;
  misfirePolicy?: MisfirePolicy;
  misfireCap?: number;
  jitterSeconds?: number;
  skipIfPending?: boolean;
}

export interface AddTaskOptions extends TaskSettings, CallOptions {
  room: string;
  queue: string;
  schedule: string;
  annotations?: Record<string, string>;
}

export interface Task {
  id: string;
  room: string;
  queue: string;
  schedule: string;
  timezone: string;
  payload: unknown;
  payloadJson: string;
  active: boolean;
  once: boolean;
  name: string;
  annotations: Record<string, string>;
  catchupWindowSeconds: number;
  misfirePolicy: MisfirePolicy;
  misfireCap: number;
  jitterSeconds: number;
  skipIfPending: boolean;
  createdAt: Date | null;
  nextFire: Date | null;
  lastOutcome: RunOutcome | null;
  lastFire: Date | null;
}

export interface TaskRun {
  taskId: string;
  scheduledAt: Date | null;
  firedAt: Date | null;
  messageId: string | null;
  /** 'sending' while the enqueue is in progress. */
  outcome: RunOutcome | 'sending';
  error: string | null;
  manual: boolean;
}

export interface Preview {
  instants: Date[];
  /** The same instants as ISO 8601 text in the schedule's timezone. */
  local: string[];
  /** True when the server's work bound ran out first: the instants are those found. */
  stopped: boolean;
  /** Why it stopped ('' when it did not). */
  stoppedReason: string;
}

export class SchedulerClient {
  add(options: AddTaskOptions): Promise<Task>;
  get(taskId: string, options?: CallOptions): Promise<Task>;
  list(options?: { room?: string; activeOnly?: boolean } & CallOptions): Promise<Task[]>;
  /** Changes only the fields given. */
  update(taskId: string, fields: TaskSettings & CallOptions): Promise<Task>;
  delete(taskId: string, options?: CallOptions): Promise<void>;
  trigger(taskId: string, options?: CallOptions): Promise<TaskRun>;
  runs(taskId: string, options?: { limit?: number } & CallOptions): Promise<TaskRun[]>;
  preview(schedule: string, options?: { timezone?: string; from?: Date | number; count?: number } & CallOptions): Promise<Preview>;
}

/** The meshq.v1 package as loaded by @grpc/proto-loader (raw service constructors). */
export function loadPackage(): Record<string, any>;
