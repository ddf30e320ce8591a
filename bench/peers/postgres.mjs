// PostgreSQL as an event store, the way applications usually build one: an
// `events` table with a global position, a unique (stream_id, stream_version)
// and the expected-version check done by that constraint (an append inserts
// version expected+1; a concurrent writer makes it fail). A throwaway
// cluster in a temporary directory, reached over a unix socket, with the
// durability settings of a default install (fsync, synchronous_commit on),
// started before the scenarios and stopped after them.
//
// Scenarios (the ids of peers.mjs): c1 one durable client, each append
// awaited; c64 64 clients on their own streams; d replay of a 200k-event
// stream (rows loaded with COPY-sized multi-row inserts, not timed).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const bin = (() => {
  for (const v of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return null;
})();

// initdb refuses to run as root: run the server as the `postgres` user then.
function run(cmd, args) {
  const exe = path.join(bin, cmd);
  if (process.getuid && process.getuid() === 0) {
    return execFileSync('runuser', ['-u', 'postgres', '--', exe, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return execFileSync(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startCluster(dir) {
  const data = path.join(dir, 'data');
  if (process.getuid && process.getuid() === 0) execFileSync('chown', ['postgres', dir]);
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'bench', '--no-sync', '-E', 'UTF8']);
  run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-o',
                 `-k ${dir} -c listen_addresses='' -c max_connections=100 -c fsync=on -c synchronous_commit=on`,
                 'start']);
  return () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
}

const schema = `
  CREATE TABLE events (
    position bigserial PRIMARY KEY,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    UNIQUE (stream_id, stream_version))`;
const appendSql = 'INSERT INTO events (stream_id, stream_version, type, data) VALUES ($1, $2, $3, $4)';

// `run(writers, seconds)`: each writer appends to its own stream, awaiting
// each append; returns the count and the elapsed seconds.
async function durableRun(connect, writers, seconds, payload, now) {
  const clients = await Promise.all(Array.from({ length: writers }, () => connect()));
  const t0 = now();
  let count = 0;
  await Promise.all(clients.map(async (c, w) => {
    for (let v = 0; now() - t0 < seconds; ++v) {
      await c.query(appendSql, [`ledger-${w}`, v, 'OrderPlaced', payload(count)]);
      ++count;
    }
  }));
  const elapsed = now() - t0;
  await Promise.all(clients.map((c) => c.end()));
  return { count, elapsed };
}

export async function postgres({ wants, emit, log, tempDir, removeDir, payload, now, N, durableSeconds }) {
  const peer = 'postgresql';
  if (!bin) {
    log('peers: postgresql not installed (Debian package postgresql): skipped');
    return;
  }
  const { default: pg } = await import('pg');
  const dir = tempDir('pg');
  let stop = null;
  try {
    stop = await startCluster(dir);
    const connect = async () => {
      const c = new pg.Client({ host: dir, user: 'bench', database: 'postgres' });
      await c.connect();
      return c;
    };
    const admin = await connect();
    const version = (await admin.query('SHOW server_version')).rows[0].server_version.split(' ')[0];
    await admin.query(schema);
    for (const [id, writers] of [['c1', 1], ['c64', 64]]) {
      if (!wants(peer, id)) continue;
      await admin.query('TRUNCATE events');
      const { count, elapsed } = await durableRun(connect, writers, durableSeconds, payload, now);
      emit({ peer, version, scenario: id, variant: `durable, ${writers} client${writers > 1 ? 's' : ''} awaiting each append`,
             events: count, seconds: elapsed, events_per_s: count / elapsed, complete: true,
             note: id === 'c1' ? 'one INSERT per append, committed with fsync (synchronous_commit=on)' : undefined });
    }
    if (wants(peer, 'd')) {
      await admin.query('TRUNCATE events');
      const rows = 1000;
      for (let i = 0; i < N; i += rows) {
        const values = [], params = [];
        for (let k = 0; k < Math.min(rows, N - i); ++k) {
          params.push('orders', i + k, 'OrderPlaced', payload(i + k));
          const b = 4 * k;
          values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4})`);
        }
        await admin.query(`INSERT INTO events (stream_id, stream_version, type, data) VALUES ${values.join(',')}`, params);
      }
      await admin.query('VACUUM ANALYZE events');
      const times = [];
      for (let rep = 0; rep < 3; ++rep) {
        const t0 = now();
        const { rows: got } = await admin.query(
          'SELECT stream_version, data FROM events WHERE stream_id = $1 ORDER BY stream_version', ['orders']);
        let touched = 0;
        for (const r of got) touched += r.data.orderId.length;
        times.push(now() - t0);
        if (got.length !== N) throw new Error(`postgresql replay saw ${got.length} of ${N} events (touched ${touched})`);
      }
      times.sort((x, y) => x - y);
      emit({ peer, version, scenario: 'd', variant: 'replay 1 stream, one SELECT ordered by version', events: N,
             seconds: times[1], events_per_s: N / times[1], complete: true, note: 'median of 3; jsonb parsed per row' });
    }
    await admin.end();
  } finally {
    if (stop) {
      try {
        stop();
      } catch (e) {
        log(`peers: postgresql did not stop: ${e.message}`);
      }
    }
    removeDir(dir);
  }
}
