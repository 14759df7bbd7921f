// Agent console: search, open the whole entry, copy the answer for a channel, vote, flag.
// Needs a token (see common.js). Renderings per channel come from the server (presenters).
"use strict";

const Agent = { last: null, flagging: null, entries: {} };

const CHANNEL_KEY = "zhiku.agent.channel";
const VOTES_KEY = "zhiku.agent.votes";
const CHANNEL_NAMES = { agent: "坐席全文", web: "网页", sms: "短信", wechat: "纯文本", voice: "语音稿" };
const FLAG_NAMES = { wrong: "内容有误", outdated: "信息过时", unclear: "表述不清", duplicate: "重复知识" };

// Validity ends are exclusive (valid until 00:00 of the next day): show the last valid day.
function lastDay(value) {
  return value ? Zhiku.date(new Date(new Date(value).getTime() - 1).toISOString()) : "";
}

function freshnessBadge(f) {
  if (f.expired) return '<span class="badge expired">已过期</span>';
  if (f.expiring_soon) return `<span class="badge soon">即将到期 ${lastDay(f.expires_at)}</span>`;
  const until = f.expires_at ? `有效至 ${lastDay(f.expires_at)}` : "长期有效";
  return `<span class="badge fresh">${until}</span>`;
}

function confidenceText(value) {
  return value < 0.01 ? "<1%" : `${Math.round(value * 100)}%`;
}

// "BM25 175.2（第1）· 向量 1.000（第1）· 融合 1.377": what each retriever thought.
function scoreLine(s, place) {
  const scores = s.scores;
  const part = (label, value, rank) => {
    if (typeof value !== "number") return "";
    const digits = Math.abs(value) >= 10 ? 1 : 3;
    const where = typeof rank === "number" ? `（第${rank}）` : "";
    return `${label} ${value.toFixed(digits)}${where}`;
  };
  const moved = s.rank !== place ? `检索排名第${s.rank}` : "";
  return [part("BM25", scores.bm25, scores.lexical_rank), part("向量", scores.dense, scores.dense_rank),
    part("融合", scores.fused), moved].filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------- votes kept for the session

function voteKey(code, query) {
  return `${code}\u0000${query.trim().replace(/\s+/g, " ")}`;
}

function votes() {
  try {
    return JSON.parse(window.sessionStorage.getItem(VOTES_KEY) || "{}");
  } catch (ignored) {
    return {};
  }
}

function rememberVote(code, query, helpful) {
  const all = votes();
  all[voteKey(code, query)] = helpful;
  window.sessionStorage.setItem(VOTES_KEY, JSON.stringify(all));
}

function voteOf(code, query) {
  const value = votes()[voteKey(code, query)];
  return typeof value === "boolean" ? value : null;
}

// ---------------------------------------------------------------- copying per channel

function channel() {
  return document.getElementById("agent-channel").value;
}

function traditionalWanted() {
  return Boolean(Agent.last && Agent.last.script === "traditional"
    && document.getElementById("agent-traditional").checked);
}

function renderingOf(s) {
  const set = traditionalWanted() && s.traditional ? s.traditional : s.renderings;
  return set ? set[channel()] : null;
}

function copyLabel(s) {
  const r = renderingOf(s);
  const script = traditionalWanted() ? "繁体" : "";
  const parts = r && channel() === "sms" ? ` · ${r.parts.length} 条` : "";
  return `复制${script}${CHANNEL_NAMES[channel()]}${parts}`;
}

function previewHtml(s) {
  const r = renderingOf(s);
  if (!r) return "";
  const cut = r.truncated ? '<span class="badge soon">已按渠道上限截短</span> ' : "";
  const body = channel() === "sms"
    ? r.parts.map((p, i) => `<li><span class="muted">${i + 1}/${r.parts.length} · ${p.length} 字</span> ${Zhiku.esc(p)}</li>`).join("")
    : `<li>${Zhiku.esc(r.text)}</li>`;
  return `<details class="preview"><summary>${cut}将复制：${Zhiku.esc(copyLabel(s).replace(/^复制/, ""))}（${r.text.length} 字）</summary><ol class="preview-parts">${body}</ol></details>`;
}

// ---------------------------------------------------------------- cards

function marksHtml(s) {
  const marks = [];
  const vote = voteOf(s.code, Agent.last.query);
  if (vote !== null) {
    marks.push(`<span class="badge mark vote" data-vote="${vote ? 1 : 0}">已评价：${vote ? "有帮助" : "没帮助"}</span>`);
  }
  (s.my_flags || []).forEach((f) => {
    marks.push(`<span class="badge mark flagged">已标记：${Zhiku.esc(FLAG_NAMES[f.reason] || f.reason)}</span>`);
  });
  return marks.join(" ");
}

function suggestionCard(s, index) {
  const path = s.path.slice(0, 2).map((p) => `<span>${Zhiku.esc(p)}</span>`).join("");
  const match = s.match
    ? `<div class="meta">匹配 ${Zhiku.esc(s.match.label)}：${s.match.html}</div>`
    : "";
  const internal = s.audience === "internal" ? ' <span class="badge internal">内部</span>' : "";
  const verified = s.freshness.last_verified_at ? `最近核实 ${Zhiku.date(s.freshness.last_verified_at)}` : "";
  const conf = s.unsure
    ? `<span class="badge unsure">无把握 ${confidenceText(s.confidence)}</span>`
    : `<span class="badge conf">置信度 ${confidenceText(s.confidence)}</span>`;
  const voted = voteOf(s.code, Agent.last.query) !== null ? " disabled" : "";
  return `
    <article class="card suggestion${s.unsure ? " unsure" : ""}" data-index="${index}" data-code="${Zhiku.esc(s.code)}">
      <div class="row">
        <div class="path">${path}</div>
        ${conf} ${freshnessBadge(s.freshness)}${internal}
        <span class="marks">${marksHtml(s)}</span>
      </div>
      <h3><button type="button" class="title-open" aria-expanded="false">${Zhiku.esc(s.title)}</button> <span class="muted">${Zhiku.esc(s.code)}</span></h3>
      ${match}
      <div class="answer">${Zhiku.esc(s.answer)}</div>
      <div class="copy-preview">${previewHtml(s)}</div>
      <div class="entry hidden"></div>
      <div class="actions">
        <button type="button" class="small copy${s.unsure ? "" : " primary"}">${Zhiku.esc(copyLabel(s))}</button>
        <button type="button" class="small open">完整内容</button>
        <button type="button" class="small helpful" data-helpful="1"${voted}>有帮助</button>
        <button type="button" class="small helpful" data-helpful="0"${voted}>没帮助</button>
        <button type="button" class="small danger flag">标记问题</button>
        <span class="meta">${verified}</span>
        <span class="scores">${Zhiku.esc(scoreLine(s, index + 1))}</span>
      </div>
    </article>`;
}

function bannerHtml(data) {
  let html = "";
  const top = data.suggestions[0];
  if (data.suggestions.length && (data.abstained || top.unsure)) {
    html += `<div class="notice unsure-banner" id="agent-unsure" role="alert"><strong>无把握 — 请核实后再答复</strong>
      <div class="meta">最高置信度 ${confidenceText(top.confidence)}，以下答案可能并不对应客户的问题：先打开完整内容核对，必要时换个说法再搜，或转交二线处理。</div></div>`;
  }
  if (data.script === "traditional") {
    html += '<div class="notice info" id="agent-traditional-note">客户用繁体中文提问：复制的答案已转换为繁体（可在上方取消“复制繁体”）。</div>';
  }
  if (!data.suggestions.length) {
    html += '<div class="notice info">没有找到相关知识。</div>';
  }
  return html;
}

function renderResults() {
  const data = Agent.last;
  const results = document.getElementById("agent-results");
  document.getElementById("agent-traditional-box").classList.toggle("hidden", data.script !== "traditional");
  let html = bannerHtml(data);
  html += data.suggestions.map(suggestionCard).join("");
  html += `<p class="meta">用时 ${data.took_ms.toFixed(0)} ms${data.filtered ? ` · ${data.filtered} 条因有效期或权限未显示` : ""} · 按显示的置信度排序</p>`;
  results.innerHTML = html;
}

// Re-draw one card in place, keeping its opened entry.
function refreshCard(card) {
  const index = Number(card.dataset.index);
  const entry = card.querySelector(".entry");
  const open = !entry.classList.contains("hidden");
  const holder = document.createElement("div");
  holder.innerHTML = suggestionCard(Agent.last.suggestions[index], index);
  const fresh = holder.firstElementChild;
  if (open) {
    fresh.querySelector(".entry").replaceWith(entry);
    fresh.querySelector(".title-open").setAttribute("aria-expanded", "true");
    fresh.querySelector("button.open").textContent = "收起";
  }
  card.replaceWith(fresh);
}

async function search(event) {
  if (event) event.preventDefault();
  const q = document.getElementById("agent-q").value.trim();
  const message = document.getElementById("agent-message");
  if (!q) return;
  if (!Zhiku.me) {
    message.className = "notice warn";
    message.textContent = "请先登录。";
    return;
  }
  const params = new URLSearchParams({ q: q, k: "5", format: "plain", renderings: "true" });
  const category = document.getElementById("agent-category").value;
  if (category) params.set("category", category);
  if (document.getElementById("agent-expired").checked) params.set("include_expired", "true");
  message.className = "hidden";
  try {
    Agent.last = await Zhiku.api("GET", "/api/search?" + params.toString());
    renderResults();
  } catch (error) {
    Zhiku.showError(message, error);
  }
}

// ---------------------------------------------------------------- the whole entry

function validityText(t) {
  const parts = [];
  if (t.valid_from || t.valid_until) parts.push(`有效期 ${Zhiku.date(t.valid_from)} 至 ${t.valid_until ? lastDay(t.valid_until) : "长期"}`);
  if (t.expires_at) parts.push(t.expired ? `已于 ${Zhiku.date(t.expires_at)} 过期` : `有效至 ${lastDay(t.expires_at)}（到期需重新核实）`);
  if (t.last_verified_at) parts.push(`最近核实 ${Zhiku.date(t.last_verified_at)}`);
  if (t.published_at) parts.push(`发布 ${Zhiku.date(t.published_at)}`);
  return parts.join(" · ");
}

function entryHtml(t) {
  const fields = t.fields.map((f) => `
    <div class="entry-field${f.internal ? " internal" : ""}" data-key="${Zhiku.esc(f.key)}">
      <div class="field-label">${Zhiku.esc(f.label)}${f.internal ? ' <span class="badge internal">内部 · 勿对客户展示</span>' : ""}</div>
      <div class="field-content">${f.content}</div>
    </div>`).join("");
  const related = t.related.length
    ? `<div class="field-label">相关知识</div><ul class="related">${t.related.map((r) =>
      `<li><button type="button" class="link related-open" data-code="${Zhiku.esc(r.code)}">${Zhiku.esc(r.title)}</button> <span class="muted">${Zhiku.esc(r.code)}</span></li>`).join("")}</ul>`
    : "";
  const questions = t.questions.length
    ? `<div class="field-label">相似问法</div><div class="meta">${t.questions.map((q) => Zhiku.esc(q)).join(" / ")}</div>`
    : "";
  const tags = t.tags.length ? ` · 标签 ${t.tags.map((x) => Zhiku.esc(x)).join("、")}` : "";
  const who = [t.author && `发布人 ${Zhiku.esc(t.author)}`, t.source && `来源 ${Zhiku.esc(t.source)}`].filter(Boolean).join(" · ");
  return `
    <div class="entry-head">
      <div class="path">${t.path.map((p) => `<span>${Zhiku.esc(p)}</span>`).join("")}</div>
      <div class="meta">${Zhiku.esc(t.code)} · 第 ${t.revision} 版${tags}</div>
      <div class="meta validity">${validityText(t)}${t.expired ? ' <span class="badge expired">已过期</span>' : ""}</div>
      ${who ? `<div class="meta">${who}</div>` : ""}
    </div>
    ${fields}${questions}${related}`;
}

async function loadEntry(code) {
  if (!Agent.entries[code]) {
    Agent.entries[code] = await Zhiku.api("GET", `/api/tables/${encodeURIComponent(code)}?format=html`);
  }
  return Agent.entries[code];
}

async function toggleEntry(card) {
  const box = card.querySelector(".entry");
  const title = card.querySelector(".title-open");
  const button = card.querySelector("button.open");
  if (!box.classList.contains("hidden")) {
    box.classList.add("hidden");
    title.setAttribute("aria-expanded", "false");
    button.textContent = "完整内容";
    return;
  }
  try {
    box.innerHTML = entryHtml(await loadEntry(card.dataset.code));
  } catch (error) {
    Zhiku.showError(box, error);
  }
  box.classList.remove("hidden");
  title.setAttribute("aria-expanded", "true");
  button.textContent = "收起";
}

async function openRelated(code) {
  const dialog = document.getElementById("entry-dialog");
  const body = document.getElementById("entry-dialog-body");
  try {
    const t = await loadEntry(code);
    document.getElementById("entry-dialog-title").textContent = t.title;
    body.innerHTML = entryHtml(t);
  } catch (error) {
    Zhiku.showError(body, error);
  }
  if (!dialog.open) dialog.showModal();
}

// ---------------------------------------------------------------- actions

async function vote(card, s, helpful) {
  try {
    await Zhiku.api("POST", "/api/feedback", {
      code: s.code, helpful: helpful, query: Agent.last.query, query_log_id: Agent.last.query_log_id,
    });
    rememberVote(s.code, Agent.last.query, helpful);
    refreshCard(card);
    Zhiku.toast("感谢反馈");
  } catch (error) {
    Zhiku.toast(error.message);
  }
}

async function onResultClick(event) {
  const related = event.target.closest(".related-open");
  if (related) {
    openRelated(related.dataset.code);
    return;
  }
  const button = event.target.closest("button");
  const card = event.target.closest(".suggestion");
  if (!button || !card) return;
  const s = Agent.last.suggestions[Number(card.dataset.index)];
  if (button.classList.contains("copy")) {
    const r = renderingOf(s);
    const ok = await Zhiku.copy(r ? r.text : s.answer);
    Zhiku.toast(ok ? `已复制（${copyLabel(s).replace(/^复制/, "")}）` : "复制失败，请手动选择文本");
  } else if (button.classList.contains("open") || button.classList.contains("title-open")) {
    toggleEntry(card);
  } else if (button.classList.contains("helpful")) {
    vote(card, s, button.dataset.helpful === "1");
  } else if (button.classList.contains("flag")) {
    Agent.flagging = { card: card, suggestion: s };
    document.getElementById("flag-title").textContent = s.title;
    document.getElementById("flag-comment").value = "";
    document.getElementById("flag-error").className = "hidden";
    document.getElementById("flag-dialog").showModal();
  }
}

async function submitFlag() {
  const { card, suggestion } = Agent.flagging;
  try {
    const flag = await Zhiku.api("POST", "/api/flags", {
      code: suggestion.code,
      reason: document.getElementById("flag-reason").value,
      comment: document.getElementById("flag-comment").value,
    });
    suggestion.my_flags = (suggestion.my_flags || []).concat([flag]);
    document.getElementById("flag-dialog").close();
    refreshCard(card);
    Zhiku.toast("已标记，审核员会处理");
  } catch (error) {
    Zhiku.showError(document.getElementById("flag-error"), error);
  }
}

// The scope choices come with the token: the page itself names no category.
async function loadCategories() {
  const select = document.getElementById("agent-category");
  try {
    const names = await Zhiku.api("GET", "/api/search/categories");
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    for (const name of names) select.add(new Option(name, name));
    if (names.includes(chosen)) select.value = chosen;
  } catch (error) {
    Zhiku.toast(error.message);
  }
}

function onCopyOptionChange() {
  window.localStorage.setItem(CHANNEL_KEY, channel());
  if (!Agent.last) return;
  document.querySelectorAll("#agent-results .suggestion").forEach(refreshCard);
}

document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("agent-channel");
  const saved = window.localStorage.getItem(CHANNEL_KEY);
  if (saved && CHANNEL_NAMES[saved]) select.value = saved;
  select.addEventListener("change", onCopyOptionChange);
  document.getElementById("agent-traditional").addEventListener("change", onCopyOptionChange);
  document.getElementById("agent-search-form").addEventListener("submit", search);
  document.getElementById("agent-results").addEventListener("click", onResultClick);
  document.getElementById("flag-submit").addEventListener("click", submitFlag);
  document.getElementById("entry-dialog-close").addEventListener("click", () => document.getElementById("entry-dialog").close());
  document.getElementById("entry-dialog-body").addEventListener("click", (event) => {
    const related = event.target.closest(".related-open");
    if (related) openRelated(related.dataset.code);
  });
  Zhiku.onLogin(() => {
    document.getElementById("need-login").classList.add("hidden");
    document.getElementById("agent-q").focus();
    loadCategories();
  });
});
