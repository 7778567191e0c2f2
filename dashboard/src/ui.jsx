// Small shared pieces: a modal dialog, a refusal, a disabled-with-a-reason button.
import { useEffect, useRef } from 'preact/hooks';

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
