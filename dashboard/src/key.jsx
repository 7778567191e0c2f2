// A key's page: its record, rotation chain, actions, uses chart, audit trail and alerts.
import { useEffect, useState } from 'preact/hooks';

import { api, query } from './api.js';
import { credits, limits, time } from './format.js';
import { ShowOnce } from './create.jsx';
import { UsageChart } from './chart.jsx';
import { Action, Dialog, Refusal } from './ui.jsx';

const GRACES = [[0, 'none: the old key stops now'], [3600, '1 hour'], [86400, '1 day'], [7 * 86400, '7 days']];

function Field({ name, children }) {
  return (<><dt>{name}</dt><dd>{children}</dd></>);
}

function RotateDialog({ record, onClose }) {
  const [error, setError] = useState(null);
  const [rotated, setRotated] = useState(null);
  const [made, setMade] = useState(null);
  const close = () => { setRotated(null); onClose(made); };
  async function submit(e) {
    e.preventDefault();
    const grace = Number(new FormData(e.currentTarget).get('grace'));
    try {
      const r = await api(`/v1/keys/${record.id}/rotate`, { method: 'POST', body: { grace_seconds: grace } });
      setMade(r.id);
      setRotated(r);
    } catch (err) {
      setError(err);
    }
  }
  const shut = () => /** @type {HTMLDialogElement} */ (document.getElementById('rotate')).close();
  return (
    <Dialog id="rotate" title={rotated ? 'The new key' : `Rotate ${record.name}`} onClose={close}>
      {rotated ? <ShowOnce created={rotated} onDone={shut} /> : (
        <form onSubmit={submit} class="stack">
          <p>A new key replaces <strong>{record.name}</strong> (<code>{record.hint}</code>) with the same owner, environment and scopes.</p>
          <label for="grace">The old key keeps working for</label>
          <select id="grace" name="grace">
            {GRACES.map(([s, label]) => <option value={s} selected={s === 86400}>{label}</option>)}
          </select>
          <Refusal error={error} />
          <div class="buttons">
            <button type="submit">Rotate</button>
            <button type="button" onClick={shut}>Cancel</button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function RevokeDialog({ record, onClose }) {
  const [error, setError] = useState(null);
  const [done, setDone] = useState(false);
  async function submit(e) {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get('reason')).trim();
    try {
      await api(`/v1/keys/${record.id}/revoke`, { method: 'POST', body: { reason } });
      setDone(true);
      /** @type {HTMLDialogElement} */ (document.getElementById('revoke')).close();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <Dialog id="revoke" title={`Revoke ${record.name}?`} onClose={() => onClose(done)}>
      <form onSubmit={submit} class="stack">
        <p class="warning">
          Every use of <strong>{record.name}</strong> (<code>{record.id}</code>, <code>{record.hint}</code>, owner {record.owner}) fails from now on. Revocation cannot be undone.
        </p>
        <label for="reason">Reason</label>
        <input id="reason" name="reason" required maxLength={256} autocomplete="off" />
        <Refusal error={error} />
        <div class="buttons">
          <button type="submit" class="danger">Revoke {record.name}</button>
          <button type="button" onClick={() => /** @type {HTMLDialogElement} */ (document.getElementById('revoke')).close()}>Cancel</button>
        </div>
      </form>
    </Dialog>
  );
}

function Audit({ keyId, generation }) {
  const [events, setEvents] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  async function page(before) {
    try {
      const r = await api(`/v1/audit${query({ key_id: keyId, limit: 20, before })}`);
      setEvents((old) => (before ? [...old, ...r.events] : r.events));
      setCursor(r.cursor ?? null);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => { page(null); }, [keyId, generation]);
  return (
    <>
      <Refusal error={error} />
      <table class="audit">
        <caption>Audit trail, newest first ({events.length} shown)</caption>
        <thead>
          <tr>
            <th scope="col">Time</th><th scope="col">Action</th><th scope="col">Outcome</th>
            <th scope="col">IP</th><th scope="col">Country</th><th scope="col">User agent</th><th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.event_id}>
              <td>{time(e.time, true)}</td>
              <td>{e.action}</td>
              <td><span class={e.outcome === 'valid' ? 'ok' : 'bad'}>{e.outcome}</span></td>
              <td>{e.ip ?? '-'}</td>
              <td>{e.country ?? '-'}</td>
              <td class="ua">{e.user_agent ?? '-'}</td>
              <td>{e.actor ?? '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor && <button type="button" onClick={() => page(cursor)}>Older events</button>}
    </>
  );
}

function KeyAlerts({ keyId }) {
  const [alerts, setAlerts] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api(`/v1/alerts${query({ key_id: keyId, limit: 50 })}`).then((r) => setAlerts(r.alerts), setError); }, [keyId]);
  if (error) return <Refusal error={error} />;
  if (!alerts) return <p role="status">Loading alerts…</p>;
  if (alerts.length === 0) return <p>No alerts for this key.</p>;
  return (
    <ul class="alerts">
      {alerts.map((a) => (
        <li key={a.alert_id}>
          <span class={`sev ${a.severity}`}>{a.severity}</span> {time(a.time)} <strong>{a.kind}</strong>: {a.detail}
        </li>
      ))}
    </ul>
  );
}

export function KeyPage({ me, id }) {
  const [record, setRecord] = useState(null);
  const [error, setError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    setRecord(null);
    if (!me.can.read_keys) return;
    api(`/v1/keys/${encodeURIComponent(id)}`).then((r) => { setRecord(r); setError(null); }, setError);
  }, [id, generation]);

  if (!me.can.read_keys) return <p class="why" role="note">Your key does not hold <code>keys:read</code>: it cannot read keys.</p>;
  if (error) return (<><h1>Key</h1><Refusal error={error} /><a href="#/keys">Back to the keys</a></>);
  if (!record) return <p role="status">Loading the key…</p>;
  return (
    <article aria-labelledby="key-title">
      <p><a href="#/keys">← All keys</a></p>
      <div class="title">
        <h1 id="key-title">{record.name}</h1>
        <span class={`status ${record.status}`}>{record.status}</span>
        {record.stale && <span class="flag">unused 90+ days</span>}
        {record.over_privileged && <span class="flag">broad scopes</span>}
      </div>
      <div class="buttons">
        <Action id="rotate-key" allowed={me.can.rotate && record.rotatable} why={!me.can.rotate ? 'Your key may not rotate keys (it needs keys:write).' : 'Only an active key can be rotated (not revoked, expired or already rotated).'} onClick={() => setDialog('rotate')}>Rotate…</Action>
        <Action id="revoke-key" allowed={me.can.revoke && record.revocable} why={!me.can.revoke ? 'Your key may not revoke keys (it needs keys:write).' : 'This key no longer works.'} onClick={() => setDialog('revoke')}>Revoke…</Action>
      </div>
      <dl class="record">
        <Field name="Id"><code>{record.id}</code></Field>
        <Field name="Hint"><code>{record.hint}</code></Field>
        <Field name="Owner">{record.owner}</Field>
        <Field name="Environment">{record.env}</Field>
        <Field name="Scopes">{record.scopes.join(' ') || '(none)'}</Field>
        <Field name="Roles">{record.roles.length ? record.roles.join(' ') : '(none)'}</Field>
        <Field name="Allowed networks">{record.allowed_ips.length ? record.allowed_ips.join(' ') : 'any address'}</Field>
        <Field name="Works from">{record.not_before ? time(record.not_before, true) : 'its creation'}</Field>
        <Field name="Created">{time(record.created_at)}</Field>
        <Field name="Expires">{record.expires_at ? time(record.expires_at) : 'never'}</Field>
        <Field name="Last used">{record.last_used_at ? time(record.last_used_at) : 'never'}</Field>
        <Field name="Rate limits">{limits(record.rate_limits)}</Field>
        <Field name="Credits">{credits(record.credits)}</Field>
        {record.revoked_at && <Field name="Revoked">{time(record.revoked_at)} by {record.revoked_by ?? '-'}: {record.revocation_reason ?? '-'}</Field>}
        <Field name="Metadata">
          {Object.keys(record.metadata).length === 0 ? '(none)' : Object.entries(record.metadata).map(([k, v]) => <div>{k} = {String(v)}</div>)}
        </Field>
      </dl>
      <section aria-labelledby="chain-title">
        <h2 id="chain-title">Rotation chain</h2>
        <ul class="chain">
          <li>Previous key: {record.rotated_from ? <a href={`#/keys/${record.rotated_from}`}>{record.rotated_from}</a> : 'none'}</li>
          <li>This key: <code>{record.id}</code>{record.status === 'rotating' && record.expires_at ? `, works until ${time(record.expires_at)} (grace end)` : ''}</li>
          <li>Next key: {record.rotated_to ? <a href={`#/keys/${record.rotated_to}`}>{record.rotated_to}</a> : 'none'}</li>
        </ul>
      </section>
      <section aria-labelledby="uses-title">
        <h2 id="uses-title">Uses per hour, last 7 days</h2>
        {me.can.read_audit ? <UsageChart keyId={record.id} key={generation} /> : <p class="why" role="note">Your key does not hold <code>audit:read</code>.</p>}
      </section>
      <section aria-labelledby="audit-title">
        <h2 id="audit-title">Audit trail</h2>
        {me.can.read_audit ? <Audit keyId={record.id} generation={generation} /> : <p class="why" role="note">Your key does not hold <code>audit:read</code>.</p>}
      </section>
      <section aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        {me.can.read_audit ? <KeyAlerts keyId={record.id} /> : <p class="why" role="note">Your key does not hold <code>audit:read</code>.</p>}
      </section>
      {dialog === 'rotate' && (
        <RotateDialog record={record} onClose={(made) => { setDialog(null); if (made) location.hash = `#/keys/${made}`; }} />
      )}
      {dialog === 'revoke' && (
        <RevokeDialog record={record} onClose={(done) => { setDialog(null); if (done) setGeneration((g) => g + 1); }} />
      )}
    </article>
  );
}
