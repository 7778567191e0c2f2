// The keys list: filters (owner, environment, status), each asked of the API, which
// answers full pages through its cursor.
import { useEffect, useRef, useState } from 'preact/hooks';

import { api, query } from './api.js';
import { STATUS_FILTERS, time } from './format.js';
import { CreateDialog } from './create.jsx';
import { Action, Refusal } from './ui.jsx';

export function KeysPage({ me }) {
  const d = me.deployment;
  const [ownerText, setOwnerText] = useState('');
  const [owner, setOwner] = useState('');
  const [env, setEnv] = useState('');
  const [status, setStatus] = useState('any');
  const [keys, setKeys] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [creating, setCreating] = useState(false);
  const [generation, setGeneration] = useState(0);

  // Only the latest question's answer is shown: a filter changed while a page was on its
  // way makes that page's answer moot.
  const asked = useRef(0);
  async function page(next) {
    const n = ++asked.current;
    setLoading(true);
    try {
      const r = await api(`/v1/keys${query({ owner, env, status: status === 'any' ? '' : status, cursor: next, limit: 50 })}`);
      if (n !== asked.current) return;
      setKeys((old) => {
        if (!next) return r.keys;
        const seen = new Set(old.map((k) => k.id));
        return [...old, ...r.keys.filter((k) => !seen.has(k.id))];
      });
      setCursor(r.cursor ?? null);
      setError(null);
    } catch (e) {
      if (n !== asked.current) return;
      setError(e);
      if (!next) setKeys([]);
    } finally {
      if (n === asked.current) setLoading(false);
    }
  }
  // The owner filter is asked of the API once typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setOwner(ownerText.trim()), 300);
    return () => clearTimeout(t);
  }, [ownerText]);
  useEffect(() => { if (me.can.read_keys) page(null); }, [owner, env, status, generation]);

  return (
    <section aria-labelledby="keys-title">
      <div class="title">
        <h1 id="keys-title">Keys</h1>
        <Action id="create-key" allowed={me.can.create} why="Your key may not create keys (it needs keys:write, and no limits or credits of its own)." onClick={() => setCreating(true)}>
          Create key
        </Action>
      </div>
      {!me.can.read_keys && <p class="why" role="note">Your key does not hold <code>keys:read</code>: it cannot list keys.</p>}
      <form class="filters" role="search" aria-label="Filter keys" onSubmit={(e) => e.preventDefault()}>
        <label for="f-owner">Owner</label>
        <input id="f-owner" value={ownerText} onInput={(e) => setOwnerText(e.currentTarget.value)} placeholder="any" />
        <label for="f-env">Environment</label>
        <select id="f-env" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
          <option value="">any</option>
          {d.environments.map((e) => <option value={e}>{e}</option>)}
        </select>
        <label for="f-status">Status</label>
        <select id="f-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          {Object.entries(STATUS_FILTERS).map(([k, label]) => <option value={k}>{label}</option>)}
        </select>
      </form>
      <Refusal error={error} />
      <table class="keys">
        <caption>
          {keys.length} {keys.length === 1 ? 'key' : 'keys'}{cursor ? ' (more on the next page)' : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Hint</th>
            <th scope="col">Owner</th>
            <th scope="col">Env</th>
            <th scope="col">Scopes</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td><a href={`#/keys/${k.id}`}>{k.name}</a></td>
              <td><code>{k.hint}</code></td>
              <td>{k.owner}</td>
              <td>{k.env}</td>
              <td>{k.scopes.join(' ')}</td>
              <td>
                <span class={`status ${k.status}`}>{k.status}</span>
                {k.stale && <span class="flag">unused 90+ days</span>}
                {k.over_privileged && <span class="flag">broad scopes</span>}
              </td>
              <td>{time(k.created_at)}</td>
              <td>{time(k.expires_at)}</td>
              <td>{k.last_used_at ? time(k.last_used_at) : 'never'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor && (
        <button type="button" disabled={loading} onClick={() => page(cursor)}>Load the next page</button>
      )}
      {creating && (
        <CreateDialog
          me={me}
          onClose={(made) => {
            setCreating(false);
            if (made) setGeneration((g) => g + 1);
          }}
        />
      )}
    </section>
  );
}
