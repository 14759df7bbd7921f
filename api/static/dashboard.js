// Admin desk, 看板 tab: searches per day, abstention and helpful rates, top queries (with
// "add to the golden set", the answering table chosen and confirmed in a dialog), knowledge gaps (draft a table from one, or attach its queries to a
// table), agents' helpful answers not yet in the golden set (the same dialog, their table
// proposed), stale-but-used tables and usage per table. Uses admin.js's esc/message/fail and
// charts.js; the figures come from /api/admin/dashboard and /api/admin/usage.
"use strict";

const Board = { days: 30, sort: "hits", order: "desc", page: 1, acting: null, packagesLoaded: false,
  usageRequest: 0, dashboardRequest: 0 };
const USAGE_PAGE_SIZE = 20;
const USAGE_COLUMNS = [
  ["code", "知识编号"], ["title", "标题"], ["package", "知识包"], ["hits", "命中"], ["last_hit", "最近命中"],
  ["helpful", "有用"], ["not_helpful", "没用"], ["helpful_rate", "有用率"], ["flags", "标记"], ["expires", "到期"],
];
const SORTABLE = new Set(["code", "hits", "last_hit", "helpful", "not_helpful", "helpful_rate", "flags", "expires"]);
const rate = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

async function loadDashboard() {
  Board.days = Number(document.getElementById("dash-days").value);
  const ticket = ++Board.dashboardRequest;
  try {
    const data = await Zhiku.api("GET", `/api/admin/dashboard?days=${Board.days}`);
    if (ticket !== Board.dashboardRequest) return;  // a newer range was chosen meanwhile
    renderKpis(data);
    renderDaily(data.daily);
    renderTopQueries(data.top_queries);
    renderGaps(data.top_gaps, data.gap_count);
    renderStale(data.stale_but_used);
    renderEndorsed(data.endorsed);
  } catch (error) { fail(error); }
  await loadUsage();
}

function renderKpis(data) {
  const t = data.totals;
  const cards = [
    ["搜索次数", t.searches, `${t.distinct_queries} 个不同问题`],
    ["无答案率", rate(t.abstention_rate), `${t.abstained} 次没有把握答案`],
    ["有用率", rate(t.helpful_rate), `${t.votes} 次评价`],
    ["知识缺口", data.gap_count, "按意图聚类的未解决问题"],
  ];
  document.getElementById("dash-kpis").innerHTML = cards.map(([label, value, note]) =>
    `<div class="kpi"><div class="meta">${esc(label)}</div><div class="kpi-value">${esc(value)}</div>
      <div class="meta">${esc(note)}</div></div>`).join("");
}

function renderDaily(daily) {
  ZhikuCharts.bars(document.getElementById("chart-searches"),
    daily.map((d) => ({ label: d.date, value: d.searches })), { label: "每日搜索量", unit: " 次" });
  ZhikuCharts.lines(document.getElementById("chart-rates"), [
    { name: "无答案率", color: ZhikuCharts.COLORS.red, points: daily.map((d) => ({ label: d.date, value: d.abstention_rate })) },
    { name: "有用率", color: ZhikuCharts.COLORS.green, points: daily.map((d) => ({ label: d.date, value: d.helpful_rate })) },
  ], { label: "每日无答案率与有用率" });
}

function renderTopQueries(rows) {
  // Red: every one of these searches went unanswered.
  ZhikuCharts.hbars(document.getElementById("chart-top-queries"),
    rows.map((q) => ({ label: q.query, value: q.count, color: q.abstained === q.count ? ZhikuCharts.COLORS.red : undefined })),
    { label: "热门问题", unit: " 次", emptyText: "这段时间还没有搜索。" });
  const canGolden = Zhiku.can("review");
  document.getElementById("top-queries").innerHTML = rows.length
    ? "<tr><th>问题</th><th>次数</th><th>无答案</th><th>常见答案</th><th></th></tr>" + rows.map((q) =>
      `<tr><td>${esc(q.query)}</td><td>${q.count}</td><td>${q.abstained}</td><td>${q.top_code ? esc(q.top_code) : "—"}</td>
        <td>${canGolden ? `<button type="button" class="small golden" data-query="${esc(q.query)}"
          data-code="${esc(q.top_code || "")}" data-unanswered="${q.abstained === q.count ? "1" : ""}"
          title="选择回答这个问题的知识，确认后加入黄金集（检索回归测试用）">加入黄金集</button>` : ""}</td></tr>`).join("")
    : "";
}

function renderEndorsed(rows) {
  const canGolden = Zhiku.can("review");
  document.getElementById("dash-endorsed").innerHTML = rows.length
    ? "<tr><th>问题</th><th>坐席评为有用的知识</th><th>有用 / 没用</th><th>最近</th><th></th></tr>" + rows.map((e) =>
      `<tr><td>${esc(e.query)}</td><td>${esc(e.code)} ${esc(e.title)}</td><td>${e.helpful} / ${e.not_helpful}</td>
        <td>${Zhiku.date(e.last_at)}</td><td>${canGolden ? `<button type="button" class="small golden" data-query="${esc(e.query)}"
          data-code="${esc(e.code)}" data-title="${esc(e.title)}" data-endorsed="${e.helpful}"
          title="核对坐席的选择，确认后加入黄金集">加入黄金集</button>` : ""}</td></tr>`).join("")
    : '<tr><td class="muted">这段时间没有待核对的坐席评价。</td></tr>';
}

function renderGaps(gaps, total) {
  ZhikuCharts.hbars(document.getElementById("chart-gaps"),
    gaps.map((g) => ({ label: g.name, value: g.volume })),
    { label: "知识缺口", unit: " 次", color: ZhikuCharts.COLORS.amber, emptyText: "没有知识缺口：近期的问题都有把握答案。" });
  const canDraft = Zhiku.can("draft");
  document.getElementById("gap-list").innerHTML = gaps.map((g) => `<div class="gap" data-n="${g.n}" data-name="${esc(g.name)}">
      <div class="row"><strong>#${g.n} ${esc(g.name)}</strong><span class="badge soon">${g.volume} 次</span>
        ${canDraft ? `<button type="button" class="small gap-draft">起草新知识</button>
          <button type="button" class="small gap-attach">补充到已有知识</button>` : ""}</div>
      <details><summary class="meta">${g.queries.length} 种问法</summary>
        <ul>${g.queries.map((q) => `<li>${esc(q.query)} <span class="meta">×${q.count}</span></li>`).join("")}</ul></details>
    </div>`).join("") +
    (total > gaps.length ? `<p class="meta">另有 ${total - gaps.length} 个较小的缺口；<code>kb gaps</code> 列出全部。</p>` : "");
}

function renderStale(items) {
  document.getElementById("dash-stale").innerHTML =
    "<tr><th>知识编号</th><th>标题</th><th>知识包</th><th>命中</th><th>到期</th><th></th></tr>" +
    (items.map((i) => `<tr><td>${esc(i.code)}</td><td>${esc(i.title)}</td><td>${esc(i.package)}</td><td>${i.hits}</td>
      <td>${Zhiku.date(i.expires_at)}</td><td>${i.expired ? '<span class="badge expired">已过期</span>' : '<span class="badge soon">即将到期</span>'}</td></tr>`).join("") ||
      '<tr><td colspan="6" class="muted">没有高频使用又将过期的知识。</td></tr>');
}

// ------------------------------------------------------------------ usage per table

async function loadUsage() {
  const params = new URLSearchParams({ sort: Board.sort, order: Board.order, page: String(Board.page), page_size: String(USAGE_PAGE_SIZE) });
  // A slower, older request (say, the dashboard's own refresh) must not overwrite a newer one.
  const ticket = ++Board.usageRequest;
  try {
    const data = await Zhiku.api("GET", "/api/admin/usage?" + params.toString());
    if (ticket !== Board.usageRequest) return;
    const arrow = data.order === "desc" ? " ↓" : " ↑";
    const head = USAGE_COLUMNS.map(([key, label]) => SORTABLE.has(key)
      ? `<th class="sortable" data-sort="${key}">${esc(label)}${data.sort === key ? arrow : ""}</th>`
      : `<th>${esc(label)}</th>`).join("");
    document.getElementById("usage-list").innerHTML = `<tr>${head}</tr>` +
      (data.rows.map((r) => `<tr class="clickable usage-row" data-code="${esc(r.code)}"><td>${esc(r.code)}</td>
        <td>${esc(r.title)}${r.live ? "" : ' <span class="badge internal">未上线</span>'}</td><td>${esc(r.package)}</td>
        <td>${r.hits}</td><td>${Zhiku.date(r.last_hit_at)}</td><td>${r.helpful}</td><td>${r.not_helpful}</td>
        <td>${rate(r.helpful_rate)}</td><td>${r.open_flags ? `<span class="badge expired">${r.open_flags} 待处理</span>` : r.flags || 0}</td>
        <td>${Zhiku.date(r.expires_at)}${r.expired ? ' <span class="badge expired">已过期</span>' : ""}</td></tr>`).join("") ||
        `<tr><td colspan="${USAGE_COLUMNS.length}" class="muted">没有可统计的知识。</td></tr>`);
    const pages = Math.max(1, Math.ceil(data.total / data.page_size));
    document.getElementById("usage-pager").innerHTML = `<span class="meta">第 ${data.page} / ${pages} 页，共 ${data.total} 条</span>
      <button type="button" class="small" data-page="${data.page - 1}" ${data.page <= 1 ? "disabled" : ""}>上一页</button>
      <button type="button" class="small" data-page="${data.page + 1}" ${data.page >= pages ? "disabled" : ""}>下一页</button>`;
  } catch (error) { fail(error); }
}

async function showUsage(code) {
  const box = document.getElementById("usage-detail");
  try {
    const d = await Zhiku.api("GET", `/api/admin/usage/${encodeURIComponent(code)}?days=${Board.days}`);
    const u = d.usage;
    const reasons = { wrong: "内容有误", outdated: "信息过时", unclear: "表述不清", duplicate: "重复知识" };
    box.innerHTML = `<h3>${esc(u.code)} · ${esc(u.title)}</h3>
      <p class="meta">命中 ${u.hits} 次 · 最近 ${Zhiku.date(u.last_hit_at)} · 有用 ${u.helpful} / 没用 ${u.not_helpful} · 到期 ${Zhiku.date(u.expires_at)}</p>
      <div class="field-label">近 ${d.days} 天把它排在第一的问题</div>
      ${d.queries.length ? `<ul>${d.queries.map((q) => `<li>${esc(q.query)} <span class="meta">×${q.count}</span></li>`).join("")}</ul>` : '<p class="muted">没有。</p>'}
      <div class="field-label">待处理的标记</div>
      ${d.open_flags.length ? `<ul>${d.open_flags.map((f) => `<li>${esc(reasons[f.reason] || f.reason)} · ${esc(f.raised_by)} · ${Zhiku.date(f.raised_at)} ${esc(f.comment)}</li>`).join("")}</ul>` : '<p class="muted">没有。</p>'}
      <div class="actions"><button type="button" class="small" id="usage-open" data-code="${esc(u.code)}">打开编辑</button></div>`;
    box.classList.remove("hidden");
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ gap actions

async function ensurePackages() {
  if (Board.packagesLoaded) return;
  const categories = await Zhiku.api("GET", "/api/admin/categories");
  document.getElementById("gap-package").innerHTML = categories.flatMap((c) => c.packages)
    .map((p) => `<option value="${esc(p.path)}">${esc(p.path)}</option>`).join("");
  Board.packagesLoaded = true;
}

async function openGapForm(gap, mode) {
  Board.acting = { n: Number(gap.dataset.n), name: gap.dataset.name, mode: mode };
  const form = document.getElementById("gap-form");
  form.dataset.mode = mode;
  document.getElementById("gap-form-title").textContent = mode === "draft"
    ? `从缺口“${gap.dataset.name}”起草新知识（问法作为相似问法，提交后走审核）`
    : `把缺口“${gap.dataset.name}”的问法补充到已有知识（生成草稿，需审核）`;
  document.getElementById("gap-code-label").textContent = mode === "draft" ? "新知识编号" : "要补充的知识编号";
  document.getElementById("gap-title").value = gap.dataset.name;
  document.getElementById("gap-answer").value = "";
  document.getElementById("gap-code").value = "";
  document.getElementById("gap-error").className = "hidden";
  form.classList.remove("hidden");
  try { if (mode === "draft") await ensurePackages(); } catch (error) { fail(error, document.getElementById("gap-error")); }
  form.scrollIntoView({ block: "nearest" });
}

async function submitGap(event) {
  event.preventDefault();
  const acting = Board.acting;
  const code = document.getElementById("gap-code").value.trim();
  const from = { days: Board.days, expected_name: acting.name };
  try {
    const result = acting.mode === "draft"
      ? await Zhiku.api("POST", `/api/admin/gaps/${acting.n}/draft`, {
        ...from, code: code, package: document.getElementById("gap-package").value,
        title: document.getElementById("gap-title").value.trim(), answer: document.getElementById("gap-answer").value })
      : await Zhiku.api("POST", `/api/admin/gaps/${acting.n}/attach`, { ...from, to: code });
    document.getElementById("gap-form").classList.add("hidden");
    message("ok", `${esc(result.code)} r${result.revision} 已保存为草稿，含 ${result.questions.length} 个相似问法；提交审核并通过后上线。
      <button type="button" class="small" id="gap-open" data-code="${esc(result.code)}">打开并提交审核</button>`);
  } catch (error) { fail(error, document.getElementById("gap-error")); }
}

// 加入黄金集 asks which table answers the query, searched inside the dialog, and stores the
// pair only once that choice is confirmed: the table the query happened to get (or none, for
// an unanswered query) is shown as a hint, never chosen for the reviewer. The table agents
// voted helpful is a person's judgment: it is proposed, and still confirmed by the reviewer.
const Golden = { button: null, choice: null, request: 0 };

function setGoldenChoice(code, title) {
  Golden.choice = code ? { code: code, title: title || "" } : null;
  const box = document.getElementById("golden-choice");
  const confirm = document.getElementById("golden-confirm");
  confirm.disabled = !Golden.choice;
  if (!Golden.choice) {
    box.classList.add("hidden");
    return;
  }
  box.classList.remove("hidden");
  box.innerHTML = `将加入：“${esc(Golden.button.dataset.query)}” → <strong>${esc(code)}</strong> ${esc(title || "")}`;
  confirm.textContent = `确认加入 ${code}`;
}

async function searchGolden() {
  const q = document.getElementById("golden-q").value.trim();
  const box = document.getElementById("golden-candidates");
  if (!q) return;
  const params = new URLSearchParams({ q: q, channel: "agent", k: "8" });
  const ticket = ++Golden.request;
  try {
    const data = await Zhiku.api("GET", "/api/admin/hit-test?" + params.toString());
    if (ticket !== Golden.request) return;  // a newer search was started meanwhile
    // a picked result is gone with the old list; a typed (or proposed) code stays chosen
    const typed = document.getElementById("golden-code").value.trim();
    if (!Golden.choice || Golden.choice.code !== typed) setGoldenChoice(typed, "");
    box.dataset.query = q;
    box.innerHTML = data.suggestions.length
      ? '<ul class="candidates">' + data.suggestions.map((s) => `<li><label><input type="radio" name="golden-pick"
          value="${esc(s.code)}" data-title="${esc(s.title)}"> <strong>${esc(s.code)}</strong> ${esc(s.title)}
          <span class="meta">${esc(s.path.slice(0, 2).join(" › "))} · ${(s.confidence * 100).toFixed(0)}%</span></label></li>`).join("") + "</ul>"
      : '<p class="muted">没有找到，换个说法搜索，或直接输入知识编号。</p>';
  } catch (error) { fail(error, document.getElementById("golden-error")); }
}

function openGolden(button) {
  Golden.button = button;
  const dialog = document.getElementById("golden-dialog");
  document.getElementById("golden-query").textContent = button.dataset.query;
  document.getElementById("golden-seen").textContent = button.dataset.endorsed
    ? `坐席 ${button.dataset.endorsed} 次评为有用：${button.dataset.code}（请核对后确认）。`
    : button.dataset.unanswered
      ? "这个问题在看板期间没有得到把握答案。"
      : button.dataset.code ? `检索最常给出 ${button.dataset.code}（不一定正确，请核对）。` : "";
  document.getElementById("golden-q").value = button.dataset.query;
  document.getElementById("golden-code").value = "";
  document.getElementById("golden-candidates").innerHTML = "";
  document.getElementById("golden-error").className = "hidden";
  document.getElementById("golden-confirm").textContent = "确认加入";
  setGoldenChoice(null);
  if (button.dataset.endorsed) {
    document.getElementById("golden-code").value = button.dataset.code;
    setGoldenChoice(button.dataset.code, button.dataset.title);
  }
  dialog.showModal();
  searchGolden();
}

async function confirmGolden() {
  const button = Golden.button;
  const choice = Golden.choice;
  if (!choice) return;
  try {
    await Zhiku.api("POST", "/api/admin/golden", { query: button.dataset.query, code: choice.code });
    document.getElementById("golden-dialog").close();
    button.disabled = true;
    button.textContent = "已加入";
    message("ok", `“${esc(button.dataset.query)}” → ${esc(choice.code)} 已加入黄金集（<code>kb golden export</code> 导出评测集）。`);
  } catch (error) { fail(error, document.getElementById("golden-error")); }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("dash-days").addEventListener("change", () => { Board.page = 1; loadDashboard(); });
  document.getElementById("dash-refresh").addEventListener("click", loadDashboard);
  document.getElementById("gap-list").addEventListener("click", (e) => {
    const gap = e.target.closest(".gap");
    if (e.target.classList.contains("gap-draft")) openGapForm(gap, "draft");
    if (e.target.classList.contains("gap-attach")) openGapForm(gap, "attach");
  });
  document.getElementById("gap-form").addEventListener("submit", submitGap);
  document.getElementById("gap-cancel").addEventListener("click", () => document.getElementById("gap-form").classList.add("hidden"));
  for (const id of ["top-queries", "dash-endorsed"]) {
    document.getElementById(id).addEventListener("click", (e) => {
      if (e.target.classList.contains("golden")) openGolden(e.target);
    });
  }
  document.getElementById("golden-search").addEventListener("click", searchGolden);
  document.getElementById("golden-q").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      searchGolden();
    }
  });
  document.getElementById("golden-candidates").addEventListener("change", (e) => {
    if (e.target.name === "golden-pick") {
      document.getElementById("golden-code").value = "";
      setGoldenChoice(e.target.value, e.target.dataset.title);
    }
  });
  document.getElementById("golden-code").addEventListener("input", (e) => {
    document.querySelectorAll("input[name='golden-pick']").forEach((r) => { r.checked = false; });
    setGoldenChoice(e.target.value.trim(), "");
  });
  document.getElementById("golden-confirm").addEventListener("click", confirmGolden);
  document.getElementById("usage-list").addEventListener("click", (e) => {
    const th = e.target.closest("th.sortable");
    if (th) {
      const key = th.dataset.sort;
      Board.order = Board.sort === key ? (Board.order === "desc" ? "asc" : "desc") : (key === "code" ? "asc" : "desc");
      Board.sort = key;
      Board.page = 1;
      loadUsage();
      return;
    }
    const row = e.target.closest(".usage-row");
    if (row) showUsage(row.dataset.code);
  });
  document.getElementById("usage-pager").addEventListener("click", (e) => {
    if (e.target.dataset.page) {
      Board.page = Number(e.target.dataset.page);
      loadUsage();
    }
  });
  document.getElementById("usage-detail").addEventListener("click", (e) => {
    if (e.target.id === "usage-open") openInEditor(e.target.dataset.code);
  });
  document.getElementById("admin-message").addEventListener("click", (e) => {
    if (e.target.id === "gap-open") openInEditor(e.target.dataset.code);
  });
});
