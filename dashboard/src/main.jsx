// keyward's operator dashboard: a Preact single-page app. Every value from the API is
// rendered as text by Preact (never as HTML); every action goes through the same HTTP
// API as the CLI, with the signed-in key.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { api, signedIn, signIn, signOut } from './api.js';
import { SignIn } from './signin.jsx';
import { KeysPage } from './keys.jsx';
import { KeyPage } from './key.jsx';
import { AlertsPage } from './alerts.jsx';
import { OverviewPage } from './overview.jsx';
import { WebhooksPage } from './webhooks.jsx';

/** The page named by the URL's fragment: `#/keys`, `#/keys/key_...`, `#/overview`,
 *  `#/alerts`, `#/webhooks`. */
function useRoute() {
  const read = () => (location.hash.replace(/^#/, '') || '/keys').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onHash = () => setRoute(read());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

function Who({ me }) {
  if (me.root) return <span>Signed in with the <strong>root key</strong></span>;
  return (
    <span>
      Signed in as <code>{me.hint}</code> ({me.owner}, {me.env})
    </span>
  );
}

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(signedIn());
  const [error, setError] = useState(null);
  const route = useRoute();

  async function load() {
    try {
      setMe(await api('/v1/me'));
      setError(null);
    } catch (e) {
      signOut();
      setMe(null);
      setError(e);
    } finally {
      setChecking(false);
    }
  }
  useEffect(() => { if (signedIn()) load(); }, []);

  if (checking) return <main id="main"><p role="status">Checking the key…</p></main>;
  if (!me) {
    return (
      <SignIn
        error={error}
        onKey={(k) => { signIn(k); setChecking(true); load(); }}
      />
    );
  }
  const [page, id] = route;
  let body;
  if (page === 'keys' && id) body = <KeyPage me={me} id={id} />;
  else if (page === 'alerts') body = <AlertsPage me={me} />;
  else if (page === 'overview') body = <OverviewPage me={me} />;
  else if (page === 'webhooks') body = <WebhooksPage me={me} />;
  else body = <KeysPage me={me} />;
  return (
    <>
      <header class="top">
        <span class="brand">keyward</span>
        <nav aria-label="Sections">
          <a href="#/keys" aria-current={!['overview', 'alerts', 'webhooks'].includes(page) ? 'page' : undefined}>Keys</a>
          <a href="#/overview" aria-current={page === 'overview' ? 'page' : undefined}>Overview</a>
          <a href="#/alerts" aria-current={page === 'alerts' ? 'page' : undefined}>Alerts</a>
          <a href="#/webhooks" aria-current={page === 'webhooks' ? 'page' : undefined}>Webhooks</a>
        </nav>
        <Who me={me} />
        <button type="button" onClick={() => { signOut(); setMe(null); location.hash = '#/keys'; }}>Sign out</button>
      </header>
      <main id="main">{body}</main>
    </>
  );
}

render(<App />, document.getElementById('app'));
