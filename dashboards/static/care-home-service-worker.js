// The care-home form's service worker, served as /care-homes/service-worker.js (scope /care-homes/)
// by pf-care-homes and registered by care-home-form.js.
//
// One job: a care-home form opened or reloaded while the device is offline shows the last copy of
// that form this device saw (with its scripts and styles), instead of the browser's error page; the
// form's script then puts any update waiting on the device back into it and sends it when the
// connection returns. Everything else goes to the network as usual.
//
// - Only GET requests to this origin are touched; it never fetches anything from another host.
// - Network first: a fresh page is always preferred; a copy is kept of each form page that loaded
//   (under its address without the query, so `?saved=…` does not multiply copies).
// - A page that sends the person to sign in (signed out) drops the kept copy of that form.
// - Nothing is sent from here: submissions are the page script's (with their idempotency keys).

const CACHE = 'pf-care-home-v1';
const FORM_PATH = /^\/care-homes\/1-\d+$/;

self.addEventListener('install', (event) => {
  event.waitUntil(self.skipWaiting());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('pf-care-home-') && name !== CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

function kept(request) {
  const url = new URL(request.url);
  url.search = '';
  return url.toString();
}

async function fromNetworkElseCache(request, keepCopy) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (keepCopy) {
      const signedOut = response.type === 'opaqueredirect' || response.redirected
        || response.status === 401 || response.status === 403;
      if (signedOut) {
        await cache.delete(kept(request));
      } else if (response.ok) {
        await cache.put(kept(request), response.clone());
      }
    }
    return response;
  } catch (err) {
    const copy = await cache.match(kept(request));
    if (copy) {
      return copy;
    }
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === 'navigate' && FORM_PATH.test(url.pathname)) {
    event.respondWith(fromNetworkElseCache(request, true));
    return;
  }
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) {
          await cache.put(request, response.clone());
        }
        return response;
      } catch (err) {
        const copy = await cache.match(request);
        if (copy) {
          return copy;
        }
        throw err;
      }
    })());
  }
});
