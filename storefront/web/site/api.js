// The storefront's only door to the services. URLs are relative on purpose: nginx,
// configured by a ConfigMap, decides which Service answers /api/ and /api/cart, so no
// service name ever appears in this file. And relative to the page (`api/...`, not
// `/api/...`), so the shop also works below a path prefix: JupyterLab's
// /user/<name>/proxy/<port>/ (jupyter-server-proxy) or the API server's
// /api/v1/namespaces/<ns>/services/ecommerce-frontend/proxy/ (kubectl proxy).

const tally = new Map(); // pod name -> {service, count}
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Subscribe to "a pod answered": fn(pod, service, tally). */
export function onServedBy(fn) {
  listeners.add(fn);
}

function record(pod, service) {
  const seen = tally.get(pod) || { service, count: 0 };
  seen.count += 1;
  tally.set(pod, seen);
  for (const fn of listeners) fn(pod, service, tally);
}

// Words a shopper understands, with the server's own reason when it gave one.
function describe(status, body) {
  const reason = body && typeof body.error === 'string' ? body.error : '';
  if (status >= 502 && status <= 504) {
    return 'The shop is temporarily unavailable (a service it needs is not answering). '
      + 'Please try again in a moment.' + (reason ? ` (${reason})` : '');
  }
  if (status === 409) return `Sorry, ${reason || 'not enough stock for an item in your cart'}.`;
  if (status === 413) return 'That request was too large.';
  if (status === 404) return reason || 'Not found.';
  if (status >= 400 && status < 500) return `That did not work: ${reason || `HTTP ${status}`}.`;
  return `Something went wrong on our side (HTTP ${status}). Please try again.`;
}

/** fetch() that records X-Served-By and turns every failure into an ApiError with words. */
export async function request(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'Cannot reach the shop. Check your connection and try again.', null);
  }
  const pod = res.headers.get('X-Served-By');
  if (pod) record(pod, path.startsWith('api/cart') ? 'cart' : 'backend');
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // an HTML error page from a proxy, for instance
  }
  if (!res.ok) throw new ApiError(res.status, describe(res.status, data), data);
  return { data, headers: res.headers, status: res.status };
}

function randomId(bytes = 16) {
  // crypto.randomUUID() exists only in secure contexts; a NodePort over plain http is not one.
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

let memorySession = null;
/** The cart's session id: random, kept in localStorage so the cart survives a reload. */
export function sessionId() {
  const key = 'storefront.session';
  let id = null;
  try { id = localStorage.getItem(key); } catch { id = memorySession; }
  if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    id = randomId();
    try { localStorage.setItem(key, id); } catch { memorySession = id; }
  }
  return id;
}

export { randomId };
