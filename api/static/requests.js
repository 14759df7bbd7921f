// Admin desk, 客户请求 tab: customers' requests to reach a person (联系人工客服): list by
// status, open one (question, what the customer was shown, contact details), assign it, reply
// to the customer or note for staff, close or reopen. Uses admin.js's esc/message/fail.
"use strict";

const REQUEST_STATUS = { new: "新请求", in_progress: "处理中", answered: "已答复", closed: "已关闭" };
const REQUEST_ACTIONS = {
  create: "客户提交", assign: "指派", note: "内部备注", reply: "回复客户", status: "改状态",
};
const Requests = { open: null, handlers: null };

function statusBadge(status) {
  return `<span class="badge status-${esc(status)}">${esc(REQUEST_STATUS[status] || status)}</span>`;
}

async function countRequests() {
  try {
    const data = await Zhiku.api("GET", "/api/admin/requests?page_size=1");
    const waiting = data.counts.new + data.counts.in_progress;
    document.getElementById("count-requests").textContent = waiting || "";
  } catch (ignored) {
    // the counter is a convenience; the tab itself shows any error
  }
}

async function loadRequests(keepDetail) {
  const list = document.getElementById("requests-list");
  if (keepDetail !== true) document.getElementById("request-detail").classList.add("hidden");
  const params = new URLSearchParams({ status: document.getElementById("requests-status").value });
  if (document.getElementById("requests-mine").checked) params.set("assignee", Zhiku.me.name);
  try {
    const data = await Zhiku.api("GET", "/api/admin/requests?" + params.toString());
    document.getElementById("count-requests").textContent = (data.counts.new + data.counts.in_progress) || "";
    list.innerHTML = "<tr><th>编号</th><th>状态</th><th>问题</th><th>检索结果</th><th>联系方式</th><th>处理人</th><th>提交时间</th></tr>" +
      (data.items.map((r) => `<tr class="clickable request-row" data-ref="${esc(r.ref)}">
        <td>${esc(r.ref)}</td><td>${statusBadge(r.status)}</td><td>${esc(r.question)}</td>
        <td>${r.abstained ? '<span class="badge expired">没有把握答案</span>' : '<span class="badge conf">看过答案</span>'}</td>
        <td>${r.has_contact ? "留了" : '<span class="muted">未留</span>'}</td><td>${esc(r.assignee || "—")}</td>
        <td>${esc(localTime(r.created_at))}</td></tr>`).join("") ||
        '<tr><td colspan="7" class="muted">没有这种状态的请求。</td></tr>');
  } catch (error) { fail(error); }
}

async function ensureHandlers() {
  if (!Requests.handlers) Requests.handlers = await Zhiku.api("GET", "/api/admin/requests/handlers");
  return Requests.handlers;
}

function renderRequest(r) {
  Requests.open = r;
  document.getElementById("request-title").innerHTML = `${esc(r.ref)} ${statusBadge(r.status)}`;
  document.getElementById("request-meta").textContent =
    `来自 ${r.channel === "web" ? "网页自助服务" : r.channel} · 提交于 ${localTime(r.created_at)} · 处理人 ${r.assignee || "未指派"}` +
    (r.answered_at ? ` · 答复于 ${localTime(r.answered_at)}` : "");
  document.getElementById("request-question").textContent = r.question;
  const canOpen = Zhiku.can("view_queues");
  document.getElementById("request-shown").innerHTML =
    (r.abstained ? '<p><span class="badge expired">检索没有把握答案</span></p>' : "") +
    (r.shown.length ? "<ul>" + r.shown.map((s) => `<li>${canOpen
      ? `<a href="#" class="open-shown" data-code="${esc(s.code)}">${esc(s.code)} ${esc(s.title)}</a>`
      : `${esc(s.code)} ${esc(s.title)}`}</li>`).join("") + "</ul>" : '<p class="muted">没有看到任何答案。</p>');
  const c = r.contact;
  const parts = [["称呼", c.name], ["手机", c.phone], ["邮箱", c.email], ["微信", c.wechat]].filter(([, v]) => v);
  document.getElementById("request-contact").innerHTML = parts.length
    ? parts.map(([k, v]) => `<span class="contact-item">${esc(k)}：<strong>${esc(v)}</strong></span>`).join(" ")
    : '<span class="muted">客户没有留联系方式：答复后客户凭参考编号在查询页查看。</span>';
  document.getElementById("request-close").classList.toggle("hidden", !r.next_statuses.includes("closed"));
  document.getElementById("request-reopen").classList.toggle("hidden", !(r.status === "answered" || r.status === "closed"));
  document.getElementById("request-reply").disabled = r.status === "closed";
  document.getElementById("request-error").className = "hidden";
  const select = document.getElementById("request-assignee");
  select.value = r.assignee || "";
  document.getElementById("request-history").innerHTML = r.history.map((h) => {
    const move = h.action === "status" ? `：${REQUEST_STATUS[h.detail.from] || h.detail.from} → ${REQUEST_STATUS[h.detail.to] || h.detail.to}` : "";
    const to = h.action === "assign" ? `：${esc(h.detail.to || "无人")}` : "";
    return `<li><span class="meta">${esc(localTime(h.at))} · ${esc(h.actor === "customer" ? "客户" : h.actor)}</span>
      ${esc(REQUEST_ACTIONS[h.action] || h.action)}${move}${to}${h.comment ? `<div class="${h.action === "reply" ? "answer" : "meta"}">${esc(h.comment)}</div>` : ""}</li>`;
  }).join("");
  document.getElementById("request-detail").classList.remove("hidden");
}

async function openRequest(ref) {
  try {
    const [handlers, r] = await Promise.all([ensureHandlers(),
      Zhiku.api("GET", `/api/admin/requests/${encodeURIComponent(ref)}`)]);
    document.getElementById("request-assignee").innerHTML = '<option value="">（未指派）</option>' +
      handlers.map((h) => `<option value="${esc(h.name)}">${esc(h.display_name)}（${esc(ROLE_NAMES[h.role] || h.role)}）</option>`).join("");
    renderRequest(r);
    document.getElementById("request-detail").scrollIntoView({ block: "nearest" });
  } catch (error) { fail(error); }
}

async function workRequest(verb, body, done) {
  const ref = Requests.open.ref;
  try {
    const r = await Zhiku.api("POST", `/api/admin/requests/${encodeURIComponent(ref)}/${verb}`, body);
    renderRequest(r);
    message("ok", done(r));
    loadRequests(true);
  } catch (error) { fail(error, document.getElementById("request-error")); }
}

function requestText() {
  return document.getElementById("request-text").value.trim();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("requests-status").addEventListener("change", () => loadRequests());
  document.getElementById("requests-mine").addEventListener("change", () => loadRequests());
  document.getElementById("requests-refresh").addEventListener("click", () => loadRequests());
  document.getElementById("requests-list").addEventListener("click", (e) => {
    const row = e.target.closest(".request-row");
    if (row) openRequest(row.dataset.ref);
  });
  document.getElementById("request-shown").addEventListener("click", (e) => {
    if (e.target.classList.contains("open-shown")) {
      e.preventDefault();
      openInEditor(e.target.dataset.code);
    }
  });
  document.getElementById("request-assign").addEventListener("click", () => {
    const to = document.getElementById("request-assignee").value || null;
    workRequest("assign", { to: to }, (r) => `${esc(r.ref)} 已指派给 ${esc(r.assignee || "无人")}。`);
  });
  document.getElementById("request-take").addEventListener("click", () =>
    workRequest("assign", { to: Zhiku.me.name }, (r) => `${esc(r.ref)} 由您处理。`));
  document.getElementById("request-reply").addEventListener("click", () => {
    const text = requestText();
    if (!text) return;
    workRequest("reply", { text: text }, (r) => {
      document.getElementById("request-text").value = "";
      return `已回复客户：${esc(r.ref)} 的查询页上可以看到这条答复。`;
    });
  });
  document.getElementById("request-note").addEventListener("click", () => {
    const text = requestText();
    if (!text) return;
    workRequest("note", { text: text }, (r) => {
      document.getElementById("request-text").value = "";
      return `已为 ${esc(r.ref)} 添加内部备注（客户看不到）。`;
    });
  });
  document.getElementById("request-close").addEventListener("click", () =>
    workRequest("status", { status: "closed", comment: requestText() }, (r) => {
      document.getElementById("request-text").value = "";
      return `${esc(r.ref)} 已关闭。`;
    }));
  document.getElementById("request-reopen").addEventListener("click", () =>
    workRequest("status", { status: "in_progress", comment: requestText() }, (r) => `${esc(r.ref)} 重新处理中。`));
});
