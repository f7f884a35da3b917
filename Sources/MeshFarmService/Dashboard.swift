import Hummingbird
import NIOCore

/// `GET /`: a one-page dashboard (jobs, workers, queues) that polls the API.
/// With authentication on, it asks for a token once and signs in
/// (`POST /v1/session`): the browser then holds an HttpOnly session cookie,
/// which works where a bearer header cannot (`<img>`, `EventSource`).
enum Dashboard {
    static func response() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>MeshFarm</title>
        <style>
        body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
        h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 2em; }
        table { border-collapse: collapse; width: 100%; }
        td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; }
        .succeeded { color: #1a7f37; } .failed { color: #cf222e; } .cancelled { color: #888; } .running { color: #0969da; }
        progress { width: 120px; }
        </style></head>
        <body>
        <h1>MeshFarm <small id="who"></small></h1>
        <form id="signin" hidden><p>This farm needs a token.
          <input id="token" type="password" placeholder="mft_..." size="50" autocomplete="off">
          <button>Sign in</button> <span id="signin-error"></span></p></form>
        <h2>Jobs</h2><table id="jobs"><tr><th>job</th><th>model</th><th>status</th><th>stage</th><th>created</th><th>error</th></tr></table>
        <h2>Workers (last 10 minutes)</h2><table id="workers"><tr><th>name</th><th>pool</th><th>current task</th><th>finished</th><th>last seen</th></tr></table>
        <h2>Pools</h2><table id="pools"><tr><th>pool</th><th>running</th><th>queued</th><th>held by priority</th></tr></table>
        <h2>Queues</h2><table id="queues"><tr><th>queue</th><th>ready messages</th></tr></table>
        <script>
        const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
        function fill(id, header, rows) {
          document.getElementById(id).innerHTML = header + rows.map(r => '<tr>' + r.map(c => '<td>' + c + '</td>').join('') + '</tr>').join('');
        }
        async function get(path) {
          const response = await fetch(path, {credentials: 'same-origin'});
          if (response.status === 401) { document.getElementById('signin').hidden = false; throw new Error('sign in'); }
          return response.json();
        }
        document.getElementById('signin').addEventListener('submit', async e => {
          e.preventDefault();
          const response = await fetch('/v1/session', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({token: document.getElementById('token').value})});
          if (response.ok) { document.getElementById('signin').hidden = true; refresh(); }
          else { document.getElementById('signin-error').textContent = (await response.json()).error.message; }
        });
        async function refresh() {
          try {
            const me = await get('/v1/session');
            document.getElementById('who').textContent = me.name === 'anonymous' ? '' : me.name + ' (' + me.role + ')';
            const jobs = (await get('/v1/jobs?limit=50')).jobs;
            fill('jobs', '<tr><th>job</th><th>model</th><th>status</th><th>stage</th><th>created</th><th>error</th></tr>',
              jobs.map(j => ['<a href="/v1/jobs/' + esc(j.id) + '/artifacts">' + esc(j.id) + '</a>', esc(j.name),
                '<span class="' + esc(j.status) + '">' + esc(j.status) + '</span>', esc(j.stage), esc(j.createdAt), esc(j.error)]));
            const workers = await get('/v1/workers');
            fill('workers', '<tr><th>name</th><th>pool</th><th>current task</th><th>finished</th><th>last seen</th></tr>',
              workers.map(w => [esc(w.name), esc(w.pool), esc(w.currentTask), esc(w.tasksFinished), esc(w.lastSeen)]));
            const depths = await get('/v1/queues');
            const pools = depths.pools, queues = depths.queues;
            fill('pools', '<tr><th>pool</th><th>running</th><th>queued</th><th>held by priority</th></tr>',
              Object.keys(pools).sort().map(p => [esc(p), esc(pools[p].running), esc(pools[p].queued), esc(pools[p].ready)]));
            fill('queues', '<tr><th>queue</th><th>ready messages</th></tr>', Object.keys(queues).sort().map(q => [esc(q), esc(queues[q])]));
          } catch (e) { console.log(e); }
        }
        refresh(); setInterval(refresh, 2000);
        </script>
        </body></html>
        """
}
