// Create, edit and delete dialogs. Every field is labelled with its API name, every
// problem+json error is shown beside the field it names, and every write can be
// shown (and copied) as the equivalent curl command and Terraform configuration.

import { h, clear, nextId, toast, copyText } from './dom.js';
import { api, all, ApiError } from './api.js';
import { KINDS, toBody, toValues, curlFor, tfResource, tfModule, tfName } from './kinds.js';
import { fleet } from './fleet.js';

export async function refOptions(ref) {
  if (ref === 'router') return fleet.routers.map((r) => [r, r === fleet.self ? `${r} (this router)` : r]);
  if (ref === 'iface') {
    const items = await all('/v1/interfaces');
    return items.map((i) => [i.name, `${i.name} (${i.state})`]);
  }
  const k = KINDS[ref];
  const items = await all(k.path);
  return items.map((o) => [o.id, `${k.label(o)} (${o.id})`]);
}

function fillSelect(sel, options, value, emptyLabel) {
  clear(sel);
  if (emptyLabel) sel.append(h('option', { value: '' }, emptyLabel));
  const seen = new Set();
  for (const [v, label] of options) {
    seen.add(v);
    sel.append(h('option', { value: v }, label));
  }
  if (value && !seen.has(value)) sel.append(h('option', { value }, value));
  sel.value = value || '';
}

// One block of the export panel: a title, the text, a copy button.
function exportBlock(title, key) {
  const pre = h('pre', { tabindex: '0', 'aria-label': title, dataset: { export: key } });
  const btn = h('button', { type: 'button', class: 'small', dataset: { copy: key }, onclick: () => copyText(pre.textContent, pre) }, `Copy ${key === 'curl' ? 'curl' : 'block'}`);
  return { el: h('div', { class: 'exp' }, h('div', { class: 'exp-head' }, h('h3', {}, title), btn), pre), pre };
}

// The "same call as curl and Terraform" panel; update({curl, resource, module}).
export function exportPanel(note) {
  const c = exportBlock('curl', 'curl');
  const r = exportBlock('Terraform: restapi_object', 'resource');
  const m = exportBlock('Terraform: vrouter module', 'module');
  // Open from the start where there is room beside the form: the UI teaches the API.
  const el = h('details', { class: 'export', open: matchMedia('(min-width: 1000px)').matches },
    h('summary', {}, 'Show as curl and Terraform'),
    h('p', { class: 'hint' }, 'Set ', h('code', {}, 'TOKEN=$(sudo cat /var/lib/vrouter/token)'), ' first. ', note || ''),
    c.el, r.el, m.el);
  return {
    el,
    update({ curl, resource, module }) {
      c.pre.textContent = curl;
      r.pre.textContent = resource;
      m.pre.textContent = module;
    },
  };
}

function dialogShell(title) {
  const titleId = nextId('dlg');
  const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'dlg' });
  const opener = document.activeElement;
  dlg.addEventListener('close', () => {
    dlg.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  dlg.append(h('h2', { id: titleId }, title));
  document.body.append(dlg);
  return dlg;
}

// Explain a refused write in words, beside the fields or above the form.
function showProblem(err, form, general, onReload) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.err')) { el.textContent = ''; el.hidden = true; }
  clear(general);
  general.hidden = true;
  if (!(err instanceof ApiError)) {
    general.append(h('p', {}, `The request did not reach the daemon: ${err.message}`));
    general.hidden = false;
    return;
  }
  let first = null;
  const loose = [];
  for (const e of err.errors) {
    const base = String(e.field || '').split(/[.[]/)[0];
    const input = base && form.elements.namedItem(base);
    const slot = input && form.querySelector(`#${input.id}-err`);
    if (input && slot && !input.closest('[hidden]')) {
      slot.textContent = e.message;
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    } else {
      loose.push(e.field ? `${e.field}: ${e.message}` : e.message);
    }
  }
  const head = `${err.status} ${err.problem.title || ''}`.trim();
  if (err.status === 409) {
    general.append(h('p', {}, h('strong', {}, head), ` — ${err.message}. The server refused it because it clashes with what exists now (a duplicate, or an object still in use). Nothing was changed.`));
  } else if (err.status === 412) {
    general.append(h('p', {}, h('strong', {}, head), ' — someone changed this object after you opened it (its ETag no longer matches). Nothing was changed. Reload to see the current version, then apply your edit again.'));
  } else if (!first || loose.length) {
    general.append(h('p', {}, h('strong', {}, head), ` — ${loose.length ? loose.join('; ') : err.message}`));
  }
  if ((err.status === 409 || err.status === 412) && onReload) {
    general.append(h('button', { type: 'button', onclick: onReload }, 'Reload'));
  }
  if (general.firstChild) general.hidden = false;
  (first || general).focus();
}

// Create (obj null) or edit an object. preset: initial values for a create.
export async function openEditor({ kind, obj, etag, preset, onDone }) {
  const k = KINDS[kind];
  const editing = Boolean(obj);
  const dlg = dialogShell(editing ? `Edit ${k.one} ${k.label(obj)}` : `New ${k.one}`);
  dlg.classList.add('wide');
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const form = h('form', { novalidate: true });
  let current = { obj, etag };
  const values = { ...toValues(kind, obj), ...(preset || {}) };
  const wrappers = {};
  const pending = [];

  for (const f of k.fields) {
    const id = nextId(`f-${f.name}`);
    const hintId = `${id}-hint`;
    const errId = `${id}-err`;
    let input;
    const common = { id, name: f.name, 'aria-describedby': `${hintId} ${errId}`, required: f.required || undefined };
    if (f.type === 'select') {
      input = h('select', common, f.options.map((o) => h('option', { value: o }, o)));
      input.value = values[f.name] || f.def || f.options[0];
    } else if (f.type === 'router') {
      input = h('select', common);
      fillSelect(input, await refOptions('router'), values[f.name] || fleet.self);
    } else if (f.type === 'ref') {
      input = h('select', common);
      fillSelect(input, [], values[f.name], f.optional);
      pending.push(refOptions(f.ref).then((opts) => fillSelect(input, opts, values[f.name], f.optional)).catch(() => {}));
    } else if (f.type === 'list') {
      input = h('textarea', { ...common, rows: '3', placeholder: f.placeholder, spellcheck: 'false' });
      input.value = values[f.name];
    } else {
      const listId = f.type === 'iface' ? `${id}-list` : undefined;
      input = h('input', {
        ...common, type: 'text', list: listId, placeholder: f.placeholder,
        inputmode: f.type === 'int' ? 'numeric' : undefined, autocomplete: 'off', spellcheck: 'false',
      });
      input.value = values[f.name];
      if (listId) {
        const dl = h('datalist', { id: listId });
        pending.push(refOptions('iface').then((opts) => { for (const [v] of opts) dl.append(h('option', { value: v })); }).catch(() => {}));
        input.after(dl);
        wrappers[`${f.name}-list`] = dl;
      }
    }
    const w = h('div', { class: 'field' },
      h('label', { for: id }, h('code', {}, f.name), f.required ? h('span', { class: 'req' }, ' required') : null),
      input,
      wrappers[`${f.name}-list`] || null,
      h('p', { class: 'hint', id: hintId }, f.hint),
      h('p', { class: 'err', id: errId, hidden: true }));
    wrappers[f.name] = w;
    form.append(w);
  }

  const readValues = () => {
    const v = {};
    for (const f of k.fields) v[f.name] = form.elements.namedItem(f.name).value;
    return v;
  };
  const exp = exportPanel(editing ? 'PUT replaces every writable field; fields left out go back to their defaults.' : '');
  const refresh = () => {
    const v = readValues();
    for (const f of k.fields) wrappers[f.name].hidden = Boolean(f.when && !f.when(v));
    const body = toBody(kind, v);
    const path = editing ? `${k.path}/${current.obj.id}` : k.path;
    exp.update({
      curl: curlFor(editing ? 'PUT' : 'POST', path, body, editing ? current.etag : undefined),
      resource: tfResource(kind, body, editing ? current.obj.id : undefined),
      module: tfModule(kind, body),
    });
    return body;
  };
  form.addEventListener('input', refresh);
  form.addEventListener('change', refresh);

  const submit = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save' : 'Create');
  const cancel = h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel');
  form.append(exp.el, h('div', { class: 'actions' }, submit, cancel));
  dlg.append(general, form);

  const reload = async () => {
    try {
      const r = await api('GET', `${k.path}/${current.obj.id}`);
      current = { obj: r.data, etag: r.etag };
      const v = toValues(kind, r.data);
      for (const f of k.fields) form.elements.namedItem(f.name).value = v[f.name];
      general.hidden = true;
      toast(`Reloaded ${k.one} ${r.data.id}`);
      refresh();
    } catch (e) {
      showProblem(e, form, general, null);
    }
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = refresh();
    submit.disabled = true;
    try {
      const r = editing
        ? await api('PUT', `${k.path}/${current.obj.id}`, body, { ifMatch: current.etag })
        : await api('POST', k.path, body);
      const st = r.data.status || {};
      toast(`${editing ? 'Saved' : 'Created'} ${k.one} ${r.data.id}: ${st.state}${st.reason ? ` (${st.reason})` : ''}`, st.state === 'failed' ? 'error' : 'info');
      dlg.close();
      if (onDone) onDone(r.data);
    } catch (e) {
      showProblem(e, form, general, editing ? reload : () => { dlg.close(); if (onDone) onDone(null); });
    } finally {
      submit.disabled = false;
    }
  });

  refresh();
  dlg.showModal();
  await Promise.all(pending);
  refresh();
}

// Confirm and delete one object (with If-Match on the version shown).
export async function openDelete({ kind, obj, onDone }) {
  const k = KINDS[kind];
  const dlg = dialogShell(`Delete ${k.one} ${k.label(obj)}?`);
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const form = h('form', {});
  let etag = null;
  try {
    etag = (await api('GET', `${k.path}/${obj.id}`)).etag;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      toast(`${k.one} ${obj.id} is already gone`);
      dlg.remove();
      if (onDone) onDone(null);
      return;
    }
  }
  const body = toBody(kind, toValues(kind, obj));
  const exp = exportPanel('In Terraform, deleting is removing the block (then terraform apply), or terraform destroy -target.');
  exp.update({
    curl: curlFor('DELETE', `${k.path}/${obj.id}`, undefined, etag),
    resource: `# remove this block, or: terraform destroy -target=restapi_object.${tfName(kind, body)}\n${tfResource(kind, body, obj.id)}`,
    module: `# remove this block, then terraform apply\n${tfModule(kind, body)}`,
  });
  const ok = h('button', { type: 'submit', class: 'danger' }, 'Delete');
  form.append(general,
    h('p', {}, 'This deletes ', h('code', {}, obj.id), ' from the desired state; vrouter then removes what it put in the kernel for it.'),
    exp.el,
    h('div', { class: 'actions' }, ok, h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
  dlg.append(form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    try {
      await api('DELETE', `${k.path}/${obj.id}`, undefined, { ifMatch: etag });
      toast(`Deleted ${k.one} ${obj.id}`);
      dlg.close();
      if (onDone) onDone(null);
    } catch (e) {
      showProblem(e, form, general, () => { dlg.close(); if (onDone) onDone(null); });
    } finally {
      ok.disabled = false;
    }
  });
  dlg.showModal();
}
