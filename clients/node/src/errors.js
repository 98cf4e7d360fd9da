'use strict';
// The errors this client throws. A failed call throws the class of its gRPC status (the same
// families as the server's error tree in meshq.core.errors): `err instanceof NotFoundError`,
// or `err.codeName === 'NOT_FOUND'`; `err.details` is the server's one-line reason.

const grpc = require('@grpc/grpc-js');

/** Every error this client throws extends MeshqError. */
class MeshqError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A call ended with a gRPC status other than OK. */
class GrpcError extends MeshqError {
  constructor(code, details, metadata, cause) {
    const codeName = CODE_NAMES[code] || `STATUS_${code}`;
    super(`${codeName}: ${details}`, cause ? { cause } : undefined);
    /** The numeric gRPC status code (grpc.status). */
    this.code = code;
    /** The status's name, e.g. 'NOT_FOUND'. */
    this.codeName = codeName;
    /** The server's reason, one line saying what to fix. */
    this.details = details;
    /** The trailing metadata, as a plain object. */
    this.metadata = metadata || {};
  }
}

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

const FAMILIES = {
  CANCELLED: 'CancelledError',
  UNKNOWN: 'UnknownError',
  INVALID_ARGUMENT: 'InvalidArgumentError',
  DEADLINE_EXCEEDED: 'DeadlineExceededError',
  NOT_FOUND: 'NotFoundError',
  ALREADY_EXISTS: 'AlreadyExistsError',
  PERMISSION_DENIED: 'PermissionDeniedError',
  RESOURCE_EXHAUSTED: 'ResourceExhaustedError',
  FAILED_PRECONDITION: 'FailedPreconditionError',
  ABORTED: 'AbortedError',
  OUT_OF_RANGE: 'OutOfRangeError',
  UNIMPLEMENTED: 'UnimplementedError',
  INTERNAL: 'InternalError',
  UNAVAILABLE: 'UnavailableError',
  DATA_LOSS: 'DataLossError',
  UNAUTHENTICATED: 'UnauthenticatedError',
};

const byCode = new Map();
const classes = {};
for (const [codeName, className] of Object.entries(FAMILIES)) {
  // A named class per status, so stack traces and `err.name` say which.
  const cls = { [className]: class extends GrpcError {} }[className];
  classes[className] = cls;
  byCode.set(grpc.status[codeName], cls);
}

/** The typed error for a grpc-js error (a ServiceError), or `err` itself when it is not one. */
function fromGrpc(err) {
  if (!err || typeof err.code !== 'number' || err instanceof MeshqError) return err;
  const cls = byCode.get(err.code) || GrpcError;
  const metadata = err.metadata && typeof err.metadata.getMap === 'function' ? err.metadata.getMap() : {};
  return new cls(err.code, err.details || err.message || '', metadata, err);
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
  GrpcError,
  ...classes,
  StaleLeaseError,
  NoLeaseError,
  SubscriptionClosedError,
  InsecureChannelRefusedError,
  fromGrpc,
};
