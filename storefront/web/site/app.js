// The storefront: catalogue, cart, checkout, confirmation, and which pod answered.
// Views are chosen by the URL hash (#/?category=…, #/cart, #/order/ID) so nginx only
// ever serves files that exist, and every text from the API goes in as text, never HTML.
import { ApiError, onServedBy, randomId, request, sessionId } from './api.js';

const PAGE = 12;
const $ = (id) => document.getElementById(id);
const session = sessionId();
const cartPath = `api/cart/${encodeURIComponent(session)}`;
const state = { categories: null, catalog: { category: '', page: 0 }, products: new Map(),
  cart: { items: [], count: 0 }, checkoutKey: null, lastOrder: null, view: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (v !== false && v != null) node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children);
  return node;
}

const money = (cents) => `$${(cents / 100).toFixed(2)}`;
const price = (v) => `$${typeof v === 'number' ? v.toFixed(2) : v}`;
const productPrice = (p) => (Number.isInteger(p.price_cents) ? money(p.price_cents) : price(p.price));

function showError(err) {
  if (!(err instanceof ApiError)) console.error(err);
  const box = $('error');
  box.textContent = err instanceof ApiError ? err.message : 'Something went wrong in this page.';
  box.hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}
const notify = (text) => { $('notice').textContent = text; };

function setCart(cart) {
  state.cart = cart;
  $('cart-count').textContent = cart.count ?? cart.items.reduce((n, it) => n + it.quantity, 0);
}

async function product(id) {
  if (!state.products.has(id)) {
    try {
      state.products.set(id, (await request('GET', `api/products/${id}`)).data);
    } catch (e) {
      if (e.status !== 404) throw e;
      return { id, name: `Product #${id} (no longer sold)`, price_cents: 0 };
    }
  }
  return state.products.get(id);
}

// ---- catalogue -------------------------------------------------------------------------

function catalogHash(category, page) {
  const q = new URLSearchParams();
  if (category) q.set('category', category);
  if (page) q.set('page', page);
  return q.toString() ? `#/?${q}` : '#/';
}

function productCard(p) {
  state.products.set(p.id, p);
  const soldOut = p.stock <= 0;
  return el('li', { class: 'card', 'data-product-id': p.id },
    el('h2', { text: p.name }),
    el('p', { class: 'meta', text: p.category }),
    el('p', { class: 'desc', text: p.description || '' }),
    el('p', { class: 'price', text: productPrice(p) }),
    el('p', { class: soldOut ? 'stock out' : 'stock', text: soldOut ? 'Out of stock' : `${p.stock} in stock` }),
    el('button', { type: 'button', class: 'add', disabled: soldOut, onclick: (ev) => addToCart(p, ev.currentTarget) },
      'Add to cart', el('span', { class: 'sr-only', text: `: ${p.name}` })));
}

async function renderCatalog(category, page) {
  state.catalog = { category, page };
  if (!state.categories) {
    try {
      state.categories = (await request('GET', 'api/categories')).data;
    } catch (e) {
      showError(e);
    }
  }
  const chips = [{ name: '', label: 'All' }, ...(state.categories || []).map((c) => ({ name: c.name, label: `${c.name} (${c.count})` }))];
  $('categories').replaceChildren(...chips.map((c) => el('li', {},
    el('a', { href: catalogHash(c.name, 0), 'aria-current': c.name === category ? 'page' : false, text: c.label }))));
  $('catalog-title').textContent = category || 'All products';
  const q = new URLSearchParams({ limit: PAGE, offset: page * PAGE });
  if (category) q.set('category', category);
  const list = $('products');
  list.setAttribute('aria-busy', 'true');
  const { data, headers } = await request('GET', `api/products?${q}`);
  const total = parseInt(headers.get('X-Total-Count') ?? data.length, 10);
  const pages = Math.max(1, Math.ceil(total / PAGE));
  list.replaceChildren(...data.map(productCard));
  list.setAttribute('aria-busy', 'false');
  $('page-info').textContent = `Page ${page + 1} of ${pages} (${total} products)`;
  $('prev').disabled = page === 0;
  $('next').disabled = page + 1 >= pages;
}

async function addToCart(p, button) {
  clearError();
  button.disabled = true;
  try {
    const { data } = await request('POST', `${cartPath}/items`, { body: { product_id: p.id, quantity: 1 } });
    state.checkoutKey = null;
    setCart(data && Array.isArray(data.items) ? data : (await request('GET', cartPath)).data);
    notify(`Added ${p.name} to your cart.`);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = p.stock <= 0;
  }
}

// ---- cart and checkout -----------------------------------------------------------------

async function changeCart(method, productId, body) {
  clearError();
  try {
    await request(method, `${cartPath}/items/${productId}`, { body });
    state.checkoutKey = null;
  } catch (e) {
    showError(e);
  }
  await renderCart();
}

function cartRow(item, p) {
  const id = `qty-${item.product_id}`;
  const qty = el('input', { id, type: 'number', min: 0, max: 99, step: 1, value: item.quantity, inputmode: 'numeric' });
  qty.addEventListener('change', () => {
    const n = Number(qty.value);
    if (!Number.isInteger(n) || n < 0 || n > 99) {
      showError(new ApiError(400, 'Quantity must be a whole number from 0 to 99.'));
      qty.value = item.quantity;
      return;
    }
    changeCart('PUT', item.product_id, { quantity: n });
  });
  return el('tr', { 'data-product-id': item.product_id },
    el('th', { scope: 'row', text: p.name }),
    el('td', { text: productPrice(p) }),
    el('td', {}, el('label', { for: id, class: 'sr-only', text: `Quantity of ${p.name}` }), qty),
    el('td', { text: money((p.price_cents || 0) * item.quantity) }),
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => changeCart('DELETE', item.product_id) },
      'Remove', el('span', { class: 'sr-only', text: ` ${p.name}` }))));
}

async function renderCart() {
  const { data } = await request('GET', cartPath);
  setCart(data);
  const items = data.items;
  $('cart-empty').hidden = items.length > 0;
  $('cart-table').hidden = $('checkout').hidden = items.length === 0;
  const products = await Promise.all(items.map((it) => product(it.product_id)));
  $('cart-items').replaceChildren(...items.map((it, i) => cartRow(it, products[i])));
  const total = items.reduce((sum, it, i) => sum + (products[i].price_cents || 0) * it.quantity, 0);
  $('cart-total').textContent = money(total);
}

async function checkout(ev) {
  ev.preventDefault();
  clearError();
  const button = $('place-order');
  const customer = { name: $('name').value.trim(), email: $('email').value.trim() };
  // One key per checkout attempt, reused when the shopper retries after a 5xx or a lost
  // connection, so a retry can never place the order twice.
  state.checkoutKey ||= randomId();
  button.disabled = true;
  button.textContent = 'Placing order…';
  try {
    const { data } = await request('POST', 'api/orders', {
      body: { session_id: session, customer }, headers: { 'Idempotency-Key': state.checkoutKey } });
    state.checkoutKey = null;
    state.lastOrder = data;
    state.products.clear(); // stock changed
    setCart({ session_id: session, items: [], count: 0 });
    location.hash = `#/order/${encodeURIComponent(data.id)}`;
  } catch (e) {
    if (e.status >= 400 && e.status < 500) state.checkoutKey = null; // a definite answer
    const p = e.body && state.products.get(e.body.product_id);
    if (e.status === 409 && p && !e.message.includes(p.name)) e.message += ` (${p.name})`;
    showError(e);
  } finally {
    button.disabled = false;
    button.textContent = 'Place order';
  }
}

// ---- confirmation ----------------------------------------------------------------------

async function renderOrder(id) {
  const order = state.lastOrder && String(state.lastOrder.id) === id
    ? state.lastOrder
    : (await request('GET', `api/orders/${encodeURIComponent(id)}`)).data;
  const when = order.created_at ? `, placed ${new Date(order.created_at).toLocaleString()}` : '';
  $('order-summary').textContent = `Order #${order.id} is ${order.status}${when}. Thank you!`;
  $('order-items').replaceChildren(...(order.items || []).map((it) =>
    el('li', { text: `${it.quantity} × ${it.name} at ${price(it.unit_price)}` })));
  $('order-total').textContent = order.total != null ? price(order.total) : money(order.total_cents);
  $('order-pod').textContent = order.pod || 'unknown';
}

// ---- which pod answered ----------------------------------------------------------------

onServedBy((pod, service, tally) => {
  $('served-by').textContent = `${pod} (${service})`;
  const per = { backend: 0, cart: 0 };
  for (const s of tally.values()) per[s.service] += 1;
  $('pod-count').textContent = `${tally.size} (${per.backend} backend, ${per.cart} cart)`;
  $('pod-tally').replaceChildren(...[...tally].map(([name, s]) => el('li', {},
    el('code', { text: name }), ` ${s.service}: ${s.count} response${s.count === 1 ? '' : 's'}`)));
});

// ---- routing ---------------------------------------------------------------------------

async function route() {
  clearError();
  notify('');
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  let name = 'catalog';
  let render = () => renderCatalog(params.get('category') || '', Math.max(0, parseInt(params.get('page'), 10) || 0));
  if (parts[0] === 'cart') [name, render] = ['cart', renderCart];
  else if (parts[0] === 'order' && parts[1]) [name, render] = ['order', () => renderOrder(parts[1])];
  for (const v of ['catalog', 'cart', 'order']) $(`view-${v}`).hidden = v !== name;
  const moved = state.view !== null && state.view !== name;
  state.view = name;
  try {
    await render();
  } catch (e) {
    showError(e);
  }
  if (moved) document.querySelector(`#view-${name} h1`).focus();
}

$('prev').addEventListener('click', () => { location.hash = catalogHash(state.catalog.category, state.catalog.page - 1); });
$('next').addEventListener('click', () => { location.hash = catalogHash(state.catalog.category, state.catalog.page + 1); });
$('checkout').addEventListener('submit', checkout);
window.addEventListener('hashchange', route);
request('GET', cartPath).then(({ data }) => setCart(data), () => {}); // the badge; errors show on the cart view
route();
