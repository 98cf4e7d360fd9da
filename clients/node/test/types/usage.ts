// Compiled (not run) by types.test.js: the declared API accepts what the README shows and
// refuses misuse (each @ts-expect-error must be an error, or tsc fails).
import {
  MeshqClient, MeshqRpcError, DeniedError, NotFoundError, StaleLeaseError, type ReceivedMessage, type Task, type FileInfo,
} from '@meshq/client';

interface Job { prompt: string }

async function main(): Promise<void> {
  const client = new MeshqClient({ server: '127.0.0.1:50051', token: 't', timeoutMs: 5000 });
  const room = await client.rooms.create('myroom', { ifNotExists: true });
  const created: Date | null = room.createdAt;
  const room2 = client.room(room.name);
  const id: string = await room2.queues.send('jobs', { prompt: 'hi' }, { headers: { a: 'b' }, delaySeconds: 1 });
  const ids: string[] = await room2.queues.sendMany('jobs', [1, 2, 3]);
  const body = await room2.queues.receive<Job>('jobs', { timeoutSeconds: 1 });
  if (body !== null) body.prompt.toUpperCase();
  const sub = await room2.queues.subscribe<Job>('jobs', { maxInFlight: 8 });
  for await (const job of sub) {
    const m: ReceivedMessage<Job> = job;
    m.body.prompt.toLowerCase();
    await job.extend(30);
    await job.nack({ delaySeconds: 5, error: 'x' });
    await job.ack();
  }
  sub.pause();
  sub.setMaxInFlight(2);
  await sub.close();
  await sub[Symbol.asyncDispose]();
  const infos = await room2.queues.list();
  const depth: number = infos[0].depth;
  const state: 'ready' | 'delayed' | 'in_flight' | 'gone' | 'unknown' = (await room2.queues.messageState('jobs', id)).state;
  const task: Task = await client.scheduler.add({ room: 'myroom', queue: 'jobs', schedule: '0 9 * * *', payload: { a: 1 } });
  await client.scheduler.update(task.id, { active: false, misfirePolicy: 'latest' });
  const preview = await client.scheduler.preview('@daily', { count: 2 });
  preview.instants[0].toISOString();
  const runs = await client.scheduler.runs(task.id, { limit: 5 });
  const outcome: string = runs[0].outcome;
  const info: FileInfo = await room2.storage.write('a.txt', 'text');
  const bytes: Buffer = await room2.storage.read(info.path, { offset: 0 });
  for await (const chunk of room2.storage.readStream('a.txt')) chunk.byteLength;
  try {
    await client.rooms.get('nope');
  } catch (err) {
    if (err instanceof NotFoundError) err.details.trim();
    if (err instanceof MeshqRpcError) { const code: number = err.code; void code; }
    if (err instanceof DeniedError) err.codeName.trim();
    if (err instanceof StaleLeaseError) err.leaseToken.trim();
  }
  // @ts-expect-error: the misfire policy is one of skip | latest | all
  await client.scheduler.update(task.id, { misfirePolicy: 'sometimes' });
  // @ts-expect-error: a room's name is a string
  client.room(42);
  // @ts-expect-error: maxInFlight is a number
  await room2.queues.subscribe('jobs', { maxInFlight: 'many' });
  // @ts-expect-error: storage takes text, bytes or an iterable of them
  await room2.storage.write('a.txt', { not: 'bytes' });
  client.close();
  void [created, ids, depth, state, outcome, bytes];
}

void main;
