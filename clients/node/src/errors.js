'use strict';
// The errors this client throws. A refused call throws the class of its gRPC status family,
// from one table with the same families as the Python SDK's (meshq.api.errors):
// `err instanceof NotFoundError`, or `err.codeName === 'NOT_FOUND'`; `err.details` is the
// server's one-line reason, `err.code` the exact status.

const grpc = require('@grpc/grpc-js');

/** Every error this client throws extends MeshqError. */
class MeshqError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

// grpc.status is a TypeScript enum: name -> number and number -> name; keep the names.
const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status)
  .filter(([, code]) => typeof code === 'number').map(([name, code]) => [code, name]));

/** The server refused the call, or it failed in transit: the base of every status class. */
class MeshqRpcError extends MeshqError {
  constructor(code, details = '', metadata = {}, cause = undefined) {
    const codeName = CODE_NAMES[code] || `STATUS_${code}`;
    super(`${codeName}: ${details || codeName}`, cause ? { cause } : undefined);
    /** The numeric gRPC status code (grpc.status). */
    this.code = code;
    /** The status's name, e.g. 'NOT_FOUND'. */
    this.codeName = codeName;
    /** The server's one-line reason, saying what to fix. */
    this.details = details;
    /** The trailing metadata, as a plain object. */
    this.metadata = metadata;
  }
}

/** The request is malformed: the details name the field and what to fix. */
class InvalidArgumentError extends MeshqRpcError {}
/** The room, queue, message, file or task does not exist. */
class NotFoundError extends MeshqRpcError {}
/** Something with that name exists already. */
class AlreadyExistsError extends MeshqRpcError {}
/** The request is valid but not in the current state (a closed queue, a non-empty room). */
class FailedPreconditionError extends MeshqRpcError {}
/** A limit was reached (queue depth, queues per room, message size, streams per token). */
class ResourceExhaustedError extends MeshqRpcError {}
/** The call was aborted by a concurrent change; retrying it is safe. */
class AbortedError extends MeshqRpcError {}
/** The token does not allow the call: the base of UnauthenticatedError and PermissionDeniedError. */
class DeniedError extends MeshqRpcError {}
/** No token, an invalid one, or an expired one. */
class UnauthenticatedError extends DeniedError {}
/** The token is valid but its grants do not cover this room, queue or path. */
class PermissionDeniedError extends DeniedError {}
/** The server could not be reached or did not answer in time: the base of UnavailableError
 * and DeadlineExceededError; retrying later may succeed. */
class UnreachableError extends MeshqRpcError {}
/** The server is not running at that address, or is shutting down. */
class UnavailableError extends UnreachableError {}
/** The call's deadline passed before the server answered. */
class DeadlineExceededError extends UnreachableError {}
/** The call was cancelled (by the caller, or the server stopping). */
class CancelledError extends MeshqRpcError {}
/** The server does not offer this call (an older server, or the service is not hosted). */
class UnimplementedError extends MeshqRpcError {}
/** The server failed; its log has the traceback. */
class InternalError extends MeshqRpcError {}

/** The status of a failed call -> the class thrown (the one table; OK never fails). */
const STATUS_ERRORS = new Map([
  [grpc.status.INVALID_ARGUMENT, InvalidArgumentError],
  [grpc.status.OUT_OF_RANGE, InvalidArgumentError],
  [grpc.status.NOT_FOUND, NotFoundError],
  [grpc.status.ALREADY_EXISTS, AlreadyExistsError],
  [grpc.status.FAILED_PRECONDITION, FailedPreconditionError],
  [grpc.status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [grpc.status.ABORTED, AbortedError],
  [grpc.status.UNAUTHENTICATED, UnauthenticatedError],
  [grpc.status.PERMISSION_DENIED, PermissionDeniedError],
  [grpc.status.UNAVAILABLE, UnavailableError],
  [grpc.status.DEADLINE_EXCEEDED, DeadlineExceededError],
  [grpc.status.CANCELLED, CancelledError],
  [grpc.status.UNIMPLEMENTED, UnimplementedError],
  [grpc.status.INTERNAL, InternalError],
  [grpc.status.DATA_LOSS, InternalError],
  [grpc.status.UNKNOWN, InternalError],
]);

/** The typed error for a status code (for client-side deadlines that speak the same language). */
function makeError(code, details) {
  return new (STATUS_ERRORS.get(code) || MeshqRpcError)(code, details);
}

/** The typed error for a grpc-js error (a ServiceError); anything else is returned as it is. */
function fromGrpc(err) {
  if (!err || typeof err.code !== 'number' || err instanceof MeshqError) return err;
  const metadata = err.metadata && typeof err.metadata.getMap === 'function' ? err.metadata.getMap() : {};
  return new (STATUS_ERRORS.get(err.code) || MeshqRpcError)(err.code, err.details || err.message || '', metadata, err);
}

/** A settle was refused: the lease token is unknown or its lease expired (the message may be
 * with another consumer now); the server changed nothing. */
class StaleLeaseError extends MeshqError {
  constructor(leaseToken, action) {
    super(`${action} refused: lease ${String(leaseToken).slice(0, 12)}… is stale or unknown`);
    this.leaseToken = leaseToken;
    this.action = action;
  }
}

/** The message carries no lease (peeked, or auto-acked): there is nothing to settle. */
class NoLeaseError extends MeshqError {}

/** The subscription is closed: its unsettled deliveries went back to the queue. */
class SubscriptionClosedError extends MeshqError {}

/** Plaintext to a non-loopback server is refused: pass tlsCa, or insecure: true. */
class InsecureChannelRefusedError extends MeshqError {}

module.exports = {
  MeshqError,
  MeshqRpcError,
  InvalidArgumentError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  ResourceExhaustedError,
  AbortedError,
  DeniedError,
  UnauthenticatedError,
  PermissionDeniedError,
  UnreachableError,
  UnavailableError,
  DeadlineExceededError,
  CancelledError,
  UnimplementedError,
  InternalError,
  STATUS_ERRORS,
  makeError,
  fromGrpc,
  StaleLeaseError,
  NoLeaseError,
  SubscriptionClosedError,
  InsecureChannelRefusedError,
};
