// Webhook endpoints (`/v1/webhooks`): each with its state and its recent deliveries;
// create one (its signing secret shown once, kept only in this dialog's state, never in
// storage) and delete one after a confirmation naming it.
import { useEffect, useState } from 'preact/hooks';

import { api } from './api.js';
import { time } from './format.js';
import { Action, Dialog, Refusal, ShownOnce, usePost } from './ui.jsx';

function CreateForm({ me, onCreated, onCancel }) {
  const d = me.deployment;
  const { error, busy, send } = usePost(onCreated);
  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = { url: String(f.get('url')).trim(), events: f.getAll('events').map(String) };
    const owner = String(f.get('owner') ?? '').trim();
    if (owner) body.owner = owner;
    const env = String(f.get('env') ?? '');
    if (env) body.env = env;
    await send('/v1/webhooks', body);
  }
  return (
    <form onSubmit={submit} class="stack">
      <label for="wh-url">URL (https://)</label>
      <input id="wh-url" name="url" type="url" required maxLength={2048} autocomplete="off" spellcheck={false} />
      <fieldset>
        <legend>Events to receive</legend>
        {d.webhook_events.map((name) => {
          const id = `wh-event-${name.replace(/[^a-z0-9]/gi, '-')}`;
          return (
            <div class="check">
              <input type="checkbox" id={id} name="events" value={name} />
              <label for={id}><code>{name}</code></label>
            </div>
          );
        })}
      </fieldset>
      <label for="wh-owner">Owner (empty: every owner's events)</label>
      <input id="wh-owner" name="owner" maxLength={128} autocomplete="off" value={me.bounded ? me.owner : undefined} readOnly={me.bounded} />
      <label for="wh-env">Environment</label>
      <select id="wh-env" name="env">
        {!me.bounded && <option value="">every environment</option>}
        {d.environments.map((env) => (
          <option value={env} selected={me.bounded && env === me.env} disabled={me.bounded && env !== me.env}>{env}</option>
        ))}
      </select>
      <Refusal error={error} />
      <div class="buttons">
        <button type="submit" disabled={busy}>Create endpoint</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

/** The create dialog: the form, then the signing secret once. */
function CreateDialog({ me, onClose }) {
  const [created, setCreated] = useState(null);
  const [made, setMade] = useState(false);
  const close = () => { setCreated(null); onClose(made); };
  const shut = () => /** @type {HTMLDialogElement} */ (document.getElementById('create-webhook')).close();
  return (
    <Dialog id="create-webhook" title={created ? 'Its signing secret' : 'Create a webhook endpoint'} onClose={close}>
      {created
        ? (
          <ShownOnce
            id="wh-secret"
            label={`Signing secret of ${created.webhook.url} (${created.id})`}
            value={created.secret}
            what="secret"
            warning="Copy this secret now: your receiver verifies each delivery with it (any Standard Webhooks library). It is shown once."
            onDone={shut}
          />
        )
        : <CreateForm me={me} onCancel={shut} onCreated={(w) => { setMade(true); setCreated(w); }} />}
    </Dialog>
  );
}

function DeleteDialog({ webhook, onClose }) {
  const [error, setError] = useState(null);
  const [done, setDone] = useState(false);
  const shut = () => /** @type {HTMLDialogElement} */ (document.getElementById('delete-webhook')).close();
  async function remove() {
    try {
      await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}`, { method: 'DELETE' });
      setDone(true);
      shut();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <Dialog id="delete-webhook" title="Delete this endpoint?" onClose={() => onClose(done)}>
      <p>Nothing more is delivered to <code>{webhook.url}</code> (<code>{webhook.id}</code>).</p>
      <Refusal error={error} />
      <div class="buttons">
        <button type="button" onClick={remove}>Delete {webhook.url}</button>
        <button type="button" onClick={shut}>Cancel</button>
      </div>
    </Dialog>
  );
}

/** An endpoint's delivery attempts, newest first. */
function Deliveries({ webhook }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    api(`/v1/webhooks/${encodeURIComponent(webhook.id)}/deliveries`).then((r) => { setList(r.deliveries); setError(null); }, setError);
  }, [webhook.id, generation]);
  return (
    <section aria-labelledby="wh-deliveries-title">
      <h2 id="wh-deliveries-title">Deliveries to {webhook.url}</h2>
      <button type="button" onClick={() => setGeneration((g) => g + 1)}>Refresh deliveries</button>
      <Refusal error={error} />
      {list && (list.length === 0 ? <p>No delivery yet.</p> : (
        <table class="deliveries">
          <caption>Recent delivery attempts, newest first ({list.length})</caption>
          <thead>
            <tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">Error</th></tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr key={`${d.message_id}-${d.attempt}`}>
                <td>{time(d.at, true)}</td>
                <td><code>{d.event_type}</code></td>
                <td>{d.attempt}</td>
                <td>{d.status ?? 'no answer'}</td>
                <td>{d.latency_ms} ms</td>
                <td>{d.error ?? '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

export function WebhooksPage({ me }) {
  const allowed = me.can.manage_webhooks;
  const [hooks, setHooks] = useState(null);
  const [error, setError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [shown, setShown] = useState(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (allowed) api('/v1/webhooks').then((r) => { setHooks(r.webhooks); setError(null); }, setError);
  }, [generation]);
  const selected = hooks?.find((h) => h.id === shown);
  return (
    <section aria-labelledby="webhooks-title">
      <div class="title">
        <h1 id="webhooks-title">Webhooks</h1>
        <Action id="create-webhook-button" allowed={allowed} why="Your key may not manage webhook endpoints (it needs keys:write)." onClick={() => setDialog({ kind: 'create' })}>
          Create endpoint
        </Action>
      </div>
      <p class="help">Signed key events (Standard Webhooks), delivered at least once; an endpoint failing for a day is marked failing.</p>
      <Refusal error={error} />
      {hooks && (hooks.length === 0 ? <p>No webhook endpoints.</p> : (
        <table class="webhooks">
          <caption>Webhook endpoints ({hooks.length})</caption>
          <thead>
            <tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Owner</th><th scope="col">Env</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {hooks.map((h) => (
              <tr key={h.id}>
                <td><code>{h.url}</code></td>
                <td>{h.events.join(' ')}</td>
                <td>{h.owner ?? 'every owner'}</td>
                <td>{h.env ?? 'every'}</td>
                <td><span class={`status ${h.state === 'failing' ? 'revoked' : 'active'}`}>{h.state}</span>{h.failing_since && ` since ${time(h.failing_since)}`}</td>
                <td>{time(h.created_at)}</td>
                <td>
                  <div class="buttons">
                    <button type="button" aria-pressed={shown === h.id} onClick={() => setShown(shown === h.id ? null : h.id)} aria-label={`Deliveries to ${h.url}`}>Deliveries</button>
                    <button type="button" onClick={() => setDialog({ kind: 'delete', webhook: h })} aria-label={`Delete ${h.url}`}>Delete…</button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      {selected && <Deliveries webhook={selected} key={selected.id} />}
      {dialog?.kind === 'create' && (
        <CreateDialog me={me} onClose={(made) => { setDialog(null); if (made) setGeneration((g) => g + 1); }} />
      )}
      {dialog?.kind === 'delete' && (
        <DeleteDialog webhook={dialog.webhook} onClose={(done) => { setDialog(null); if (done) { setShown(null); setGeneration((g) => g + 1); } }} />
      )}
    </section>
  );
}
