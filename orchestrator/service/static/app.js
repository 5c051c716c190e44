// The voicecast web page: a small client of the HTTP API (no build step, no library).
//
// Every request carries the key as `Authorization: Bearer`. That is why the
// page reads the job event stream with fetch() and parses it itself
// (EventSource cannot send a header), and why outputs are fetched with the
// header into a Blob (or, where the server answers with a signed URL, used
// from that URL) before an <audio> element or a download link can use them.
// All text that comes from the server or the user is set as text nodes
// (textContent), never parsed as HTML.
'use strict';

(() => {
  const KEY_ITEM = 'voicecast.key';
  const FINAL = new Set(['done', 'failed', 'cancelled']);
  // A browser opens about six HTTP/1.1 connections per host: leave room for the
  // page's other requests. Unfinished jobs past this many are polled instead.
  const MAX_STREAMS = 3;
  const POLL_MS = 3000;
  const PAGE = 20;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    key: '',
    jobs: new Map(),      // id -> the job as last seen
    rows: new Map(),      // id -> its <tr>
    cells: new WeakMap(), // <tr> -> its cells by name
    streams: new Map(),   // id -> AbortController of its event stream
    cursor: null,
    pollTimer: null,
    selected: null,       // the job shown in the detail section
    loadedFor: null,      // the job whose output and report are shown
    objectUrls: [],       // blob: URLs to revoke when the detail changes
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ DOM helpers

  // An element with attributes and children; strings become text nodes.
  function h(tag, attrs, ...kids) {
    return build(document.createElement(tag), attrs, kids);
  }

  function svg(tag, attrs, ...kids) {
    return build(document.createElementNS(SVG_NS, tag), attrs, kids);
  }

  function build(el, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  // Replace an element's children, leaving out null/undefined/false ones
  // (replaceChildren itself would write them as text).
  function fill(el, ...kids) {
    el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  }

  function setText(el, text) {
    el.textContent = text == null ? '' : String(text);
  }

  function say(id, text, isError) {
    const el = $(id);
    setText(el, text);
    el.classList.toggle('error', Boolean(isError));
  }

  // ------------------------------------------------------------------ formatting

  function clock(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    const hh = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
  }

  function span(seconds) {
    const s = Math.round(Number(seconds) || 0);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function num(x, digits) {
    return x == null ? '—' : Number(x).toFixed(digits);
  }

  function outputLabel(kind) {
    let m = /^chapter_mp3:(\d+)$/.exec(kind);
    if (m) return `Chapter ${m[1]} (MP3)`;
    m = /^chapter_master:(\d+)$/.exec(kind);
    if (m) return `Chapter ${m[1]} master (FLAC)`;
    return kind === 'output' ? 'The output' : kind;
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message || `HTTP ${status}`);
      this.status = status;
      this.code = body.code || '';
      this.field = body.field || null;
    }
  }

  function describe(e) {
    if (e instanceof ApiError) {
      return `${e.message}${e.field ? ` (field: ${e.field})` : ''} [HTTP ${e.status}]`;
    }
    return (e && e.message) || String(e);
  }

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}), Authorization: `Bearer ${state.key}` };
    const r = await fetch(path, { ...options, headers, cache: 'no-store' });
    if (!r.ok) {
      let body = { message: r.statusText || `HTTP ${r.status}` };
      try {
        const j = await r.json();
        if (j && j.error) body = j.error;
      } catch (_) { /* not JSON: keep the status text */ }
      const err = new ApiError(r.status, body);
      if (r.status === 401) refused(err);
      throw err;
    }
    return r;
  }

  async function apiJson(path, options) {
    return (await api(path, options)).json();
  }

  // ------------------------------------------------------------------ the key

  function refused(err) {
    stopAll();
    sessionStorage.removeItem(KEY_ITEM);
    $('app').hidden = true;
    say('key-status', `The key was refused: ${err.message}`, true);
  }

  function stopAll() {
    for (const ctl of state.streams.values()) ctl.abort();
    state.streams.clear();
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  async function useKey(key) {
    // Another key may be another tenant: nothing of the last one stays on the page.
    resetView();
    state.key = key;
    say('key-status', 'Checking the key…');
    try {
      await Promise.all([loadVoices(), loadLanguages()]);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) say('key-status', describe(e), true);
      return;
    }
    sessionStorage.setItem(KEY_ITEM, key);
    say('key-status', 'Key accepted.');
    $('app').hidden = false;
    await refreshJobs();
  }

  function resetView() {
    stopAll();
    state.jobs.clear();
    state.rows.clear();
    state.cursor = null;
    fill($('job-rows'));
    fill($('voice-list'));
    clearDetail();
    $('job-detail').hidden = true;
    state.selected = null;
    $('app').hidden = true;
    for (const id of ['job-form-status', 'jobs-status', 'voices-status', 'voice-form-status']) say(id, '');
  }

  function forgetKey() {
    resetView();
    sessionStorage.removeItem(KEY_ITEM);
    state.key = '';
    $('api-key').value = '';
    say('key-status', 'The key is forgotten.');
    $('api-key').focus();
  }

  // ------------------------------------------------------------------ voices

  async function loadLanguages() {
    const data = await apiJson('/v1/languages');
    const select = $('job-lang');
    const previous = select.value;
    fill(select, h('option', { value: '' }, 'From the input, else English'),
      ...(data.languages || []).map((l) => h('option', { value: l.tag }, `${l.name} (${l.tag})`)));
    select.value = (data.languages || []).some((l) => l.tag === previous) ? previous : '';
  }

  async function loadVoices() {
    const data = await apiJson('/v1/voices');
    const mine = data.voices || [];
    fillVoiceSelect(mine, data.builtin || []);
    renderVoices(mine);
  }

  function fillVoiceSelect(mine, builtin) {
    const select = $('job-voice');
    const previous = select.value;
    const groups = [];
    if (mine.length) {
      groups.push(h('optgroup', { label: 'Your voices' },
        mine.map((v) => h('option', { value: v.name }, v.name))));
    }
    if (builtin.length) {
      groups.push(h('optgroup', { label: 'Built-in voices' },
        builtin.map((name) => h('option', { value: name }, name))));
    }
    fill(select, h('option', { value: '' }, 'None: clone the reference clip'), ...groups);
    const names = [...mine.map((v) => v.name), ...builtin];
    if (names.includes(previous) || (previous === '' && select.dataset.chosen)) select.value = previous;
    else select.value = names[0] || '';
  }

  function renderVoices(mine) {
    const list = $('voice-list');
    fill(list, ...mine.map(voiceItem));
    $('no-voices').hidden = mine.length > 0;
  }

  function voiceItem(v) {
    const facts = h('dl', { class: 'facts' },
      fact('Version', v.version),
      fact('Engine', v.engine),
      fact('Enrolled', when(v.enrolled_at || v.created_at)),
      fact('Method', v.method),
      v.similarity != null ? fact('Similarity', num(v.similarity, 3)) : null,
      v.speech_s != null ? fact('Speech in the clips', `${num(v.speech_s, 1)} s`) : null,
      fact('Consent', v.consent),
      v.consent_at ? fact('Consent recorded', when(v.consent_at)) : null);
    const history = h('div', { class: 'history' });
    const details = h('details', {},
      h('summary', {}, 'Consent record and history'), history);
    details.addEventListener('toggle', () => {
      if (details.open && !history.dataset.loaded) loadHistory(v.name, history);
    });
    const remove = h('button', {
      type: 'button',
      class: 'danger',
      onclick: () => deleteVoice(v.name),
    }, 'Delete ', h('span', { class: 'visually-hidden' }, `the voice ${v.name}`));
    return h('li', { class: 'voice', 'data-voice': v.name },
      h('h3', {}, v.name), facts, details, h('p', {}, remove));
  }

  function fact(term, value) {
    return [h('dt', {}, term), h('dd', {}, value == null || value === '' ? '—' : value)];
  }

  async function loadHistory(name, box) {
    setText(box, 'Loading…');
    try {
      const v = await apiJson(`/v1/voices/${encodeURIComponent(name)}`);
      const events = v.history || [];
      box.dataset.loaded = '1';
      if (!events.length) {
        setText(box, 'No events recorded.');
        return;
      }
      fill(box, h('ol', { class: 'history-list' }, events.map((ev) => h('li', {},
        h('strong', {}, ev.event || 'event'),
        ev.version != null ? ` (version ${ev.version})` : '',
        ` — ${when(ev.at)}`,
        ev.actor ? ` — by ${ev.actor}` : '',
        ev.consent ? h('blockquote', {}, ev.consent) : null,
        ev.reference_sha256 ? h('p', { class: 'hint' }, `Reference SHA-256: ${ev.reference_sha256}`) : null))));
    } catch (e) {
      setText(box, describe(e));
    }
  }

  async function deleteVoice(name) {
    if (!window.confirm(`Delete the voice “${name}”? Jobs can no longer use it.`)) return;
    say('voices-status', `Deleting ${name}…`);
    try {
      await apiJson(`/v1/voices/${encodeURIComponent(name)}`, { method: 'DELETE' });
      say('voices-status', `The voice ${name} is deleted.`);
      await loadVoices();
    } catch (e) {
      say('voices-status', describe(e), true);
    }
  }

  async function addVoice(event) {
    event.preventDefault();
    const form = $('voice-form');
    const name = $('voice-name').value.trim();
    const fd = new FormData();
    fd.append('name', name);
    fd.append('consent', $('voice-consent').value);
    for (const f of $('voice-clips').files) fd.append('clips', f, f.name);
    const button = $('voice-submit');
    button.disabled = true;
    say('voice-form-status', `Adding ${name}: checking and enrolling the clips (this can take a minute)…`);
    try {
      const v = await apiJson('/v1/voices', { method: 'POST', body: fd });
      form.reset();
      say('voice-form-status', `The voice ${v.name} is added (version ${v.version}).`);
      await loadVoices();
    } catch (e) {
      say('voice-form-status', describe(e), true);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ submitting

  async function submitJob(event) {
    event.preventDefault();
    const input = $('job-input').files[0];
    if (!input) return;
    const reference = $('job-reference').files[0];
    const options = {};
    const voice = $('job-voice').value;
    if (voice) options.voice = voice;
    for (const [id, name] of [['job-mode', 'mode'], ['job-format', 'format'], ['job-emotion', 'emotion']]) {
      const value = $(id).value;
      if (value) options[name] = value;
    }
    const priority = parseInt($('job-priority').value, 10);
    if (priority) options.priority = priority;
    if ($('job-unmapped').checked) options.unmapped = 'narrator';
    const lang = $('job-lang').value;
    if (lang) options.lang = [lang];
    // A video or audio input is dubbed from an uploaded subtitle file, else its stream in
    // the chosen language (English by default).
    const subs = $('job-subs').files[0];
    const media = /\.(mp4|m4v|mov|mkv|webm|avi|ts|mts|m2ts|mp3|m4a|wav|flac|ogg|opus|oga|aac|mka)$/i.test(input.name);
    if (media) {
      options.subs = [subs ? subs.name : `stream:${lang || 'eng'}`];
      if ($('job-mix').value) options.mix = $('job-mix').value;
    }
    const fd = new FormData();
    fd.append('input', input, input.name);
    if (reference) fd.append('reference', reference, reference.name);
    if (media && subs) fd.append('subs', subs, subs.name);
    fd.append('options', JSON.stringify(options));
    const button = $('job-submit');
    button.disabled = true;
    say('job-form-status', `Uploading ${input.name}…`);
    try {
      const accepted = await apiJson('/v1/jobs', { method: 'POST', body: fd });
      say('job-form-status', `Job ${accepted.id} accepted (${input.name}); its progress is in the list below.`);
      // The options stay for the next job; the files do not.
      $('job-input').value = '';
      $('job-reference').value = '';
      $('job-subs').value = '';
      state.selected = accepted.id;
      await refreshJobs();
    } catch (e) {
      say('job-form-status', describe(e), true);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ the job list

  async function refreshJobs(more) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    const status = $('status-filter').value;
    if (status) params.set('status', status);
    if (more && state.cursor) params.set('cursor', state.cursor);
    say('jobs-status', 'Loading the jobs…');
    let data;
    try {
      data = await apiJson(`/v1/jobs?${params}`);
    } catch (e) {
      say('jobs-status', describe(e), true);
      return;
    }
    say('jobs-status', '');
    if (!more) {
      const keep = new Set(data.jobs.map((j) => j.id));
      for (const [id, ctl] of state.streams) {
        if (!keep.has(id)) {
          ctl.abort();
          state.streams.delete(id);
        }
      }
      state.jobs.clear();
      state.rows.clear();
      fill($('job-rows'));
    }
    for (const job of data.jobs) {
      $('job-rows').append(rowFor(job.id));
      updateJob(job);
    }
    state.cursor = data.next_cursor;
    $('more-jobs').hidden = !data.next_cursor;
    $('no-jobs').hidden = state.jobs.size > 0;
    if (state.selected && state.jobs.has(state.selected)) showDetail(state.jobs.get(state.selected));
    ensureStreams();
  }

  function rowFor(id) {
    let tr = state.rows.get(id);
    if (tr) return tr;
    const cells = {
      input: h('th', { scope: 'row', class: 'job-input' }),
      kind: h('td', { class: 'job-kind' }),
      status: h('td', { class: 'job-status' }),
      progress: h('td', { class: 'job-progress' }),
      eta: h('td', { class: 'job-eta' }),
      notes: h('td', { class: 'job-notes' }),
      created: h('td', { class: 'job-created' }),
      actions: h('td', { class: 'job-actions' }),
    };
    tr = h('tr', { 'data-job-id': id }, Object.values(cells));
    state.cells.set(tr, cells);
    state.rows.set(id, tr);
    return tr;
  }

  function updateJob(job) {
    const before = state.jobs.get(job.id);
    state.jobs.set(job.id, job);
    const tr = state.rows.get(job.id);
    if (tr) renderRow(tr, job);
    if (state.selected === job.id) showDetail(job);
    if (before && !FINAL.has(before.status) && FINAL.has(job.status)) {
      say('jobs-status', `Job ${job.input_name} is ${job.status}.`);
    }
  }

  function renderRow(tr, job) {
    const c = state.cells.get(tr);
    const p = job.progress;
    const final = FINAL.has(job.status);
    tr.dataset.status = job.status;
    tr.classList.toggle('selected', state.selected === job.id);
    if (state.selected === job.id) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
    fill(c.input, h('span', { class: 'name' }, job.input_name),
      h('span', { class: 'job-id' }, job.id.slice(0, 8)));
    setText(c.kind, job.kind);
    fill(c.status, h('span', { class: `status status-${job.status}` }, job.status));
    const label = `${p.done} / ${p.total}`;
    fill(c.progress,
      h('progress', { max: Math.max(p.total, 1), value: p.total ? p.done : 0, 'aria-label': `${label} segments` }),
      h('span', { class: 'count' }, label),
      p.failed ? h('span', { class: 'error' }, ` (${p.failed} failed)`) : null);
    setText(c.eta, final ? '' : (p.eta_s == null ? '—' : span(p.eta_s)));
    const notes = [];
    if (job.error) notes.push(h('span', { class: 'error' }, job.error));
    if (job.warnings.length) {
      notes.push(h('span', { class: 'warning' },
        `${job.warnings.length} warning${job.warnings.length > 1 ? 's' : ''}`));
    }
    if (job.fit && job.fit.overflows) notes.push(h('span', { class: 'warning' }, `${job.fit.overflows} overflow(s)`));
    fill(c.notes, ...notes.flatMap((n, i) => (i ? [' ', n] : [n])));
    setText(c.created, when(job.created_at));
    const named = ` ${job.input_name} (${job.id.slice(0, 8)})`;
    fill(c.actions,
      h('button', { type: 'button', class: 'details', onclick: () => selectJob(job.id, true) },
        'Details', h('span', { class: 'visually-hidden' }, ` of${named}`)),
      final ? null : h('button', { type: 'button', class: 'cancel danger', onclick: () => cancelJob(job.id) },
        'Cancel', h('span', { class: 'visually-hidden' }, named)));
  }

  async function cancelJob(id) {
    const job = state.jobs.get(id);
    if (!window.confirm(`Cancel the job ${job ? job.input_name : id}? A cancelled job cannot be resumed.`)) return;
    try {
      updateJob(await apiJson(`/v1/jobs/${id}/cancel`, { method: 'POST' }));
    } catch (e) {
      say('jobs-status', describe(e), true);
    }
  }

  // ------------------------------------------------------------------ live progress

  function ensureStreams() {
    for (const job of state.jobs.values()) {
      if (state.streams.size >= MAX_STREAMS) break;
      if (!FINAL.has(job.status) && !state.streams.has(job.id)) openStream(job.id);
    }
    schedulePoll();
  }

  // Unfinished jobs without a stream are polled.
  function schedulePoll() {
    const waiting = [...state.jobs.values()].some((j) => !FINAL.has(j.status) && !state.streams.has(j.id));
    if (!waiting || state.pollTimer) return;
    state.pollTimer = setTimeout(async () => {
      state.pollTimer = null;
      const ids = [...state.jobs.values()]
        .filter((j) => !FINAL.has(j.status) && !state.streams.has(j.id)).map((j) => j.id);
      for (const id of ids) {
        try {
          updateJob(await apiJson(`/v1/jobs/${id}`));
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return;
        }
      }
      if (state.key) ensureStreams();
    }, POLL_MS);
  }

  async function openStream(id) {
    const ctl = new AbortController();
    state.streams.set(id, ctl);
    try {
      const r = await api(`/v1/jobs/${id}/events`, {
        signal: ctl.signal, headers: { Accept: 'text/event-stream' },
      });
      await readEvents(r.body, (type, data) => {
        if (type === 'status') {
          updateJob(JSON.parse(data));
        } else if (type === 'progress') {
          const job = state.jobs.get(id);
          if (job) updateJob({ ...job, progress: JSON.parse(data) });
        }
      });
    } catch (e) {
      if (ctl.signal.aborted) return;
    } finally {
      if (state.streams.get(id) === ctl) state.streams.delete(id);
    }
    if (ctl.signal.aborted) return;
    // The stream ended: at a final state as it should, or cut short (then the
    // job is polled, and streamed again once a stream is free).
    const job = state.jobs.get(id);
    if (job && !FINAL.has(job.status)) schedulePoll();
    else ensureStreams();
  }

  // Server-sent events, parsed as the HTML standard says: lines end in CR,
  // LF or CRLF; a blank line dispatches; `:` starts a comment.
  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = '';
    let data = [];
    const line = (text) => {
      if (text === '') {
        if (data.length) onEvent(type || 'message', data.join('\n'));
        type = '';
        data = [];
        return;
      }
      if (text.startsWith(':')) return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let m;
      // Keep a trailing CR: its LF may come in the next chunk.
      while ((m = /\r\n|\n|\r(?=[^\n])/.exec(buffer))) {
        line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
    }
    if (buffer.replace(/\r$/, '')) line(buffer.replace(/\r$/, ''));
    line('');
  }

  // ------------------------------------------------------------------ the detail

  function selectJob(id, focus) {
    state.selected = id;
    for (const [rid, tr] of state.rows) {
      tr.classList.toggle('selected', rid === id);
      if (rid === id) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
    const job = state.jobs.get(id);
    if (job) showDetail(job);
    if (focus) $('detail-heading').focus();
  }

  function clearDetail() {
    for (const url of state.objectUrls) URL.revokeObjectURL(url);
    state.objectUrls = [];
    state.loadedFor = null;
    const player = $('player');
    player.pause();
    player.removeAttribute('src');
    player.load();
    $('download').setAttribute('href', '#');
    fill($('other-outputs'));
    $('output-player').hidden = true;
    $('report').hidden = true;
    fill($('timeline-wrap'));
    fill($('report-table'));
    $('report-table-details').open = false;
    $('report-csv-link').hidden = true;
    $('report-csv').hidden = false;
    say('output-status', '');
    say('report-status', '');
  }

  function showDetail(job) {
    const section = $('job-detail');
    section.hidden = false;
    section.dataset.jobId = job.id;
    section.dataset.status = job.status;
    setText($('detail-name'), job.input_name);
    const p = job.progress;
    const fit = job.fit || {};
    fill($('detail-facts'),
      ...fact('Id', job.id),
      ...fact('Kind', job.kind),
      ...fact('Status', job.status),
      ...fact('Segments', `${p.done} of ${p.total} done${p.failed ? `, ${p.failed} failed` : ''}`
        + `${p.reused ? `, ${p.reused} reused` : ''}`),
      ...fact('Audio', p.audio_s_total ? `${clock(p.audio_s_done)} of ${clock(p.audio_s_total)}`
        : clock(p.audio_s_done)),
      ...(FINAL.has(job.status) ? [] : fact('ETA', p.eta_s == null ? '—' : span(p.eta_s))),
      ...fact('Priority', job.priority),
      ...fact('Created', when(job.created_at)),
      ...fact('Finished', when(job.finished_at)),
      ...fact('Fit', `${fit.overflows || 0} overflow(s); largest stretch ${num(fit.max_stretch, 3)}; `
        + `largest overflow ${num(fit.max_overflow_s, 2)} s`));
    const err = $('detail-error');
    err.hidden = !job.error;
    setText(err, job.error ? `Error: ${job.error}` : '');
    $('detail-warnings').hidden = !job.warnings.length;
    fill($('detail-warning-list'), ...job.warnings.map((w) => h('li', {}, w)));

    if (state.loadedFor && state.loadedFor !== job.id) clearDetail();
    if (job.status === 'done') {
      if (state.loadedFor !== job.id) loadResults(job);
    } else {
      say('output-status', job.status === 'failed' || job.status === 'cancelled'
        ? `The job is ${job.status}: it has no output.` : 'The output comes when the job is done.');
      say('report-status', job.status === 'failed' || job.status === 'cancelled'
        ? 'No fit report.' : 'The fit report comes when the job is done.');
    }
  }

  async function loadResults(job) {
    state.loadedFor = job.id;
    const ok = await Promise.all([loadOutput(job), loadReport(job)]);
    // After a failure, the next look at this job (a refresh, its Details button) tries again.
    if (ok.includes(false) && state.loadedFor === job.id) state.loadedFor = null;
  }

  // An output as a URL the page can use: a signed URL where the server gives
  // one (asked for with `Accept: application/json`), else the bytes fetched
  // with the key into a blob: URL.
  async function fetchMedia(url, fallbackName) {
    const r = await api(url, { headers: { Accept: 'application/json, audio/*;q=0.9, */*;q=0.8' } });
    const type = r.headers.get('Content-Type') || '';
    if (type.startsWith('application/json')) {
      const link = await r.json();
      return { src: link.url, name: link.filename || fallbackName, direct: true };
    }
    const blob = await r.blob();
    const src = URL.createObjectURL(blob);
    state.objectUrls.push(src);
    const disposition = r.headers.get('Content-Disposition') || '';
    const m = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(disposition);
    let name = fallbackName;
    if (m && m[1]) {
      try {
        name = decodeURIComponent(m[1]);
      } catch (_) { /* a malformed escape: keep the fallback */ }
    } else if (m) {
      name = m[2];
    }
    return { src, name, direct: false };
  }

  // A download link to what fetchMedia got. A signed URL is on another
  // origin, where `download` is ignored: it opens in a new tab instead.
  function linkTo(link, got) {
    link.href = got.src;
    link.setAttribute('download', got.name);
    if (got.direct) {
      link.target = '_blank';
      link.rel = 'noopener';
    } else {
      link.removeAttribute('target');
      link.removeAttribute('rel');
    }
    return link;
  }

  async function loadOutput(job) {
    const id = job.id;
    const main = job.outputs.find((o) => o.kind === 'output');
    if (!main) {
      say('output-status', 'The job lists no output.');
      return true;
    }
    say('output-status', 'Loading the output…');
    const stem = job.input_name.replace(/\.[^.]*$/, '') || 'output';
    try {
      const got = await fetchMedia(main.url, stem);
      if (state.loadedFor !== id) return true;
      const player = $('player');
      player.src = got.src;
      const link = $('download');
      linkTo(link, got);
      fill(link, `Download ${got.name}`,
        main.size_bytes ? ` (${(main.size_bytes / 1e6).toFixed(1)} MB)` : '');
      fill($('other-outputs'), ...job.outputs.filter((o) => o.kind !== 'output')
        .map((o) => otherOutput(o, stem)));
      $('output-player').hidden = false;
      say('output-status', '');
      return true;
    } catch (e) {
      if (state.loadedFor === id) say('output-status', describe(e), true);
      return false;
    }
  }

  // Further deliverables (a book's chapters) are fetched on request.
  function otherOutput(o, stem) {
    const item = h('li', {});
    const label = outputLabel(o.kind);
    const button = h('button', { type: 'button' }, `Get ${label}`);
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const got = await fetchMedia(o.url, `${stem}-${o.kind.replace(/[^a-z0-9]+/gi, '-')}`);
        const link = linkTo(h('a', {}, `Download ${label}: ${got.name}`), got);
        fill(item, link);
        link.focus();
      } catch (e) {
        button.disabled = false;
        item.append(h('span', { class: 'error' }, ` ${describe(e)}`));
      }
    });
    item.append(button);
    return item;
  }

  async function loadReport(job) {
    const id = job.id;
    say('report-status', 'Loading the fit report…');
    try {
      const report = await apiJson(`/v1/jobs/${id}/report`, { headers: { Accept: 'application/json' } });
      if (state.loadedFor !== id) return true;
      const marks = layout(report);
      const overflows = marks.filter((m) => m.overflow).length;
      const borrowed = marks.filter((m) => m.borrowed > 0).length;
      setText($('report-summary'), `${marks.length} line${marks.length === 1 ? '' : 's'} over `
        + `${clock(report.duration_s || 0)}: ${overflows} overflow${overflows === 1 ? '' : 's'}, `
        + `${borrowed} borrowed gap${borrowed === 1 ? '' : 's'}.`
        + (marks.book ? ' A book has no slots: each line is drawn where it is read (from the lengths and'
          + ' pauses; approximate).' : ''));
      fill($('timeline-wrap'), timeline(marks, report.duration_s, Number(report.frame_ms) || 0));
      fill($('report-table'));
      const details = $('report-table-details');
      const tableOnOpen = () => {
        if (details.open && !$('report-table').firstChild) fillTable(marks);
      };
      details.ontoggle = tableOnOpen;
      tableOnOpen();
      $('report-csv').onclick = () => getCsv(id);
      $('report').hidden = false;
      say('report-status', '');
      return true;
    } catch (e) {
      if (state.loadedFor === id) say('report-status', describe(e), true);
      return false;
    }
  }

  async function getCsv(id) {
    try {
      const r = await api(`/v1/jobs/${id}/report`, { headers: { Accept: 'text/csv' } });
      const url = URL.createObjectURL(await r.blob());
      state.objectUrls.push(url);
      const link = $('report-csv-link');
      link.href = url;
      link.setAttribute('download', `fit-report-${id.slice(0, 8)}.csv`);
      link.hidden = false;
      $('report-csv').hidden = true;
      link.focus();
    } catch (e) {
      say('report-status', describe(e), true);
    }
  }

  // ------------------------------------------------------------------ the timeline

  // One mark per report row. A dub's row has its slot (start_s..end_s) and
  // where its speech was placed; a book's rows have no slot, so they are laid
  // end to end from each chapter's start (speech, then the pause after it).
  function layout(report) {
    const rows = report.segments || [];
    const book = rows.length > 0 && rows.every((r) => !(r.end_s > r.start_s));
    const marks = [];
    if (!book) {
      for (const r of rows) {
        const start = Number(r.start_s) || 0;
        const placedStart = r.placed_start_s != null ? Number(r.placed_start_s) : start;
        const placedEnd = r.placed_end_s != null ? Number(r.placed_end_s) : placedStart + (Number(r.final_s) || 0);
        marks.push(markOf(r, { slot: [start, Number(r.end_s) || start], placed: [placedStart, placedEnd] }));
      }
    } else {
      const starts = new Map((report.chapters || []).map((c) => [
        Number(c.index) + 1, Number(c.marker_s != null ? c.marker_s : c.start_s) || 0]));
      let t = 0;
      let chapter = null;
      for (const r of rows) {
        if (r.chapter !== chapter) {
          chapter = r.chapter;
          if (starts.has(chapter)) t = Math.max(t, starts.get(chapter));
        }
        const len = Number(r.final_s) || 0;
        marks.push(markOf(r, { slot: null, placed: [t, t + len] }));
        t += len + (Number(r.pause_after_s) || 0);
      }
    }
    marks.book = book;
    return marks;
  }

  function markOf(r, where) {
    return {
      ...where,
      n: r.segment != null ? r.segment : null,
      text: r.text || '',
      speaker: r.speaker || null,
      overflow: Boolean(r.overflow),
      overflowS: Number(r.overflow_s) || 0,
      borrowed: Number(r.borrowed_s) || 0,
      stretch: r.stretch,
      row: r,
    };
  }

  function niceStep(total, most) {
    const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000];
    return steps.find((s) => total / s <= most) || steps[steps.length - 1];
  }

  // frameMs: a video's frame length; its grid is drawn where frames are at least
  // 2 px apart (a short clip), and each line's errors are told in frames.
  function timeline(marks, duration, frameMs) {
    const W = 1000;
    const left = 44;
    const right = 12;
    const top = 26;
    const rowH = marks.length <= 80 ? 16 : marks.length <= 400 ? 7 : 3;
    const H = top + Math.max(marks.length, 1) * rowH + 8;
    let end = Number(duration) || 0;
    for (const m of marks) {
      end = Math.max(end, m.placed[1] + m.overflowS, m.slot ? m.slot[1] + m.borrowed : 0);
    }
    end = end || 1;
    const x = (t) => left + (Math.max(0, t) / end) * (W - left - right);
    const w = (a, b) => Math.max(b > a ? 1 : 0, x(b) - x(a));

    const overflows = marks.filter((m) => m.overflow).length;
    const root = svg('svg', {
      id: 'timeline', viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img',
      'aria-labelledby': 'timeline-title timeline-desc', preserveAspectRatio: 'xMinYMin meet',
    },
    svg('title', { id: 'timeline-title' }, 'Fit timeline'),
    svg('desc', { id: 'timeline-desc' }, `${marks.length} lines over ${clock(end)}, ${overflows} overflowing; `
      + 'the same figures are in the table below.'));

    const axis = svg('g', { class: 'axis' });
    const step = niceStep(end, 12);
    for (let t = 0; t <= end + 1e-9; t += step) {
      axis.append(
        svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: top - 6, y2: H - 8 }),
        svg('text', { x: x(t), y: top - 10, 'text-anchor': 'middle' }, clock(t)));
    }
    root.append(axis);
    if (frameMs > 0) {
      const frame = frameMs / 1000;
      const frames = svg('g', { class: 'frames', 'data-frame-ms': String(frameMs) });
      if ((x(frame) - x(0)) >= 2) {
        for (let t = 0; t <= end + 1e-9; t += frame) {
          frames.append(svg('line', { class: 'frame', x1: x(t), x2: x(t), y1: top - 2, y2: H - 8 }));
        }
      }
      frames.append(svg('text', { class: 'frame-note', x: W - right, y: 12, 'text-anchor': 'end' },
        `frame grid: ${(1000 / frameMs).toFixed(3).replace(/\.?0+$/, '')} fps, ${frameMs.toFixed(1)} ms a frame`));
      root.append(frames);
    }

    marks.forEach((m, i) => {
      const y = top + i * rowH;
      // The slot (and a borrowed gap) full height; the placed speech a thinner bar over it.
      const bar = Math.max(2, rowH - 4);
      const inner = rowH >= 10 ? Math.round(bar / 2) : Math.max(1, bar - 1);
      const g = svg('g', {
        class: `line${m.overflow ? ' overflow' : ''}${m.borrowed > 0 ? ' borrowed' : ''}`,
        'data-segment': m.n,
      });
      const who = m.speaker ? `${m.speaker}: ` : '';
      const at = m.slot ? `slot ${clock(m.slot[0])}–${clock(m.slot[1])} (${(m.slot[1] - m.slot[0]).toFixed(2)} s), `
        : '';
      g.append(svg('title', {}, `#${m.n != null ? m.n : i + 1} ${who}${m.text}\n${at}`
        + `speech ${(m.placed[1] - m.placed[0]).toFixed(2)} s at ${clock(m.placed[0])}`
        + `${m.stretch != null ? `, stretch ${Number(m.stretch).toFixed(3)}` : ''}`
        + `${m.borrowed > 0 ? `, borrowed ${m.borrowed.toFixed(2)} s` : ''}`
        + `${m.overflow ? `, overflow: ${m.overflowS.toFixed(2)} s cut` : ''}`
        + `${m.row.error_frames != null ? `, fit error ${Number(m.row.error_frames).toFixed(2)} frames` : ''}`
        + `${m.row.onset_error_frames != null
          ? `, onset ${Number(m.row.onset_error_frames).toFixed(2)} frames from the cue` : ''}`));
      if (rowH >= 10 && m.n != null) {
        g.append(svg('text', { class: 'label', x: left - 6, y: y + bar - 2, 'text-anchor': 'end' }, String(m.n)));
      }
      if (m.slot) {
        g.append(svg('rect', { class: 'slot', x: x(m.slot[0]), y, width: w(m.slot[0], m.slot[1]), height: bar }));
        if (m.borrowed > 0) {
          g.append(svg('rect', {
            class: 'borrowed', x: x(m.slot[1]), y, width: w(m.slot[1], m.slot[1] + m.borrowed), height: bar,
          }));
        }
      }
      const dy = (bar - inner) / 2;
      g.append(svg('rect', {
        class: `placed${m.overflow ? ' overflow' : ''}`,
        x: x(m.placed[0]), y: y + dy, width: w(m.placed[0], m.placed[1]), height: inner,
      }));
      if (m.overflow && m.overflowS > 0) {
        g.append(svg('rect', {
          class: 'lost', x: x(m.placed[1]), y: y + dy, width: w(m.placed[1], m.placed[1] + m.overflowS),
          height: inner,
        }));
      }
      root.append(g);
    });
    return root;
  }

  function fillTable(marks) {
    const t = (s) => (s == null ? '—' : Number(s).toFixed(2));
    const head = h('thead', {}, h('tr', {}, ['#', 'Slot start', 'Slot end', 'Placed start', 'Placed end',
      'Stretch', 'Borrowed (s)', 'Overflow (s)', 'Text'].map((c) => h('th', { scope: 'col' }, c))));
    const body = h('tbody', {}, marks.map((m, i) => h('tr', { class: m.overflow ? 'overflow' : null },
      h('th', { scope: 'row' }, m.n != null ? m.n : i + 1),
      h('td', {}, m.slot ? t(m.slot[0]) : '—'),
      h('td', {}, m.slot ? t(m.slot[1]) : '—'),
      h('td', {}, t(m.placed[0])),
      h('td', {}, t(m.placed[1])),
      h('td', {}, m.stretch == null ? '—' : Number(m.stretch).toFixed(3)),
      h('td', {}, m.borrowed ? t(m.borrowed) : ''),
      h('td', {}, m.overflow ? t(m.overflowS) : ''),
      h('td', { class: 'text' }, `${m.speaker ? `${m.speaker}: ` : ''}${m.text}`))));
    fill($('report-table'), h('caption', { class: 'visually-hidden' }, 'Fit report, one row per line'),
      head, body);
  }

  // ------------------------------------------------------------------ start

  function start() {
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = $('api-key').value.trim();
      if (key) useKey(key);
    });
    $('forget-key').addEventListener('click', forgetKey);
    $('job-form').addEventListener('submit', submitJob);
    $('voice-form').addEventListener('submit', addVoice);
    $('refresh-jobs').addEventListener('click', () => refreshJobs(false));
    $('status-filter').addEventListener('change', () => refreshJobs(false));
    $('more-jobs').addEventListener('click', () => refreshJobs(true));
    $('job-voice').addEventListener('change', (e) => { e.target.dataset.chosen = '1'; });
    const saved = sessionStorage.getItem(KEY_ITEM);
    if (saved) {
      $('api-key').value = saved;
      useKey(saved);
    }
  }

  start();
})();
