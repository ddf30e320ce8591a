// Draws the charts of docs/performance.md from a run of bench/run-peers.sh:
// extracts the series from its combined JSON into data files and runs
// gnuplot (Debian's gnuplot-nox) on bench/charts.gp.
//
//   node bench/charts.mjs [--results=bench/results/latest.json] [--out=docs/images]
// Writes <out>/durable-appenders.png, <out>/streams.png and <out>/peers.png.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`charts.mjs: bad argument ${a} (expected --results=FILE or --out=DIR)`);
    return [m[1], m[2]];
  }),
);
const resultsPath = args.results ?? path.join(here, 'results', 'latest.json');
const out = args.out ?? path.join(here, '..', 'docs', 'images');
if (!fs.existsSync(resultsPath)) {
  console.error(`charts.mjs: ${resultsPath} not found: run bench/run-peers.sh first`);
  process.exit(1);
}
const combined = JSON.parse(fs.readFileSync(resultsPath, 'utf8'));
const rows = combined.evstore?.results ?? [];
const peers = combined.peers ?? [];
const find = (scenario, pred) => rows.find((r) => r.scenario === scenario && pred(r));

// A series is lines "x y label": gnuplot reads them with `using 1:2`.
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'evstore-charts-'));
const write = (name, lines) => fs.writeFileSync(path.join(data, name), lines.join('\n') + '\n');
const q = (s) => `"${String(s).replaceAll('"', "'")}"`;

// 1. Durable appends against the number of appenders (each on its own stream).
const durable = rows
  .filter((r) => r.scenario === 'c' && r.extra?.appenders && r.extra.streams === r.extra.appenders)
  .sort((a, b) => a.extra.appenders - b.extra.appenders)
  .map((r) => `${r.extra.appenders} ${r.events_per_s}`);
write('durable-evstore.dat', durable);
const disk = find('c', (r) => r.variant.startsWith('disk:'));
write('durable-disk.dat', disk ? [`1 ${disk.events_per_s}`, `64 ${disk.events_per_s}`] : []);
const peerFiles = [];
const peerNames = [];
for (const name of new Set(peers.map((p) => p.peer))) {
  const points = peers
    .filter((p) => p.peer === name && (p.scenario === 'c1' || p.scenario === 'c64') && p.supported !== false)
    .map((p) => `${p.scenario === 'c1' ? 1 : 64} ${p.events_per_s}`);
  if (points.length === 0) continue;
  peerFiles.push(`durable-peer${peerFiles.length}.dat`);
  peerNames.push(name.replaceAll(/[^A-Za-z0-9._-]/g, '_'));
  write(peerFiles.at(-1), points);
}

// 2. Buffered appends against the number of streams.
const streams = [];
const a = find('a', () => true);
if (a) streams.push(`1 ${a.events_per_s}`);
for (const r of rows.filter((x) => x.scenario === 'b' && x.variant.includes('existing') && x.extra?.max_open_files === 512))
  streams.push(`${r.extra.streams} ${r.events_per_s}`);
write('streams.dat', streams.sort((x, y) => Number(x.split(' ')[0]) - Number(y.split(' ')[0])));
// (k) is another workload (new 3-event streams, three passes): its own point.
const k = find('k', (r) => r.extra?.streams);
write('streams-k.dat', k ? [`${k.extra.streams} ${k.events_per_s}`] : []);

// 3. evstore / peer ratios, one bar per (scenario, peer).
const ratios = [];
for (const c of combined.comparison ?? []) {
  for (const [name, p] of Object.entries(c.peers ?? {})) {
    if (p.ratio) ratios.push(`${q(`${c.scenario} vs ${name}`)} ${p.ratio}`);
  }
}
write('ratios.dat', ratios);

fs.mkdirSync(out, { recursive: true });
const m = combined.evstore?.machine ?? {};
const title = `${combined.generated_at?.slice(0, 10) ?? ''}, ${m.cores ?? '?'} cores`;
execFileSync(
  'gnuplot',
  [
    '-e',
    `data='${data}'; out='${out}'; subtitle='${title.replaceAll("'", '')}'; peer_files='${peerFiles.join(' ')}'; peer_names='${peerNames.join(' ')}'`,
    path.join(here, 'charts.gp'),
  ],
  { stdio: 'inherit' },
);
fs.rmSync(data, { recursive: true, force: true });
console.error(`charts: ${['durable-appenders', 'streams', 'peers'].map((n) => path.join(out, `${n}.png`)).join(', ')}`);
