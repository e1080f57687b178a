// The whole client workflow through merlin-broker with kafkajs, from the
// node_modules of interop/clients/install (found through NODE_PATH).
//
// Usage: node kafkajs_workflow.js BOOTSTRAP PREFIX N P
//
// As confluent2_workflow.py: the admin client creates PREFIX-admin with 2
// partitions, creates partitions up to P, notes the error codes of creating
// it again, of shrinking it and of deleting a missing topic, describes its
// configs, alters retention.ms (AlterConfigs) and reads it back, deletes it,
// and creates PREFIX-data and PREFIX-group; N records with keys and headers go to
// PREFIX-data (record i to partition i % P) through an idempotent producer.
// kafkajs has no manual assignment, so they come back through a consumer
// alone in a group of its own, from the beginning. Members a and b share
// PREFIX-group in group PREFIX-grp, committing each record's offset after
// handling it; a disconnects (LeaveGroup), b takes over from a's commits.
//
// Prints one line of JSON (see interop/clients_test.go); exits non-zero
// with a message on stderr at the first problem it cannot report.
'use strict';
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs');

const [bootstrap, prefix, nArg, pArg] = process.argv.slice(2);
const n = Number(nArg), nparts = Number(pArg);
const deadline = Date.now() + 150000;
const summary = { client: 'kafkajs ' + require('kafkajs/package.json').version };
const kafka = new Kafka({ clientId: 'merlin-interop', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 5 } });

function fail(msg) {
  process.stderr.write('kafkajs_workflow: ' + msg + '\n');
  process.exit(1);
}

async function waitUntil(cond, what) {
  while (!cond()) {
    if (Date.now() > deadline) fail('deadline passed during ' + what + ': ' + JSON.stringify(summary));
    await new Promise((r) => setTimeout(r, 50));
  }
}

// errorCode returns the Kafka error code that promise p rejects with (that
// of its cause when retries ran out), or 0 when it resolves.
async function errorCode(p) {
  try {
    await p;
    return 0;
  } catch (e) {
    return (e.cause && e.cause.code) || e.code || -1;
  }
}

async function adminSteps() {
  const admin = kafka.admin();
  await admin.connect();
  const t = prefix + '-admin';
  if (!(await admin.createTopics({ topics: [{ topic: t, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true }))) {
    fail('createTopics: not created');
  }
  await admin.createPartitions({ topicPartitions: [{ topic: t, count: nparts }] });
  const md = await admin.fetchTopicMetadata({ topics: [t] });
  const out = { partitions: md.topics[0].partitions.length, altered: [], errors: {} };
  // createTopics answers false exactly when every topic got TOPIC_ALREADY_EXISTS (36).
  out.errors.create_existing = (await admin.createTopics({ topics: [{ topic: t, numPartitions: 2 }] })) ? 0 : 36;
  out.errors.shrink_partitions = await errorCode(admin.createPartitions({ topicPartitions: [{ topic: t, count: 1 }] }));
  // UNKNOWN_TOPIC_OR_PARTITION is retriable: an admin that does not retry.
  const once = new Kafka({ clientId: 'merlin-interop', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  await once.connect();
  out.errors.delete_missing = await errorCode(once.deleteTopics({ topics: [prefix + '-missing'], timeout: 10000 }));
  await once.disconnect();
  const retention = async () => {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configNames: ['retention.ms'] }],
    });
    const res = r.resources[0];
    if (res.errorCode !== 0) fail('describeConfigs: ' + JSON.stringify(res));
    const e = res.configEntries.find((c) => c.configName === 'retention.ms');
    if (!e) fail('describeConfigs: no retention.ms in ' + JSON.stringify(res));
    return e.configValue;
  };
  out.retention_before = await retention();
  const alt = await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
  });
  if (alt.resources[0].errorCode !== 0) fail('alterConfigs: ' + JSON.stringify(alt));
  out.altered.push({ api: 'AlterConfigs', set: '3600000', read: await retention() });
  await admin.deleteTopics({ topics: [t], timeout: 10000 });
  while ((await admin.listTopics()).includes(t)) {
    if (Date.now() > deadline) fail('the deleted topic is still listed');
    await new Promise((r) => setTimeout(r, 100));
  }
  out.deleted = true;
  await admin.createTopics({
    topics: [prefix + '-data', prefix + '-group'].map((topic) => ({ topic, numPartitions: nparts, replicationFactor: 1 })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  summary.admin = out;
}

const headers = (i) => ({ idx: String(i), origin: 'kafkajs' });

async function produce(producer, topic, lo, hi) {
  const messages = [];
  for (let i = lo; i < hi; i++) {
    messages.push({ key: 'key-' + i, value: String(i), partition: i % nparts, headers: headers(i) });
  }
  await producer.send({ topic, acks: -1, messages });
}

async function assignSteps(producer) {
  const topic = prefix + '-data';
  await produce(producer, topic, 0, n);
  summary.produced = n;
  const c = kafka.consumer({ groupId: prefix + '-reader' });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const per = new Array(nparts).fill(0);
  let consumed = 0, intact = 0;
  await c.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const i = Number(message.value.toString());
      consumed++;
      per[partition]++;
      const h = message.headers;
      if (message.key.toString() === 'key-' + i && Object.keys(h).length === 2 && h.idx.toString() === String(i) &&
          h.origin.toString() === 'kafkajs' && partition === i % nparts) {
        intact++;
      }
    },
  });
  await waitUntil(() => consumed >= n, 'consume (' + consumed + ' of ' + n + ')');
  await c.disconnect();
  summary.assigned = { consumed, intact, partitions: per, by: 'subscribe (kafkajs has no assign)' };
}

async function groupSteps(producer) {
  const topic = prefix + '-group', groupId = prefix + '-grp';
  const half = Math.floor(n / 2);
  const seen = new Map();
  const g = { duplicates: 0, foreign: 0, consumed_a: 0, consumed_b: 0, resumed_b: {} };
  const parts = { a: [], b: [] };
  let afterLeave = false;
  const member = async (name) => {
    const c = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
    c.on(c.events.GROUP_JOIN, (e) => {
      parts[name] = (e.payload.memberAssignment[topic] || []).slice().sort((x, y) => x - y);
    });
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const i = Number(message.value.toString());
        if (seen.has(i)) g.duplicates++;
        seen.set(i, name);
        if (!parts[name].includes(partition)) g.foreign++;
        g['consumed_' + name]++;
        if (afterLeave && !(String(partition) in g.resumed_b)) g.resumed_b[String(partition)] = Number(message.offset);
        await c.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      },
    });
    return c;
  };
  const a = await member('a');
  const b = await member('b');
  const shared = () => {
    const pa = parts.a, pb = parts.b;
    return pa.length > 0 && pb.length > 0 && pa.length + pb.length === nparts && !pa.some((p) => pb.includes(p));
  };
  await waitUntil(shared, "the two members' first assignment");
  g.first = { a: parts.a, b: parts.b };
  await produce(producer, topic, 0, half);
  await waitUntil(() => seen.size >= half, 'group consume, phase 1');
  const admin = kafka.admin();
  await admin.connect();
  await a.disconnect(); // waits for eachMessage, and so its commit, to return; then LeaveGroup
  const offs = await admin.fetchOffsets({ groupId, topics: [topic] });
  g.committed_a = {};
  for (const p of offs[0].partitions) {
    if (g.first.a.includes(p.partition)) g.committed_a[String(p.partition)] = Number(p.offset);
  }
  await admin.disconnect();
  const all = Array.from({ length: nparts }, (_, i) => i);
  await waitUntil(() => parts.b.length === nparts, "b taking over a's partitions");
  g.after_leave = parts.b;
  afterLeave = true;
  await produce(producer, topic, half, n);
  await waitUntil(() => seen.size >= n, 'group consume, phase 2');
  await b.disconnect();
  if (JSON.stringify(g.after_leave) !== JSON.stringify(all)) fail('b has ' + g.after_leave + ' after a left');
  summary.group = g;
}

(async () => {
  const timer = setTimeout(() => fail('did not finish in time: ' + JSON.stringify(summary)), 170000);
  await adminSteps();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await assignSteps(producer);
  await groupSteps(producer);
  await producer.disconnect();
  clearTimeout(timer);
  console.log(JSON.stringify(summary));
})().catch((e) => fail(e.stack || String(e)));
