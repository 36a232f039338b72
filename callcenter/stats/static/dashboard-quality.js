"use strict";
// 质检评分 on the dashboard: /api/v1/stats/quality for the dashboard's range and granularity,
// loaded each time the dashboard's figures are (dashboard.js marks the body data-state="ready").
// Agents by their names only (never a user name or another id); reviews count in the period of
// the call reviewed (docs/metrics.md "Quality review"). Calls only: no channel is sent.
(() => {
  const $ = (id) => document.getElementById(id);
  const score = (v) => (v === null || v === undefined) ? "—" : Number(v).toFixed(1);
  const period = (start, interval) => {
    if (interval === "month") return start.slice(0, 7);
    if (interval === "day") return start.slice(0, 10);
    return start.slice(0, 16).replace("T", " ");
  };

  function cell(row, text, header) {
    const el = document.createElement(header ? "th" : "td");
    el.textContent = text;
    row.appendChild(el);
    return el;
  }

  function fill(table, headers, rows) {
    const head = table.querySelector("thead tr");
    head.innerHTML = "";
    headers.forEach((h) => cell(head, h, true));
    const body = table.querySelector("tbody");
    body.innerHTML = "";
    rows.forEach((values) => {
      const tr = document.createElement("tr");
      values.forEach((v) => cell(tr, v, false));
      body.appendChild(tr);
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      cell(tr, "所选时段内没有质检评分", false).colSpan = headers.length;
      body.appendChild(tr);
    }
  }

  function figures(r) {
    return [Hotline.num(r.reviews), score(r.avg_score), score(r.min_score), score(r.max_score),
            Hotline.pct(r.ack_rate)];
  }

  async function loadQuality() {
    const byAgent = $("quality-table");
    const byPeriod = $("quality-series");
    const interval = $("interval").value;
    try {
      const response = await Hotline.api("/api/v1/stats/quality",
        { from: $("from").value, to: $("to").value, interval });
      const report = await response.json();
      const criteria = [...new Set(report.agents.flatMap((a) => Object.keys(a.criteria)))];
      const names = ["评分数", "平均得分", "最低分", "最高分", "坐席确认率"];
      fill(byAgent, ["坐席", ...names, ...criteria.map((c) => c + "（得分率）")],
        report.agents.map((a) => [a.agent_name, ...figures(a),
          ...criteria.map((c) => Hotline.pct(a.criteria[c] === undefined
            ? null : a.criteria[c] / 100))]));
      if (report.agents.length) {
        const tr = document.createElement("tr");
        tr.className = "total";
        ["合计", ...figures(report.total),
         ...criteria.map((c) => Hotline.pct(report.total.criteria[c] === undefined
           ? null : report.total.criteria[c] / 100))].forEach((v) => cell(tr, v, false));
        byAgent.querySelector("tbody").appendChild(tr);
      }
      fill(byPeriod, ["时段", "坐席", ...names],
        report.series.map((r) => [period(r.start, interval), r.agent_name, ...figures(r)]));
      byAgent.dataset.state = byPeriod.dataset.state = "ready";
    } catch (err) {
      byAgent.dataset.state = byPeriod.dataset.state = "error";
      $("error").textContent = "质检评分统计查询失败：" + err.message;
    }
  }

  new MutationObserver(() => {
    if (document.body.dataset.state === "ready") loadQuality();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
})();
