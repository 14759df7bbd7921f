// Agent console: search, copy the standard answer, vote, flag. Needs a token (see common.js).
"use strict";

const Agent = { last: null, flagging: null };

function freshnessBadge(f) {
  if (f.expired) return '<span class="badge expired">已过期</span>';
  if (f.expiring_soon) return `<span class="badge soon">即将到期 ${Zhiku.date(f.expires_at)}</span>`;
  const until = f.expires_at ? `有效至 ${Zhiku.date(f.expires_at)}` : "长期有效";
  return `<span class="badge fresh">${until}</span>`;
}

const LOW_CONFIDENCE = 0.2;

function confidenceText(value) {
  return value < 0.01 ? "<1%" : `${Math.round(value * 100)}%`;
}

// "BM25 175.2（第1）· 向量 1.000（第1）· 融合 1.377": what each retriever thought.
function scoreLine(scores) {
  const part = (label, value, rank) => {
    if (typeof value !== "number") return "";
    const digits = Math.abs(value) >= 10 ? 1 : 3;
    const where = typeof rank === "number" ? `（第${rank}）` : "";
    return `${label} ${value.toFixed(digits)}${where}`;
  };
  return [part("BM25", scores.bm25, scores.lexical_rank), part("向量", scores.dense, scores.dense_rank),
    part("融合", scores.fused)].filter(Boolean).join(" · ");
}

function suggestionCard(s, index) {
  const path = s.path.slice(0, 2).map((p) => `<span>${Zhiku.esc(p)}</span>`).join("");
  const match = s.match
    ? `<div class="meta">匹配 ${Zhiku.esc(s.match.label)}：${s.match.html}</div>`
    : "";
  const internal = s.audience === "internal" ? ' <span class="badge internal">内部</span>' : "";
  const scores = scoreLine(s.scores);
  const low = s.confidence < LOW_CONFIDENCE;
  const verified = s.freshness.last_verified_at ? `最近核实 ${Zhiku.date(s.freshness.last_verified_at)}` : "";
  return `
    <article class="card suggestion${low ? " low" : ""}" data-index="${index}" data-code="${Zhiku.esc(s.code)}">
      <div class="row">
        <div class="path">${path}</div>
        <span class="badge conf">置信度 ${confidenceText(s.confidence)}</span>${low ? ' <span class="badge internal">仅供参考</span>' : ""}
        ${freshnessBadge(s.freshness)}${internal}
      </div>
      <h3>${Zhiku.esc(s.title)} <span class="muted">${Zhiku.esc(s.code)}</span></h3>
      ${match}
      <div class="answer">${Zhiku.esc(s.answer)}</div>
      <div class="actions">
        <button type="button" class="primary small copy">复制答案</button>
        <button type="button" class="small helpful" data-helpful="1">有帮助</button>
        <button type="button" class="small helpful" data-helpful="0">没帮助</button>
        <button type="button" class="small danger flag">标记问题</button>
        <span class="meta">${verified}</span>
        <span class="scores">${Zhiku.esc(scores)}</span>
      </div>
    </article>`;
}

async function search(event) {
  if (event) event.preventDefault();
  const q = document.getElementById("agent-q").value.trim();
  const message = document.getElementById("agent-message");
  const results = document.getElementById("agent-results");
  if (!q) return;
  if (!Zhiku.me) {
    message.className = "notice warn";
    message.textContent = "请先登录。";
    return;
  }
  const params = new URLSearchParams({ q: q, k: "5", format: "plain" });
  const category = document.getElementById("agent-category").value;
  if (category) params.set("category", category);
  if (document.getElementById("agent-expired").checked) params.set("include_expired", "true");
  message.className = "hidden";
  try {
    const data = await Zhiku.api("GET", "/api/search?" + params.toString());
    Agent.last = data;
    let html = "";
    if (data.abstained) {
      html += '<div class="notice warn" id="agent-abstained">没有把握足够高的答案，以下仅供参考；可尝试换个说法，或转交二线处理。</div>';
    }
    if (!data.suggestions.length) {
      html += '<div class="notice info">没有找到相关知识。</div>';
    }
    html += data.suggestions.map(suggestionCard).join("");
    html += `<p class="meta">用时 ${data.took_ms.toFixed(0)} ms${data.filtered ? ` · ${data.filtered} 条因有效期或权限未显示` : ""}</p>`;
    results.innerHTML = html;
  } catch (error) {
    Zhiku.showError(message, error);
  }
}

async function onResultClick(event) {
  const button = event.target.closest("button");
  const card = event.target.closest(".suggestion");
  if (!button || !card) return;
  const s = Agent.last.suggestions[Number(card.dataset.index)];
  if (button.classList.contains("copy")) {
    const ok = await Zhiku.copy(s.answer);
    Zhiku.toast(ok ? "答案已复制" : "复制失败，请手动选择文本");
  } else if (button.classList.contains("helpful")) {
    const helpful = button.dataset.helpful === "1";
    try {
      await Zhiku.api("POST", "/api/feedback", {
        code: s.code, helpful: helpful, query: Agent.last.query, query_log_id: Agent.last.query_log_id,
      });
      card.querySelectorAll(".helpful").forEach((b) => { b.disabled = true; });
      Zhiku.toast("感谢反馈");
    } catch (error) {
      Zhiku.toast(error.message);
    }
  } else if (button.classList.contains("flag")) {
    Agent.flagging = s;
    document.getElementById("flag-title").textContent = s.title;
    document.getElementById("flag-comment").value = "";
    document.getElementById("flag-error").className = "hidden";
    document.getElementById("flag-dialog").showModal();
  }
}

async function submitFlag() {
  const s = Agent.flagging;
  try {
    await Zhiku.api("POST", "/api/flags", {
      code: s.code,
      reason: document.getElementById("flag-reason").value,
      comment: document.getElementById("flag-comment").value,
    });
    document.getElementById("flag-dialog").close();
    Zhiku.toast("已标记，审核员会处理");
  } catch (error) {
    Zhiku.showError(document.getElementById("flag-error"), error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("agent-search-form").addEventListener("submit", search);
  document.getElementById("agent-results").addEventListener("click", onResultClick);
  document.getElementById("flag-submit").addEventListener("click", submitFlag);
  Zhiku.onLogin(() => {
    document.getElementById("need-login").classList.add("hidden");
    document.getElementById("agent-q").focus();
  });
});
