// Peer event stores, measured with the scenarios of evstore_bench that they
// can run, so that bench/run-peers.sh can put them side by side:
//   a   200k single-event appends to one stream, issued without waiting
//       (1000 per event-loop turn), until the last completion
//   d   replay of a 200k-event stream, touching every event
//   c1  durable appends, 1 sequential writer (if the peer can sync on flush)
//   c64 durable appends, 64 sequential writers on their own streams
//
// Peers: event-storage (the npm package of albe/node-event-storage; there is
// no "node-event-storage" package on npm), Emmett's in-memory store, and
// PostgreSQL (postgres.mjs: an events table on a throwaway local cluster).
//
// Prints one JSON object per line to stdout (progress goes to stderr):
//   {"peer":..., "version":..., "scenario":"a", "variant":..., "events":N,
//    "seconds":s, "events_per_s":r, "complete":true, "note":...}
//
//   node peers.mjs [--quick] [--dir=/tmp] [--only=a,d,c1,c64] [--peer=event-storage,emmett,postgresql]
//                  [--seconds=3] [--emmett-budget=20]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { postgres } from './postgres.mjs';

const require = createRequire(import.meta.url);
const EventStore = require('event-storage');
const { getInMemoryEventStore } = await import('@event-driven-io/emmett');
// Read package.json from node_modules directly: Emmett's "exports" hides it.
const here = path.dirname(new URL(import.meta.url).pathname);
const versionOf = (name) =>
  JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;

// --- arguments
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? true];
  }),
);
const quick = !!args.quick;
const baseDir = args.dir ?? os.tmpdir();
const only = args.only ? new Set(String(args.only).split(',')) : null;
const peers = args.peer ? new Set(String(args.peer).split(',')) : null;
const durableSeconds = Number(args.seconds ?? (quick ? 0.5 : 3));
const emmettBudget = Number(args['emmett-budget'] ?? (quick ? 5 : 20));
const N = quick ? 20000 : 200000;
const CHUNK = 1000;

// --peer=emmett selects emmett-in-memory.
const peerSelected = (peer) => !peers || peers.has(peer) || peers.has(peer.split('-')[0]);
const wants = (peer, scenario) => (!only || only.has(scenario)) && peerSelected(peer);
const log = (...m) => console.error(...m);
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => performance.now() / 1e3;
const tick = () => new Promise((r) => setImmediate(r));

// --- events: the same 120-byte JSON object as evstore_bench's payload()
const pad = (n, w) => String(n).padStart(w, '0');
function payload(i) {
  const o = {
    orderId: `ord-${pad(i, 8)}`,
    customer: `cust-${pad(i % 100000, 5)}`,
    sku: `SKU-${pad((i * 7919) % 1000000, 6)}`,
    qty: (i % 9) + 1,
    price: Number(`${(i % 500) + 1}.${pad(i % 100, 2)}`),
    currency: 'EUR',
    pad: '',
  };
  o.pad = 'x'.repeat(Math.max(0, 120 - JSON.stringify(o).length));
  return o;
}

function tempDir(tag) {
  return fs.mkdtempSync(path.join(baseDir, `evstore-peer-${tag}-`));
}
function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

function openEventStorage(dir, storageConfig = {}) {
  return new Promise((resolve, reject) => {
    const store = new EventStore('bench', { storageDirectory: dir, storageConfig });
    store.once('ready', () => resolve(store));
    store.once('error', reject);
  });
}

// ---------------------------------------------------------------- event-storage
async function eventStorage() {
  const peer = 'event-storage';
  const version = versionOf('event-storage');
  const dir = tempDir('es');
  try {
    if (wants(peer, 'a') || wants(peer, 'd')) {
      // a: commits issued 1000 per turn, clock stops at the last commit callback
      // (the callback runs when the partition's write buffer was flushed).
      const events = Array.from({ length: N }, (_, i) => payload(i));
      let store = await openEventStorage(dir);
      let completed = 0;
      let end = 0;
      const done = new Promise((resolve) => {
        const t0 = now();
        const issue = (from) => {
          const to = Math.min(from + CHUNK, N);
          for (let i = from; i < to; ++i) {
            store.commit('orders', [events[i]], () => {
              if (++completed === N) {
                end = now();
                resolve(end - t0);
              }
            });
          }
          if (to < N) setImmediate(() => issue(to));
        };
        issue(0);
      });
      const seconds = await done;
      if (wants(peer, 'a')) {
        emit({ peer, version, scenario: 'a', variant: '1 stream, buffered, single-event commits', events: N, seconds,
               events_per_s: N / seconds, complete: true });
      }
      await tick();
      store.close();
      await new Promise((r) => setTimeout(r, 200));  // let the index's flush timer settle

      if (wants(peer, 'd')) {
        // d: reopen, iterate the stream (the peer JSON.parses every document).
        store = await openEventStorage(dir);
        const times = [];
        let count = 0;
        for (let rep = 0; rep < 3; ++rep) {
          count = 0;
          let touched = 0;
          const t0 = now();
          for (const e of store.getEventStream('orders')) {
            ++count;
            touched += e.orderId.length;
          }
          times.push(now() - t0);
          if (count !== N) throw new Error(`event-storage replay saw ${count} of ${N} events (touched ${touched})`);
        }
        times.sort((x, y) => x - y);
        const seconds2 = times[1];
        emit({ peer, version, scenario: 'd', variant: 'replay 1 stream, getEventStream() iteration', events: count,
               seconds: seconds2, events_per_s: count / seconds2, complete: true, note: 'median of 3; JSON.parse per event' });
        store.close();
      }
    }
    if (wants(peer, 'c1')) {
      // c1: syncOnFlush, one writer: each commit waits for the previous one's callback.
      const ddir = tempDir('es-durable');
      try {
        const store = await openEventStorage(ddir, { syncOnFlush: true });
        let count = 0;
        const t0 = now();
        const seconds = await new Promise((resolve) => {
          const step = () => {
            const t = now() - t0;
            if (t >= durableSeconds) return resolve(t);
            // The next commit must not be issued inside the callback: the peer
            // runs flush callbacks and then clears the list, dropping the
            // callback of a commit made from one (it would never fire).
            store.commit('ledger', [payload(count)], () => {
              ++count;
              queueMicrotask(step);
            });
          };
          step();
        });
        emit({ peer, version, scenario: 'c1', variant: 'durable (syncOnFlush), 1 sequential writer', events: count,
               seconds, events_per_s: count / seconds, complete: true,
               note: 'acknowledged after fsync of the partition only: its indexes flush on a timer' });
        await tick();
        store.close();
      } finally {
        removeDir(ddir);
      }
    }
  } finally {
    removeDir(dir);
  }
}

// ---------------------------------------------------------------- Emmett in-memory
async function emmett() {
  const peer = 'emmett-in-memory';
  const version = versionOf('@event-driven-io/emmett');
  const ev = (i) => ({ type: 'OrderPlaced', data: payload(i) });
  if (wants(peer, 'a')) {
    // appendToStream copies the whole stream on every append (quadratic), so
    // 200k single appends do not finish in minutes: stop at a time budget and
    // report how far it got.
    const store = getInMemoryEventStore();
    let issued = 0;
    const t0 = now();
    while (issued < N && now() - t0 < emmettBudget) {
      const to = Math.min(issued + CHUNK, N);
      const pending = [];
      for (let i = issued; i < to; ++i) pending.push(store.appendToStream('orders', [ev(i)]));
      await Promise.all(pending);
      issued = to;
    }
    const seconds = now() - t0;
    emit({ peer, version, scenario: 'a', variant: '1 stream, single-event appendToStream', events: issued, seconds,
           events_per_s: issued / seconds, complete: issued === N,
           note: issued === N ? undefined : `stopped after ${emmettBudget} s budget at ${issued} of ${N} appends (quadratic)` });
  }
  if (wants(peer, 'd')) {
    // d: built with appends of 1000 events (single appends are quadratic), then readStream.
    const store = getInMemoryEventStore();
    for (let i = 0; i < N; i += CHUNK) {
      await store.appendToStream('orders', Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) => ev(i + k)));
    }
    const times = [];
    let count = 0;
    for (let rep = 0; rep < 3; ++rep) {
      count = 0;
      let touched = 0;
      const t0 = now();
      const { events } = await store.readStream('orders');
      for (const e of events) {
        ++count;
        touched += e.data.orderId.length;
      }
      times.push(now() - t0);
      if (count !== N) throw new Error(`emmett replay saw ${count} of ${N} events (touched ${touched})`);
    }
    times.sort((x, y) => x - y);
    emit({ peer, version, scenario: 'd', variant: 'replay 1 stream, readStream()', events: count, seconds: times[1],
           events_per_s: count / times[1], complete: true, note: 'median of 3; objects already in memory' });
  }
  if (wants(peer, 'c1')) {
    emit({ peer, version, scenario: 'c1', variant: 'durable, 1 sequential writer', supported: false,
           note: 'in-memory store: no durable mode' });
  }
}

if (peerSelected('event-storage')) {
  log('peers: event-storage');
  await eventStorage();
}
if (peerSelected('emmett-in-memory')) {
  log('peers: emmett in-memory');
  await emmett();
}
if (peerSelected('postgresql')) {
  log('peers: postgresql');
  await postgres({ wants, emit, log, tempDir, removeDir, payload, now, N, durableSeconds });
}
