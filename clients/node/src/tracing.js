'use strict';
// Trace context for sent messages, when the OpenTelemetry API is installed. The client works
// without it; an application that has @opentelemetry/api (an optional peer dependency) gets
// the active span's context (W3C traceparent, with the usual propagator) written into every
// message it sends, so the job's span on the worker continues it, as the Python SDK does.

let api = null;
try {
  api = require('@opentelemetry/api');
} catch {
  api = null; // no OpenTelemetry: nothing to propagate
}

/** Writes the current trace context into `headers` (a no-op without OpenTelemetry or a span). */
function inject(headers) {
  if (api) api.propagation.inject(api.context.active(), headers);
  return headers;
}

module.exports = { inject, enabled: api !== null };
