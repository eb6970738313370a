// Node's Redis clients through the proxy, as an application uses them, with their default
// settings: node-redis (`redis`, which opens with HELLO 3), node-redis with its client-side cache
// (CLIENT TRACKING: invalidations from Redis must reach it through the proxy), and ioredis.
// Usage: node clients.mjs SCENARIO PROXY_PORT REDIS_PORT
// Prints one JSON line of measurements; any mismatch throws (exit status 1, the reason on stderr).
import assert from 'node:assert/strict';
import { createClient, BasicClientSideCache } from 'redis';
import IORedis from 'ioredis';

const [scenario, proxyPort, redisPort] = process.argv.slice(2);
const proxyUrl = `redis://127.0.0.1:${proxyPort}`;
const redisUrl = `redis://127.0.0.1:${redisPort}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function nodeRedisDefault() {
  const c = createClient({ url: proxyUrl });
  c.on('error', (e) => { throw e; });
  await c.connect();
  const hello = await c.hello();
  assert.equal(hello.proto, 3, 'node-redis speaks RESP3 to the proxy');
  assert.equal(await c.set('n:s', 'v'), 'OK');
  assert.equal(await c.get('n:s'), 'v');
  assert.equal(await c.get('n:missing'), null);
  assert.deepEqual(await c.mGet(['n:s', 'n:missing']), ['v', null]);
  await c.del(['n:h', 'n:set', 'n:z', 'n:l', 'n:i', 'n:bl']);
  await c.hSet('n:h', { a: '1', b: '2' });
  assert.deepEqual({ ...(await c.hGetAll('n:h')) }, { a: '1', b: '2' });
  await c.sAdd('n:set', ['x', 'y']);
  assert.deepEqual((await c.sMembers('n:set')).sort(), ['x', 'y']);
  await c.zAdd('n:z', [{ score: 1.5, value: 'm' }]);
  assert.equal(await c.zScore('n:z', 'm'), 1.5);
  assert.deepEqual(await c.zRangeWithScores('n:z', 0, -1), [{ value: 'm', score: 1.5 }]);
  assert.equal(await c.incr('n:i'), 1);
  assert.equal(await c.exists('n:s'), 1);
  await c.rPush('n:l', ['a', 'b']);
  assert.deepEqual(await c.lRange('n:l', 0, -1), ['a', 'b']);
  const tx = await c.multi().set('n:t', '1').incr('n:t').get('n:t').exec();
  assert.deepEqual(tx, ['OK', 2, '2']);
  // read-your-writes, pipelined
  const pipe = await Promise.all([c.set('n:s', 'w1'), c.get('n:s'), c.set('n:s', 'w2'), c.get('n:s')]);
  assert.deepEqual(pipe, ['OK', 'w1', 'OK', 'w2']);
  // blocking command and pub/sub on a connection of their own
  const blocked = c.duplicate();
  await blocked.connect();
  const popped = blocked.blPop('n:bl', 5);
  await sleep(50);
  await c.rPush('n:bl', 'item');
  assert.deepEqual(await popped, { key: 'n:bl', element: 'item' });
  const sub = c.duplicate();
  await sub.connect();
  const got = [];
  await sub.subscribe('n:ch', (m) => got.push(m));
  for (let i = 0; i < 5; i++) await c.publish('n:ch', `m${i}`);
  for (let i = 0; i < 50 && got.length < 5; i++) await sleep(10);
  assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
  await sub.unsubscribe('n:ch');
  // RESP3 lets a subscribed connection keep issuing commands: node-redis does, on the same socket
  await sub.subscribe('n:ch2', () => {});
  assert.equal(await sub.get('n:s'), 'w2');
  await sub.unsubscribe('n:ch2');
  assert.equal(await sub.get('n:s'), 'w2');
  const info = await c.info('server');
  assert.match(info, /redis_version:/);
  for (const x of [blocked, sub, c]) await x.close();
  return { proto: hello.proto };
}

async function nodeRedisClientSideCache() {
  const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0 });
  const c = createClient({ url: proxyUrl, RESP: 3, clientSideCache: cache });
  c.on('error', (e) => { throw e; });
  await c.connect();
  const direct = createClient({ url: redisUrl, RESP: 2 });
  await direct.connect();
  await direct.set('csc:k', 'v1');
  assert.equal(await c.get('csc:k'), 'v1');           // from Redis, now in the client's own cache
  assert.equal(await c.get('csc:k'), 'v1');           // from the client's own cache
  assert.ok(cache.stats().hitCount >= 1, `a client-side hit: ${JSON.stringify(cache.stats())}`);
  // a value changed directly in Redis: Redis's invalidation must reach the client's cache
  const invalidated = new Promise((resolve) => cache.once('invalidate', resolve));
  const t0 = process.hrtime.bigint();
  await direct.set('csc:k', 'v2');
  const key = await Promise.race([invalidated, sleep(5000).then(() => 'timeout')]);
  const micros = Number(process.hrtime.bigint() - t0) / 1000;
  assert.notEqual(key, 'timeout', 'no invalidation reached the client');
  assert.equal(await c.get('csc:k'), 'v2');
  // written through the proxy by another client: invalidated as well
  const other = createClient({ url: proxyUrl });
  await other.connect();
  const again = new Promise((resolve) => cache.once('invalidate', resolve));
  await other.set('csc:k', 'v3');
  assert.notEqual(await Promise.race([again, sleep(5000).then(() => 'timeout')]), 'timeout');
  assert.equal(await c.get('csc:k'), 'v3');
  // a read the proxy forwards (HGET, on its RESP3 link): tracked for the client as well
  await direct.hSet('csc:h', 'f', '1');
  assert.equal(await c.hGet('csc:h', 'f'), '1');
  assert.equal(await c.hGet('csc:h', 'f'), '1');       // from the client's own cache
  const third = new Promise((resolve) => cache.once('invalidate', resolve));
  await direct.hSet('csc:h', 'f', '2');
  assert.notEqual(await Promise.race([third, sleep(5000).then(() => 'timeout')]), 'timeout');
  assert.equal(await c.hGet('csc:h', 'f'), '2');
  const stats = cache.stats();
  for (const x of [other, direct, c]) await x.close();
  return { invalidation_us: Math.round(micros), hits: stats.hitCount, misses: stats.missCount };
}

async function ioredis() {
  const c = new IORedis({ port: Number(proxyPort), host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await c.connect();
  assert.equal(await c.set('io:s', 'v'), 'OK');
  assert.equal(await c.get('io:s'), 'v');
  assert.equal(await c.get('io:missing'), null);
  assert.deepEqual(await c.mget('io:s', 'io:missing'), ['v', null]);
  await c.del('io:h');
  await c.hset('io:h', 'a', '1', 'b', '2');
  assert.deepEqual(await c.hgetall('io:h'), { a: '1', b: '2' });
  const res = await c.pipeline().set('io:p', '1').incr('io:p').get('io:p').exec();
  assert.deepEqual(res, [[null, 'OK'], [null, 2], [null, '2']]);
  const tx = await c.multi().set('io:t', 'x').get('io:t').exec();
  assert.deepEqual(tx, [[null, 'OK'], [null, 'x']]);
  const sub = c.duplicate();
  const got = [];
  sub.on('message', (_ch, m) => got.push(m));
  await sub.subscribe('io:ch');
  for (let i = 0; i < 3; i++) await c.publish('io:ch', `m${i}`);
  for (let i = 0; i < 50 && got.length < 3; i++) await sleep(10);
  assert.deepEqual(got, ['m0', 'm1', 'm2']);
  await sub.quit();
  const blocked = c.duplicate();
  const popped = blocked.blpop('io:bl', 5);
  await sleep(50);
  await c.rpush('io:bl', 'e');
  assert.deepEqual(await popped, ['io:bl', 'e']);
  await blocked.quit();
  await c.quit();
  return {};
}

const scenarios = { 'node-redis': nodeRedisDefault, 'node-redis-csc': nodeRedisClientSideCache, ioredis };
try {
  const out = await scenarios[scenario]();
  console.log(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
}
