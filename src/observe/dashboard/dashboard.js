// The dashboard: polls /api/state every cycle and draws it; no build step, uPlot from node_modules.
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const $ = (id) => document.getElementById(id);
  const select = $('window');
  select.value = params.get('window') || '1h';
  // the pool shown ('': every pool together, with the all-pools view); the selector appears with a second pool
  const poolSelect = $('pool');
  let pool = params.get('pool') || '';
  let charts = null;
  let timer = null;
  let selectedCycle = null;
  let selectedPool = null;

  const esc = (s) =>
    String(s ?? '').replace(
      /[&<>"']/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
    );
  const time = (iso) => new Date(iso).toISOString().slice(11, 19);

  async function get(path) {
    const res = await fetch(path, { headers });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `${res.status}`);
    return body;
  }

  function chartWidth(id) {
    return Math.max(300, $(id).parentElement.clientWidth - 24);
  }

  function makeCharts() {
    const axes = [{}, { label: '' }];
    const tasks = new uPlot(
      {
        width: chartWidth('chart-tasks'),
        height: 220,
        axes,
        series: [
          {},
          { label: 'queued', stroke: '#d97706', width: 2 },
          { label: 'active', stroke: '#2563eb', width: 2 },
        ],
      },
      [[], [], []],
      $('chart-tasks'),
    );
    const workers = new uPlot(
      {
        width: chartWidth('chart-workers'),
        height: 220,
        axes,
        series: [
          {},
          { label: 'desired', stroke: '#7c3aed', width: 2, dash: [6, 4] },
          { label: 'active', stroke: '#059669', width: 2 },
          { label: 'spawning', stroke: '#f59e0b', width: 2 },
        ],
      },
      [[], [], [], []],
      $('chart-workers'),
    );
    return { tasks, workers };
  }

  /** The pool selector and the all-pools view: each pool's workers, desired workers and last decision. */
  function renderPools(s) {
    const several = s.pools.length > 1;
    $('pool-label').hidden = !several && !s.pool;
    const names = s.pools.map((p) => p.pool);
    if (poolSelect.options.length !== names.length + 1 || names.some((n, i) => poolSelect.options[i + 1].value !== n)) {
      poolSelect.innerHTML = `<option value="">all pools</option>${names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join('')}`;
    }
    poolSelect.value = s.pool || '';
    $('all-pools').hidden = !several || !!s.pool;
    $('pools').querySelector('tbody').innerHTML = s.pools
      .map((p) => {
        const d = p.lastDecision;
        const statuses = Object.entries(p.byStatus)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ');
        return `<tr data-pool="${esc(p.pool)}"><td>${esc(p.pool)}</td><td>${p.workers}${statuses ? ` (${esc(statuses)})` : ''}</td><td>${p.desired ?? '–'}</td><td class="${d ? esc(d.decision) : ''}">${d ? `#${d.cycle} ${time(d.at)} ${esc(d.decision)}${d.delta ? ` ${d.delta}` : ''}${d.modeNote ? ' (shadow)' : ''}` : 'none yet'}</td><td class="math"${d ? ` title="${esc(d.mathFull)}"` : ''}>${d ? esc(d.math) : ''}</td><td>${p.burnUsdPerHour === null ? 'unknown' : p.burnUsdPerHour.toFixed(2)}</td></tr>`;
      })
      .join('');
  }

  function render(s) {
    renderPools(s);
    const namePools = s.pools.length > 1 && !s.pool;
    $('worker-count').textContent = String(s.fleet.count);
    $('worker-status').textContent =
      Object.entries(s.fleet.byStatus)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || 'no live workers';
    const last = s.decisions[0];
    if (namePools) {
      // every pool together: the sums of each pool's last decision
      const lasts = s.pools.map((p) => p.lastDecision).filter(Boolean);
      const queued = lasts.reduce((n, d) => n + d.queued, 0);
      const active = lasts.reduce((n, d) => n + d.active, 0);
      $('task-count').textContent = lasts.length ? String(queued + active) : '–';
      $('task-detail').textContent = lasts.length ? `${queued} queued, ${active} active (${lasts.length} pools)` : '';
      $('desired-count').textContent = lasts.length ? String(lasts.reduce((n, d) => n + d.desired, 0)) : '–';
      $('decision-kind').textContent = 'the sum over the pools: see each above';
    } else {
      $('task-count').textContent = last ? String(last.queued + last.active) : '–';
      $('task-detail').textContent = last ? `${last.queued} queued, ${last.active} active (cycle #${last.cycle})` : '';
      $('desired-count').textContent = last ? String(last.desired) : '–';
      $('decision-kind').textContent = last
        ? `${last.decision}${last.delta ? ` by ${last.delta}` : ''}${last.modeNote ? ` (${last.modeNote})` : ''}`
        : '';
    }
    $('burn').textContent = s.fleet.burnUsdPerHour === null ? 'unknown' : s.fleet.burnUsdPerHour.toFixed(2);
    const p = s.parked;
    $('parked').textContent = p?.count
      ? `; ${p.count} parked, disk ${p.usdPerHour.toFixed(2)} USD/h${p.unknownPrices ? ` (${p.unknownPrices} at an unknown price)` : ''}`
      : '';

    // a chart is one pool's series: with every pool together, choose a pool to see its charts
    $('charts').hidden = namePools;
    $('charts-hint').hidden = !namePools;
    if (!charts) charts = makeCharts();
    const x = s.series.t;
    charts.tasks.setData([x, s.series.queued, s.series.active]);
    charts.workers.setData([x, s.series.desired, s.series.workersActive, s.series.workersSpawning]);
    $('chart-tasks').dataset.points = String(x.length);
    $('chart-workers').dataset.points = String(x.length);

    // the math is rendered by the server (src/policies/render.ts), the same words as the log and explain
    $('math-head').textContent = last?.policy ? `math (policy ${last.policy})` : 'math';
    $('decisions').querySelector('tbody').innerHTML = s.decisions
      .map(
        (d) =>
          `<tr data-cycle="${d.cycle}" data-pool="${esc(d.pool)}" class="${d.cycle === selectedCycle && d.pool === selectedPool ? 'selected' : ''}"><td>${namePools ? `${esc(d.pool)} ` : ''}#${d.cycle}</td><td>${time(d.at)}</td><td>${d.queued}+${d.active}</td><td>${d.current}</td><td>${d.desired}</td><td class="${esc(d.decision)}"${d.modeNote ? ` title="${esc(d.modeNote)}"` : ''}>${esc(d.decision)}${d.delta ? ` ${d.delta}` : ''}${d.modeNote ? ' (shadow)' : ''}</td><td class="math" title="${esc(d.mathFull)}">${esc(d.math)}</td></tr>`,
      )
      .join('');
    $('fleet').querySelector('tbody').innerHTML = s.fleet.workers
      .map(
        (w) =>
          `<tr><td>${namePools ? `${esc(w.pool)}: ` : ''}${esc(w.workerId)}</td><td>${esc(w.podId)}</td><td>${esc(w.status)}</td><td>${time(w.activeAt || w.requestedAt)}</td><td>${w.gpus ?? ''}</td><td>${w.hourlyCostUsd ?? ''}</td></tr>`,
      )
      .join('');
    $('anomalies').querySelector('tbody').innerHTML = s.anomalies
      .map(
        (a) =>
          `<tr><td>${time(a.at)}</td><td>${namePools ? `${esc(a.pool)} ` : ''}#${a.cycle}</td><td>${esc(a.kind)}</td><td>${esc(a.message)}</td></tr>`,
      )
      .join('');
    // each condition as the server renders it (src/control/conditions.ts conditionText)
    const conds = s.conditions || [];
    $('conditions').innerHTML = conds.length
      ? conds
          .map((c) => {
            const cls =
              c.type === 'ScalingLimited'
                ? c.status === 'True'
                  ? 'limited'
                  : 'ok'
                : c.status === 'True'
                  ? 'ok'
                  : 'bad';
            return `<li class="condition ${cls}" data-type="${esc(c.type)}">${esc(c.text)}</li>`;
          })
          .join('')
      : '<li>none recorded yet</li>';
    // the operators' overrides in force, as the server renders them (src/policies/render.ts overrideLine)
    const overrides = s.overrides || [];
    $('overrides').innerHTML = overrides.length
      ? overrides
          .map((o) => `<li class="condition ${o.command === 'set' ? 'limited' : 'bad'}">${esc(o.text)}</li>`)
          .join('')
      : '<li>none: the configuration holds</li>';
    const h = s.health;
    $('health').textContent = h
      ? `cycle #${h.cycle} at ${time(h.at)}: ${h.lastWorkerCount} workers, last tasks ${h.lastQueued ?? '?'} queued / ${h.lastActive ?? '?'} active, database logging ${h.dbLoggingHealthy ? 'healthy' : 'UNHEALTHY'}, ${h.anomaliesSinceLast} anomalies since the one before`
      : 'none yet';
    $('status').textContent =
      `${s.pool ? `pool ${s.pool}, ` : s.pools.length > 1 ? 'all pools, ' : ''}updated ${time(s.now)} UTC, window ${s.window} (${time(s.from)} to ${time(s.to)})`;
  }

  async function refresh() {
    clearTimeout(timer);
    let every = 5;
    try {
      const s = await get(
        `api/state?window=${encodeURIComponent(select.value)}${pool ? `&pool=${encodeURIComponent(pool)}` : ''}`,
      );
      every = Math.max(1, Math.min(60, s.refreshSec));
      render(s);
    } catch (err) {
      $('status').textContent = `update failed: ${err.message}`;
    }
    timer = setTimeout(refresh, every * 1000);
  }

  async function showExplain(cycle, ofPool) {
    selectedCycle = cycle;
    selectedPool = ofPool;
    for (const tr of document.querySelectorAll('#decisions tbody tr'))
      tr.classList.toggle('selected', Number(tr.dataset.cycle) === cycle && tr.dataset.pool === ofPool);
    const box = $('explain');
    box.textContent = `explaining cycle #${cycle} of pool ${ofPool}…`;
    try {
      const r = await get(`api/explain?cycle=${cycle}&pool=${encodeURIComponent(ofPool)}`);
      box.innerHTML = `${r.timeline.map((l) => `<div class="line">[${time(l.at)}] #${l.position} ${esc(l.text)}</div>`).join('')}<p class="conclusion">${esc(r.conclusion)}</p>`;
      box.dataset.cycle = String(cycle);
      box.dataset.pool = ofPool;
    } catch (err) {
      box.textContent = `cannot explain cycle #${cycle}: ${err.message}`;
    }
  }

  $('decisions').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-cycle]');
    if (tr) showExplain(Number(tr.dataset.cycle), tr.dataset.pool);
  });
  $('pools').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-pool]');
    if (tr) choosePool(tr.dataset.pool);
  });
  function choosePool(name) {
    pool = name;
    const url = new URL(location.href);
    if (pool) url.searchParams.set('pool', pool);
    else url.searchParams.delete('pool');
    history.replaceState(null, '', url);
    refresh();
  }
  poolSelect.addEventListener('change', () => choosePool(poolSelect.value));
  select.addEventListener('change', refresh);
  window.addEventListener('resize', () => {
    if (!charts) return;
    charts.tasks.setSize({ width: chartWidth('chart-tasks'), height: 220 });
    charts.workers.setSize({ width: chartWidth('chart-workers'), height: 220 });
  });
  refresh();
})();
