// Alerts across keys, newest first, each linked to its key.
import { useEffect, useState } from 'preact/hooks';

import { api, query } from './api.js';
import { time } from './format.js';
import { Refusal } from './ui.jsx';

export function AlertsPage({ me }) {
  const [alerts, setAlerts] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (me.can.read_audit) api(`/v1/alerts${query({ limit: 200 })}`).then((r) => setAlerts(r.alerts), setError);
  }, []);
  return (
    <section aria-labelledby="alerts-page-title">
      <h1 id="alerts-page-title">Alerts</h1>
      {!me.can.read_audit && <p class="why" role="note">Your key does not hold <code>audit:read</code>: it cannot read alerts.</p>}
      <Refusal error={error} />
      {alerts && (
        <table class="alerts">
          <caption>{alerts.length} most recent alerts: revoked or expired key use, new IP or country, bursts, odd hours, leaks, stale and over-privileged keys</caption>
          <thead>
            <tr><th scope="col">Time</th><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Key</th><th scope="col">Owner</th><th scope="col">Detail</th></tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={a.alert_id}>
                <td>{time(a.time)}</td>
                <td><span class={`sev ${a.severity}`}>{a.severity}</span></td>
                <td>{a.kind}</td>
                <td>{a.key_id ? <a href={`#/keys/${a.key_id}`}>{a.hint ?? a.key_id}</a> : '-'}</td>
                <td>{a.owner ?? '-'}</td>
                <td>{a.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
