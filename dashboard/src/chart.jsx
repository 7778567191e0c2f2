// Uses per hour over the last 7 days (a key's, or the deployment's), one line per outcome (uPlot: a canvas, no
// HTML from data). The numbers are also given as text for screen readers.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';

import { api, query } from './api.js';
import { Refusal } from './ui.jsx';

const HOUR = 3600;
const COLORS = ['#1b7f3b', '#b3261e', '#8a4b00', '#5b3fa6', '#005f87', '#6b6b00', '#a3006b'];

/** Rows `{start, outcome, uses}` → uPlot's columns: one x per hour, zero where none. */
export function columns(usage) {
  const from = Math.floor(Date.parse(usage.since) / 1000);
  const to = Math.floor(Date.parse(usage.until) / 1000);
  const xs = [];
  for (let t = from; t <= to; t += HOUR) xs.push(t);
  const outcomes = [...new Set(usage.rows.map((r) => r.outcome))].sort((a, b) => (a === 'valid' ? -1 : b === 'valid' ? 1 : a.localeCompare(b)));
  const series = outcomes.map((o) => {
    const ys = new Array(xs.length).fill(0);
    for (const r of usage.rows) {
      if (r.outcome !== o) continue;
      const i = Math.round((Date.parse(r.start) / 1000 - from) / HOUR);
      if (i >= 0 && i < ys.length) ys[i] += r.uses;
    }
    return ys;
  });
  return { xs, outcomes, series };
}

/** A key's uses per hour over the last 7 days (`GET /v1/usage`). */
export function UsageChart({ keyId }) {
  const [usage, setUsage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/v1/usage${query({ key_id: keyId, bucket: 'hour' })}`).then(setUsage, setError);
  }, [keyId]);
  if (error) return <Refusal error={error} />;
  if (!usage) return <p role="status">Loading uses…</p>;
  return <UsesChart usage={usage} />;
}

/** Uses per hour by outcome, `{since, until, rows}`, drawn, with the totals as text. */
export function UsesChart({ usage }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const { xs, outcomes, series } = columns(usage);
    const plot = new uPlot(
      {
        width: Math.max(320, box.current.clientWidth || 720),
        height: 220,
        series: [{}, ...outcomes.map((o, i) => ({ label: o, stroke: COLORS[i % COLORS.length], width: 2, points: { show: false } }))],
        axes: [{}, { label: 'uses per hour' }],
        scales: { x: { time: true } },
      },
      [xs, ...series],
      box.current,
    );
    return () => plot.destroy();
  }, [usage]);
  const totals = new Map();
  for (const r of usage.rows) totals.set(r.outcome, (totals.get(r.outcome) ?? 0) + r.uses);
  const sum = [...totals.values()].reduce((a, b) => a + b, 0);
  const summary = `${sum} uses in the last 7 days${sum ? `: ${[...totals].map(([o, n]) => `${o} ${n}`).join(', ')}` : ''}.`;
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={`Uses per hour by outcome. ${summary}`} data-testid="usage-chart" />
      <figcaption>{summary}</figcaption>
    </figure>
  );
}
