// Small shared pieces: a modal dialog, a refusal, a disabled-with-a-reason button, a
// secret shown once.
import { useEffect, useRef, useState } from 'preact/hooks';

import { api } from './api.js';

/** A modal `<dialog>`: focus stays inside, Escape closes it. */
export function Dialog({ title, onClose, children, id = 'dialog' }) {
  const ref = useRef(null);
  const latest = useRef(onClose);
  latest.current = onClose;
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const closed = () => latest.current();
    d.addEventListener('close', closed);
    return () => d.removeEventListener('close', closed);
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={`${id}-title`} id={id}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </dialog>
  );
}

/** An API refusal, as text: its message and its stable code. */
export function Refusal({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message} (<code>{error.code}</code>)
    </p>
  );
}

/** A button that is shown disabled, with the reason, when the key may not use it. */
export function Action({ allowed, why, onClick, children, id }) {
  const hint = id ? `${id}-why` : undefined;
  return (
    <span class="action">
      <button type="button" id={id} disabled={!allowed} onClick={onClick} aria-describedby={!allowed ? hint : undefined}>
        {children}
      </button>
      {!allowed && <span id={hint} class="why">{why}</span>}
    </span>
  );
}

/** A secret shown this once (a new key, a webhook's signing secret): a warning, the
 *  value selected on focus, a copy button. It lives only in the caller's state, which
 *  forgets it when its dialog closes; it is never stored. */
export function ShownOnce({ id, label, value, warning, what, onDone }) {
  const [copied, setCopied] = useState(null);
  return (
    <div class="stack">
      <p class="warning" role="alert">{warning}</p>
      <label for={id}>{label}</label>
      <input id={id} readOnly value={value} class="secret" autocomplete="off" spellcheck={false} onFocus={(e) => e.currentTarget.select()} />
      <div class="buttons">
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(value);
              setCopied('Copied.');
            } catch {
              setCopied(`Copying is not allowed here: select the ${what} and copy it.`);
            }
          }}
        >
          Copy {what}
        </button>
        <button type="button" onClick={onDone}>I have stored it, close</button>
      </div>
      {copied && <p role="status">{copied}</p>}
    </div>
  );
}

/** A form's call to the API: `send(path, body)` posts it, hands the answer to `done`,
 *  and keeps the refusal (`error`) and whether it is on its way (`busy`). */
export function usePost(done) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function send(path, body) {
    setBusy(true);
    try {
      done(await api(path, { method: 'POST', body }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return { error, setError, busy, send };
}
