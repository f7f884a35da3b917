import Hummingbird
import NIOCore

/// `GET /`: the dashboard, one page of HTML, CSS and JavaScript with
/// nothing fetched from elsewhere (no CDN, no fonts, no build step): the
/// jobs, one job's pictures filling in live from its event stream, task
/// logs, the timeline and task graph, the workers and the farm, and the
/// operator's actions (cancel, retry, priority, delete, download). With
/// authentication on it asks for a token once and signs in (`POST
/// /v1/session`): the browser then holds an HttpOnly session cookie, which
/// works where a bearer header cannot (`<img>`, `EventSource`).
enum Dashboard {
    static func response() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                // Nothing but this page's own inline code and same-origin requests.
                .contentSecurityPolicy:
                    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; "
                    + "connect-src 'self'; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    static let page = html.replacingOccurrences(of: "/*STYLE*/", with: style)
        .replacingOccurrences(of: "/*SCRIPT*/", with: script)

    static let html = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>MeshFarm</title><link rel="icon" href="data:,"><style>/*STYLE*/</style></head>
        <body>
        <header><h1>MeshFarm</h1>
        <nav aria-label="pages"><a href="#/">Jobs</a><a href="#/workers">Workers</a><a href="#/farm">Farm</a></nav>
        <span class="who" id="who"></span></header>
        <main></main>
        <dialog id="dialog"><header><strong id="dialog-title"></strong><button id="dialog-close" style="margin-left:auto">Close</button></header><div id="dialog-body"></div></dialog>
        <script>/*SCRIPT*/</script>
        </body></html>
        """#

    static let style = #"""
        :root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #fff; --soft: #f6f8fa; --blue: #0969da;
          --green: #1a7f37; --red: #cf222e; --amber: #9a6700; --grey: #8c959f; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--fg); background: var(--bg); }
        header { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1.2em; border-bottom: 1px solid var(--line); background: var(--soft); }
        header h1 { font-size: 18px; margin: 0 1em 0 0; }
        header nav a { margin-right: 1em; color: var(--fg); text-decoration: none; padding: .2em .1em; }
        header nav a[aria-current="page"] { border-bottom: 2px solid var(--blue); font-weight: 600; }
        header .who { margin-left: auto; color: var(--muted); }
        main { padding: 1em 1.2em 3em; max-width: 1400px; }
        h2 { font-size: 16px; margin: 1.6em 0 .6em; } h2:first-child { margin-top: .2em; }
        a { color: var(--blue); }
        table { border-collapse: collapse; width: 100%; }
        td, th { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
        th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
        tr.selected { background: #ddf4ff; }
        .scroll { overflow-x: auto; }
        .status { font-weight: 600; } .succeeded { color: var(--green); } .failed { color: var(--red); }
        .cancelled { color: var(--grey); } .running, .queued, .ready, .retrying { color: var(--blue); } .pending { color: var(--muted); }
        .bar { display: inline-flex; width: 140px; height: 10px; border-radius: 5px; overflow: hidden; background: var(--soft); border: 1px solid var(--line); vertical-align: middle; }
        .bar i { display: block; height: 100%; } .bar .s { background: var(--green); } .bar .f { background: var(--red); }
        .bar .c { background: var(--grey); } .bar .r { background: var(--blue); }
        .thumb { width: 48px; height: 48px; object-fit: contain; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; }
        .toolbar { display: flex; flex-wrap: wrap; gap: .5em; align-items: center; margin: .6em 0; }
        button, select, input { font: inherit; padding: .3em .7em; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
        button { cursor: pointer; background: var(--soft); } button:hover { border-color: var(--muted); }
        button.danger { color: var(--red); } button:disabled { opacity: .5; cursor: default; }
        :focus-visible { outline: 2px solid var(--blue); outline-offset: 1px; }
        .muted { color: var(--muted); } .error { color: var(--red); }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: .8em; }
        .card { border: 1px solid var(--line); border-radius: 8px; padding: .7em .9em; background: var(--soft); }
        .card b { display: block; font-size: 20px; }
        .gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: .6em; }
        .gallery figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; background: var(--soft); }
        .gallery img { display: block; width: 100%; aspect-ratio: 1; object-fit: contain; cursor: zoom-in; }
        .gallery figcaption { font-size: 12px; color: var(--muted); padding: 2px 6px; }
        .gallery .waiting { aspect-ratio: 1; display: grid; place-items: center; color: var(--muted); font-size: 12px; }
        dialog { border: 1px solid var(--line); border-radius: 8px; padding: 0; max-width: 95vw; max-height: 95vh; }
        dialog img { display: block; max-width: 90vw; max-height: 85vh; }
        dialog pre { margin: 0; padding: 1em; max-width: 90vw; max-height: 70vh; overflow: auto; font-size: 12px; }
        dialog header { background: var(--soft); }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1.2em; margin: 0; }
        dl.facts dt { color: var(--muted); }
        svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
        .signin { max-width: 520px; }
        .signin input { width: 100%; margin: .5em 0; }
        @media (max-width: 640px) {
          main { padding: .6em; } .hide-narrow { display: none; } .bar { width: 70px; }
          td, th { padding: 4px; }
        }
        """#

    static let script = #"""
        'use strict';
        // MeshFarm's dashboard: one page, no build step, no external files. Pages
        // by the URL's hash: #/ jobs, #/jobs/<id> one job, #/workers, #/farm. A job
        // page follows the job's event stream, list pages the farm's (server-sent
        // events; the browser reconnects, resuming from Last-Event-ID); they poll
        // only while their stream is down.
        const $ = (selector, root = document) => root.querySelector(selector);
        const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
        const main = $('main');
        let stopPage = () => {};
        let me = null;

        class SignInNeeded extends Error {}

        async function api(path, options = {}) {
          const response = await fetch(path, Object.assign({credentials: 'same-origin'}, options));
          if (response.status === 401) throw new SignInNeeded();
          if (response.status === 204) return null;
          const type = response.headers.get('content-type') || '';
          const body = type.includes('json') ? await response.json() : await response.text();
          if (!response.ok) throw new Error(body && body.error ? body.error.message : response.status + ' ' + response.statusText);
          return body;
        }

        const when = t => t ? new Date(t).toLocaleString() : '';
        const seconds = (a, b) => (a && b) ? ((new Date(b) - new Date(a)) / 1000) : null;
        const duration = s => s == null ? '' : s < 1 ? Math.round(s * 1000) + ' ms' : s < 120 ? s.toFixed(1) + ' s' : Math.round(s / 60) + ' min';
        const bytes = n => n == null ? '' : n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : n < 1073741824 ? (n / 1048576).toFixed(1) + ' MiB' : (n / 1073741824).toFixed(2) + ' GiB';
        const status = s => '<span class="status ' + esc(s) + '">' + esc(s) + '</span>';

        function bar(done, total, failed = 0, cancelled = 0, running = 0) {
          const pct = n => total ? (100 * n / total) + '%' : '0';
          const ok = Math.max(0, done - failed - cancelled);
          return '<span class="bar" role="img" aria-label="' + done + ' of ' + total + ' tasks done">' +
            '<i class="s" style="width:' + pct(ok) + '"></i><i class="f" style="width:' + pct(failed) + '"></i>' +
            '<i class="c" style="width:' + pct(cancelled) + '"></i><i class="r" style="width:' + pct(running) + '"></i></span> ' +
            '<span class="muted">' + done + '/' + total + '</span>';
        }

        // Follows the farm's event stream (GET /v1/events) and calls `changed` at
        // most once a second after any of the named events; while the stream is
        // down (the browser reconnects by itself, resuming from Last-Event-ID) it
        // calls `changed` every ten seconds instead.
        function followFarm(names, changed) {
          let timer = null, fallback = null;
          const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; changed(); }, 1000); };
          const source = new EventSource('/v1/events');
          for (const name of names) source.addEventListener(name, soon);
          source.onopen = () => { if (fallback) { clearInterval(fallback); fallback = null; } };
          source.onerror = () => { if (!fallback) fallback = setInterval(changed, 10000); };
          return () => { source.close(); clearTimeout(timer); clearInterval(fallback); };
        }

        function showDialog(title, html) {
          const dialog = $('#dialog');
          $('#dialog-title').textContent = title;
          $('#dialog-body').innerHTML = html;
          dialog.showModal();
        }

        // ---- Sign-in -------------------------------------------------------------

        function signIn(retry) {
          main.innerHTML = '<form class="signin" id="signin"><h2>Sign in</h2><p>This farm needs a token (ask its operator, ' +
            'or <code>meshfarm token create</code>).</p><label for="token">Token</label>' +
            '<input id="token" type="password" placeholder="mft_..." autocomplete="off" required>' +
            '<button>Sign in</button> <span class="error" id="signin-error"></span></form>';
          $('#token').focus();
          $('#signin').addEventListener('submit', async event => {
            event.preventDefault();
            try {
              await api('/v1/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({token: $('#token').value})});
              me = null;
              retry();
            } catch (error) { $('#signin-error').textContent = error.message; }
          });
        }

        async function whoAmI() {
          if (!me) me = await api('/v1/session');
          $('#who').innerHTML = me.name === 'anonymous' ? '' : esc(me.name) + ' (' + esc(me.role) + ') <button id="signout">Sign out</button>';
          const out = $('#signout');
          if (out) out.onclick = async () => { await api('/v1/session', {method: 'DELETE'}); me = null; route(); };
        }

        // ---- Jobs ------------------------------------------------------------------

        async function jobsPage() {
          main.innerHTML = '<h2>Jobs</h2><div class="toolbar">' +
            '<label>Status <select id="filter"><option value="">all</option><option>queued</option><option>running</option>' +
            '<option>succeeded</option><option>failed</option><option>cancelled</option></select></label>' +
            '<input id="search" type="search" placeholder="Search by model name" aria-label="Search by model name">' +
            '<span class="muted" id="selection">none selected</span>' +
            '<button id="bulk-cancel" disabled>Cancel</button><button id="bulk-retry" disabled>Retry</button>' +
            '<button id="bulk-delete" class="danger" disabled>Delete</button></div>' +
            '<div class="scroll"><table id="jobs"></table></div>' +
            '<div class="toolbar"><button id="more">Show more</button></div>';
          let limit = 50, stopped = false;
          const selected = new Set();
          let jobs = [];
          const params = new URLSearchParams(location.hash.split('?')[1] || '');
          $('#filter').value = params.get('status') || '';
          const render = () => {
            const term = $('#search').value.toLowerCase();
            const shown = jobs.filter(j => !term || j.name.toLowerCase().includes(term) || j.id.includes(term));
            $('#jobs').innerHTML = '<tr><th><input type="checkbox" id="all" aria-label="Select all"></th><th></th><th>job</th><th>model</th>' +
              '<th>status</th><th>stage</th><th>tasks</th><th class="hide-narrow">owner</th><th class="hide-narrow">triangles</th>' +
              '<th class="hide-narrow">created</th><th class="hide-narrow">finished</th><th>error</th></tr>' +
              shown.map(j => '<tr class="' + (selected.has(j.id) ? 'selected' : '') + '">' +
                '<td><input type="checkbox" data-id="' + esc(j.id) + '" aria-label="Select ' + esc(j.id) + '"' + (selected.has(j.id) ? ' checked' : '') + '></td>' +
                '<td>' + (j.thumbnail ? '<img class="thumb" alt="" src="' + esc(j.thumbnail) + '">' : '') + '</td>' +
                '<td><a href="#/jobs/' + esc(j.id) + '">' + esc(j.id) + '</a></td><td>' + esc(j.name) + '</td>' +
                '<td>' + status(j.status) + '</td><td>' + esc(j.stage) + '</td><td>' + bar(j.tasksDone, j.tasksTotal) + '</td>' +
                '<td class="hide-narrow">' + esc(j.owner || '') + '</td><td class="hide-narrow">' + esc(j.triangles ?? '') + '</td>' +
                '<td class="hide-narrow">' + when(j.createdAt) + '</td><td class="hide-narrow">' + when(j.finishedAt) + '</td>' +
                '<td class="error">' + esc(j.error || '') + '</td></tr>').join('');
            $('#selection').textContent = selected.size ? selected.size + ' selected' : 'none selected';
            for (const b of ['#bulk-cancel', '#bulk-retry', '#bulk-delete']) $(b).disabled = selected.size === 0;
            $('#all').onchange = e => { for (const j of shown) e.target.checked ? selected.add(j.id) : selected.delete(j.id); render(); };
            for (const box of main.querySelectorAll('input[data-id]')) {
              box.onchange = e => { e.target.checked ? selected.add(e.target.dataset.id) : selected.delete(e.target.dataset.id); render(); };
            }
          };
          const load = async () => {
            const filter = $('#filter').value;
            const loaded = (await api('/v1/jobs?limit=' + limit + (filter ? '&status=' + filter : ''))).jobs;
            if (stopped) return;  // the user went to another page meanwhile
            jobs = loaded;
            render();
          };
          const bulk = (verb, request) => async () => {
            const ids = [...selected];
            if (!confirm(verb + ' ' + ids.length + (ids.length === 1 ? ' job' : ' jobs') + '?')) return;
            const failures = [];
            for (const id of ids) {
              try { await request(id); selected.delete(id); } catch (error) { failures.push(id + ': ' + error.message); }
            }
            if (failures.length) alert(failures.join('\n'));
            await load();
          };
          $('#bulk-cancel').onclick = bulk('Cancel', id => api('/v1/jobs/' + id + '/cancel', {method: 'POST'}));
          $('#bulk-retry').onclick = bulk('Retry', id => api('/v1/jobs/' + id + '/retry', {method: 'POST'}));
          $('#bulk-delete').onclick = bulk('Delete', id => api('/v1/jobs/' + id, {method: 'DELETE'}));
          $('#filter').onchange = load;
          $('#search').oninput = render;
          $('#more').onclick = () => { limit = Math.min(500, limit + 50); load(); };
          await load();
          const stop = followFarm(['job', 'job-deleted', 'reset'], () => load().catch(() => {}));
          return () => { stopped = true; stop(); };
        }

        // ---- One job ---------------------------------------------------------------

        async function jobPage(id) {
          main.innerHTML = '<p class="muted">Loading ' + esc(id) + '…</p>';
          let job = await api('/v1/jobs/' + id);
          let report = null;
          let stream = null;
          let reportTimer = null;
          let stopped = false;

          const draw = () => {
            if (stopped) return;  // the user went to another page meanwhile
            const counts = s => job.tasks.filter(t => t.state === s).length;
            const done = job.tasks.filter(t => ['succeeded', 'failed', 'cancelled'].includes(t.state)).length;
            const input = report && report.input || {};
            const views = report ? report.views : [];
            const lods = report ? report.lods : [];
            const viewsPerLOD = job.spec.viewsPerLOD;
            main.innerHTML =
              '<h2>' + esc(job.name) + ' <span class="muted">' + esc(job.id) + '</span> ' + status(job.status) + '</h2>' +
              '<div class="toolbar">' + bar(done, job.tasks.length, counts('failed'), counts('cancelled'), counts('running')) +
              ' <span>' + esc(job.stage) + '</span>' +
              '<button id="cancel"' + (['queued', 'running'].includes(job.status) ? '' : ' disabled') + '>Cancel</button>' +
              '<button id="retry"' + (['failed', 'cancelled'].includes(job.status) ? '' : ' disabled') + '>Retry failed tasks</button>' +
              '<label>Priority <select id="priority">' + [...Array(10).keys()].map(p => '<option' + (p === job.spec.priority ? ' selected' : '') + '>' + p + '</option>').join('') + '</select></label>' +
              '<a href="/v1/jobs/' + esc(job.id) + '/archive" download><button tabindex="-1">Download all</button></a>' +
              '<button id="delete" class="danger"' + (['queued', 'running'].includes(job.status) ? ' disabled' : '') + '>Delete</button>' +
              '<span class="error" id="action-error"></span></div>' +
              (job.error ? '<p class="error">' + esc(job.error) + '</p>' : '') +
              '<h2>Analysis</h2>' + (input.triangles == null ? '<p class="muted">Not analyzed yet.</p>' :
                '<dl class="facts">' + [['triangles', input.triangles], ['vertices', input.vertices], ['format', input.format],
                  ['bounds', input.bounds ? 'min ' + input.bounds.min.map(v => v.toFixed(3)).join(', ') + ' · max ' + input.bounds.max.map(v => v.toFixed(3)).join(', ') : ''],
                  ['surface area', input.surfaceArea != null ? input.surfaceArea.toFixed(4) : ''], ['volume', input.volume != null ? input.volume.toFixed(4) : ''],
                  ['watertight', input.watertight ? 'yes' : 'no'], ['components', input.components]]
                  .map(([k, v]) => '<dt>' + k + '</dt><dd>' + esc(v) + '</dd>').join('') + '</dl>') +
              '<h2>Levels of detail</h2><div class="scroll"><table><tr><th>level</th><th>ratio</th><th>triangles</th><th>error</th><th>method</th><th>parts</th><th>file</th></tr>' +
              job.spec.lodRatios.map((ratio, i) => {
                const lod = lods.find(l => l.index === i);
                return '<tr><td>' + i + '</td><td>' + ratio + '</td><td>' + esc(lod ? lod.triangles : '') + '</td><td>' +
                  (lod ? lod.error.toFixed(5) : '') + '</td><td>' + esc(lod ? lod.method : '') + '</td><td>' + esc(lod && lod.parts ? lod.parts : '') + '</td><td>' +
                  (lod ? '<a href="/v1/jobs/' + esc(job.id) + '/artifacts/' + esc(lod.file) + '" download>' + esc(lod.file) + '</a>' : '<span class="muted">waiting</span>') + '</td></tr>';
              }).join('') + '</table></div>' +
              '<h2>Views</h2>' + job.spec.lodRatios.map((ratio, lod) =>
                '<h3 class="muted">Level ' + lod + ' (' + ratio + ')</h3><div class="gallery">' +
                [...Array(viewsPerLOD).keys()].map(index => {
                  const view = views.find(v => v.lod === lod && v.index === index);
                  return '<figure>' + (view ? '<img alt="level ' + lod + ', view ' + index + '" src="/v1/jobs/' + esc(job.id) + '/artifacts/' + esc(view.file) + '" data-large="1" tabindex="0">'
                    : '<div class="waiting">waiting</div>') + '<figcaption>view ' + index + '</figcaption></figure>';
                }).join('') + '</div>').join('') +
              (report && report.contactSheet ? '<h2>Contact sheet</h2><img alt="contact sheet" style="max-width:100%" src="/v1/jobs/' + esc(job.id) + '/artifacts/contact-sheet.png">' : '') +
              '<h2>Task graph</h2>' + graph(job) +
              '<h2>Timeline</h2>' + timeline(job) +
              '<h2>Tasks</h2><div class="scroll"><table><tr><th>task</th><th>kind</th><th>pool</th><th>state</th><th>attempts</th><th>worker</th>' +
              '<th class="hide-narrow">queued</th><th class="hide-narrow">started</th><th class="hide-narrow">finished</th><th>duration</th><th>error</th><th>log</th></tr>' +
              job.tasks.map(t => '<tr><td>' + esc(t.id.slice(job.id.length + 1)) + '</td><td>' + esc(t.kind) + '</td><td>' + esc(t.pool) + '</td><td>' +
                status(t.state) + (t.progress != null && t.state === 'running' ? ' ' + Math.round(t.progress * 100) + '%' : '') + '</td><td>' + t.attempts + '</td><td>' + esc(t.worker || '') +
                '</td><td class="hide-narrow">' + when(t.queuedAt) + '</td><td class="hide-narrow">' + when(t.startedAt) + '</td><td class="hide-narrow">' + when(t.finishedAt) +
                '</td><td>' + duration(seconds(t.startedAt, t.finishedAt)) + '</td><td class="error">' + esc(t.error || '') +
                '</td><td><button data-log="' + esc(t.id) + '">Log</button></td></tr>').join('') + '</table></div>';
            const act = (request) => async () => {
              try { $('#action-error').textContent = ''; const updated = await request(); if (updated) { job = updated; follow(); } draw(); }
              catch (error) { $('#action-error').textContent = error.message; }
            };
            $('#cancel').onclick = act(() => confirm('Cancel job ' + job.id + '?') && api('/v1/jobs/' + job.id + '/cancel', {method: 'POST'}));
            $('#retry').onclick = act(() => api('/v1/jobs/' + job.id + '/retry', {method: 'POST'}));
            $('#priority').onchange = act(() => api('/v1/jobs/' + job.id, {method: 'PATCH', headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({priority: Number($('#priority').value)})}));
            $('#delete').onclick = async () => {
              if (!confirm('Delete job ' + job.id + ' and its results?')) return;
              try { await api('/v1/jobs/' + job.id, {method: 'DELETE'}); location.hash = '#/'; }
              catch (error) { $('#action-error').textContent = error.message; }
            };
            for (const img of main.querySelectorAll('img[data-large]')) {
              const open = () => showDialog(img.alt, '<img alt="' + esc(img.alt) + '" src="' + esc(img.src) + '">');
              img.onclick = open;
              img.onkeydown = e => { if (e.key === 'Enter') open(); };
            }
            for (const button of main.querySelectorAll('button[data-log]')) {
              button.onclick = async () => {
                const log = await api('/v1/jobs/' + job.id + '/tasks/' + button.dataset.log + '/log');
                showDialog('Log of ' + log.task, '<pre>' + (log.lines.map(l => esc(new Date(l.at).toISOString() + '  ' + l.source + '  ' + l.level + '  ' + l.text)).join('\n') || 'empty') + '</pre>');
              };
            }
          };

          const loadReport = async () => {
            try { report = await api('/v1/jobs/' + id + '/artifacts/report.json'); } catch (error) { report = null; }
            draw();
          };
          // Reports are fetched at most twice a second, whatever the event rate.
          const reportSoon = () => { if (!reportTimer) reportTimer = setTimeout(() => { reportTimer = null; loadReport(); }, 500); };

          function follow() {
            if (stream || stopped) return;
            // The browser reconnects by itself (sending Last-Event-ID); the stream
            // ends once the job has finished.
            stream = new EventSource('/v1/jobs/' + id + '/events');
            stream.addEventListener('job', event => {
              job = JSON.parse(event.data);
              reportSoon();
              if (['succeeded', 'failed', 'cancelled'].includes(job.status)) { stream.close(); stream = null; }
            });
            stream.onerror = () => { if (stream && stream.readyState === EventSource.CLOSED) { stream = null; setTimeout(follow, 3000); } };
          }

          await loadReport();
          follow();
          return () => { stopped = true; if (stream) stream.close(); clearTimeout(reportTimer); };
        }

        // The task graph as SVG: one column per kind, arrows to each task's dependents' column.
        function graph(job) {
          const kinds = ['analyze', 'partition', 'reduce', 'reduce-part', 'stitch', 'render', 'finalize'];
          const columns = kinds.map(k => job.tasks.filter(t => t.kind === k)).filter(c => c.length);
          const rowHeight = 22, width = 170, gap = 60;
          const height = Math.max(...columns.map(c => c.length)) * rowHeight + 10;
          const color = s => ({succeeded: '#1a7f37', failed: '#cf222e', cancelled: '#8c959f', running: '#0969da', queued: '#0969da', ready: '#0969da', retrying: '#9a6700'}[s] || '#d0d7de');
          const at = new Map();
          let svg = '';
          columns.forEach((column, c) => column.forEach((t, r) => {
            const x = c * (width + gap), y = r * rowHeight + 5 + (height - 10 - column.length * rowHeight) / 2;
            at.set(t.id, [x, y]);
            svg += '<rect x="' + x + '" y="' + y + '" width="' + width + '" height="18" rx="4" fill="#fff" stroke="' + color(t.state) + '" stroke-width="2"/>' +
              '<text x="' + (x + 6) + '" y="' + (y + 13) + '">' + esc(t.id.slice(job.id.length + 1)) + ' · ' + esc(t.state) + '</text>';
          }));
          for (let c = 1; c < columns.length; c++) {
            const [x] = at.get(columns[c][0].id);
            svg = '<line x1="' + (x - gap + 4) + '" y1="' + (height / 2) + '" x2="' + (x - 4) + '" y2="' + (height / 2) + '" stroke="#8c959f" marker-end="url(#arrow)"/>' + svg;
          }
          return '<div class="scroll"><svg role="img" aria-label="task graph" width="' + (columns.length * (width + gap)) + '" height="' + height + '">' +
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#8c959f"/></marker></defs>' + svg + '</svg></div>';
        }

        // One lane per worker, a bar per task attempt that started; failures in red.
        function timeline(job) {
          const ran = job.tasks.filter(t => t.startedAt);
          if (!ran.length) return '<p class="muted">Nothing has run yet.</p>';
          const start = Math.min(...ran.map(t => new Date(t.startedAt)));
          const end = Math.max(...ran.map(t => new Date(t.finishedAt || Date.now())));
          const span = Math.max(1, end - start);
          const workers = [...new Set(ran.map(t => t.worker || '?'))].sort();
          const lane = 24, label = 130, width = 760;
          const x = t => label + (width - label) * (new Date(t) - start) / span;
          const color = s => s === 'failed' ? '#cf222e' : s === 'cancelled' ? '#8c959f' : s === 'succeeded' ? '#1a7f37' : '#0969da';
          let svg = workers.map((w, i) => '<text x="0" y="' + (i * lane + 16) + '">' + esc(w.length > 20 ? w.slice(0, 19) + '…' : w) + '</text>').join('');
          for (const t of ran) {
            const i = workers.indexOf(t.worker || '?');
            const x1 = x(t.startedAt), x2 = Math.max(x1 + 2, x(t.finishedAt || Date.now()));
            svg += '<rect x="' + x1 + '" y="' + (i * lane + 4) + '" width="' + (x2 - x1) + '" height="16" rx="2" fill="' + color(t.state) + '"><title>' +
              esc(t.id.slice(job.id.length + 1) + ': ' + t.state + ', ' + duration(seconds(t.startedAt, t.finishedAt))) + '</title></rect>';
          }
          svg += '<text x="' + label + '" y="' + (workers.length * lane + 14) + '" class="muted">0</text><text x="' + (width - 60) + '" y="' + (workers.length * lane + 14) + '">' + duration(span / 1000) + '</text>';
          return '<div class="scroll"><svg role="img" aria-label="timeline" width="' + width + '" height="' + (workers.length * lane + 20) + '">' + svg + '</svg></div>';
        }

        // ---- Workers and the farm ------------------------------------------------

        async function workersPage() {
          let stopped = false;
          const load = async () => {
            const workers = await api('/v1/workers');
            if (stopped) return;
            const now = Date.now();
            const admin = me && me.role === 'admin';
            main.innerHTML = '<h2>Workers</h2><div class="scroll"><table><tr><th>name</th><th>pool</th><th>state</th><th>current task</th><th>tasks done</th><th>failed</th><th>last heard</th>' +
              (admin ? '<th></th>' : '') + '</tr>' +
              workers.map(w => '<tr><td>' + esc(w.name) + '</td><td>' + esc(w.pool) + '</td><td class="' + esc(w.state) + '">' + esc(w.state) + '</td><td>' +
                (w.currentTask ? '<a href="#/jobs/' + esc(w.currentTask.split('.')[0]) + '">' + esc(w.currentTask) + '</a>' +
                  (w.progress != null ? ' ' + Math.round(w.progress * 100) + '%' : '') + (w.stage ? ' <span class="muted">' + esc(w.stage) + '</span>' : '') : '') +
                '</td><td>' + w.tasksFinished + '</td><td class="' + (w.tasksFailed ? 'failed' : '') + '">' + w.tasksFailed + '</td><td>' + duration((now - new Date(w.lastSeen)) / 1000) + ' ago</td>' +
                (admin ? '<td>' + (w.state === 'gone' ? '' : w.state === 'draining'
                  ? '<button data-resume="' + esc(w.name) + '">Resume</button>'
                  : '<button data-drain="' + esc(w.name) + '">Drain</button>') + '</td>' : '') + '</tr>').join('') +
              '</table></div>' + (workers.length ? '' : '<p class="muted">No worker has reported in the last ten minutes.</p>');
            for (const button of main.querySelectorAll('button[data-drain], button[data-resume]')) {
              button.onclick = async () => {
                const name = button.dataset.drain || button.dataset.resume;
                await api('/v1/workers/' + encodeURIComponent(name) + '/' + (button.dataset.drain ? 'drain' : 'resume'), {method: 'POST'});
                await load();
              };
            }
          };
          await load();
          const stop = followFarm(['worker', 'reset'], () => load().catch(() => {}));
          return () => { stopped = true; stop(); };
        }

        async function farmPage() {
          let stopped = false;
          const load = async () => {
            const [queues, storage, done, failed] = await Promise.all([api('/v1/queues'), api('/v1/storage'),
              api('/v1/jobs?status=succeeded&limit=500'), api('/v1/jobs?status=failed&limit=500')]);
            if (stopped) return;
            const hour = Date.now() - 3600 * 1000;
            const perMinute = Array(60).fill(0);
            for (const j of done.jobs) {
              const t = new Date(j.finishedAt);
              if (t > hour) perMinute[Math.min(59, Math.floor((t - hour) / 60000))] += 1;
            }
            const peak = Math.max(1, ...perMinute);
            const chart = '<svg role="img" aria-label="jobs finished per minute, last hour" width="600" height="80">' +
              perMinute.map((n, i) => '<rect x="' + (i * 10) + '" y="' + (70 - 60 * n / peak) + '" width="8" height="' + (60 * n / peak) + '" fill="#1a7f37"><title>' + n + '</title></rect>').join('') +
              '<text x="0" y="80">an hour ago</text><text x="560" y="80">now</text></svg>';
            const failures = failed.jobs.filter(j => new Date(j.finishedAt) > hour).length;
            // Every pool, idle ones too (the coordinator counts only unfinished jobs' tasks).
            const pools = Object.assign({cpu: {running: 0, queued: 0, ready: 0}, gpu: {running: 0, queued: 0, ready: 0}}, queues.pools);
            main.innerHTML = '<h2>Farm</h2><div class="cards">' +
              Object.keys(pools).sort().map(p => '<div class="card">' + esc(p) + ' pool<b>' + pools[p].running + ' running</b>' +
                pools[p].queued + ' queued · ' + pools[p].ready + ' held</div>').join('') +
              '<div class="card">jobs finished, last hour<b>' + perMinute.reduce((a, b) => a + b, 0) + '</b></div>' +
              '<div class="card">failed jobs, last hour<b class="' + (failures ? 'failed' : '') + '">' + failures + '</b></div>' +
              '<div class="card">disk free<b>' + bytes(storage.freeBytes) + '</b>' + esc(storage.state) + '</div>' +
              '<div class="card">artifacts<b>' + bytes(storage.artifactBytes) + '</b>' + storage.artifactFiles + ' files</div></div>' +
              '<h2>Jobs finished per minute</h2>' + chart +
              '<h2>Queues</h2><table><tr><th>queue</th><th>ready messages</th></tr>' +
              Object.keys(queues.queues).sort().map(q => '<tr><td>' + esc(q) + '</td><td>' + queues.queues[q] + '</td></tr>').join('') + '</table>';
          };
          await load();
          // Every five seconds at most (the `farm` event): its figures read many jobs.
          const stop = followFarm(['farm', 'reset'], () => load().catch(() => {}));
          return () => { stopped = true; stop(); };
        }

        // ---- Routing -----------------------------------------------------------------

        async function route() {
          stopPage();
          stopPage = () => {};
          const hash = location.hash.replace(/^#/, '').split('?')[0] || '/';
          for (const a of document.querySelectorAll('header nav a')) {
            a.toggleAttribute('aria-current', a.getAttribute('href') === '#' + (hash.startsWith('/jobs/') ? '/' : hash));
            if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'page');
          }
          try {
            await whoAmI();
            const job = hash.match(/^\/jobs\/([^/]+)$/);
            if (job) stopPage = await jobPage(decodeURIComponent(job[1]));
            else if (hash === '/workers') stopPage = await workersPage();
            else if (hash === '/farm') stopPage = await farmPage();
            else stopPage = await jobsPage();
          } catch (error) {
            if (error instanceof SignInNeeded) signIn(route);
            else main.innerHTML = '<p class="error">' + esc(error.message) + '</p>';
          }
        }

        $('#dialog-close').onclick = () => $('#dialog').close();
        window.addEventListener('hashchange', route);
        route();
        """#
}
