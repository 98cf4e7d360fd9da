'use strict';
// client.scheduler: cron tasks that enqueue a payload into a room's queue. Failures:
// InvalidArgumentError naming the field (schedule, timezone, payload, ...), NotFoundError for
// an unknown room or task id.

const { encode, toDate } = require('./messages');

const POLICIES = { skip: 'MISFIRE_POLICY_SKIP', latest: 'MISFIRE_POLICY_LATEST', all: 'MISFIRE_POLICY_ALL' };
const POLICY_NAMES = {
  ...Object.fromEntries(Object.entries(POLICIES).map(([k, v]) => [v, k])), MISFIRE_POLICY_UNSPECIFIED: 'skip',
};
const OUTCOMES = {
  RUN_OUTCOME_ENQUEUED: 'enqueued',
  RUN_OUTCOME_SKIPPED_INACTIVE: 'skipped_inactive',
  RUN_OUTCOME_SKIPPED_MISFIRE: 'skipped_misfire',
  RUN_OUTCOME_SKIPPED_PENDING: 'skipped_pending',
  RUN_OUTCOME_FAILED: 'failed',
};

// The fields update() may change: option name -> UpdateTaskRequest field.
const UPDATABLE = {
  queue: 'queue', schedule: 'schedule', timezone: 'timezone', payloadJson: 'payload_json', active: 'active',
  name: 'name', catchupWindowSeconds: 'catchup_window_seconds', misfirePolicy: 'misfire_policy',
  misfireCap: 'misfire_cap', jitterSeconds: 'jitter_seconds', skipIfPending: 'skip_if_pending', once: 'once',
};

function policy(name) {
  const value = POLICIES[name];
  if (!value) throw new RangeError(`misfirePolicy must be one of ${Object.keys(POLICIES).join(', ')}, got ${JSON.stringify(name)}`);
  return value;
}

/** A task payload as JSON text: undefined is sent as null (no payload). */
function payloadText(value) {
  return encode(value === undefined ? null : value);
}

function task(t) {
  const s = t.spec || {};
  return {
    id: t.id,
    room: s.room,
    queue: s.queue,
    schedule: s.schedule,
    timezone: s.timezone,
    payload: s.payload_json ? JSON.parse(s.payload_json) : null,
    payloadJson: s.payload_json,
    active: s.active,
    once: s.once,
    name: s.name,
    annotations: { ...(s.annotations || {}) },
    catchupWindowSeconds: s.catchup_window_seconds,
    misfirePolicy: POLICY_NAMES[s.misfire_policy] || 'skip',
    misfireCap: s.misfire_cap,
    jitterSeconds: s.jitter_seconds,
    skipIfPending: s.skip_if_pending,
    createdAt: toDate(t.created_at_unix_ms),
    nextFire: toDate(t.next_fire_unix_ms),
    lastOutcome: OUTCOMES[t.last_outcome] || null,
    lastFire: toDate(t.last_fire_unix_ms),
  };
}

function run(r) {
  return {
    taskId: r.task_id,
    scheduledAt: toDate(r.scheduled_unix_ms),
    firedAt: toDate(r.fired_at_unix_ms),
    messageId: r.message_id || null,
    outcome: OUTCOMES[r.outcome] || 'sending',
    error: r.error || null,
    manual: r.manual,
  };
}

class SchedulerClient {
  constructor(conn) {
    this._conn = conn;
  }

  _call(method, request, timeoutMs) {
    return this._conn.unary('SchedulerService', method, request, timeoutMs);
  }

  /** Adds a task; payload is any JSON value (or pass payloadJson text, sent as given). */
  async add({
    room, queue, schedule, payload = null, payloadJson, timezone = 'UTC', name = '', active = true, once = false,
    annotations = {}, catchupWindowSeconds = 0, misfirePolicy = 'skip', misfireCap = 0, jitterSeconds = 0,
    skipIfPending = false, timeoutMs,
  }) {
    const spec = {
      room, queue, schedule, timezone, name, active, once, annotations: { ...annotations },
      payload_json: payloadJson !== undefined ? payloadJson : payloadText(payload),
      catchup_window_seconds: catchupWindowSeconds, misfire_policy: policy(misfirePolicy),
      misfire_cap: misfireCap, jitter_seconds: jitterSeconds, skip_if_pending: skipIfPending,
    };
    return task((await this._call('AddTask', { spec }, timeoutMs)).task);
  }

  /** One task with its next fire and last outcome, or NotFoundError. */
  async get(taskId, { timeoutMs } = {}) {
    return task((await this._call('GetTask', { task_id: taskId }, timeoutMs)).task);
  }

  /** Tasks, oldest first: of one room (default every room the token may see), or active only. */
  async list({ room = '', activeOnly = false, timeoutMs } = {}) {
    return (await this._call('ListTasks', { room, active_only: activeOnly }, timeoutMs)).tasks.map(task);
  }

  /** Changes only the fields given: queue, schedule, timezone, payload (any JSON value) or
   * payloadJson, active, name, catchupWindowSeconds, misfirePolicy ('skip' | 'latest' |
   * 'all'), misfireCap, jitterSeconds, skipIfPending, once. Once it resolves, the old settings
   * never fire. */
  async update(taskId, fields = {}) {
    const { timeoutMs, payload, ...rest } = fields;
    const request = { task_id: taskId };
    if ('payload' in fields) request.payload_json = payloadText(payload);
    for (const [key, value] of Object.entries(rest)) {
      const field = UPDATABLE[key];
      if (!field) throw new TypeError(`update() has no field ${JSON.stringify(key)}; it takes ${['payload', ...Object.keys(UPDATABLE)].join(', ')}`);
      if (value === undefined) continue;
      request[field] = key === 'misfirePolicy' ? policy(value) : value;
    }
    return task((await this._call('UpdateTask', request, timeoutMs)).task);
  }

  /** Deletes a task; once it resolves, the task never enqueues again. */
  async delete(taskId, { timeoutMs } = {}) {
    await this._call('DeleteTask', { task_id: taskId }, timeoutMs);
  }

  /** Enqueues the task's payload now; resolves with the ledger entry. */
  async trigger(taskId, { timeoutMs } = {}) {
    return run((await this._call('TriggerTask', { task_id: taskId }, timeoutMs)).run);
  }

  /** The task's fire ledger, newest first (limit 0: the server's default of 100). */
  async runs(taskId, { limit = 0, timeoutMs } = {}) {
    return (await this._call('ListRuns', { task_id: taskId, limit }, timeoutMs)).runs.map(run);
  }

  /** The next instants of a schedule, from the code that fires: { instants: Date[], local:
   * ISO 8601 text in the schedule's timezone }. */
  async preview(schedule, { timezone = 'UTC', from, count = 5, timeoutMs } = {}) {
    const fromMs = from === undefined || from === null ? 0 : Number(from instanceof Date ? from.getTime() : from);
    const reply = await this._call('Preview', { schedule, timezone, from_unix_ms: fromMs, count }, timeoutMs);
    return {
      instants: reply.instants_unix_ms.map((ms) => new Date(Number(ms))),
      local: reply.instants_local,
      stopped: Boolean(reply.stopped),
      stoppedReason: reply.stopped_reason || '',
    };
  }
}

module.exports = { SchedulerClient, POLICIES };
