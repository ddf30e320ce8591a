// Combines evstore_bench's JSON and peers.mjs's JSON lines into one table
// with evstore/peer ratios. Used by bench/run-peers.sh.
//
//   node combine.mjs --evstore=evstore.json --peers=peers.jsonl --out=latest [--evstore-md=evstore.md]
// writes <out>.json and <out>.md and prints the Markdown.
import fs from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2]];
  }),
);
const evstore = JSON.parse(fs.readFileSync(args.evstore, 'utf8'));
const peers = fs
  .readFileSync(args.peers, 'utf8')
  .split('\n')
  .filter((l) => l.trim().startsWith('{'))
  .map((l) => JSON.parse(l));
const evstoreMd = args['evstore-md'] ? fs.readFileSync(args['evstore-md'], 'utf8') : '';

// The evstore row each peer scenario is compared with.
const scenarios = [
  { id: 'a', name: 'a) 200k single-event appends, 1 stream, buffered, issued without waiting',
    evstore: (r) => r.scenario === 'a' },
  { id: 'd', name: 'd) replay of a 200k-event stream',
    evstore: (r) => r.scenario === 'd' && r.variant.includes('events()') },
  { id: 'c1', name: 'c) durable appends, 1 sequential writer',
    evstore: (r) => r.scenario === 'c' && r.variant === 'durable, 1 appender' },
  { id: 'c64', name: 'c) durable appends, 64 sequential writers, one stream each',
    evstore: (r) => r.scenario === 'c' && r.variant === 'durable, 64 appenders, 64 streams' },
];
const peerNames = [...new Set(peers.map((p) => p.peer))];

const int = (v) => Math.round(v).toLocaleString('en-US');
const ratio = (a, b) => (a && b ? a / b : null);
const fmtRatio = (r) => (r === null ? 'n/a' : r >= 10 ? `**${r.toFixed(0)}x**` : `**${r.toFixed(1)}x**`);

const comparison = scenarios.map((s) => {
  const ev = evstore.results.find(s.evstore);
  const row = { scenario: s.id, name: s.name, evstore: ev ? { variant: ev.variant, events: ev.events,
    events_per_s: ev.events_per_s } : null, peers: {} };
  for (const name of peerNames) {
    const p = peers.find((x) => x.peer === name && x.scenario === s.id);
    if (!p) continue;
    row.peers[name] = { ...p, ratio: p.supported === false ? null : ratio(ev?.events_per_s, p.events_per_s) };
  }
  return row;
});

const versions = Object.fromEntries(peers.map((p) => [p.peer, p.version]));
const lines = [];
const head = ['scenario', 'evstore events/s'];
for (const n of peerNames) head.push(`${n} ${versions[n]} events/s`, `evstore / ${n}`);
lines.push(`| ${head.join(' | ')} |`);
lines.push(`|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
const notes = [];
for (const row of comparison) {
  const cells = [row.name, row.evstore ? int(row.evstore.events_per_s) : 'n/a'];
  for (const n of peerNames) {
    const p = row.peers[n];
    if (!p) {
      cells.push('not run', 'n/a');
      continue;
    }
    if (p.supported === false) {
      cells.push('unsupported', 'n/a');
    } else {
      const mark = p.complete === false ? ` (${int(p.events)} events)` : '';
      cells.push(`${int(p.events_per_s)}${mark}`, fmtRatio(p.ratio));
    }
    if (p.note) notes.push(`- ${n}, ${row.scenario}: ${p.note}`);
  }
  lines.push(`| ${cells.join(' | ')} |`);
}

const m = evstore.machine ?? {};
const md = [
  `## evstore vs peers${evstore.quick ? ' (--quick: 10x smaller counts)' : ''}`,
  '',
  `Machine: ${m.cpu ?? '?'}, ${m.cores ?? '?'} cores, ${m.kernel ?? '?'}, store directory on ${m.dir_fs ?? '?'} ` +
    `(${m.dir ?? '?'}); evstore build ${m.build_type ?? '?'}; node ${process.version}; ` +
    `other processes used ${m.other_processes_cpu_percent === undefined ? '?' : Math.round(m.other_processes_cpu_percent)}% ` +
    `of the CPU during the evstore run.`,
  '',
  ...lines,
  '',
  ...(notes.length ? ['Notes:', ...notes, ''] : []),
  '## evstore (all scenarios)',
  '',
  evstoreMd.trim(),
  '',
].join('\n');

const out = {
  generated_at: new Date().toISOString(),
  node: process.version,
  comparison,
  evstore,
  peers,
};
fs.writeFileSync(`${args.out}.json`, JSON.stringify(out, null, 2) + '\n');
fs.writeFileSync(`${args.out}.md`, md);
process.stdout.write(md);
