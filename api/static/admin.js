// Admin desk: review queue with field diff and scheduled approval, expiring/expired/flagged
// queues, the table editor following the package template (change note, related tables,
// history, rollback, withdraw, archive), import with its error report, and hit testing.
// Customers' requests are in requests.js, categories and packages in hierarchy.js.
"use strict";

const esc = (v) => Zhiku.esc(v);
const STATE_NAMES = {
  draft: "草稿", in_review: "审核中", scheduled: "已批准待发布", published: "已发布",
  rejected: "已驳回", archived: "已归档",
};
const Admin = { reviewing: null, editing: null, packages: [], template: [], packageRequest: 0 };

function message(kind, html) {
  const box = document.getElementById("admin-message");
  box.className = "notice " + kind;
  box.innerHTML = html;
}

function fail(error, target) {
  if (target) Zhiku.showError(target, error);
  else message("error", Zhiku.errorHtml(error));
}

function showTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll("[data-panel]").forEach((p) => p.classList.toggle("hidden", p.dataset.panel !== name));
  document.getElementById("admin-message").className = "hidden";
  const loaders = { review: loadReview, expiring: () => loadDue("expiring"), expired: () => loadDue("expired"),
    flagged: loadFlagged, editor: loadEditor, dictionary: loadDictionary, audit: loadAudit,
    dashboard: loadDashboard, requests: loadRequests, hierarchy: loadHierarchy };
  if (loaders[name]) loaders[name]();
}

// ------------------------------------------------------------------ review

async function loadReview() {
  const list = document.getElementById("review-list");
  document.getElementById("review-detail").classList.add("hidden");
  if (!Zhiku.can("review")) {
    list.innerHTML = '<tr><td class="muted">只有审核员和管理员可以审核。</td></tr>';
    return;
  }
  try {
    const data = await Zhiku.api("GET", "/api/admin/queues/review");
    document.getElementById("count-review").textContent = data.count;
    list.innerHTML = "<tr><th>知识编号</th><th>标题</th><th>知识包</th><th>版本</th><th>作者</th><th>提交时间</th></tr>" +
      (data.items.map((i) => `<tr class="clickable review-item" data-code="${esc(i.code)}">
        <td>${esc(i.code)}</td><td>${esc(i.title)}</td><td>${esc(i.package)}</td>
        <td>r${i.revision}${i.live_revision ? `（线上 r${i.live_revision}）` : "（新知识）"}</td>
        <td>${esc(i.author)}</td><td>${Zhiku.date(i.submitted_at)}</td></tr>`).join("") ||
        '<tr><td colspan="6" class="muted">没有待审核的知识。</td></tr>');
  } catch (error) { fail(error); }
}

const CHANGE_NAMES = { added: "新增", removed: "删除", changed: "修改" };

function diffHtml(changes) {
  if (!changes.length) return '<p class="muted">内容与线上版本相同。</p>';
  return changes.map((c) => {
    const lines = c.lines
      .filter((line) => !line.startsWith("+++") && !line.startsWith("---") && !line.startsWith("@@"))
      .map((line) => {
        const cls = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
        return `<div class="${cls}">${esc(line)}</div>`;
      }).join("");
    return `<div class="field-label">${esc(c.label)} <span class="muted">${esc(CHANGE_NAMES[c.kind] || c.kind)}</span></div><div class="diff">${lines}</div>`;
  }).join("");
}

async function openReview(code) {
  try {
    const table = await Zhiku.api("GET", `/api/admin/tables/${encodeURIComponent(code)}`);
    const latest = table.latest;
    const base = table.live ? table.live.number : 0;
    let diff;
    if (base && base !== latest.number) {
      const data = await Zhiku.api("GET", `/api/admin/tables/${encodeURIComponent(code)}/diff?a=${base}&b=${latest.number}`);
      diff = diffHtml(data.changes);
    } else {
      // A new table: show its fields as written.
      const labels = Object.fromEntries(table.template.map((f) => [f.key, f.label]));
      diff = `<div class="field-label">相似问法</div><div class="diff">${esc(latest.questions.join("\n"))}</div>` +
        Object.entries(latest.fields).map(([k, v]) =>
          `<div class="field-label">${esc(labels[k] || k)}</div><div class="diff">${esc(Array.isArray(v) ? v.join("\n") : v)}</div>`).join("");
    }
    Admin.reviewing = code;
    Admin.reviewedSubmission = latest.submitted_at;  // what this decision is about
    document.getElementById("review-title").textContent = `${latest.title}（${code} r${latest.number}）`;
    document.getElementById("review-meta").innerHTML =
      `${esc(table.category)} › ${esc(table.package)} · 作者 ${esc(latest.author)} · 修改说明：` +
      (latest.note ? `<strong id="review-note">${esc(latest.note)}</strong>` : '<span class="muted">（作者没有写修改说明）</span>');
    document.getElementById("review-diff").innerHTML = diff;
    document.getElementById("review-comment").value = "";
    document.getElementById("review-publish-at").value = "";
    document.getElementById("review-detail").classList.remove("hidden");
  } catch (error) { fail(error); }
}

// A datetime-local value (the reviewer's clock) as ISO 8601 with their offset.
function localIso(value) {
  return value ? new Date(value).toISOString() : null;
}

function localTime(value) {
  return value ? new Date(value).toLocaleString("zh-CN", { hour12: false }) : "—";
}

async function decide(verb) {
  const code = Admin.reviewing;
  const comment = document.getElementById("review-comment").value.trim();
  const body = { comment: comment, submitted_at: Admin.reviewedSubmission };
  const at = document.getElementById("review-publish-at").value;
  if (verb === "approve" && at) body.publish_at = localIso(at);
  try {
    const result = await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(code)}/${verb}`, body);
    await loadReview();
    if (verb === "reject") message("ok", `${esc(code)} 已驳回，作者会看到您的意见。`);
    else if (result.state === "scheduled") message("ok", `${esc(code)} 已通过，r${result.revision} 将于 ${esc(localTime(body.publish_at))} 自动发布。`);
    else message("ok", `${esc(code)} 已通过，r${result.revision} 已发布上线。`);
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ due and flagged queues

async function loadDue(name) {
  const list = document.getElementById(`${name}-list`);
  try {
    const data = await Zhiku.api("GET", `/api/admin/queues/${name}?days=30`);
    document.getElementById(`count-${name}`).textContent = data.count;
    const canVerify = Zhiku.can("verify");
    list.innerHTML = "<tr><th>知识编号</th><th>标题</th><th>知识包</th><th>负责人</th><th>到期</th><th>最近核实</th><th></th></tr>" +
      (data.items.map((i) => `<tr><td>${esc(i.code)}</td><td>${esc(i.title)}</td><td>${esc(i.package)}</td>
        <td>${esc(i.owner)}</td><td>${Zhiku.date(i.expires_at)}</td><td>${Zhiku.date(i.last_verified_at)}</td>
        <td>${canVerify ? `<input type="date" class="verify-until" aria-label="新有效期">
          <button type="button" class="small verify" data-code="${esc(i.code)}" data-queue="${name}">核实</button>` : ""}</td></tr>`).join("") ||
        '<tr><td colspan="7" class="muted">没有需要处理的知识。</td></tr>');
  } catch (error) { fail(error); }
}

async function verify(button) {
  const until = button.parentElement.querySelector(".verify-until").value;
  const body = { comment: "管理台核实" };
  if (until) body.valid_until = until + "T23:59:59+08:00";
  try {
    await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(button.dataset.code)}/verify`, body);
    await loadDue(button.dataset.queue);
    message("ok", `${esc(button.dataset.code)} 已核实。`);
  } catch (error) { fail(error); }
}

async function loadFlagged() {
  const list = document.getElementById("flagged-list");
  try {
    const data = await Zhiku.api("GET", "/api/admin/queues/flagged");
    document.getElementById("count-flagged").textContent = data.count;
    const reasons = { wrong: "内容有误", outdated: "信息过时", unclear: "表述不清", duplicate: "重复知识" };
    list.innerHTML = "<tr><th>知识编号</th><th>标题</th><th>标记</th><th></th></tr>" +
      (data.items.map((i) => `<tr><td>${esc(i.code)}</td><td>${esc(i.title)}<div class="meta">${esc(i.package)}</div></td>
        <td>${i.flags.map((f) => `<div>${esc(reasons[f.reason] || f.reason)} · ${esc(f.raised_by)} · ${Zhiku.date(f.raised_at)}
          ${f.comment ? `<div class="meta">${esc(f.comment)}</div>` : ""}
          ${Zhiku.can("resolve_flag") ? `<button type="button" class="small dismiss" data-id="${f.id}">驳回标记</button>` : ""}</div>`).join("")}</td>
        <td><button type="button" class="small edit-flagged" data-code="${esc(i.code)}">去修改</button></td></tr>`).join("") ||
        '<tr><td colspan="4" class="muted">没有被标记的知识。</td></tr>');
  } catch (error) { fail(error); }
}

async function dismiss(button) {
  const comment = window.prompt("驳回标记的理由（知识为何无需修改）：");
  if (!comment) return;
  try {
    await Zhiku.api("POST", `/api/admin/flags/${button.dataset.id}/dismiss`, { comment: comment });
    await loadFlagged();
    message("ok", "标记已驳回。");
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ editor

async function loadEditor() {
  Admin.editorLoaded = loadEditorPackages();
  return Admin.editorLoaded;
}

async function loadEditorPackages() {
  const select = document.getElementById("editor-package");
  try {
    const categories = await Zhiku.api("GET", "/api/admin/categories");
    const current = select.value;
    Admin.packages = categories.flatMap((c) => c.packages);
    select.innerHTML = Admin.packages.map((p) => `<option value="${esc(p.path)}">${esc(p.path)}</option>`).join("");
    if (current) select.value = current;
    await loadPackage();
  } catch (error) { fail(error); }
}

async function loadPackage() {
  const path = document.getElementById("editor-package").value;
  if (!path) return;
  const [category, name] = path.split("/");
  // A slower, older load (say, the tab's first one) must not overwrite the package chosen since.
  const ticket = ++Admin.packageRequest;
  try {
    const pkg = await Zhiku.api("GET", `/api/admin/packages/${encodeURIComponent(category)}/${encodeURIComponent(name)}`);
    if (ticket !== Admin.packageRequest) return;
    Admin.template = pkg.template;
    document.getElementById("editor-tables").innerHTML =
      "<tr><th>知识编号</th><th>标题</th><th>状态</th><th>线上版本</th><th>到期</th></tr>" +
      pkg.table_rows.map((t) => `<tr class="clickable editor-row" data-code="${esc(t.code)}"><td>${esc(t.code)}</td>
        <td>${esc(t.title)}</td><td>${esc(STATE_NAMES[t.state] || t.state)}</td>
        <td>${t.live_revision ? "r" + t.live_revision : "—"}</td><td>${Zhiku.date(t.expires_at)}</td></tr>`).join("");
  } catch (error) { fail(error); }
}

function rowsFor(text) {
  return Math.min(12, Math.max(2, String(text).split("\n").length + 1));
}

function fieldInput(spec, value) {
  const id = `f-${spec.key}`;
  const text = Array.isArray(value) ? value.join("\n") : (value || "");
  const hint = spec.type === "steps" || spec.type === "list" ? "（每行一项）" : "";
  const internal = spec.audience === "internal" ? ' <span class="badge internal">内部</span>' : "";
  const label = `<label for="${id}" class="${spec.required ? "req" : ""}">${esc(spec.label)}${internal}</label>`;
  const input = spec.type === "text" && spec.key !== "answer" && spec.key !== "question"
    ? `<input type="text" id="${id}" data-key="${esc(spec.key)}" data-type="${spec.type}" value="${esc(text)}" placeholder="${hint}">`
    : `<textarea id="${id}" data-key="${esc(spec.key)}" data-type="${spec.type}" placeholder="${hint}" rows="${rowsFor(text)}">${esc(text)}</textarea>`;
  return label + input;
}

function renderEditor(table) {
  Admin.editing = table;
  const isNew = !table;
  const latest = table ? table.latest : { title: "", questions: [], tags: [], fields: {} };
  const template = table ? table.template : Admin.template;
  document.getElementById("editor-heading").textContent = isNew ? "新建知识" : `${table.code} · ${latest.title}`;
  document.getElementById("editor-state").textContent = isNew
    ? `知识包：${document.getElementById("editor-package").value}`
    : `最新版本 r${latest.number}：${STATE_NAMES[latest.state] || latest.state}` +
      (table.live_revision ? ` · 线上 r${table.live_revision}` : "") +
      (latest.review_comment ? ` · 审核意见：${latest.review_comment}` : "");
  let html = "";
  if (isNew) html += '<label for="e-code" class="req">知识编号</label><input type="text" id="e-code" placeholder="如 TX-GH-101">';
  html += `<label for="e-title" class="req">知识标题</label><input type="text" id="e-title" value="${esc(latest.title)}">`;
  html += `<label for="e-questions">相似问法</label><textarea id="e-questions" placeholder="每行一个问法" rows="${rowsFor(latest.questions.join("\n"))}">${esc(latest.questions.join("\n"))}</textarea>`;
  html += `<label for="e-tags">标签</label><input type="text" id="e-tags" value="${esc(latest.tags.join(" "))}" placeholder="用空格分隔">`;
  const { audience, until, pending } = shownMeta(table);
  html += `<label for="e-audience">可见范围</label><select id="e-audience">
    <option value="public"${audience === "public" ? " selected" : ""}>公开（客户可见）</option>
    <option value="internal"${audience === "internal" ? " selected" : ""}>仅内部</option></select>`;
  html += `<label for="e-until">有效期至</label><div class="row"><input type="date" id="e-until" value="${until}">
    <span class="meta">可见范围和有效期的修改随草稿送审，审核通过后生效（管理员保存即生效）${
      Object.keys(pending).length ? "；本草稿已含待审修改" : ""}</span></div>`;
  html += template.map((spec) => fieldInput(spec, latest.fields[spec.key])).join("");
  document.getElementById("editor-fields").innerHTML = html;
  document.getElementById("editor-error").className = "hidden";
  const related = table ? table.related : [];
  document.getElementById("e-related").value = related.map((r) => r.code).join(" ");
  document.getElementById("e-related-titles").innerHTML = related.map((r) =>
    `<a href="#" class="open-related" data-code="${esc(r.code)}">${esc(r.code)} ${esc(r.title)}</a>`).join("；");
  // The open draft's own note can be amended; a new draft starts with an empty one.
  document.getElementById("e-note").value = table && latest.state === "draft" ? latest.note : "";
  const allowed = table ? table.allowed_actions : ["edit"];
  document.getElementById("editor-save").disabled = !allowed.includes("edit");
  document.getElementById("editor-submit").disabled = isNew || !allowed.includes("submit");
  document.getElementById("editor-withdraw").classList.toggle("hidden", !allowed.includes("withdraw"));
  document.getElementById("editor-archive").classList.toggle("hidden",
    !(allowed.includes("archive") && Zhiku.can("archive")));
  renderHistory(table);
  const form = document.getElementById("editor-form");
  form.classList.remove("hidden");
  form.scrollIntoView({ block: "start" });
}

async function openTable(code) {
  try {
    const table = await Zhiku.api("GET", `/api/admin/tables/${encodeURIComponent(code)}`);
    if (Admin.editorLoaded) await Admin.editorLoaded;
    // The package selector and its list follow the table opened (from a queue, a hit test…).
    const select = document.getElementById("editor-package");
    const path = `${table.category}/${table.package}`;
    if (select.value !== path && [...select.options].some((o) => o.value === path)) {
      select.value = path;
      await loadPackage();
    }
    renderEditor(table);
  } catch (error) { fail(error); }
}

function openInEditor(code) {
  showTab("editor");
  openTable(code);
}

function editorValues() {
  const lines = (id) => document.getElementById(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
  const fields = {};
  document.querySelectorAll("#editor-fields [data-key]").forEach((el) => {
    const listy = el.dataset.type === "steps" || el.dataset.type === "list";
    fields[el.dataset.key] = listy ? el.value.split("\n").map((s) => s.trim()).filter(Boolean) : el.value;
  });
  return {
    title: document.getElementById("e-title").value,
    questions: lines("e-questions"),
    tags: document.getElementById("e-tags").value.split(/\s+/).filter(Boolean),
    fields: fields,
    note: document.getElementById("e-note").value.trim(),
  };
}

function contentChanged(table, values) {
  const latest = table.latest;
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const fields = Object.fromEntries(Object.entries(values.fields).filter(([, v]) => (Array.isArray(v) ? v.length : String(v).trim())));
  const before = Object.fromEntries(Object.entries(latest.fields).filter(([, v]) => (Array.isArray(v) ? v.length : String(v).trim())));
  const trimmed = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : String(v).trim()]));
  return !(values.title.trim() === latest.title && same(values.questions, latest.questions) &&
    same(values.tags, latest.tags) && same(trimmed(fields), trimmed(before)));
}

function relatedCodes() {
  return document.getElementById("e-related").value.split(/[\s,，、]+/).filter(Boolean);
}

// Audience and validity as the editor shows them: a change waiting on the open draft for
// review (latest.proposed) wins over the table's current values.
function shownMeta(table) {
  const latest = table ? table.latest : {};
  const open = ["draft", "in_review"].includes(latest.state);
  const pending = table && open && latest.proposed ? latest.proposed : {};
  const audience = "audience" in pending ? pending.audience : table ? table.audience : "public";
  const untilValue = "valid_until" in pending ? pending.valid_until : table ? table.valid_until : null;
  return { audience, until: untilValue ? untilValue.slice(0, 10) : "", pending };
}

// Metadata edits (audience, validity) that differ from what the editor showed.
function metaChanges(table) {
  const meta = {};
  const shown = shownMeta(table);
  const audience = document.getElementById("e-audience").value;
  if (audience !== shown.audience) meta.audience = audience;
  const until = document.getElementById("e-until").value;
  const was = shown.until;
  if (until !== was) {
    if (until) meta.valid_until = until + "T23:59:59+08:00";
    else meta.clear_valid_until = true;
  }
  const related = relatedCodes();
  if (related.join(" ") !== table.related.map((r) => r.code).join(" ")) meta.related = related;
  return meta;
}

async function saveDraft(event) {
  event.preventDefault();
  const error = document.getElementById("editor-error");
  const values = editorValues();
  try {
    let table;
    if (!Admin.editing) {
      table = await Zhiku.api("POST", "/api/admin/tables", {
        ...values,
        package: document.getElementById("editor-package").value,
        code: document.getElementById("e-code").value.trim(),
        audience: document.getElementById("e-audience").value,
        valid_until: document.getElementById("e-until").value
          ? document.getElementById("e-until").value + "T23:59:59+08:00" : null,
        related: relatedCodes(),
      });
    } else {
      const code = encodeURIComponent(Admin.editing.code);
      const meta = metaChanges(Admin.editing);
      if (Object.keys(meta).length) table = await Zhiku.api("PATCH", `/api/admin/tables/${code}`, meta);
      // Metadata alone needs no content edit (audience and validity ride on a draft anyway).
      const latest = Admin.editing.latest;
      const noteChanged = latest.state === "draft" && values.note !== latest.note;
      if (contentChanged(Admin.editing, values) || noteChanged) {
        table = await Zhiku.api("PUT", `/api/admin/tables/${code}/draft`, { ...values, replace_fields: true });
      } else if (table) {
        renderEditor(table);
        // Audience and validity wait on the draft for review unless an admin changed them.
        const waiting = ["draft", "in_review"].includes(table.latest.state) && table.latest.proposed;
        message("ok", waiting
          ? `${esc(table.code)} 的可见范围或有效期修改已放入草稿 r${table.latest.number}，提交审核并通过后生效。`
          : `${esc(table.code)} 的关联知识、可见范围或有效期已保存（内容未变）。`);
        return;
      } else {
        message("info", "没有改动，无需保存。");
        return;
      }
    }
    renderEditor(table);
    loadPackage();
    message("ok", `草稿已保存（${esc(table.code)} r${table.latest.number}）。`);
  } catch (e) { fail(e, error); }
}

async function submitDraft() {
  const code = Admin.editing.code;
  try {
    const result = await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(code)}/submit`);
    await openTable(code);
    loadPackage();
    let html = `${esc(code)} r${result.revision} 已提交审核。`;
    if (result.duplicates.length) {
      html += "<br>注意，以下知识的标题或问法与本条非常相似：" +
        result.duplicates.map((d) => `${esc(d.code)} ${esc(d.title)}`).join("；");
    }
    message(result.duplicates.length ? "warn" : "ok", html);
  } catch (error) { fail(error, document.getElementById("editor-error")); }
}

async function withdrawDraft() {
  const code = Admin.editing.code;
  try {
    const result = await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(code)}/withdraw`, { comment: "" });
    await openTable(code);
    loadPackage();
    message("ok", `${esc(code)} r${result.revision} 已撤回，可以继续修改。`);
  } catch (error) { fail(error, document.getElementById("editor-error")); }
}

async function archiveTable() {
  const code = Admin.editing.code;
  const comment = window.prompt(`归档后 ${code} 对客户和坐席都不再可见（历史版本保留，可回滚）。请填写归档原因：`);
  if (comment === null) return;
  try {
    await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(code)}/archive`, { comment: comment });
    await openTable(code);
    loadPackage();
    message("ok", `${esc(code)} 已归档下线。`);
  } catch (error) { fail(error, document.getElementById("editor-error")); }
}

function renderHistory(table) {
  const box = document.getElementById("editor-history");
  document.getElementById("editor-revision").classList.add("hidden");
  if (!table) {
    box.innerHTML = '<tr><td class="muted">保存后开始记录版本。</td></tr>';
    return;
  }
  const canRollback = table.allowed_actions.includes("rollback") && Zhiku.can("rollback");
  box.innerHTML = "<tr><th>版本</th><th>状态</th><th>标题</th><th>作者</th><th>时间</th><th>修改说明</th><th>审核</th><th></th></tr>" +
    table.revisions.map((r) => {
      const live = r.number === table.live_revision;
      const when = r.state === "scheduled" && r.publish_at ? `定时 ${localTime(r.publish_at)}` : localTime(r.published_at || r.created_at);
      const rollback = canRollback && !live && (r.state === "published" || r.state === "archived")
        ? `<button type="button" class="small rollback" data-number="${r.number}">回滚到此版本</button>` : "";
      return `<tr class="revision-row" data-number="${r.number}"><td>r${r.number}${live ? ' <span class="badge fresh">线上</span>' : ""}</td>
        <td>${esc(STATE_NAMES[r.state] || r.state)}</td><td>${esc(r.title)}</td><td>${esc(r.author)}</td><td>${esc(when)}</td>
        <td>${esc(r.note) || '<span class="muted">—</span>'}</td>
        <td>${r.reviewed_by ? esc(r.reviewed_by) : ""}${r.review_comment ? `：${esc(r.review_comment)}` : ""}</td>
        <td class="actions"><button type="button" class="small view-revision" data-number="${r.number}">查看</button>
          ${table.live_revision && !live ? `<button type="button" class="small diff-revision" data-number="${r.number}">与线上对比</button>` : ""}
          ${rollback}</td></tr>`;
    }).join("");
}

async function viewRevision(number, withDiff) {
  const code = Admin.editing.code;
  const box = document.getElementById("editor-revision");
  try {
    let html;
    if (withDiff) {
      const live = Admin.editing.live_revision;
      const [a, b] = number < live ? [number, live] : [live, number];
      const data = await Zhiku.api("GET", `/api/admin/tables/${encodeURIComponent(code)}/diff?a=${a}&b=${b}`);
      html = `<h3>r${a} → r${b} 的改动</h3>` + diffHtml(data.changes);
    } else {
      const r = await Zhiku.api("GET", `/api/admin/tables/${encodeURIComponent(code)}/revisions/${number}`);
      const labels = Object.fromEntries(Admin.editing.template.map((f) => [f.key, f.label]));
      html = `<h3>r${r.number} · ${esc(r.title)}</h3><p class="meta">${esc(STATE_NAMES[r.state] || r.state)} · ${esc(r.author)} · ${esc(localTime(r.created_at))}</p>` +
        `<div class="field-label">相似问法</div><div class="diff">${esc(r.questions.join("\n"))}</div>` +
        Object.entries(r.fields).map(([k, v]) =>
          `<div class="field-label">${esc(labels[k] || k)}</div><div class="diff">${esc(Array.isArray(v) ? v.join("\n") : v)}</div>`).join("");
    }
    box.innerHTML = html;
    box.classList.remove("hidden");
    box.scrollIntoView({ block: "nearest" });
  } catch (error) { fail(error, document.getElementById("editor-error")); }
}

async function rollbackTo(number) {
  const code = Admin.editing.code;
  const note = window.prompt(`以 r${number} 的内容新建一份草稿（审核通过后才上线）。回滚原因：`, `回滚到 r${number}`);
  if (note === null) return;
  try {
    const result = await Zhiku.api("POST", `/api/admin/tables/${encodeURIComponent(code)}/rollback`, { to: number, note: note });
    await openTable(code);
    loadPackage();
    message("ok", `已从 r${number} 新建草稿 r${result.revision}；提交审核并通过后上线。`);
  } catch (error) { fail(error, document.getElementById("editor-error")); }
}

// ------------------------------------------------------------------ import / export

async function runImport(event) {
  event.preventDefault();
  const file = document.getElementById("import-file").files[0];
  const result = document.getElementById("import-result");
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("draft", document.getElementById("import-draft").checked ? "true" : "false");
  try {
    const report = await Zhiku.api("POST", "/api/admin/import", form);
    result.className = "notice ok";
    result.innerHTML = `导入完成：新增 ${report.created.length} 条，更新 ${report.revised.length} 条，未变 ${report.unchanged.length} 条` +
      (report.published ? "（已发布）" : "（草稿，待审核）") + "。";
  } catch (error) {
    const problems = (error.body && error.body.problems) || [];
    result.className = "card";
    result.innerHTML = `<div class="notice error" id="import-error">${esc(error.body ? error.body.message : error.message)}</div>` +
      (problems.length ? `<table class="list" id="import-problems"><tr><th>位置</th><th>字段</th><th>值</th><th>问题</th></tr>` +
        problems.map((p) => `<tr><td>${esc(p.location)}</td><td>${esc(p.field)}</td><td>${esc(p.value)}</td><td>${esc(p.message)}</td></tr>`).join("") +
        "</table>" : "");
  }
}

async function runExport() {
  try {
    const blob = await Zhiku.api("GET", "/api/admin/export");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "zhiku-export.zip";
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ hit test

async function runHitTest(event) {
  event.preventDefault();
  const q = document.getElementById("hittest-q").value.trim();
  const out = document.getElementById("hittest-result");
  if (!q) return;
  const params = new URLSearchParams({
    q: q,
    channel: document.getElementById("hittest-channel").value,
    mode: document.getElementById("hittest-mode").value,
    k: document.getElementById("hittest-k").value || "10",
  });
  const threshold = document.getElementById("hittest-threshold").value;
  if (threshold !== "") params.set("threshold", threshold);
  try {
    const data = await Zhiku.api("GET", "/api/admin/hit-test?" + params.toString());
    const num = (v, digits) => (typeof v === "number" ? v.toFixed(digits) : "—");
    const rank = (v) => (typeof v === "number" ? `#${v}` : "—");
    const pct = (v) => `${(v * 100).toFixed(0)}%`;
    const custom = data.threshold !== data.default_threshold;
    out.innerHTML = `<p class="meta" id="hittest-summary">${data.abstained ? '<span class="badge expired">无把握答案</span> ' : '<span class="badge fresh">有把握答案</span> '}` +
      `阈值 ${pct(data.threshold)}${custom ? `（默认 ${pct(data.default_threshold)}）` : "（默认）"} · ` +
      `用时 ${data.took_ms.toFixed(0)} ms · 渠道规则过滤 ${data.filtered} 条 · 模式 ${esc(data.mode)} · 前 ${data.suggestions.length} 条</p>` +
      '<table class="list" id="hittest-table"><tr><th>#</th><th>知识</th><th>置信度</th><th>BM25</th><th>词法排名</th>' +
      "<th>向量</th><th>向量排名</th><th>融合</th><th>匹配字段</th><th></th></tr>" +
      data.suggestions.map((s, i) => `<tr class="${s.confidence < data.threshold ? "below" : ""}" data-code="${esc(s.code)}"><td>${i + 1}</td>
        <td>${esc(s.code)} ${esc(s.title)}<div class="meta">${esc(s.path.slice(0, 2).join(" › "))}</div></td>
        <td>${pct(s.confidence)}${s.confidence < data.threshold ? '<div class="meta">低于阈值</div>' : ""}</td><td>${num(s.scores.bm25, 2)}</td><td>${rank(s.scores.lexical_rank)}</td>
        <td>${num(s.scores.dense, 3)}</td><td>${rank(s.scores.dense_rank)}</td><td>${num(s.scores.fused, 3)}</td>
        <td>${s.match ? `${esc(s.match.label)}：${s.match.html}` : "—"}</td>
        <td><button type="button" class="small hittest-open" data-code="${esc(s.code)}">打开修改</button></td></tr>`).join("") + "</table>";
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ dictionary and audit

async function loadDictionary() {
  try {
    const [synonyms, terms] = await Promise.all([
      Zhiku.api("GET", "/api/admin/synonyms"), Zhiku.api("GET", "/api/admin/terms")]);
    document.getElementById("synonyms-text").value = synonyms.synonyms.map((g) => g.join(" ")).join("\n");
    document.getElementById("terms-text").value = terms.terms.join(" ");
    const canEdit = Zhiku.can("manage_dictionary");
    document.getElementById("dictionary-save").disabled = !canEdit;
  } catch (error) { fail(error); }
}

async function saveDictionary(event) {
  event.preventDefault();
  const synonyms = document.getElementById("synonyms-text").value.split("\n")
    .map((line) => line.split(/[\s,，、]+/).filter(Boolean)).filter((g) => g.length);
  const terms = document.getElementById("terms-text").value.split(/[\s,，、]+/).filter(Boolean);
  const error = document.getElementById("dictionary-error");
  try {
    await Zhiku.api("PUT", "/api/admin/synonyms", { synonyms: synonyms });
    await Zhiku.api("PUT", "/api/admin/terms", { terms: terms });
    error.className = "hidden";
    await loadDictionary();
    message("ok", `词典已保存：${synonyms.length} 组同义词，${terms.length} 个领域词，已用于检索。`);
  } catch (e) { fail(e, error); }
}

const ACTION_NAMES = {
  create: "新建", revise: "新版本", edit: "编辑", submit: "提交审核", approve: "通过", reject: "驳回",
  publish: "发布", archive: "归档", withdraw: "撤回", rollback: "回滚", verify: "核实", flag: "标记",
  "flag-resolve": "处理标记", expire: "过期", unexpire: "恢复有效", update: "修改", link: "关联", move: "移动",
  replace: "替换", delete: "删除", golden: "加入黄金集", assign: "指派", reply: "回复客户", note: "内部备注",
  status: "改状态",
};

async function loadAudit(event) {
  if (event) event.preventDefault();
  const key = document.getElementById("audit-key").value.trim();
  const params = new URLSearchParams({ page_size: "50" });
  if (key) params.set("key", key);
  try {
    const data = await Zhiku.api("GET", "/api/admin/audit?" + params.toString());
    document.getElementById("audit-list").innerHTML =
      "<tr><th>时间</th><th>操作人</th><th>动作</th><th>对象</th><th>版本</th><th>说明</th></tr>" +
      (data.entries.map((e) => `<tr><td>${esc(new Date(e.at).toLocaleString("zh-CN"))}</td><td>${esc(e.actor)}</td>
        <td>${esc(ACTION_NAMES[e.action] || e.action)}</td><td>${esc(e.object_type)} ${esc(e.object_key)}</td>
        <td>${e.revision ? "r" + e.revision : ""}</td><td>${esc(e.comment)}</td></tr>`).join("") ||
        '<tr><td colspan="6" class="muted">没有记录。</td></tr>');
  } catch (error) { fail(error); }
}

// ------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  document.getElementById("review-list").addEventListener("click", (e) => {
    const row = e.target.closest(".review-item");
    if (row) openReview(row.dataset.code);
  });
  document.getElementById("review-approve").addEventListener("click", () => decide("approve"));
  document.getElementById("review-reject").addEventListener("click", () => decide("reject"));
  ["expiring-list", "expired-list"].forEach((id) => document.getElementById(id).addEventListener("click", (e) => {
    if (e.target.classList.contains("verify")) verify(e.target);
  }));
  document.getElementById("flagged-list").addEventListener("click", (e) => {
    if (e.target.classList.contains("dismiss")) dismiss(e.target);
    if (e.target.classList.contains("edit-flagged")) openInEditor(e.target.dataset.code);
  });
  document.getElementById("editor-package").addEventListener("change", () => {
    document.getElementById("editor-form").classList.add("hidden");
    loadPackage();
  });
  document.getElementById("editor-new").addEventListener("click", () => renderEditor(null));
  document.getElementById("editor-load").addEventListener("click", () => {
    const code = document.getElementById("editor-code-input").value.trim();
    if (code) openTable(code);
  });
  document.getElementById("editor-tables").addEventListener("click", (e) => {
    const row = e.target.closest(".editor-row");
    if (row) openTable(row.dataset.code);
  });
  document.getElementById("editor-form").addEventListener("submit", saveDraft);
  document.getElementById("editor-submit").addEventListener("click", submitDraft);
  document.getElementById("editor-withdraw").addEventListener("click", withdrawDraft);
  document.getElementById("editor-archive").addEventListener("click", archiveTable);
  document.getElementById("editor-history").addEventListener("click", (e) => {
    const number = Number(e.target.dataset.number);
    if (e.target.classList.contains("view-revision")) viewRevision(number, false);
    if (e.target.classList.contains("diff-revision")) viewRevision(number, true);
    if (e.target.classList.contains("rollback")) rollbackTo(number);
  });
  document.getElementById("e-related-titles").addEventListener("click", (e) => {
    if (e.target.classList.contains("open-related")) {
      e.preventDefault();
      openTable(e.target.dataset.code);
    }
  });
  document.getElementById("hittest-result").addEventListener("click", (e) => {
    if (e.target.classList.contains("hittest-open")) openInEditor(e.target.dataset.code);
  });
  document.getElementById("import-form").addEventListener("submit", runImport);
  document.getElementById("export-button").addEventListener("click", runExport);
  document.getElementById("hittest-form").addEventListener("submit", runHitTest);
  document.getElementById("dictionary-form").addEventListener("submit", saveDictionary);
  document.getElementById("audit-form").addEventListener("submit", loadAudit);

  Zhiku.onLogin((me) => {
    document.getElementById("need-login").classList.add("hidden");
    const handles = Zhiku.can("handle_requests");
    if (!Zhiku.can("view_queues") && !handles) {
      const status = document.getElementById("login-status");
      status.className = "notice warn";
      status.innerHTML = `${esc(me.display_name)} 是${esc(ROLE_NAMES[me.role] || me.role)}，没有管理台权限；请用编辑、审核员或管理员的令牌登录。`;
      return;
    }
    document.getElementById("admin-app").classList.remove("hidden");
    // Customers' requests hold contact details: only those who handle them see the tab;
    // an agent sees nothing else here.
    document.querySelectorAll(".tabs button").forEach((b) => {
      const requests = b.dataset.tab === "requests";
      b.classList.toggle("hidden", requests ? !handles : !Zhiku.can("view_queues"));
    });
    if (handles) countRequests();
    if (!Zhiku.can("view_queues")) {
      showTab("requests");
      return;
    }
    showTab(Zhiku.can("review") ? "review" : "editor");
    // Fill the other counters without switching tabs.
    ["expiring", "expired", "flagged"].forEach((name) =>
      Zhiku.api("GET", `/api/admin/queues/${name}?days=30`).then((d) => {
        document.getElementById(`count-${name}`).textContent = d.count;
      }).catch(() => {}));
  });
});
