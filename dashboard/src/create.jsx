// Create a key: the scopes and roles the API says the caller may grant as choices, allowed
// client networks and a start time; the new key is shown once, then forgotten.
import { useState } from 'preact/hooks';

import { Dialog, Refusal, ShownOnce, usePost } from './ui.jsx';

const EXPIRIES = [
  ['', 'never'],
  [String(7 * 86400), '7 days'],
  [String(30 * 86400), '30 days'],
  [String(90 * 86400), '90 days'],
  [String(365 * 86400), '1 year'],
];

/** `team=core\nticket=OPS-1` → `{team: 'core', ticket: 'OPS-1'}`; throws on a bad line. */
function parseMetadata(text) {
  const out = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`metadata line "${line}" is not name=value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/** One CIDR block or address per line (blank lines skipped); the API checks each. */
function parseNetworks(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

function Form({ me, onCreated, onCancel }) {
  const d = me.deployment;
  const { error, setError, busy, send } = usePost(onCreated);
  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    let metadata;
    try {
      metadata = parseMetadata(String(f.get('metadata') ?? ''));
    } catch (err) {
      setError({ message: err.message, code: 'invalid_request' });
      return;
    }
    const body = {
      name: String(f.get('name')),
      owner: String(f.get('owner')) || undefined,
      env: String(f.get('env')),
      scopes: f.getAll('scopes').map(String),
      metadata,
    };
    const expires = String(f.get('expires_in'));
    if (expires) body.expires_in = Number(expires);
    const roles = f.getAll('roles').map(String);
    if (roles.length) body.roles = roles;
    const networks = parseNetworks(String(f.get('allowed_ips') ?? ''));
    if (networks.length) body.allowed_ips = networks;
    // A datetime-local value has no zone: the field says UTC, and it is sent as UTC.
    const start = String(f.get('not_before') ?? '');
    if (start) body.not_before = `${start.length === 16 ? `${start}:00` : start}Z`;
    await send('/v1/keys', body);
  }
  return (
    <form onSubmit={submit} class="stack">
      <label for="new-name">Name</label>
      <input id="new-name" name="name" required maxLength={128} autocomplete="off" />
      <label for="new-owner">Owner</label>
      <input id="new-owner" name="owner" maxLength={128} autocomplete="off" value={me.bounded ? me.owner : undefined} readOnly={me.bounded} aria-describedby="new-owner-help" />
      <p id="new-owner-help" class="help">{me.bounded ? 'Your key makes keys for its own owner only.' : 'Who the key belongs to: a team, a customer, a service.'}</p>
      <label for="new-env">Environment</label>
      <select id="new-env" name="env">
        {d.environments.map((env) => (
          <option value={env} selected={me.bounded ? env === me.env : env === d.environments[0]} disabled={me.bounded && env !== me.env}>{env}</option>
        ))}
      </select>
      <fieldset>
        <legend>Scopes (least privilege: only what it needs)</legend>
        {d.scopes.map((s) => {
          const ok = me.grantable_scopes.includes(s.name);
          const id = `scope-${s.name.replace(/[^a-z0-9]/gi, '-')}`;
          return (
            <div class="check">
              <input type="checkbox" id={id} name="scopes" value={s.name} disabled={!ok} />
              <label for={id}><code>{s.name}</code> {s.description}{!ok && ' (your key does not hold it)'}</label>
            </div>
          );
        })}
      </fieldset>
      {d.roles.length > 0 && (
        <fieldset>
          <legend>Roles (the key holds each role's scopes, fixed when it is made)</legend>
          {d.roles.map((r) => {
            const ok = me.grantable_roles.includes(r.name);
            const id = `role-${r.name.replace(/[^a-z0-9]/gi, '-')}`;
            return (
              <div class="check">
                <input type="checkbox" id={id} name="roles" value={r.name} disabled={!ok} aria-describedby={`${id}-gives`} />
                <label for={id}><code>{r.name}</code>{!ok && ' (your key does not hold all it gives)'}</label>
                <span id={`${id}-gives`} class="help">gives {r.scopes.join(' ')}</span>
              </div>
            );
          })}
        </fieldset>
      )}
      <label for="new-networks">Allowed client networks (one CIDR block or address per line; empty: any)</label>
      <textarea id="new-networks" name="allowed_ips" rows={2} spellcheck={false} aria-describedby="new-networks-help" />
      <p id="new-networks-help" class="help">A use from any other address is refused (<code>ip_not_allowed</code>).{me.bounded ? ' Your key makes keys within its own networks only.' : ''}</p>
      <label for="new-not-before">Works from (UTC; empty: at once)</label>
      <input id="new-not-before" name="not_before" type="datetime-local" step={1} />
      <label for="new-expiry">Expires in</label>
      <select id="new-expiry" name="expires_in">
        {EXPIRIES.map(([v, label]) => <option value={v} selected={v === String(90 * 86400)}>{label}</option>)}
      </select>
      <label for="new-metadata">Metadata (one name=value per line)</label>
      <textarea id="new-metadata" name="metadata" rows={3} />
      <Refusal error={error} />
      <div class="buttons">
        <button type="submit" disabled={busy}>Create key</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

/** The new key, once: a copy button and a warning; closing forgets it. */
export function ShowOnce({ created, onDone }) {
  return (
    <ShownOnce
      id="new-key"
      label={`Key for ${created.name} (${created.id})`}
      value={created.key}
      what="key"
      warning="Copy this key now. It is shown once and keyward keeps only its hash: it cannot be shown again."
      onDone={onDone}
    />
  );
}

/** The create dialog: the form, then the key once. */
export function CreateDialog({ me, onClose }) {
  const [created, setCreated] = useState(null);
  const [made, setMade] = useState(null);
  // Closing by Escape or a button: the key leaves the page's state with the dialog.
  const close = () => { setCreated(null); onClose(made); };
  return (
    <Dialog id="create" title={created ? 'Your new key' : 'Create a key'} onClose={close}>
      {created
        ? <ShowOnce created={created} onDone={(e) => /** @type {HTMLDialogElement} */ (document.getElementById('create')).close()} />
        : <Form me={me} onCancel={() => /** @type {HTMLDialogElement} */ (document.getElementById('create')).close()} onCreated={(k) => { setMade(k.id); setCreated(k); }} />}
    </Dialog>
  );
}
