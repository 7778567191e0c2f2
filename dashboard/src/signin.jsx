import { useState } from 'preact/hooks';

/** Sign in by pasting a key; it is kept for this tab only (sessionStorage). */
export function SignIn({ onKey, error }) {
  const [key, setKey] = useState('');
  return (
    <main id="main" class="signin">
      <h1>keyward</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const k = key.trim();
          setKey('');
          if (k) onKey(k);
        }}
      >
        <label for="key">API key</label>
        <input
          id="key"
          name="key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          aria-describedby="key-help"
        />
        <p id="key-help" class="help">
          The root key, or a key holding <code>keys:read</code> or <code>audit:read</code>. It is
          kept for this tab only and sent as <code>Authorization: Bearer</code>; close the tab or
          sign out to forget it.
        </p>
        {error && <p class="error" role="alert">Not signed in: {error.message} (<code>{error.code}</code>)</p>}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
