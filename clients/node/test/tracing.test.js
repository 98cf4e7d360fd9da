'use strict';
// With @opentelemetry/api installed (an optional peer dependency), the active span's context
// travels in the headers of every message sent; without an active span nothing is added.

const test = require('node:test');
const assert = require('node:assert/strict');
const { AsyncLocalStorage } = require('node:async_hooks');
const otel = require('@opentelemetry/api');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

/** The smallest real context manager (what @opentelemetry/context-async-hooks provides). */
class LocalContextManager {
  constructor() { this._storage = new AsyncLocalStorage(); }
  active() { return this._storage.getStore() || otel.ROOT_CONTEXT; }
  with(context, fn, thisArg, ...args) { return this._storage.run(context, () => fn.call(thisArg, ...args)); }
  bind(context, target) { return target; }
  enable() { return this; }
  disable() { return this; }
}

/** W3C trace context, written only (what @opentelemetry/core's propagator writes). */
const traceparent = {
  inject(context, carrier, setter) {
    const span = otel.trace.getSpanContext(context);
    if (span) setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-0${span.traceFlags}`);
  },
  extract(context) { return context; },
  fields() { return ['traceparent']; },
};

test('the active span context is sent in the traceparent header', async () => {
  otel.context.setGlobalContextManager(new LocalContextManager());
  otel.propagation.setGlobalPropagator(traceparent);
  try {
    const q = ctx.client.room(unique('room')).queues;
    const span = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
    await otel.context.with(otel.trace.setSpanContext(otel.context.active(), span), async () => {
      await q.send('jobs', { traced: true }, { headers: { 'x-kind': 'job' } });
      await q.sendMany('jobs', [{ traced: 'many' }]);
    });
    await q.send('jobs', { traced: false });
    const messages = await q.peek('jobs');
    assert.deepEqual(messages.map((m) => m.headers), [
      { 'x-kind': 'job', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      {},
    ]);
  } finally {
    otel.propagation.disable();
    otel.context.disable();
  }
});
