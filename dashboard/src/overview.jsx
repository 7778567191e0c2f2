// The deployment at a glance (`GET /v1/overview`): uses per hour by outcome over 7 days,
// refusals by code, the most used keys and the alerts of those days. The server counts and
// confines it (a bounded key sees its own owner and environment); this page only shows it.
import { useEffect, useState } from 'preact/hooks';

import { api } from './api.js';
import { UsesChart } from './chart.jsx';
import { time } from './format.js';
import { Refusal } from './ui.jsx';

export function OverviewPage({ me }) {
  const [overview, setOverview] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (me.can.read_audit) api('/v1/overview').then(setOverview, setError);
  }, []);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      {!me.can.read_audit && <p class="why" role="note">Your key does not hold <code>audit:read</code>: it cannot read the overview.</p>}
      <Refusal error={error} />
      {me.can.read_audit && !overview && !error && <p role="status">Loading the overview…</p>}
      {overview && <Body o={overview} />}
    </section>
  );
}

function Body({ o }) {
  return (
    <>
      <p>
        {o.owner ? <>Keys of <strong>{o.owner}</strong> in <strong>{o.env}</strong>, </> : 'Every key, '}
        {time(o.since)} to {time(o.until)}.
      </p>
      <section aria-labelledby="ov-uses-title">
        <h2 id="ov-uses-title">Uses per hour, last 7 days</h2>
        <UsesChart usage={{ since: o.since, until: o.until, rows: o.uses }} />
      </section>
      <div class="columns">
        <section aria-labelledby="ov-refusals-title">
          <h2 id="ov-refusals-title">Refusals by code</h2>
          {o.refusals.length === 0 ? <p>No refused uses.</p> : (
            <table class="refusals">
              <caption>Refused uses in the last 7 days, by the code that refused them</caption>
              <thead><tr><th scope="col">Code</th><th scope="col">Uses</th></tr></thead>
              <tbody>
                {o.refusals.map((c) => <tr key={c.code}><td><code>{c.code}</code></td><td>{c.uses}</td></tr>)}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="ov-top-title">
          <h2 id="ov-top-title">Most used keys</h2>
          {o.top_keys.length === 0 ? <p>No key was used.</p> : (
            <table class="top-keys">
              <caption>The most used keys in the last 7 days</caption>
              <thead><tr><th scope="col">Key</th><th scope="col">Owner</th><th scope="col">Uses</th><th scope="col">Refused</th></tr></thead>
              <tbody>
                {o.top_keys.map((k) => (
                  <tr key={k.key_id ?? 'root'}>
                    <td>{k.root ? <>the root key (<code>{k.hint}</code>)</> : <a href={`#/keys/${k.key_id}`}>{k.hint ?? k.key_id}</a>}</td>
                    <td>{k.owner ?? '-'}</td>
                    <td>{k.uses}</td>
                    <td>{k.refused}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <section aria-labelledby="ov-alerts-title">
        <h2 id="ov-alerts-title">Alerts of the last 7 days</h2>
        {o.alerts.length === 0 ? <p>No alerts.</p> : (
          <ul class="alerts">
            {o.alerts.map((a) => (
              <li key={a.alert_id}>
                <span class={`sev ${a.severity}`}>{a.severity}</span> {time(a.time)} <strong>{a.kind}</strong>
                {a.key_id && <> (<a href={`#/keys/${a.key_id}`}>{a.hint ?? a.key_id}</a>)</>}: {a.detail}
              </li>
            ))}
          </ul>
        )}
        <p><a href="#/alerts">All alerts</a></p>
      </section>
    </>
  );
}
